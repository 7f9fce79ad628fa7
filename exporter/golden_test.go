package exporter

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

type goldenCase struct {
	name   string
	before *metricdata.ResourceMetrics // exported first, the window's start
	rm     *metricdata.ResourceMetrics
	opts   []Option
	// defaults: the case shows what DefaultRules serve. The others show the
	// mechanics, on every instrument, series and stat (AllRules after the
	// rules of opts).
	defaults bool
}

// options are the options the case's exporter is made with.
func (tc goldenCase) options() []Option {
	opts := slices.Clip(tc.opts)
	if !tc.defaults {
		opts = append(opts, serveAll())
	}
	return opts
}

// export runs the case on a new exporter: its baseline first (the first
// export of a windowed exporter serves cumulative series as 0), then rm.
func (tc goldenCase) export(t testing.TB) *Exporter {
	t.Helper()
	exp, err := New(tc.options()...)
	if err != nil {
		t.Fatal(err)
	}
	for _, rm := range []*metricdata.ResourceMetrics{tc.before, tc.rm} {
		if rm == nil {
			continue
		}
		if err := exp.Export(context.Background(), rm); err != nil {
			t.Fatal(err)
		}
	}
	return exp
}

func histF(name string, temp metricdata.Temporality, pts ...metricdata.HistogramDataPoint[float64]) metricdata.Metrics {
	return metricdata.Metrics{Name: name, Data: metricdata.Histogram[float64]{Temporality: temp, DataPoints: pts}}
}

func goldenCases() []goldenCase {
	none := attribute.NewSet()
	get := attrs("http.request.method", "GET", "http.route", "/users/{id}")
	post := attrs("http.request.method", "POST", "http.route", "/users")
	latency := metricdata.HistogramDataPoint[float64]{
		Attributes: get, StartTime: t0, Time: t1, Count: 10, Sum: 1.25,
		Bounds: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}, BucketCounts: []uint64{1, 1, 2, 2, 2, 1, 0, 1, 0},
		Min: metricdata.NewExtrema(0.004), Max: metricdata.NewExtrema(0.8),
	}
	latencyPost := latency
	latencyPost.Attributes, latencyPost.Count, latencyPost.Sum = post, 1, 0.03
	latencyPost.BucketCounts = []uint64{0, 0, 0, 1, 0, 0, 0, 0, 0}
	latencyPost.Min, latencyPost.Max = metricdata.NewExtrema(0.03), metricdata.NewExtrema(0.03)
	long := strings.Repeat("x", 150) + "." + strings.Repeat("y", 150)

	return []goldenCase{
		{name: "gauge", rm: rmOf(scope("s",
			gaugeI("go.goroutine.count", ptI(42, none)),
			gaugeF("system.memory.utilization", ptF(0.25, attrs("system.memory.state", "used")), ptF(0.75, attrs("system.memory.state", "free"))),
		))},
		{name: "sum_monotonic", before: rmOf(scope("s",
			metricdata.Metrics{Name: "http.server.requests", Data: metricdata.Sum[int64]{
				Temporality: metricdata.CumulativeTemporality, IsMonotonic: true,
				DataPoints: []metricdata.DataPoint[int64]{ptI(100, get), ptI(5, post)},
			}},
			metricdata.Metrics{Name: "process.cpu.time", Data: metricdata.Sum[float64]{
				Temporality: metricdata.CumulativeTemporality, IsMonotonic: true,
				DataPoints: []metricdata.DataPoint[float64]{ptF(1, attrs("cpu.mode", "user")), ptF(0.25, attrs("cpu.mode", "system"))},
			}},
		)), rm: rmOf(scope("s",
			metricdata.Metrics{Name: "http.server.requests", Data: metricdata.Sum[int64]{
				Temporality: metricdata.CumulativeTemporality, IsMonotonic: true,
				DataPoints: []metricdata.DataPoint[int64]{ptI(120, get), ptI(7, post)},
			}},
			metricdata.Metrics{Name: "process.cpu.time", Data: metricdata.Sum[float64]{
				Temporality: metricdata.CumulativeTemporality, IsMonotonic: true,
				DataPoints: []metricdata.DataPoint[float64]{ptF(1.5, attrs("cpu.mode", "user")), ptF(0.25, attrs("cpu.mode", "system"))},
			}},
			metricdata.Metrics{Name: "app.jobs.done", Data: metricdata.Sum[int64]{
				Temporality: metricdata.DeltaTemporality, IsMonotonic: true,
				DataPoints: []metricdata.DataPoint[int64]{ptI(3, none)},
			}},
		))},
		{name: "sum_updown", rm: rmOf(scope("s",
			metricdata.Metrics{Name: "http.server.active_requests", Data: metricdata.Sum[int64]{
				Temporality: metricdata.CumulativeTemporality,
				DataPoints:  []metricdata.DataPoint[int64]{ptI(-2, none)},
			}},
			metricdata.Metrics{Name: "app.queue.depth", Data: metricdata.Sum[float64]{
				Temporality: metricdata.CumulativeTemporality,
				DataPoints:  []metricdata.DataPoint[float64]{ptF(12.5, attrs("queue", "mail")), ptF(0, attrs("queue", "sms"))},
			}},
		))},
		{name: "histogram", rm: rmOf(scope("s",
			histF("http.server.request.duration", metricdata.DeltaTemporality, latency, latencyPost),
			metricdata.Metrics{Name: "app.batch.size", Data: metricdata.Histogram[int64]{
				Temporality: metricdata.DeltaTemporality,
				DataPoints: []metricdata.HistogramDataPoint[int64]{{
					StartTime: t0, Time: t1, Count: 4, Sum: 100, Bounds: []float64{10, 50}, BucketCounts: []uint64{1, 2, 1},
					Min: metricdata.NewExtrema[int64](5), Max: metricdata.NewExtrema[int64](60),
				}},
			}},
		))},
		{name: "histogram_empty_window", rm: rmOf(scope("s",
			histF("http.server.request.duration", metricdata.DeltaTemporality, metricdata.HistogramDataPoint[float64]{
				Attributes: get, StartTime: t0, Time: t1, Bounds: []float64{0.1, 1}, BucketCounts: []uint64{0, 0, 0},
			}),
		))},
		{name: "exponential_histogram", rm: rmOf(scope("s",
			metricdata.Metrics{Name: "rpc.server.duration", Data: metricdata.ExponentialHistogram[float64]{
				Temporality: metricdata.DeltaTemporality,
				DataPoints: []metricdata.ExponentialHistogramDataPoint[float64]{{
					Attributes: attrs("rpc.method", "Get"), StartTime: t0, Time: t1, Count: 10, Sum: 22.5, Scale: 1,
					ZeroCount: 1, PositiveBucket: metricdata.ExponentialBucket{Offset: 0, Counts: []uint64{2, 3, 3, 1}},
					Min: metricdata.NewExtrema(0.0), Max: metricdata.NewExtrema(3.9),
				}},
			}},
			metricdata.Metrics{Name: "app.temperature.delta", Data: metricdata.ExponentialHistogram[int64]{
				Temporality: metricdata.DeltaTemporality,
				DataPoints: []metricdata.ExponentialHistogramDataPoint[int64]{{
					StartTime: t0, Time: t1, Count: 4, Sum: -3, Scale: 0,
					NegativeBucket: metricdata.ExponentialBucket{Offset: 1, Counts: []uint64{2, 1}},
					PositiveBucket: metricdata.ExponentialBucket{Offset: 1, Counts: []uint64{1}},
					Min:            metricdata.NewExtrema[int64](-7), Max: metricdata.NewExtrema[int64](3),
				}},
			}},
		))},
		{name: "summary", before: rmOf(scope("s",
			metricdata.Metrics{Name: "legacy.latency", Data: metricdata.Summary{DataPoints: []metricdata.SummaryDataPoint{{
				Attributes: attrs("op", "read"), StartTime: t0, Time: t0, Count: 60, Sum: 7.5,
			}}}},
		)), rm: rmOf(scope("s",
			metricdata.Metrics{Name: "legacy.latency", Data: metricdata.Summary{DataPoints: []metricdata.SummaryDataPoint{{
				Attributes: attrs("op", "read"), StartTime: t0, Time: t1, Count: 100, Sum: 12.5,
				QuantileValues: []metricdata.QuantileValue{{Quantile: 0, Value: 0.01}, {Quantile: 0.5, Value: 0.1}, {Quantile: 0.999, Value: 0.9}, {Quantile: 1, Value: 1.2}},
			}}}},
		))},
		// a.b and a.b.c do not collide (a.b.b, a.b.c.c); x.y's line z and
		// x.y.z do, and so do a histogram's stats with and without
		// attributes (h.p99 beside h.p99.v).
		{name: "collision_scalar_and_object", rm: rmOf(scope("s",
			gaugeI("a.b", ptI(1, none)),
			gaugeI("a.b.c", ptI(2, none)),
			gaugeI("app.requests", ptI(10, none), ptI(4, attrs("route", "home"))),
			gaugeI("x.y", ptI(3, attrs("k", "z"))),
			gaugeI("x.y.z", ptI(4, none)),
			histF("h", metricdata.DeltaTemporality,
				metricdata.HistogramDataPoint[float64]{StartTime: t0, Time: t1, Count: 1, Sum: 2, Bounds: []float64{1}, BucketCounts: []uint64{0, 1},
					Min: metricdata.NewExtrema(2.0), Max: metricdata.NewExtrema(2.0)},
				metricdata.HistogramDataPoint[float64]{Attributes: attrs("k", "v"), StartTime: t0, Time: t1, Count: 1, Sum: 0.5, Bounds: []float64{1}, BucketCounts: []uint64{1, 0},
					Min: metricdata.NewExtrema(0.5), Max: metricdata.NewExtrema(0.5)}),
		))},
		{name: "collision_attributes_sanitize_alike", rm: rmOf(scope("s",
			gaugeI("app.hits", ptI(1, attrs("path", "/a b")), ptI(2, attrs("path", "/a:b")), ptI(3, attrs("path", "_a_b"))),
		))},
		{name: "collision_two_scopes", rm: rmOf(
			scope("lib/two", gaugeI("shared.metric", ptI(2, none))),
			scope("lib/one", gaugeI("shared.metric", ptI(1, none))),
		)},
		{name: "hostile_names", rm: rmOf(scope("s",
			gaugeI("has space.and:colon/slash", ptI(1, none)),
			gaugeI("ユニコード.métrique", ptI(2, none)),
			gaugeI(".leading..doubled.trailing.", ptI(3, none)),
			gaugeI("...", ptI(4, none)),
			gaugeI("", ptI(5, none)),
			gaugeI(long, ptI(6, none)),
			gaugeI("attr.values", ptI(7, attrs("host", "db.example.com")), ptI(8, attrs("empty", "")),
				ptI(9, attribute.NewSet(attribute.Int("code", -200), attribute.Float64("ratio", 0.5), attribute.Bool("ok", true)))),
			gaugeF("invalid\xffutf8", ptF(10, none)),
		))},
		{name: "nonfinite", rm: rmOf(scope("s",
			gaugeF("v", ptF(math.NaN(), attrs("k", "nan")), ptF(math.Inf(1), attrs("k", "pinf")), ptF(math.Inf(-1), attrs("k", "ninf")), ptF(1.5, attrs("k", "ok"))),
			histF("h", metricdata.DeltaTemporality, metricdata.HistogramDataPoint[float64]{
				StartTime: t0, Time: t1, Count: 2, Sum: math.NaN(), Bounds: []float64{1}, BucketCounts: []uint64{1, 1},
				Min: metricdata.NewExtrema(0.5), Max: metricdata.NewExtrema(math.Inf(1)),
			}),
		))},
		{name: "numbers", rm: rmOf(scope("s",
			gaugeF("f", ptF(1e21, attrs("k", "big")), ptF(1e-7, attrs("k", "tiny")), ptF(-0.1, attrs("k", "neg")), ptF(3, attrs("k", "integral"))),
			gaugeI("i", ptI(math.MaxInt64, attrs("k", "max")), ptI(math.MinInt64, attrs("k", "min"))),
		))},
		{name: "empty", rm: rmOf()},
		{name: "max_series", rm: rmOf(scope("s",
			gaugeI("a", ptI(1, attrs("k", "1")), ptI(2, attrs("k", "2")), ptI(3, attrs("k", "3"))),
		)), opts: []Option{WithMaxSeries(2)}},
		defaultRulesCase(),
		unitsCase(),
		mergedCase(),
		overflowCase(),
		fairShareCase(),
	}
}

// TestGolden renders each case and compares it with testdata/<case>.json, and
// the lines mackerel-plugin-json prints of it with testdata/<case>.plugin.txt.
// Run with -update to rewrite them after an intended change.
func TestGolden(t *testing.T) {
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			exp := tc.export(t)
			body, _ := exp.Document()
			flat, err := pluginFlatten("app", body)
			if err != nil {
				t.Fatalf("mackerel-plugin-json would not read it right: %v\n%s", err, body)
			}
			compareGolden(t, tc.name+".json", append(body, '\n'))
			compareGolden(t, tc.name+".plugin.txt", []byte(pluginLines(flat)))
			graphs, _ := exp.Graphs()
			var meta bytes.Buffer
			if err := WriteGraphs(&meta, "app", graphs); err != nil {
				t.Fatal(err)
			}
			compareGolden(t, tc.name+".graphs.json", indentJSON(t, meta.Bytes()))
		})
	}
}

func compareGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the golden file:\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// Every series of every golden case reaches mackerel-plugin-json, under a
// valid name, with its own value, and the shape is the contract's.
func TestGoldenCasesReachThePlugin(t *testing.T) {
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			exp := tc.export(t)
			body, _ := exp.Document()
			leaves, err := checkShape(body)
			if err != nil {
				t.Fatalf("shape: %v\n%s", err, body)
			}
			flat, err := pluginFlatten("app", body)
			if err != nil {
				t.Fatal(err)
			}
			if len(flat) != leaves || int64(leaves) != exp.stats.series.Load() {
				t.Fatalf("plugin saw %d metrics, document has %d leaves, exporter counted %d", len(flat), leaves, exp.stats.series.Load())
			}
			b := exp.b
			for i := range b.leaves {
				name := "app." + strings.ReplaceAll(string(b.key(i)), "\x00", ".")
				got, ok := flat[name]
				if !ok {
					t.Errorf("leaf %s did not reach the plugin", name)
					continue
				}
				want := leafFloat(b.leaves[i])
				if got != want {
					t.Errorf("%s = %v at the plugin, want %v", name, got, want)
				}
			}
			for name := range flat {
				if !mackerelName.MatchString(name) {
					t.Errorf("invalid Mackerel name %q", name)
				}
			}
		})
	}
}

func leafFloat(l leaf) float64 {
	switch l.kind {
	case kindInt:
		return float64(int64(l.bits))
	case kindUint:
		return float64(l.bits)
	}
	return math.Float64frombits(l.bits)
}

// The counts the golden cases promise are the exporter's own numbers.
func TestGoldenCounters(t *testing.T) {
	cases := map[string]struct {
		collisions int64
		dropped    [numDropReasons]int64
	}{
		"collision_scalar_and_object":         {collisions: 8},
		"collision_attributes_sanitize_alike": {collisions: 2},
		"collision_two_scopes":                {collisions: 1},
		"nonfinite":                           {dropped: [numDropReasons]int64{dropNonFinite: 6}},
		"max_series":                          {dropped: [numDropReasons]int64{dropLimit: 1}},
		"series_bound_fair_share":             {dropped: [numDropReasons]int64{dropLimit: 30}},
		"overflow":                            {dropped: [numDropReasons]int64{dropOverflow: 5}},
		"gauge":                               {},
		"default_rules":                       {},
		"merged":                              {},
		"units":                               {},
	}
	for _, tc := range goldenCases() {
		want, ok := cases[tc.name]
		if !ok {
			continue
		}
		exp := tc.export(t)
		if got := exp.stats.collisions.Load(); got != want.collisions {
			t.Errorf("%s: collisions = %d, want %d", tc.name, got, want.collisions)
		}
		for i := range want.dropped {
			if got := exp.stats.dropped[i].Load(); got != want.dropped[i] {
				t.Errorf("%s: dropped[%s] = %d, want %d", tc.name, dropReasonNames[i], got, want.dropped[i])
			}
		}
	}
}

// The SDK hands scopes and metrics over in no fixed order; the bytes must not
// depend on it.
func TestDeterministicAcrossInputOrder(t *testing.T) {
	for _, tc := range goldenCases() {
		a := tc.export(t)
		b, _ := New(tc.options()...)
		if tc.before != nil {
			if err := b.Export(context.Background(), tc.before); err != nil {
				t.Fatal(err)
			}
		}
		rev := &metricdata.ResourceMetrics{}
		for i := len(tc.rm.ScopeMetrics) - 1; i >= 0; i-- {
			sm := tc.rm.ScopeMetrics[i]
			ms := make([]metricdata.Metrics, len(sm.Metrics))
			for j := range sm.Metrics {
				ms[len(ms)-1-j] = reversePoints(sm.Metrics[j])
			}
			rev.ScopeMetrics = append(rev.ScopeMetrics, metricdata.ScopeMetrics{Scope: sm.Scope, Metrics: ms})
		}
		if err := b.Export(context.Background(), rev); err != nil {
			t.Fatal(err)
		}
		da, _ := a.Document()
		db, _ := b.Document()
		if string(da) != string(db) {
			t.Errorf("%s: output depends on input order:\n%s\n%s", tc.name, da, db)
		}
	}
}

// reversePoints returns m with its data points in the reverse order.
func reversePoints(m metricdata.Metrics) metricdata.Metrics {
	switch d := m.Data.(type) {
	case metricdata.Gauge[int64]:
		d.DataPoints = reversed(d.DataPoints)
		m.Data = d
	case metricdata.Gauge[float64]:
		d.DataPoints = reversed(d.DataPoints)
		m.Data = d
	case metricdata.Sum[int64]:
		d.DataPoints = reversed(d.DataPoints)
		m.Data = d
	case metricdata.Sum[float64]:
		d.DataPoints = reversed(d.DataPoints)
		m.Data = d
	case metricdata.Histogram[int64]:
		d.DataPoints = reversed(d.DataPoints)
		m.Data = d
	case metricdata.Histogram[float64]:
		d.DataPoints = reversed(d.DataPoints)
		m.Data = d
	case metricdata.ExponentialHistogram[int64]:
		d.DataPoints = reversed(d.DataPoints)
		m.Data = d
	case metricdata.ExponentialHistogram[float64]:
		d.DataPoints = reversed(d.DataPoints)
		m.Data = d
	case metricdata.Summary:
		d.DataPoints = reversed(d.DataPoints)
		m.Data = d
	}
	return m
}

func reversed[T any](s []T) []T {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}

// indentJSON indents a graph definitions document for review.
func indentJSON(t testing.TB, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	return out.Bytes()
}
