package exporter

import (
	"compress/gzip"
	"context"
	"math"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// setGauges gives every float gauge point of rm a value of its own for
// window win, as a real window would.
func setGauges(rm *metricdata.ResourceMetrics, win int) {
	for i := range rm.ScopeMetrics {
		for j := range rm.ScopeMetrics[i].Metrics {
			if g, ok := rm.ScopeMetrics[i].Metrics[j].Data.(metricdata.Gauge[float64]); ok {
				for k := range g.DataPoints {
					g.DataPoints[k].Value = float64(k)*1.37 + float64(win)*0.011
				}
			}
		}
	}
}

// BenchmarkHistoryRender measures one window of the history at 10 000
// series (a document of 10 000 leaves) with the history full (120 windows):
//
//   - add: the window's values added to the history, what Export pays for
//     it;
//   - render: the history JSON rendered, what the first request for it
//     after an export pays; add+render, both;
//   - gzip: what its gzip copy would cost, at the exporter's level and
//     Huffman-only; above historyGzipMax (as here) the history has none;
//   - export and export/history-off: a whole Export with and without the
//     history, for scale;
//   - format-every-value: what a render that formatted each value held,
//     rather than copying the text kept, would pay for the formatting alone.
func BenchmarkHistoryRender(b *testing.B) {
	const series, windows = 10000, DefaultHistory
	ctx := context.Background()
	rm := benchInput("gauge", series)
	full := func(b *testing.B, opts ...Option) *Exporter {
		exp, err := New(append([]Option{serveAll(), WithMaxSeries(1 << 30), WithBudget(0)}, opts...)...)
		if err != nil {
			b.Fatal(err)
		}
		for win := range windows {
			setGauges(rm, win)
			if err := exp.Export(ctx, rm); err != nil {
				b.Fatal(err)
			}
		}
		return exp
	}
	exp := full(b)
	if n := len(exp.b.leaves); n != series {
		b.Fatalf("%d leaves, want %d", n, series)
	}
	report := func(b *testing.B) {
		body, gz := exp.History()
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/window")
		b.ReportMetric(float64(len(body)), "history-bytes")
		b.ReportMetric(float64(len(gz)), "gzip-bytes")
	}

	doc, _ := exp.Document()
	b.Run("add+render", func(b *testing.B) {
		h, arena, leaves, texts := exp.hist, exp.b.arena, exp.b.leaves, exp.b.texts
		b.ReportAllocs()
		var body []byte
		for b.Loop() {
			h.add(arena, leaves, doc, texts, 0)
			body = h.render()
		}
		if len(body) == 0 {
			b.Fatal("no history")
		}
		report(b)
		cols, rows, rest := h.footprint()
		b.ReportMetric(float64(cols+rows+rest), "held-bytes")
	})
	b.Run("add", func(b *testing.B) {
		h, arena, leaves, texts := exp.hist, exp.b.arena, exp.b.leaves, exp.b.texts
		b.ReportAllocs()
		for b.Loop() {
			h.add(arena, leaves, doc, texts, 0)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/window")
	})
	b.Run("render", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = exp.hist.render()
		}
	})
	for _, gz := range []struct {
		name string
		pool *sync.Pool
	}{{"gzip", exp.histGz.pool}, {"gzip/huffman-only", newGzipPool(gzip.HuffmanOnly)}} {
		b.Run(gz.name, func(b *testing.B) {
			body, _ := exp.History()
			var out []byte
			b.ReportAllocs()
			for b.Loop() {
				out = compress(gz.pool, body, len(out)+512)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/window")
			b.ReportMetric(float64(len(out)), "gzip-bytes")
		})
	}
	b.Run("export", func(b *testing.B) {
		b.ReportAllocs()
		win := windows
		for b.Loop() {
			win++
			setGauges(rm, win)
			if err := exp.Export(ctx, rm); err != nil {
				b.Fatal(err)
			}
		}
		report(b)
	})
	b.Run("export/history-off", func(b *testing.B) {
		off := full(b, WithHistory(0))
		b.ReportAllocs()
		win := windows
		for b.Loop() {
			win++
			setGauges(rm, win)
			if err := off.Export(ctx, rm); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("format-every-value", func(b *testing.B) {
		buf := make([]byte, 0, 16<<20)
		b.ReportAllocs()
		for b.Loop() {
			buf = buf[:0]
			for w := range windows {
				for k := range series {
					buf = append(appendValue(buf, math.Float64bits(float64(k)*1.37+float64(w)*0.011), kindFloat), ',')
				}
			}
		}
	})
}
