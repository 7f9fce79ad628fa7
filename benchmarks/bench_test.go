package benchmarks_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"expvar"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/komachi-go/komachi/benchmarks/internal/harness"
	"github.com/komachi-go/komachi/exporter"
	"github.com/komachi-go/komachi/otelbridge"
)

var sizes = []int{100, 1000, 10000}

// BenchmarkCollectRender measures one collection plus render:
//
//   - komachi: a ManualReader's Collect handed to exporter.Export, which is
//     what komachi's PeriodicReader does once per window; the render
//     includes the gzip copy it keeps for gzip clients.
//   - prometheus: the registry's Gather (which collects through the OTel
//     exporter's reader) and the text exposition encoding, as one promhttp
//     scrape does; prometheus+gzip adds the gzip promhttp applies when the
//     scraper asks for it (Prometheus and mackerel-plugin-json do).
//
// Before every timed iteration each series gets one new measurement (not
// timed), so that both exporters see active series, as in a service.
func BenchmarkCollectRender(b *testing.B) {
	for _, n := range sizes {
		b.Run(fmt.Sprintf("komachi/series=%d", n), func(b *testing.B) { benchKomachi(b, n) })
		b.Run(fmt.Sprintf("prometheus/series=%d", n), func(b *testing.B) { benchPrometheus(b, n, false) })
		b.Run(fmt.Sprintf("prometheus+gzip/series=%d", n), func(b *testing.B) { benchPrometheus(b, n, true) })
	}
}

func benchKomachi(b *testing.B, n int) {
	ctx := context.Background()
	exp, err := exporter.New(exporter.WithMaxSeries(1 << 24))
	if err != nil {
		b.Fatal(err)
	}
	reader := sdkmetric.NewManualReader(
		sdkmetric.WithTemporalitySelector(exp.Temporality),
		sdkmetric.WithAggregationSelector(exp.Aggregation),
	)
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	b.Cleanup(func() { _ = mp.Shutdown(ctx) })
	synth, err := harness.NewSynthetic(mp, n)
	if err != nil {
		b.Fatal(err)
	}
	var rm metricdata.ResourceMetrics
	once := func() {
		if err := reader.Collect(ctx, &rm); err != nil {
			b.Fatal(err)
		}
		if err := exp.Export(ctx, &rm); err != nil {
			b.Fatal(err)
		}
	}
	measure(b, n, synth, once, func() (int, int) {
		body, gz := exp.Document()
		return len(body), len(gz)
	})
}

func benchPrometheus(b *testing.B, n int, gz bool) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		b.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	b.Cleanup(func() { _ = mp.Shutdown(ctx) })
	synth, err := harness.NewSynthetic(mp, n)
	if err != nil {
		b.Fatal(err)
	}
	// The format promhttp picks for a scraper that sends no Accept header.
	format := expfmt.NegotiateAccept(http.Header{}, expfmt.DefaultAcceptedFormats()...)
	var buf bytes.Buffer
	zw := gzip.NewWriter(nil) // promhttp pools gzip writers at the default level
	var plainLen, gzLen int
	once := func() {
		mfs, err := reg.Gather()
		if err != nil {
			b.Fatal(err)
		}
		buf.Reset()
		var w interface {
			Write([]byte) (int, error)
		} = &buf
		if gz {
			zw.Reset(&buf)
			w = zw
		}
		enc := expfmt.NewEncoder(w, format)
		for _, mf := range mfs {
			if err := enc.Encode(mf); err != nil {
				b.Fatal(err)
			}
		}
		if c, ok := enc.(expfmt.Closer); ok {
			_ = c.Close()
		}
		if gz {
			_ = zw.Close()
			gzLen = buf.Len()
		} else {
			plainLen = buf.Len()
		}
	}
	measure(b, n, synth, once, func() (int, int) { return plainLen, gzLen })
}

func measure(b *testing.B, n int, synth *harness.Synthetic, once func(), size func() (int, int)) {
	ctx := context.Background()
	round := 0
	for range 3 { // the steady state: every series known to both sides
		synth.Record(ctx, round)
		round++
		once()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		synth.Record(ctx, round)
		round++
		b.StartTimer()
		once()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/series")
	plain, gz := size()
	if plain > 0 {
		b.ReportMetric(float64(plain), "body-bytes")
	}
	if gz > 0 {
		b.ReportMetric(float64(gz), "gzip-bytes")
	}
}

// discard is the cheapest ResponseWriter: what a handler allocates while
// writing to it is its own allocation, not the server's.
type discard struct {
	h http.Header
	n int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }
func (d *discard) WriteHeader(int)             {}

// BenchmarkServe measures one request in each contender's handler, called
// directly (no network, no net/http server), in the load benchmark's set-up
// at 1000 synthetic series: allocs/op is what the handler itself allocates
// per request.
func BenchmarkServe(b *testing.B) {
	ctx := context.Background()
	env, err := harness.NewEnv(ctx, harness.Config{Series: 1000})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = env.Shutdown(ctx) })
	body, gzipped := env.Stats.Exporter().Document()
	handlers := []struct {
		name string
		h    http.Handler
		path string
		gzip bool
	}{
		{"stats/identity", env.Stats.Handler(), "/stats", false},
		{"stats/gzip", env.Stats.Handler(), "/stats", true},
		{"ceiling/identity", harness.NewCeiling(body, gzipped), "/stats", false},
		{"ceiling/gzip", harness.NewCeiling(body, gzipped), "/stats", true},
		{"prom/identity", promhttp.HandlerFor(env.Registry, promhttp.HandlerOpts{}), "/metrics", false},
		{"prom/gzip", promhttp.HandlerFor(env.Registry, promhttp.HandlerOpts{}), "/metrics", true},
		{"expvar/identity", expvar.Handler(), "/debug/vars", false},
	}
	for _, c := range handlers {
		b.Run(c.name, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodGet, c.path, nil)
			if c.gzip {
				r.Header.Set("Accept-Encoding", "gzip")
			}
			w := &discard{h: make(http.Header, 8)}
			c.h.ServeHTTP(w, r)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				clear(w.h)
				w.n = 0
				c.h.ServeHTTP(w, r)
			}
			b.ReportMetric(float64(w.n), "body-bytes")
		})
	}
}

// BenchmarkBridge measures the two costs the bridge adds to an app that
// runs it with its defaults: one collection of everything it records (Go
// runtime, host, Go vitals, its own metrics) rendered to /stats, which
// happens once per window (60 s by default); and one measurement of an
// app's counter plus one of its histogram, against the no-op provider an
// app without an SDK has.
func BenchmarkBridge(b *testing.B) {
	ctx := context.Background()
	bridge, err := otelbridge.Start(ctx, otelbridge.WithWindow(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = bridge.Shutdown(ctx) })
	mp := bridge.MeterProvider()

	b.Run("collect", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := mp.ForceFlush(ctx); err != nil {
				b.Fatal(err)
			}
		}
		w := &discard{h: http.Header{}}
		bridge.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/stats", nil))
		b.ReportMetric(float64(w.n), "body-bytes")
	})
	for _, c := range []struct {
		name string
		mp   metric.MeterProvider
	}{{"record/noop", noop.NewMeterProvider()}, {"record/bridge", mp}} {
		b.Run(c.name, func(b *testing.B) {
			meter := c.mp.Meter("bench")
			n, _ := meter.Int64Counter("app.work.units")
			h, _ := meter.Float64Histogram("app.work.duration")
			attrs := metric.WithAttributeSet(attribute.NewSet(attribute.String("app.job", "hash")))
			b.ReportAllocs()
			for b.Loop() {
				n.Add(ctx, 1, attrs)
				h.Record(ctx, 0.001, attrs)
			}
		})
	}
}
