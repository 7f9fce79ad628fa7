package exporter

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// member is one series of a merged instrument in one export: the value of
// its attribute "drop" (merged away), its start time and its value.
type member struct {
	drop  string
	start time.Time
	v     int64
}

// A merged leaf is the sum of its members' increases over the window,
// whatever members appear, vanish or reset; each member is windowed on its
// own first.
func TestMergedSumIsTheSumOfItsMembersIncreases(t *testing.T) {
	window := time.Minute
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * window) }
	mid := func(i int) time.Time { return at(i).Add(-window / 2) } // inside window i
	x := func(v int64) member { return member{"x", t0, v} }
	y := func(v int64) member { return member{"y", t0, v} }
	none := math.NaN() // no leaf
	for _, tc := range []struct {
		name    string
		mode    Mode
		temp    metricdata.Temporality
		updown  bool
		exports [][]member
		want    []float64
	}{
		{name: "steady", exports: [][]member{{x(10), y(5)}, {x(13), y(9)}, {x(13), y(9)}}, want: []float64{0, 7, 0}},
		{name: "a member appears mid-window", exports: [][]member{{x(10)}, {x(12), {"y", mid(1), 4}}, {x(12), {"y", mid(1), 5}}}, want: []float64{0, 6, 1}},
		{name: "a member vanishes", exports: [][]member{{x(10), y(5)}, {x(12)}, {x(15)}}, want: []float64{0, 2, 3}},
		{name: "a member restarts", exports: [][]member{{x(10), y(5)}, {x(12), {"y", mid(1), 2}}}, want: []float64{0, 4}},
		{name: "a member goes down", exports: [][]member{{x(10), y(5)}, {x(12), y(1)}}, want: []float64{0, 3}},
		{name: "every member vanishes", exports: [][]member{{x(10), y(5)}, {}, {{"z", mid(2), 11}}}, want: []float64{0, none, 11}},
		{name: "members take turns", exports: [][]member{{x(1)}, {{"y", mid(1), 2}}, {{"z", mid(2), 3}}}, want: []float64{0, 2, 3}},
		{name: "delta", temp: metricdata.DeltaTemporality, exports: [][]member{{x(3), y(2)}, {x(1)}, {}, {y(4)}}, want: []float64{5, 1, 0, 4}},
		{name: "delta, a member appears", temp: metricdata.DeltaTemporality, exports: [][]member{{x(3)}, {x(1), y(4)}}, want: []float64{3, 5}},
		{name: "cumulative mode, cumulative input", mode: Cumulative, exports: [][]member{{x(10), y(5)}, {x(12), y(6)}}, want: []float64{15, 18}},
		{name: "cumulative mode, delta input", mode: Cumulative, temp: metricdata.DeltaTemporality, exports: [][]member{{x(3), y(2)}, {x(1), y(0)}, {x(0), y(4)}}, want: []float64{5, 6, 10}},
		{name: "up-down counter: a level", updown: true, exports: [][]member{{x(10), y(-5)}, {x(12)}}, want: []float64{5, 12}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.temp == 0 {
				tc.temp = metricdata.CumulativeTemporality
			}
			exp, err := New(WithMode(tc.mode), WithRules(Rule{Match: "n", Merge: true}))
			if err != nil {
				t.Fatal(err)
			}
			for i, members := range tc.exports {
				pts := make([]metricdata.DataPoint[int64], len(members))
				for j, m := range members {
					start := m.start
					if tc.temp == metricdata.DeltaTemporality {
						start = at(i).Add(-window)
					}
					pts[j] = metricdata.DataPoint[int64]{Attributes: attrs("drop", m.drop), StartTime: start, Time: at(i), Value: m.v}
				}
				rm := rmOf(scope("s", metricdata.Metrics{Name: "n", Data: metricdata.Sum[int64]{
					Temporality: tc.temp, IsMonotonic: !tc.updown, DataPoints: pts,
				}}))
				if err := exp.Export(context.Background(), rm); err != nil {
					t.Fatal(err)
				}
				body, _ := exp.Document()
				flat, err := pluginFlatten("app", body)
				if err != nil {
					t.Fatal(err)
				}
				got, ok := flat["app.n.n"]
				switch {
				case math.IsNaN(tc.want[i]) && ok:
					t.Errorf("export %d: %v, want no leaf: %s", i, got, body)
				case !math.IsNaN(tc.want[i]) && (!ok || got != tc.want[i]):
					t.Errorf("export %d: %s, want n.n = %v", i, body, tc.want[i])
				}
			}
		})
	}
}

// A cumulative series that the input leaves out for a window (an
// observable counter whose callback skipped it) and that comes back with
// the same start time has increased by what it reached since it was last
// seen, not by all it counted since its start: merged, the line must not
// jump by the member's whole history.
func TestCumulativeSeriesThatComesBackCountsFromWhereItWas(t *testing.T) {
	for _, rules := range [][]Rule{{{Match: "n", Merge: true}}, AllRules()} {
		exp, _ := New(WithRules(rules...))
		export := func(ms ...member) map[string]float64 {
			pts := make([]metricdata.DataPoint[int64], len(ms))
			for j, m := range ms {
				pts[j] = metricdata.DataPoint[int64]{Attributes: attrs("drop", m.drop), StartTime: t0, Time: t1, Value: m.v}
			}
			if err := exp.Export(context.Background(), rmOf(scope("s", sumI("n", true, pts...)))); err != nil {
				t.Fatal(err)
			}
			body, _ := exp.Document()
			flat, _ := pluginFlatten("app", body)
			return flat
		}
		export(member{"x", t0, 10}, member{"y", t0, 1000})
		export(member{"x", t0, 12})
		flat := export(member{"x", t0, 15}, member{"y", t0, 1003})
		leaf, want := "app.n.n", 6.0 // x +3, y +3 since it was last seen
		if rules[0].Match == "*" {
			leaf, want = "app.n.y", 3
		}
		if got := flat[leaf]; got != want {
			t.Errorf("%v: %s = %v, want %v: the member came back at 1003 after 1000, and its 1000 are from before the window", rules, leaf, got, want)
		}
	}
}

// mergePair feeds the same measurements to two exporters on real
// MeterProviders: merged sees attributes k and drop under a rule that
// keeps k, reference sees k alone and serves everything. Their documents
// must agree.
type mergePair struct {
	t                 *testing.T
	merged, reference *window
}

func newMergePair(t *testing.T, rule Rule, opts ...Option) *mergePair {
	return &mergePair{
		t:         t,
		merged:    newWindow(t, append(slices.Clip(opts), WithRules(rule), serveAll())...),
		reference: newWindow(t, append(slices.Clip(opts), serveAll())...),
	}
}

// set is the attributes of a measurement on each side.
func (p *mergePair) set(k, drop string) (merged, reference metric.MeasurementOption) {
	if k == "" {
		return metric.WithAttributes(attribute.String("drop", drop)), metric.WithAttributes()
	}
	return metric.WithAttributes(attribute.String("k", k), attribute.String("drop", drop)), metric.WithAttributes(attribute.String("k", k))
}

func (p *mergePair) close() (merged, reference map[string]float64) {
	return p.merged.close(), p.reference.close()
}

// quantileStat reports whether a leaf is an estimated quantile.
func isQuantileLeaf(name string) bool {
	for _, qr := range quantileRanks {
		if strings.Contains(name, "."+qr.stat) {
			return true
		}
	}
	return false
}

// sameLeaves checks that merged serves exactly the leaves of reference,
// every value equal; quantiles too unless exactQuantiles is false, when
// they are left to the caller.
func sameLeaves(t *testing.T, merged, reference map[string]float64, exactQuantiles bool) {
	t.Helper()
	sameLeavesWithin(t, merged, reference, exactQuantiles, 0)
}

// sameLeavesWithin is sameLeaves with float sums (and averages) allowed a
// relative error of tol: the members' sums are added in another order than
// the measurements were.
func sameLeavesWithin(t *testing.T, merged, reference map[string]float64, exactQuantiles bool, tol float64) {
	t.Helper()
	for name, want := range reference {
		got, ok := merged[name]
		switch {
		case !ok:
			t.Errorf("%s missing from the merged document", name)
		case !exactQuantiles && isQuantileLeaf(name):
		case tol > 0 && (strings.Contains(name, ".sum.") || strings.Contains(name, ".avg.")) && math.Abs(got-want) <= tol*math.Abs(want):
		case got != want:
			t.Errorf("%s = %v merged, %v recorded without the key", name, got, want)
		}
	}
	for name := range merged {
		if _, ok := reference[name]; !ok {
			t.Errorf("%s served merged, not by the reference", name)
		}
	}
}

func TestMergedCounterEqualsTheCounterWithoutTheKey(t *testing.T) {
	p := newMergePair(t, Rule{Match: "jobs", Keys: []string{"k"}})
	ctx := context.Background()
	cm, _ := p.merged.mp.Meter("m").Int64Counter("jobs")
	cr, _ := p.reference.mp.Meter("m").Int64Counter("jobs")
	add := func(k, drop string, v int64) {
		m, r := p.set(k, drop)
		cm.Add(ctx, v, m)
		cr.Add(ctx, v, r)
	}
	for i, window := range [][]struct {
		k, drop string
		v       int64
	}{
		{{"a", "x", 5}, {"a", "y", 2}, {"b", "x", 1}},
		{{"a", "x", 3}, {"a", "z", 4}, {"b", "y", 2}}, // a new member in a, and in b
		{},
		{{"a", "y", 1}, {"c", "x", 7}}, // a line that is new
	} {
		for _, a := range window {
			add(a.k, a.drop, a.v)
		}
		merged, reference := p.close()
		if len(reference) == 0 {
			t.Fatal("nothing served")
		}
		t.Logf("window %d: %v", i, merged)
		sameLeaves(t, merged, reference, true)
	}
}

// Explicit-bucket histograms with the same bounds merge exactly: the
// merged line is the histogram of all the values, quantiles included.
func TestMergedExplicitHistogramEqualsTheHistogramWithoutTheKey(t *testing.T) {
	p := newMergePair(t, Rule{Match: "h", Keys: []string{"k"}}, WithAggregationSelector(sdkmetric.DefaultAggregationSelector))
	ctx := context.Background()
	hm, _ := p.merged.mp.Meter("m").Int64Histogram("h", metric.WithUnit("ms"))
	hr, _ := p.reference.mp.Meter("m").Int64Histogram("h", metric.WithUnit("ms"))
	rec := func(k, drop string, vs ...int64) {
		m, r := p.set(k, drop)
		for _, v := range vs {
			hm.Record(ctx, v, m)
			hr.Record(ctx, v, r)
		}
	}
	rec("a", "x", 1, 7, 30, 300)
	rec("a", "y", 4, 8000)
	rec("b", "x", 60)
	merged, reference := p.close()
	sameLeaves(t, merged, reference, true)
	wantLeaf(t, merged, "app.h.count.a", 6)
	wantLeaf(t, merged, "app.h.max.a", 8000)

	// One member of a records, the other not: still one line of all a's.
	rec("a", "y", 2, 3)
	merged, reference = p.close()
	sameLeaves(t, merged, reference, true)
	// Nothing recorded: the lines drop to 0, stat by stat.
	merged, reference = p.close()
	sameLeaves(t, merged, reference, true)
	wantLeaf(t, merged, "app.h.p99.a", 0)
}

// The stats of hand-built histograms merged, against what they must be.
func TestMergedHistogramStats(t *testing.T) {
	bounds := []float64{1, 10}
	withExtrema := func(drop string, lo, hi float64, counts ...uint64) metricdata.HistogramDataPoint[float64] {
		var sum float64
		for i, c := range counts {
			sum += float64(c) * float64(i+1)
		}
		return histPt(attrs("drop", drop), sum, lo, hi, bounds, counts...)
	}
	noExtrema := func(drop string, counts ...uint64) metricdata.HistogramDataPoint[float64] {
		p := withExtrema(drop, 0, 0, counts...)
		p.Min, p.Max = metricdata.Extrema[float64]{}, metricdata.Extrema[float64]{}
		return p
	}
	const absent = -1.0
	for _, tc := range []struct {
		name string
		pts  []metricdata.HistogramDataPoint[float64]
		want map[string]float64 // absent: no leaf
	}{
		{"extremes combine", []metricdata.HistogramDataPoint[float64]{withExtrema("x", 0.5, 5, 1, 1, 0), withExtrema("y", 2, 20, 0, 1, 1)},
			map[string]float64{"count.count": 4, "min": 0.5, "max": 20}},
		{"a member without extremes: none", []metricdata.HistogramDataPoint[float64]{withExtrema("x", 0.5, 5, 1, 1, 0), noExtrema("y", 0, 1, 1)},
			map[string]float64{"count.count": 4, "min": absent, "max": absent, "p50": 5.5}},
		{"an empty member without extremes does not count", []metricdata.HistogramDataPoint[float64]{withExtrema("x", 0.5, 5, 1, 1, 0), noExtrema("y", 0, 0, 0)},
			map[string]float64{"count.count": 2, "min": 0.5, "max": 5}},
		{"no member has extremes", []metricdata.HistogramDataPoint[float64]{noExtrema("x", 1, 0, 0), noExtrema("y", 1, 0, 0)},
			map[string]float64{"count.count": 2, "min": absent, "max": absent, "p99": 1}},
		{"every member empty", []metricdata.HistogramDataPoint[float64]{withExtrema("x", 0, 0, 0, 0, 0), noExtrema("y", 0, 0, 0)},
			map[string]float64{"count.count": 0, "sum.sum": 0, "avg": 0, "min": 0, "max": 0, "p50": 0, "p99": 0}},
		{"bounds that differ: no quantiles", []metricdata.HistogramDataPoint[float64]{
			withExtrema("x", 0.5, 5, 1, 1, 0),
			histPt(attrs("drop", "y"), 3, 3, 3, []float64{2, 4}, 0, 1, 0)},
			map[string]float64{"count.count": 3, "sum.sum": 6, "avg": 2, "min": 0.5, "max": 5, "p50": absent, "p99": absent}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exp, _ := New(WithRules(Rule{Match: "h", Merge: true}))
			if err := exp.Export(context.Background(), rmOf(scope("s", histF("h", metricdata.DeltaTemporality, tc.pts...)))); err != nil {
				t.Fatal(err)
			}
			body, _ := exp.Document()
			flat, _ := pluginFlatten("app", body)
			for stat, want := range tc.want {
				got, ok := flat["app.h."+stat]
				if want == absent {
					if ok {
						t.Errorf("%s = %v, want none: %s", stat, got, body)
					}
					continue
				}
				if !ok || got != want {
					t.Errorf("%s = %v (served %v), want %v: %s", stat, got, ok, want, body)
				}
			}
		})
	}
}

// Explicit and exponential members (one instrument registered twice with
// two aggregations, which the SDK warns about) cannot be combined bucket by
// bucket: the line serves count, sum and the extremes, not quantiles.
func TestMergedMixedBucketKindsServeNoQuantiles(t *testing.T) {
	exp, _ := New(WithRules(Rule{Match: "h", Merge: true}))
	rm := rmOf(scope("s",
		histF("h", metricdata.DeltaTemporality, histPt(attrs("drop", "x"), 3, 1, 2, []float64{1}, 1, 1)),
		expHistF("h", expPt(attrs("drop", "y"), 4, 4, 4, 0, 1, 1)),
	))
	if err := exp.Export(context.Background(), rm); err != nil {
		t.Fatal(err)
	}
	body, _ := exp.Document()
	if want := `{"h":{"avg":2.3333333333333335,"count":{"count":3},"max":4,"min":1,"sum":{"sum":7}}}`; string(body) != want {
		t.Errorf("got %s, want %s", body, want)
	}
}

// valuesQuantile is the value a quantile estimate must lie in the bucket
// of: the value of rank ceil(q·n) of the sorted values.
func valuesQuantile(sorted []float64, q float64) float64 {
	k := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(k, 0)]
}

// withinBucket reports whether est lies within the exponential bucket at
// scale of v, or, the bucket bounds being fuzzy in floating point, within
// one more bucket of it.
func withinBucket(est, v float64, scale int32) bool {
	if v == 0 {
		return est == 0
	}
	base := math.Exp2(math.Ldexp(1, -int(scale)))
	lo, hi := v/base, v*base
	if v < 0 {
		lo, hi = hi, lo
	}
	return est >= lo/base && est <= hi*base
}

// lineScales returns the scale of each merged line of instrument name in
// the last export, by the line's attribute segment.
func lineScales(exp *Exporter, name string) map[string]int32 {
	out := map[string]int32{}
	for _, mc := range exp.b.metrics {
		if mc.key.name != name {
			continue
		}
		for _, l := range mc.lines {
			for ; l != nil; l = l.next {
				if l.acc.gen == exp.b.gen && l.acc.hw.walk.exponential {
					out[string(l.seg)] = l.acc.scale
				}
			}
		}
	}
	return out
}

// pointScales returns the scale of each exponential point of name in the
// last collection, by the value of attribute k ("" without).
func pointScales(rm *metricdata.ResourceMetrics, name string) map[string]int32 {
	out := map[string]int32{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.ExponentialHistogram[int64]:
				for _, p := range d.DataPoints {
					v, _ := p.Attributes.Value("k")
					out[v.AsString()] = p.Scale
				}
			case metricdata.ExponentialHistogram[float64]:
				for _, p := range d.DataPoints {
					v, _ := p.Attributes.Value("k")
					out[v.AsString()] = p.Scale
				}
			}
		}
	}
	return out
}

// checkQuantiles checks each quantile of line k in flat against the values
// recorded, within the bucket of the scale the line was estimated at.
func checkQuantiles(t testing.TB, flat map[string]float64, name, line string, values []float64, scale int32, side string) {
	t.Helper()
	sorted := slices.Sorted(slices.Values(values))
	for _, qr := range quantileRanks {
		leaf := "app." + name + "." + qr.stat + "." + line
		if line == "" {
			leaf = "app." + name + "." + qr.stat
		}
		got, ok := flat[leaf]
		if !ok {
			t.Errorf("%s: %s missing", side, leaf)
			continue
		}
		want := valuesQuantile(sorted, qr.q)
		if !withinBucket(got, want, scale) {
			t.Errorf("%s: %s = %v, want within a bucket at scale %d of %v (values %v)", side, leaf, got, scale, want, sorted)
		}
	}
}

// Exponential members of very different ranges, so of different scales,
// merge at the lowest scale (lowered further when their combined range
// would not fit): the quantiles are those of all the values, within a
// bucket, as for one histogram that recorded them all.
func TestMergedExponentialHistogramsOfDifferentScales(t *testing.T) {
	for _, tc := range []struct {
		name    string
		members map[string][]float64
	}{
		{"close ranges", map[string][]float64{"x": {1, 1.1, 1.2, 1.3}, "y": {1.5, 1.7, 1.9, 2, 2.2}}},
		{"far apart", map[string][]float64{"x": {1, 1.01, 1.02, 1.05}, "y": {1000, 2000, 5000, 1e6}}},
		{"too wide for 320 buckets at the lower scale", map[string][]float64{"x": {1e-9, 2e-9, 1e-3}, "y": {1e3, 1e12, 1e15}, "z": {0, 0, 3}}},
		{"one value each", map[string][]float64{"x": {3}, "y": {300}}},
		{"zeros and negatives", map[string][]float64{"x": {0, 0, 0, 1}, "y": {-5, -4, 2, 8}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newMergePair(t, Rule{Match: "h", Keys: []string{"k"}})
			ctx := context.Background()
			hm, _ := p.merged.mp.Meter("m").Float64Histogram("h")
			hr, _ := p.reference.mp.Meter("m").Float64Histogram("h")
			var all []float64
			for drop, vs := range tc.members {
				m, r := p.set("a", drop)
				for _, v := range vs {
					hm.Record(ctx, v, m)
					hr.Record(ctx, v, r)
				}
				all = append(all, vs...)
			}
			merged, reference := p.close()
			sameLeavesWithin(t, merged, reference, false, 1e-15)
			scales := lineScales(p.merged.exp, "h")
			refScales := pointScales(&p.reference.rm, "h")
			if len(scales) != 1 {
				t.Fatalf("merged lines %v, want one exponential line a", scales)
			}
			checkQuantiles(t, merged, "h", "a", all, scales["a"], "merged")
			checkQuantiles(t, reference, "h", "a", all, refScales["a"], "reference")
			t.Logf("scales: merged %v, reference %v; merged %v", scales, refScales, merged)
		})
	}
}

// Hand-built exponential members: A at scale 3, B at scale 0 far away, so
// that at scale 0 their range still spans more than maxMergedBuckets: the
// line is lowered until it fits, and keeps every count.
func TestMergedExponentialRangeIsBoundedByLoweringTheScale(t *testing.T) {
	a := expPt(attrs("drop", "a"), 0, 1, 2, 3, 0, 1, 1, 1, 1, 1, 1, 1, 1) // (1, 2] at scale 3
	b := expPt(attrs("drop", "b"), 0, 4e150, 4e150, 0, 500, 2)            // (2^500, 2^501] at scale 0
	exp, _ := New(WithRules(Rule{Match: "h", Merge: true}))
	if err := exp.Export(context.Background(), rmOf(scope("s", expHistF("h", a, b)))); err != nil {
		t.Fatal(err)
	}
	scales := lineScales(exp, "h")
	empty := attribute.NewSet()
	l := exp.b.metrics[metricKey{scopeName: "s", name: "h"}].lines[empty.Equivalent()]
	if l == nil {
		t.Fatal("no line")
	}
	var n uint64
	for _, c := range l.acc.pos {
		n += c
	}
	if scales[""] > -1 || len(l.acc.pos) > maxMergedBuckets || n != 10 {
		t.Errorf("scale %d, %d buckets holding %d values; want a scale < 0, at most %d buckets, all 10 values", scales[""], len(l.acc.pos), n, maxMergedBuckets)
	}
	body, _ := exp.Document()
	flat, _ := pluginFlatten("app", body)
	wantLeaf(t, flat, "app.h.count.count", 10)
	if p := flat["app.h.p50"]; p < 1 || p > 4 {
		t.Errorf("p50 = %v, want in [1, 4], the bucket at scale -1 of the 8 values in (1, 2]", p)
	}
	if p := flat["app.h.p99"]; p < 1e149 {
		t.Errorf("p99 = %v, want about 1e150", p)
	}
}

// A merged line of a cumulative histogram (a Producer's) is the sum of its
// members' windows; an empty window serves 0 but for min and max, unknown.
func TestMergedCumulativeHistogramWindows(t *testing.T) {
	exp, _ := New(WithRules(Rule{Match: "h", Merge: true}))
	pt := func(drop string, start time.Time, counts ...uint64) metricdata.HistogramDataPoint[float64] {
		p := histPt(attrs("drop", drop), 0, 0.5, 30, []float64{1, 10}, counts...)
		for i, c := range counts {
			p.Sum += float64(c) * []float64{0.5, 5, 30}[i]
		}
		p.StartTime = start
		return p
	}
	export := func(pts ...metricdata.HistogramDataPoint[float64]) map[string]float64 {
		rm := rmOf(scope("s", histF("h", metricdata.CumulativeTemporality, pts...)))
		if err := exp.Export(context.Background(), rm); err != nil {
			t.Fatal(err)
		}
		body, _ := exp.Document()
		flat, _ := pluginFlatten("app", body)
		return flat
	}
	export(pt("x", t0, 1, 1, 0), pt("y", t0, 0, 2, 0))
	// x +1 in (1,10], y +1 in (10,+Inf), z new with 1 in (-Inf,1].
	flat := export(pt("x", t0, 1, 2, 0), pt("y", t0, 0, 2, 1), pt("z", t0.Add(30*time.Second), 1, 0, 0))
	wantLeaf(t, flat, "app.h.count.count", 3)
	wantLeaf(t, flat, "app.h.sum.sum", 35.5)
	for _, stat := range []string{"min", "max"} {
		if _, ok := flat["app.h."+stat]; ok {
			t.Errorf("a cumulative line serves %s", stat)
		}
	}
	flat = export(pt("x", t0, 1, 2, 0), pt("y", t0, 0, 2, 1), pt("z", t0.Add(30*time.Second), 1, 0, 0))
	for _, stat := range []string{"count.count", "sum.sum", "avg", "p50", "p90", "p95", "p99"} {
		wantLeaf(t, flat, "app.h."+stat, 0)
	}
	if len(flat) != 7 {
		t.Errorf("empty window: %v, want the 7 stats but min and max", flat)
	}
}

// Merged float sums must not depend on the order the SDK hands the
// members over in (the order of a map): the same input gives the same
// bytes.
func TestMergedFloatSumsDoNotDependOnInputOrder(t *testing.T) {
	vs := []float64{0.1, 0.2, 0.3, 0.4, 0.7}
	var pts []metricdata.DataPoint[float64]
	for i, v := range vs {
		pts = append(pts, ptF(v, attrs("drop", fmt.Sprint(i))))
	}
	docs := map[string]bool{}
	perm := slices.Clone(pts)
	for i := range 24 {
		// A fixed walk through some orders of the members.
		j, k := i%len(perm), (i*7+3)%len(perm)
		perm[j], perm[k] = perm[k], perm[j]
		exp, _ := New(WithRules(Rule{Match: "g", Merge: true}))
		rm := rmOf(scope("s", gaugeF("g", slices.Clone(perm)...)))
		if err := exp.Export(context.Background(), rm); err != nil {
			t.Fatal(err)
		}
		body, _ := exp.Document()
		docs[string(body)] = true
	}
	if len(docs) != 1 {
		got := slices.Sorted(func(yield func(string) bool) {
			for d := range docs {
				if !yield(d) {
					return
				}
			}
		})
		t.Errorf("one input, %d documents depending on the members' order: %v", len(docs), got)
	}
}

// fuzzMember is one member of FuzzMerge: its attributes and its values,
// spread over a range of its own so that members get scales of their own.
type fuzzMember struct {
	k, drop string
	values  []int64
}

func fuzzMembers(data []byte) [][]fuzzMember {
	next := func() byte {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return b
	}
	var windows [][]fuzzMember
	for w := 0; w < 3 && len(data) > 0; w++ {
		var members []fuzzMember
		for n := int(next()%6) + 1; n > 0 && len(data) > 0; n-- {
			m := fuzzMember{k: string(rune('a' + next()%2)), drop: string(rune('p' + next()%5))}
			shift := next() % 32 // values under 2^39: sums stay exact in float64
			for nv := int(next() % 12); nv > 0; nv-- {
				m.values = append(m.values, int64(next())<<shift)
			}
			members = append(members, m)
		}
		windows = append(windows, members)
	}
	return windows
}

// FuzzMerge records random members through real MeterProviders, once with
// a key that a rule merges away and once with the key already dropped: the
// merged document's counts, sums, extremes and averages equal the
// reference's exactly, and the quantiles of both lie within a bucket of
// the quantiles of the values recorded.
func FuzzMerge(f *testing.F) {
	f.Add([]byte("\x03\x00\x00\x00\x05\x01\x02\x03\x04\x05\x01\x01\x10\x03\x07\x08\x09\x00\x02\x20\x02\xff\x01"))
	f.Add([]byte("\x05\x00\x01\x27\x03\xff\xfe\xfd\x00\x02\x00\x02\x01\x01\x01\x03\x00\x04\x01\x00\x00\x05\x01\x02"))
	f.Add([]byte("\x01\x00\x00\x00\x00\x02\x01\x01\x00\x01\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		windows := fuzzMembers(data)
		if len(windows) == 0 {
			return
		}
		p := newMergePair(t, Rule{Match: "*", Keys: []string{"k"}})
		ctx := context.Background()
		hm, _ := p.merged.mp.Meter("m").Int64Histogram("h")
		hr, _ := p.reference.mp.Meter("m").Int64Histogram("h")
		cm, _ := p.merged.mp.Meter("m").Int64Counter("c")
		cr, _ := p.reference.mp.Meter("m").Int64Counter("c")
		for _, members := range windows {
			recorded := map[string][]float64{}
			for _, m := range members {
				am, ar := p.set(m.k, m.drop)
				for _, v := range m.values {
					hm.Record(ctx, v, am)
					hr.Record(ctx, v, ar)
					recorded[m.k] = append(recorded[m.k], float64(v))
				}
				cm.Add(ctx, int64(len(m.values)), am)
				cr.Add(ctx, int64(len(m.values)), ar)
			}
			merged, reference := p.close()
			sameLeaves(t, merged, reference, false)
			scales := lineScales(p.merged.exp, "h")
			refScales := pointScales(&p.reference.rm, "h")
			lines := make([]string, 0, len(recorded))
			for k := range recorded {
				lines = append(lines, k)
			}
			sort.Strings(lines)
			for _, k := range lines {
				checkQuantiles(t, merged, "h", k, recorded[k], scales[k], "merged")
				checkQuantiles(t, reference, "h", k, recorded[k], refScales[k], "reference")
			}
		}
	})
}
