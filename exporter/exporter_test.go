package exporter

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"
)

// TestMain keeps the budget's warning out of the tests' output: most
// tests serve more than DefaultBudget leaves, and the tests of the warning
// give a logger of their own.
func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.DiscardHandler))
	goleak.VerifyTestMain(m)
}

// window drives an exporter the way a PeriodicReader does, one Collect and
// Export per window, on a real MeterProvider.
type window struct {
	t      *testing.T
	exp    *Exporter
	reader *sdkmetric.ManualReader
	mp     *sdkmetric.MeterProvider
	rm     metricdata.ResourceMetrics
}

func newWindow(t *testing.T, opts ...Option) *window {
	t.Helper()
	return newWindowOn(t, nil, opts...)
}

// newWindowOn is newWindow on a MeterProvider with options of its own.
func newWindowOn(t *testing.T, mpOpts []sdkmetric.Option, opts ...Option) *window {
	t.Helper()
	exp, err := New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	r := sdkmetric.NewManualReader(sdkmetric.WithTemporalitySelector(exp.Temporality), sdkmetric.WithAggregationSelector(exp.Aggregation))
	mp := sdkmetric.NewMeterProvider(append(slices.Clip(mpOpts), sdkmetric.WithReader(r))...)
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	return &window{t: t, exp: exp, reader: r, mp: mp}
}

// close ends the current window: one collection, one export.
func (w *window) close() map[string]float64 {
	w.t.Helper()
	ctx := context.Background()
	if err := w.reader.Collect(ctx, &w.rm); err != nil {
		w.t.Fatal(err)
	}
	if err := w.exp.Export(ctx, &w.rm); err != nil {
		w.t.Fatal(err)
	}
	return w.flat()
}

func (w *window) flat() map[string]float64 {
	w.t.Helper()
	body, _ := w.exp.Document()
	flat, err := pluginFlatten("app", body)
	if err != nil {
		w.t.Fatalf("%v\n%s", err, body)
	}
	return flat
}

func wantLeaf(t *testing.T, flat map[string]float64, name string, want float64) {
	t.Helper()
	got, ok := flat[name]
	if !ok {
		t.Errorf("%s missing", name)
		return
	}
	if got != want {
		t.Errorf("%s = %v, want %v", name, got, want)
	}
}

func TestWindowedCounterShowsTheIncreaseOfTheLastWindow(t *testing.T) {
	w := newWindow(t, serveAll())
	ctx := context.Background()
	m := w.mp.Meter("test")
	c, _ := m.Int64Counter("jobs.done")
	f, _ := m.Float64Counter("work.seconds")
	var observed int64
	oc, _ := m.Int64ObservableCounter("cpu.ticks", metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
		o.Observe(observed)
		return nil
	}))
	_ = oc
	ud, _ := m.Int64UpDownCounter("queue.depth")

	c.Add(ctx, 5, metric.WithAttributes(attribute.String("queue", "mail")))
	f.Add(ctx, 1.5)
	observed = 100
	ud.Add(ctx, 7)
	// The first export is the baseline: a total handed over then may count
	// from long before (an observable counter since boot), so the window
	// starts here and increases are 0.
	flat := w.close()
	wantLeaf(t, flat, "app.jobs.done.mail", 0)
	wantLeaf(t, flat, "app.work.seconds.seconds", 0)
	wantLeaf(t, flat, "app.cpu.ticks.ticks", 0)
	wantLeaf(t, flat, "app.queue.depth.depth", 7)

	c.Add(ctx, 3, metric.WithAttributes(attribute.String("queue", "mail")))
	c.Add(ctx, 2, metric.WithAttributes(attribute.String("queue", "sms")))
	f.Add(ctx, 0.25)
	observed = 160
	ud.Add(ctx, -2)
	flat = w.close()
	wantLeaf(t, flat, "app.jobs.done.mail", 3)
	wantLeaf(t, flat, "app.jobs.done.sms", 2) // first seen now: counts from its start
	wantLeaf(t, flat, "app.work.seconds.seconds", 0.25)
	wantLeaf(t, flat, "app.cpu.ticks.ticks", 60)
	wantLeaf(t, flat, "app.queue.depth.depth", 5) // a level, not an increase

	// A window with nothing: increases are 0, the level stays.
	flat = w.close()
	wantLeaf(t, flat, "app.jobs.done.mail", 0)
	wantLeaf(t, flat, "app.jobs.done.sms", 0)
	wantLeaf(t, flat, "app.cpu.ticks.ticks", 0)
	wantLeaf(t, flat, "app.queue.depth.depth", 5)

	// A source that resets counts from zero again.
	observed = 10
	flat = w.close()
	wantLeaf(t, flat, "app.cpu.ticks.ticks", 10)
}

func TestWindowedHistogram(t *testing.T) {
	w := newWindow(t, serveAll())
	ctx := context.Background()
	h, _ := w.mp.Meter("test").Float64Histogram("op.duration", metric.WithExplicitBucketBoundaries(0.1, 0.2, 0.5, 1))
	for _, v := range []float64{0.05, 0.15, 0.15, 0.3} {
		h.Record(ctx, v)
	}
	flat := w.close()
	wantLeaf(t, flat, "app.op.duration.count.count", 4)
	wantLeaf(t, flat, "app.op.duration.max", 0.3)
	wantLeaf(t, flat, "app.op.duration.min", 0.05)

	h.Record(ctx, 0.9)
	flat = w.close()
	wantLeaf(t, flat, "app.op.duration.count.count", 1)
	wantLeaf(t, flat, "app.op.duration.min", 0.9) // the window's, not all time's
	wantLeaf(t, flat, "app.op.duration.p99", 0.9)

	// An empty window serves 0 for every stat: the lines drop to zero
	// rather than break off, and the number of metrics stays put.
	flat = w.close()
	wantLeaf(t, flat, "app.op.duration.count.count", 0)
	wantLeaf(t, flat, "app.op.duration.sum.sum", 0)
	for _, stat := range []string{"avg", "min", "max", "p50", "p90", "p95", "p99"} {
		wantLeaf(t, flat, "app.op.duration."+stat, 0)
	}
	if len(flat) != 9 {
		t.Errorf("empty window: %d leaves, want the 9 stats: %v", len(flat), flat)
	}
}

func TestWindowedExponentialHistogram(t *testing.T) {
	w := newWindow(t, serveAll(), WithAggregationSelector(func(k sdkmetric.InstrumentKind) sdkmetric.Aggregation {
		if k == sdkmetric.InstrumentKindHistogram {
			return sdkmetric.AggregationBase2ExponentialHistogram{MaxSize: 160, MaxScale: 20}
		}
		return sdkmetric.DefaultAggregationSelector(k)
	}))
	ctx := context.Background()
	h, _ := w.mp.Meter("test").Float64Histogram("op.duration")
	for i := 1; i <= 100; i++ {
		h.Record(ctx, float64(i))
	}
	flat := w.close()
	wantLeaf(t, flat, "app.op.duration.count.count", 100)
	if p := flat["app.op.duration.p50"]; p < 45 || p > 55 {
		t.Errorf("p50 = %v, want about 50", p)
	}
	if p := flat["app.op.duration.p99"]; p < 95 || p > 100 {
		t.Errorf("p99 = %v, want about 99", p)
	}
}

// Cumulative histograms (from a Producer, or another temporality) in the
// Windowed mode are served as the increase of their buckets.
func TestWindowedCumulativeHistogramInput(t *testing.T) {
	exp, _ := New(serveAll())
	ctx := context.Background()
	pt := func(count uint64, sum float64, buckets ...uint64) *metricdata.ResourceMetrics {
		return rmOf(scope("p", histF("go.schedule.duration", metricdata.CumulativeTemporality, metricdata.HistogramDataPoint[float64]{
			StartTime: t0, Time: t1, Count: count, Sum: sum, Bounds: []float64{1, 2}, BucketCounts: buckets,
			Min: metricdata.NewExtrema(0.5), Max: metricdata.NewExtrema(2.5),
		})))
	}
	if err := exp.Export(ctx, pt(3, 3, 2, 1, 0)); err != nil {
		t.Fatal(err)
	}
	if err := exp.Export(ctx, pt(5, 8, 2, 2, 1)); err != nil {
		t.Fatal(err)
	}
	body, _ := exp.Document()
	flat, _ := pluginFlatten("app", body)
	wantLeaf(t, flat, "app.go.schedule.duration.count.count", 2)
	wantLeaf(t, flat, "app.go.schedule.duration.sum.sum", 5)
	if _, ok := flat["app.go.schedule.duration.max"]; ok {
		t.Error("a window of a cumulative histogram cannot know its max, yet serves one")
	}
	// The two values of the window lie in (1,2] and (2,+Inf): the median is
	// in the first of those, p99 is clamped by the all-time max.
	if p := flat["app.go.schedule.duration.p50"]; p <= 1 || p > 2 {
		t.Errorf("p50 = %v, want in (1,2]", p)
	}
	if p := flat["app.go.schedule.duration.p99"]; p <= 2 || p > 2.5 {
		t.Errorf("p99 = %v, want in (2, 2.5], the last bucket closed by the max", p)
	}
	if _, ok := flat["app.go.schedule.duration.min"]; ok {
		t.Error("a window of a cumulative histogram cannot know its min, yet serves one")
	}

	// A window with nothing new: 0 for every stat but min and max, which
	// stay unknown.
	if err := exp.Export(ctx, pt(5, 8, 2, 2, 1)); err != nil {
		t.Fatal(err)
	}
	body, _ = exp.Document()
	flat, _ = pluginFlatten("app", body)
	wantLeaf(t, flat, "app.go.schedule.duration.count.count", 0)
	wantLeaf(t, flat, "app.go.schedule.duration.sum.sum", 0)
	for _, stat := range []string{"avg", "p50", "p90", "p95", "p99"} {
		wantLeaf(t, flat, "app.go.schedule.duration."+stat, 0)
	}
	for _, stat := range []string{"min", "max"} {
		if _, ok := flat["app.go.schedule.duration."+stat]; ok {
			t.Errorf("an empty window of a cumulative histogram serves %s", stat)
		}
	}
}

func TestWindowedCumulativeExponentialInputAcrossScaleChange(t *testing.T) {
	exp, _ := New(serveAll())
	ctx := context.Background()
	pt := func(scale int32, off int32, counts ...uint64) *metricdata.ResourceMetrics {
		var n uint64
		for _, c := range counts {
			n += c
		}
		return rmOf(scope("p", metricdata.Metrics{Name: "x", Data: metricdata.ExponentialHistogram[float64]{
			Temporality: metricdata.CumulativeTemporality,
			DataPoints: []metricdata.ExponentialHistogramDataPoint[float64]{{
				StartTime: t0, Time: t1, Count: n, Sum: float64(n), Scale: scale,
				PositiveBucket: metricdata.ExponentialBucket{Offset: off, Counts: counts},
			}},
		}}))
	}
	// Scale 1 buckets 0..3 hold 1,1,1,1; at scale 0 they merge to 2,2.
	if err := exp.Export(ctx, pt(1, 0, 1, 1, 1, 1)); err != nil {
		t.Fatal(err)
	}
	if err := exp.Export(ctx, pt(0, 0, 2, 5)); err != nil {
		t.Fatal(err)
	}
	body, _ := exp.Document()
	flat, _ := pluginFlatten("app", body)
	wantLeaf(t, flat, "app.x.count.count", 3)
	if p := flat["app.x.p50"]; p < 2 || p > 4 {
		t.Errorf("p50 = %v, want in the bucket (2,4] that got the 3 new values", p)
	}
}

func TestCumulativeModeServesRunningTotals(t *testing.T) {
	w := newWindow(t, serveAll(), WithMode(Cumulative))
	ctx := context.Background()
	c, _ := w.mp.Meter("test").Int64Counter("jobs.done")
	c.Add(ctx, 5)
	wantLeaf(t, w.close(), "app.jobs.done.done", 5)
	c.Add(ctx, 3)
	wantLeaf(t, w.close(), "app.jobs.done.done", 8)
	if w.exp.Temporality(sdkmetric.InstrumentKindHistogram) != metricdata.CumulativeTemporality {
		t.Error("cumulative mode asks for delta histograms")
	}
}

func TestCumulativeModeAccumulatesDeltaSums(t *testing.T) {
	exp, _ := New(serveAll(), WithMode(Cumulative))
	ctx := context.Background()
	delta := func(v int64) *metricdata.ResourceMetrics {
		return rmOf(scope("p", metricdata.Metrics{Name: "n", Data: metricdata.Sum[int64]{
			Temporality: metricdata.DeltaTemporality, IsMonotonic: true, DataPoints: []metricdata.DataPoint[int64]{ptI(v, attribute.NewSet())},
		}}))
	}
	_ = exp.Export(ctx, delta(2))
	_ = exp.Export(ctx, delta(3))
	body, _ := exp.Document()
	if string(body) != `{"n":{"n":5}}` {
		t.Errorf("got %s, want the running total 5", body)
	}
}

// Every read inside one window gets the same bytes, however many readers
// there are; the next window replaces them. Run with -race.
func TestReadsInsideOneWindowAreIdentical(t *testing.T) {
	w := newWindow(t, serveAll())
	ctx := context.Background()
	c, _ := w.mp.Meter("test").Int64Counter("n")
	c.Add(ctx, 1)
	w.close()
	first, firstGz := w.exp.Document()
	firstCopy := string(first)

	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				b, gz := w.exp.Document()
				if len(b) == 0 || len(gz) == 0 {
					t.Error("empty document")
					return
				}
			}
		}()
	}
	again, _ := w.exp.Document()
	if string(again) != firstCopy {
		t.Error("two reads inside one window differ")
	}
	c.Add(ctx, 41)
	w.close()
	close(stop)
	wg.Wait()
	next, _ := w.exp.Document()
	if string(next) == firstCopy || !strings.Contains(string(next), `"n":{"n":41}`) {
		t.Errorf("the new window did not replace the old one: %s", next)
	}
	if string(first) != firstCopy || len(firstGz) == 0 {
		t.Error("a published document was modified")
	}
}

// The SDK reuses the ResourceMetrics it hands to Export; the document must
// not change when it does.
func TestExportKeepsNothingOfItsInput(t *testing.T) {
	exp, _ := New(serveAll())
	rm := rmOf(scope("s", gaugeF("a", ptF(1, attrs("k", "v")))))
	if err := exp.Export(context.Background(), rm); err != nil {
		t.Fatal(err)
	}
	before, _ := exp.Document()
	want := string(before)
	g := rm.ScopeMetrics[0].Metrics[0].Data.(metricdata.Gauge[float64])
	g.DataPoints[0].Value = 99
	rm.ScopeMetrics[0].Metrics[0].Name = "b"
	rm.ScopeMetrics = rm.ScopeMetrics[:0]
	after, _ := exp.Document()
	if string(after) != want {
		t.Errorf("document changed with its input: %s", after)
	}
}

func TestGzipIsTheSameDocument(t *testing.T) {
	tc := goldenCases()[3] // histogram
	body, gz := tc.export(t).Document()
	got := gunzip(t, gz)
	if string(got) != string(body) {
		t.Errorf("gzip form differs from the document")
	}
}

func TestDocumentBeforeFirstExport(t *testing.T) {
	exp, _ := New()
	if b, gz := exp.Document(); b != nil || gz != nil {
		t.Error("a document before any export")
	}
}

func TestShutdown(t *testing.T) {
	exp, _ := New(serveAll())
	ctx := context.Background()
	_ = exp.Export(ctx, rmOf(scope("s", gaugeI("a", ptI(1, attribute.NewSet())))))
	if err := exp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := exp.Export(ctx, rmOf()); !errors.Is(err, ErrShutdown) || !errors.Is(err, sdkmetric.ErrExporterShutdown) {
		t.Errorf("Export after Shutdown = %v", err)
	}
	if err := exp.ForceFlush(ctx); !errors.Is(err, ErrShutdown) {
		t.Errorf("ForceFlush after Shutdown = %v", err)
	}
	if err := exp.Shutdown(ctx); !errors.Is(err, ErrShutdown) {
		t.Errorf("second Shutdown = %v", err)
	}
	if b, _ := exp.Document(); string(b) != `{"a":{"a":1}}` {
		t.Errorf("last document not kept for draining: %s", b)
	}
}

func TestExportHonoursContext(t *testing.T) {
	exp, _ := New()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := exp.Export(ctx, rmOf()); !errors.Is(err, context.Canceled) {
		t.Errorf("Export with a cancelled ctx = %v", err)
	}
	if b, _ := exp.Document(); b != nil {
		t.Error("a cancelled export published a document")
	}
	if err := exp.ForceFlush(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("ForceFlush with a cancelled ctx = %v", err)
	}
}

func TestBadOptions(t *testing.T) {
	for _, tc := range []struct {
		opt  Option
		want string
	}{
		{WithMaxSeries(0), "WithMaxSeries"},
		{WithMaxSeries(-5), "WithMaxSeries"},
		{WithGzipLevel(42), "WithGzipLevel"},
		{WithMode(Mode(7)), "WithMode"},
		{WithAggregationSelector(nil), "WithAggregationSelector"},
		{WithBudget(-1), "WithBudget"},
		{WithRules(Rule{Match: "x", Stats: []string{"p42"}}), "WithRules"},
		{WithRules(Rule{}), "WithRules"},
	} {
		_, err := New(tc.opt)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%s) = %v, want an error naming it", tc.want, err)
		}
	}
}

// The exporter's own health travels through the MeterProvider like every
// other number, and reaches the document.
func TestSelfMetricsReachTheDocument(t *testing.T) {
	w := newWindow(t, serveAll(), WithMaxSeries(20))
	reg, err := w.exp.RegisterMetrics(w.mp)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = reg.Unregister() }()
	ctx := context.Background()
	g, _ := w.mp.Meter("test").Float64Gauge("x")
	g.Record(ctx, 1, metric.WithAttributes(attribute.String("k", "a b")))
	g.Record(ctx, 2, metric.WithAttributes(attribute.String("k", "a:b")))
	w.close()
	flat := w.close() // the second window reports the first export
	wantLeaf(t, flat, "app.komachi.exporter.exports.exports", 1)
	wantLeaf(t, flat, "app.komachi.exporter.collisions.collisions", 1)
	// 2 gauges and the 10 leaves of komachi.exporter.* (exports, metrics,
	// two sizes, collisions, four drop reasons, duration).
	wantLeaf(t, flat, "app.komachi.exporter.metrics.metrics", 12)
	if len(flat) != 12 {
		t.Errorf("%d leaves, want 12: %v", len(flat), flat)
	}
	if flat["app.komachi.exporter.document.size.identity"] <= 0 || flat["app.komachi.exporter.document.size.gzip"] <= 0 {
		t.Error("document sizes missing")
	}
	if _, ok := flat["app.komachi.exporter.export.duration.duration"]; !ok {
		t.Error("export duration missing")
	}
	for _, reason := range dropReasonNames {
		wantLeaf(t, flat, "app.komachi.exporter.dropped."+reason, 0)
	}
}

// DefaultRules serve two of komachi's own numbers: the Mackerel metrics the
// document makes and the values dropped, all reasons in one line.
func TestSelfMetricsUnderDefaultRules(t *testing.T) {
	w := newWindow(t)
	reg, err := w.exp.RegisterMetrics(w.mp)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = reg.Unregister() }()
	w.close()
	flat := w.close()
	want := map[string]float64{
		"app.komachi.exporter.metrics.metrics": 2,
		"app.komachi.exporter.dropped.dropped": 0,
	}
	if !maps.Equal(flat, want) {
		t.Errorf("got %v, want %v", flat, want)
	}
}
