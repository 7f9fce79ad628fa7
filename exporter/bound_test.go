package exporter

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// A histogram with a user-controlled label (a search query, say) must not
// push anything else out of /stats: the series bound cuts it, and only
// it, to its fair share, whole series at a time in order, and counts what
// it cut under a leaf that survives.
func TestSeriesBoundCutsOnlyTheHostileInstrument(t *testing.T) {
	const bound = 600
	for _, tc := range []struct {
		name     string
		mpOpts   []sdkmetric.Option
		values   int
		defaults bool
	}{
		// The SDK's default cardinality limit is 2000 series, the overflow
		// series included: 1999 values and the overflow.
		{name: "SDK default cardinality limit", values: 2000},
		{name: "cardinality limit off", mpOpts: []sdkmetric.Option{sdkmetric.WithCardinalityLimit(0)}, values: 5000},
		{name: "default rules", values: 2000, defaults: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := []Option{WithMaxSeries(bound)}
			if !tc.defaults {
				opts = append(opts, serveAll())
			}
			w := newWindowOn(t, tc.mpOpts, opts...)
			reg, err := w.exp.RegisterMetrics(w.mp)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = reg.Unregister() }()
			ctx := context.Background()
			m := w.mp.Meter("app")
			hostile, _ := m.Float64Histogram("app.search.duration", metric.WithUnit("s"))
			queue, _ := m.Int64Gauge("app.queue.depth")
			temp, _ := m.Float64Gauge("app.temperature")
			conns, _ := m.Int64UpDownCounter("app.connections")
			orders, _ := m.Int64Counter("app.orders")
			record := func() {
				for i := range tc.values {
					hostile.Record(ctx, 0.001*float64(i%100+1), metric.WithAttributes(attribute.String("q", strconv.Itoa(i))))
				}
				for _, q := range []string{"mail", "sms", "push"} {
					queue.Record(ctx, 3, metric.WithAttributes(attribute.String("queue", q)))
				}
				temp.Record(ctx, 21.5)
				conns.Add(ctx, 1, metric.WithAttributes(attribute.String("db", "main")))
				conns.Add(ctx, 2, metric.WithAttributes(attribute.String("db", "replica")))
				orders.Add(ctx, 1, metric.WithAttributes(attribute.String("status", "paid")))
				orders.Add(ctx, 1, metric.WithAttributes(attribute.String("status", "failed")))
			}
			var flat map[string]float64
			var prevLeaves int
			for range 3 { // the third window reports the second export, the same as itself
				record()
				if flat != nil {
					prevLeaves = len(flat)
				}
				flat = w.close()
			}

			// Everything but the hostile instrument is served whole.
			want := []string{
				"app.app.queue.depth.mail", "app.app.queue.depth.push", "app.app.queue.depth.sms",
				"app.app.temperature.temperature",
				"app.app.connections.main", "app.app.connections.replica",
				"app.app.orders.failed", "app.app.orders.paid",
				"app.komachi.exporter.metrics.metrics",
			}
			own := []string{
				"app.komachi.exporter.exports.exports", "app.komachi.exporter.collisions.collisions",
				"app.komachi.exporter.document.size.gzip", "app.komachi.exporter.document.size.identity",
				"app.komachi.exporter.export.duration.duration",
			}
			for _, r := range dropReasonNames {
				own = append(own, "app.komachi.exporter.dropped."+r)
			}
			if tc.defaults {
				own = []string{"app.komachi.exporter.dropped.dropped"}
			}
			for _, name := range append(want, own...) {
				if _, ok := flat[name]; !ok {
					t.Errorf("%s missing: the bound took it", name)
				}
			}

			// The hostile instrument is cut to its share, whole series, the
			// first in path order.
			var segs []string // the hostile series' lines
			overflow := 0.0
			for _, sm := range w.rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					if m.Name != "app.search.duration" {
						continue
					}
					for _, dp := range m.Data.(metricdata.ExponentialHistogram[float64]).DataPoints {
						if isOverflow(&dp.Attributes) {
							segs = append(segs, overflowSegment)
							overflow = 1 // one instrument over the limit, in one export
							continue
						}
						v, _ := dp.Attributes.Value("q")
						segs = append(segs, v.AsString())
					}
				}
			}
			slices.Sort(segs)
			series := len(segs)
			if tc.mpOpts == nil && (series != 2000 || overflow != 1) {
				t.Errorf("%d series, overflow %v: want the SDK's 1999 and its overflow series", series, overflow)
			}
			perSeries := 9
			if tc.defaults {
				perSeries = 2 // count and p99
			}
			others := len(flat) - hostileLeaves(flat)
			share := bound - others
			keptSeries := share / perSeries
			if got := hostileLeaves(flat); got != keptSeries*perSeries {
				t.Errorf("hostile instrument: %d leaves, want %d series of %d in a share of %d (%d others)", got, keptSeries, perSeries, share, others)
			}
			if len(flat) > bound {
				t.Errorf("%d leaves, over the bound %d", len(flat), bound)
			}
			for _, seg := range segs[:keptSeries] {
				if _, ok := flat["app.app.search.duration.count."+seg]; !ok {
					t.Errorf("series %s, among the first %d in order, was cut", seg, keptSeries)
				}
			}

			// What was cut is counted, exactly: the window shows the
			// increase over it, which is what the previous export cut, the
			// same as this one's.
			cut := float64(series*perSeries - hostileLeaves(flat))
			if tc.defaults {
				wantLeaf(t, flat, "app.komachi.exporter.dropped.dropped", cut+overflow)
			} else {
				wantLeaf(t, flat, "app.komachi.exporter.dropped.limit", cut)
				wantLeaf(t, flat, "app.komachi.exporter.dropped.overflow", overflow)
			}
			wantLeaf(t, flat, "app.komachi.exporter.metrics.metrics", float64(prevLeaves))
			if prevLeaves != len(flat) {
				t.Errorf("the second export served %d leaves, the third %d: not the steady state", prevLeaves, len(flat))
			}
		})
	}
}

func hostileLeaves(flat map[string]float64) int {
	n := 0
	for name := range flat {
		if strings.HasPrefix(name, "app.app.search.duration.") {
			n++
		}
	}
	return n
}

// exportSafely exports rm, failing the test rather than the whole test
// binary when Export panics.
func exportSafely(t *testing.T, exp *Exporter, rm *metricdata.ResourceMetrics) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("Export panicked: %v", r)
		}
	}()
	if err := exp.Export(context.Background(), rm); err != nil {
		t.Fatal(err)
	}
}

// komachi's own instruments are never cut, even when they alone are over
// the bound; every other instrument is then cut to nothing, and counted.
func TestSeriesBoundNeverCutsKomachisOwn(t *testing.T) {
	exp, _ := New(serveAll(), WithMaxSeries(3))
	own := gaugeI("komachi.exporter.metrics", ptI(1, attrs("k", "a")), ptI(2, attrs("k", "b")), ptI(3, attrs("k", "c")), ptI(4, attrs("k", "d")))
	exportSafely(t, exp, rmOf(scope(exporterScope, own), scope("app", gaugeI("a", ptI(1, attrs("k", "x")), ptI(2, attrs("k", "y"))))))
	body, _ := exp.Document()
	if want := `{"komachi":{"exporter":{"metrics":{"a":1,"b":2,"c":3,"d":4}}}}`; string(body) != want {
		t.Errorf("got %s, want %s", body, want)
	}
	if got := exp.stats.dropped[dropLimit].Load(); got != 2 {
		t.Errorf("dropped limit %d, want 2", got)
	}
}

// A share smaller than one series of an instrument (a histogram's 9
// leaves) cuts the instrument to nothing, and counts it: whole series only.
func TestSeriesBoundShareSmallerThanOneSeries(t *testing.T) {
	exp, _ := New(serveAll(), WithMaxSeries(20))
	var ms []metricdata.Metrics
	for _, name := range []string{"h1", "h2", "h3", "h4", "h5"} {
		ms = append(ms, histF(name, metricdata.DeltaTemporality, histPt(attrs("k", "v"), 1, 1, 1, []float64{1}, 1, 0)))
	}
	ms = append(ms, gaugeI("g", ptI(1, attrs("k", "v"))))
	exportSafely(t, exp, rmOf(scope("app", ms...)))
	body, _ := exp.Document()
	// 46 leaves for 20: the share is 3 (19 after g's one, over 5), below a
	// histogram series' 9.
	if want := `{"g":{"v":1}}`; string(body) != want {
		t.Errorf("got %s, want %s", body, want)
	}
	if got := exp.stats.dropped[dropLimit].Load(); got != 45 {
		t.Errorf("dropped limit %d, want 45", got)
	}
}
