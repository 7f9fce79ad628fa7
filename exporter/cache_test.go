package exporter

import (
	"context"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// The stats of a histogram are emitted in this order so that its leaves come
// out sorted; quantileRanks must name the same stats.
func TestHistStatNamesAreInPathOrder(t *testing.T) {
	if !slices.IsSorted(histStatNames[:]) {
		t.Errorf("histStatNames not sorted: %v", histStatNames)
	}
	for i, qr := range quantileRanks {
		if histStatNames[statP50+i] != qr.stat {
			t.Errorf("slot %d is %q, quantileRanks says %q", statP50+i, histStatNames[statP50+i], qr.stat)
		}
	}
}

// Instruments the way services have them come out of emit in path order:
// the full sort of the leaves, which made exports superlinear, is not needed.
func TestCommonInputNeedsNoFullSort(t *testing.T) {
	for _, kind := range []string{"gauge", "counter", "histogram"} {
		exp, _ := New(serveAll(), WithMaxSeries(1<<20))
		for range 2 {
			if err := exp.Export(context.Background(), benchInput(kind, 1000)); err != nil {
				t.Fatal(err)
			}
		}
		if exp.b.sorts != 0 || exp.b.clusterSorts != 0 {
			t.Errorf("%s: %d full sorts, %d sorts of clusters", kind, exp.b.sorts, exp.b.clusterSorts)
		}
	}
	// Prefix-related names interleave: their leaves, and only theirs, are
	// sorted.
	exp, _ := New(serveAll())
	in := benchInput("counter", 100)
	in.ScopeMetrics[0].Metrics = append(in.ScopeMetrics[0].Metrics, gaugeI("a.b", ptI(1, attrs("k", "z"))), gaugeI("a.b.c", ptI(2, attribute.NewSet())))
	_ = exp.Export(context.Background(), in)
	body, _ := exp.Document()
	if exp.b.sorts != 0 || exp.b.clusterSorts != 1 || !strings.HasPrefix(string(body), `{"a":{"b":{"c":{"c":2},"z":1}},"app":`) {
		t.Errorf("%d full sorts, %d sorts of clusters, body %.60s", exp.b.sorts, exp.b.clusterSorts, body)
	}
}

// cachedSeries counts what the builder holds, and checks the counts it keeps.
func cachedSeries(t *testing.T, b *builder) (metrics, series, states int) {
	t.Helper()
	for _, mc := range b.metrics {
		metrics++
		n, st := 0, 0
		for _, s := range mc.series {
			for ; s != nil; s = s.next {
				n++
				if s.state != nil {
					st++
				}
			}
		}
		if n != mc.count || st != mc.states {
			t.Fatalf("%v: holds %d series and %d states, counted %d and %d", mc.key, n, st, mc.count, mc.states)
		}
		series += n
		states += st
	}
	return metrics, series, states
}

// Memory follows the series that exist: what disappears is forgotten at the
// next export, except delta series, which are served as zeros, and
// cumulative series, whose state waits keepAbsent exports for them to come
// back (serving nothing meanwhile).
func TestCachesForgetSeriesThatAreGone(t *testing.T) {
	exp, _ := New(serveAll())
	ctx := context.Background()
	many := benchInput("counter", 500)
	many.ScopeMetrics[0].Metrics = append(many.ScopeMetrics[0].Metrics, metricdata.Metrics{Name: "jobs", Data: metricdata.Sum[int64]{
		Temporality: metricdata.DeltaTemporality, IsMonotonic: true,
		DataPoints: []metricdata.DataPoint[int64]{ptI(3, attrs("q", "mail"))},
	}})
	if err := exp.Export(ctx, many); err != nil {
		t.Fatal(err)
	}
	if m, s, st := cachedSeries(t, exp.b); m != 51 || s != 501 || st != 501 {
		t.Fatalf("after the first export: %d metrics, %d series, %d states", m, s, st)
	}
	gauge := func() *metricdata.ResourceMetrics { return rmOf(scope("s", gaugeI("g", ptI(1, attribute.NewSet())))) }
	for i := range keepAbsent {
		if err := exp.Export(ctx, gauge()); err != nil {
			t.Fatal(err)
		}
		if m, s, st := cachedSeries(t, exp.b); m != 52 || s != 502 || st != 501 {
			t.Fatalf("%d exports after the counters went: %d metrics, %d series, %d states, want them all kept", i+1, m, s, st)
		}
	}
	if err := exp.Export(ctx, gauge()); err != nil {
		t.Fatal(err)
	}
	if m, s, st := cachedSeries(t, exp.b); m != 2 || s != 2 || st != 1 {
		t.Errorf("after the series went for good: %d metrics, %d series, %d states, want the gauge and the delta series", m, s, st)
	}
	if body, _ := exp.Document(); string(body) != `{"g":{"g":1},"jobs":{"mail":0}}` {
		t.Errorf("got %s", body)
	}
	if err := exp.Export(ctx, rmOf()); err != nil {
		t.Fatal(err)
	}
	if m, s, _ := cachedSeries(t, exp.b); m != 1 || s != 1 {
		t.Errorf("after the gauge went: %d metrics, %d series", m, s)
	}
}

// Two attribute sets whose hashes collide are two series. A real collision
// of the 64-bit hash is not at hand, so one is planted.
func TestSeriesWithCollidingHashesStayApart(t *testing.T) {
	cfg, err := newConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	b := newBuilder(cfg)
	b.gen = 1
	mc := b.metricFor(&metricdata.ScopeMetrics{Scope: instrumentation.Scope{Name: "s"}}, &metricdata.Metrics{Name: "m"})
	a, other := attrs("k", "a"), attrs("k", "b")
	planted := &seriesCache{m: mc, attrs: other, seg: appendAttrSegment(nil, &other)}
	mc.series[a.Equivalent()] = planted
	mc.count = 1
	s := b.seriesFor(mc, a)
	if s == planted || s.next != planted || !s.attrs.Equals(&a) || mc.count != 2 {
		t.Fatalf("a set was taken for another one with the same hash")
	}
	if again := b.seriesFor(mc, a); again != s {
		t.Fatal("the series was not found again in its chain")
	}
	// The planted series was not seen: the sweep unlinks it and keeps a.
	b.sweepMetric(mc)
	if head := mc.series[a.Equivalent()]; head != s || s.next != nil || mc.count != 1 {
		t.Errorf("after the sweep: head %p (want %p), next %p, count %d", head, s, s.next, mc.count)
	}
}
