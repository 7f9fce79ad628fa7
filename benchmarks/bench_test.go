package benchmarks_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"expvar"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
	"go.opentelemetry.io/contrib/instrumentation/runtime"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/komachi-go/komachi/benchmarks/internal/harness"
	"github.com/komachi-go/komachi/exporter"
	"github.com/komachi-go/komachi/otelbridge"
	"github.com/komachi-go/komachi/otelbridge/govitals"
)

var sizes = []int{100, 1000, 10000}

// komachiRow is one komachi row of BenchmarkCollectRender: a selection of
// what /stats serves.
type komachiRow struct {
	name  string
	rules []exporter.Rule // before exporter.DefaultRules
}

// komachiRows are the selections measured. "komachi" serves everything
// whole, as the Prometheus exporter does (and as /stats did before it had a
// selection), so it is the row to compare with the earlier runs;
// "komachi+selection=default" is what a user gets (the synthetic instruments
// are an app's own: all their attributes, histograms count and p99);
// "komachi+selection=merge" also merges the ten routes of every synthetic
// histogram and counter into one line per method.
var komachiRows = []komachiRow{
	{"komachi", exporter.AllRules()},
	{"komachi+selection=default", nil},
	{"komachi+selection=merge", []exporter.Rule{
		{Match: "app.*.duration", Stats: []string{"count", "p99"}, Keys: []string{"http.request.method"}},
		{Match: "app.*.requests", Keys: []string{"http.request.method"}},
	}},
}

// BenchmarkCollectRender measures one collection plus render:
//
//   - komachi: a ManualReader's Collect handed to exporter.Export, which is
//     what komachi's PeriodicReader does once per window; the render
//     includes the gzip copy it keeps for gzip clients. One row per
//     selection (komachiRows); leaves is the number of numbers served.
//   - prometheus: the registry's Gather (which collects through the OTel
//     exporter's reader) and the text exposition encoding, as one promhttp
//     scrape does; prometheus+gzip adds the gzip promhttp applies when the
//     scraper asks for it (Prometheus and mackerel-plugin-json do).
//
// Before every timed iteration each series gets one new measurement (not
// timed), so that both exporters see active series, as in a service.
func BenchmarkCollectRender(b *testing.B) {
	for _, n := range sizes {
		for _, row := range komachiRows {
			b.Run(fmt.Sprintf("%s/series=%d", row.name, n), func(b *testing.B) { benchKomachi(b, n, row.rules) })
		}
		b.Run(fmt.Sprintf("prometheus/series=%d", n), func(b *testing.B) { benchPrometheus(b, n, false) })
		b.Run(fmt.Sprintf("prometheus+gzip/series=%d", n), func(b *testing.B) { benchPrometheus(b, n, true) })
	}
}

// komachiSetup is the komachi side of BenchmarkCollectRender: n synthetic
// series on a provider read by a ManualReader with the exporter's
// selectors, and once, which collects and exports.
type komachiSetup struct {
	exp   *exporter.Exporter
	synth *harness.Synthetic
	once  func() error
}

func newKomachi(tb testing.TB, n int, rules []exporter.Rule) *komachiSetup {
	ctx := context.Background()
	opts := []exporter.Option{
		exporter.WithMaxSeries(1 << 24), // every series is served: the bound is not what is measured
		// The budget is checked as for a user; its one warning is not printed.
		exporter.WithLogger(slog.New(slog.DiscardHandler)),
	}
	if rules != nil {
		opts = append(opts, exporter.WithRules(rules...))
	}
	exp, err := exporter.New(opts...)
	if err != nil {
		tb.Fatal(err)
	}
	reader := sdkmetric.NewManualReader(
		sdkmetric.WithTemporalitySelector(exp.Temporality),
		sdkmetric.WithAggregationSelector(exp.Aggregation),
	)
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	tb.Cleanup(func() { _ = mp.Shutdown(ctx) })
	synth, err := harness.NewSynthetic(mp, n)
	if err != nil {
		tb.Fatal(err)
	}
	var rm metricdata.ResourceMetrics
	return &komachiSetup{exp: exp, synth: synth, once: func() error {
		if err := reader.Collect(ctx, &rm); err != nil {
			return err
		}
		return exp.Export(ctx, &rm)
	}}
}

func benchKomachi(b *testing.B, n int, rules []exporter.Rule) {
	k := newKomachi(b, n, rules)
	once := func() {
		if err := k.once(); err != nil {
			b.Fatal(err)
		}
	}
	measure(b, n, k.synth, once, func() (int, int) {
		body, gz := k.exp.Document()
		return len(body), len(gz)
	})
	body, _ := k.exp.Document()
	leaves, err := countLeaves(body)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(leaves), "leaves")
}

// countLeaves is the number of numbers in a /stats document: the Mackerel
// metrics it makes.
func countLeaves(doc []byte) (int, error) {
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return 0, fmt.Errorf("the document is not JSON: %w", err)
	}
	var count func(any) (int, error)
	count = func(v any) (int, error) {
		switch v := v.(type) {
		case float64:
			return 1, nil
		case map[string]any:
			n := 0
			for k, c := range v {
				m, err := count(c)
				if err != nil {
					return 0, fmt.Errorf("%s.%w", k, err)
				}
				n += m
			}
			return n, nil
		}
		return 0, fmt.Errorf("%T: not a number or an object", v)
	}
	return count(v)
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
// runtime, host, Go vitals, heartbeat, its own metrics) rendered to /stats,
// which happens once per window (60 s by default); and one measurement of an
// app's counter plus one of its histogram, against the no-op provider an
// app without an SDK has.
//
// The bridge's /stats reader keeps out of the provider's ForceFlush and
// collects only on its own clock, so the collection is measured on a probe:
// a ManualReader added to a second bridge's provider, with a /stats
// exporter's selectors and the producers the bridge's reader has, collected
// and exported as that reader does once per window. "collect" renders with
// the default rules (what the bridge serves), "collect-all" everything
// whole (as /stats did before it had a selection).
func BenchmarkBridge(b *testing.B) {
	ctx := context.Background()
	quiet := otelbridge.WithLogger(slog.New(slog.DiscardHandler))
	probes := []struct {
		name  string
		rules []exporter.Rule
		exp   *exporter.Exporter
		r     *sdkmetric.ManualReader
	}{{name: "collect"}, {name: "collect-all", rules: exporter.AllRules()}}
	var popts []sdkmetric.Option
	for i := range probes {
		p := &probes[i]
		exp, err := exporter.New(exporter.WithRules(p.rules...), exporter.WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			b.Fatal(err)
		}
		p.exp = exp
		p.r = sdkmetric.NewManualReader(
			sdkmetric.WithTemporalitySelector(exp.Temporality),
			sdkmetric.WithAggregationSelector(exp.Aggregation),
			sdkmetric.WithProducer(runtimeProducer()),
			sdkmetric.WithProducer(govitals.NewProducer()),
		)
		popts = append(popts, sdkmetric.WithReader(p.r))
	}
	probed, err := otelbridge.Start(ctx, otelbridge.WithWindow(time.Hour), quiet, otelbridge.WithMeterProviderOptions(popts...))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = probed.Shutdown(ctx) })
	// What the bridge itself serves (its first document), to hold the
	// probe's against.
	rec := httptest.NewRecorder()
	probed.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/stats", nil))
	served, err := countLeaves(rec.Body.Bytes())
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range probes {
		b.Run(p.name, func(b *testing.B) {
			var rm metricdata.ResourceMetrics
			b.ReportAllocs()
			for b.Loop() {
				if err := p.r.Collect(ctx, &rm); err != nil {
					b.Fatal(err)
				}
				if err := p.exp.Export(ctx, &rm); err != nil {
					b.Fatal(err)
				}
			}
			body, _ := p.exp.Document()
			leaves, err := countLeaves(body)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(len(body)), "body-bytes")
			b.ReportMetric(float64(leaves), "leaves")
			if p.rules == nil {
				b.ReportMetric(float64(served), "bridge-leaves")
			}
		})
	}

	// A bridge of its own, as an app has: the probes would add their
	// aggregation to every measurement.
	bridge, err := otelbridge.Start(ctx, otelbridge.WithWindow(time.Hour), quiet)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = bridge.Shutdown(ctx) })
	mp := bridge.MeterProvider()
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

// runtimeProducer is the contrib producer of go.schedule.duration as the
// bridge's reader has it: reading runtime/metrics at every collection.
func runtimeProducer() sdkmetric.Producer {
	if o, ok := runtime.WithMinimumReadMemStatsInterval(time.Nanosecond).(runtime.ProducerOption); ok {
		return runtime.NewProducer(o)
	}
	return runtime.NewProducer()
}
