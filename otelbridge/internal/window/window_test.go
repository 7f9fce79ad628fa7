package window

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"

	"github.com/komachi-go/komachi/exporter"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// at is a time on synctest's first day, 2000-01-01 UTC.
func at(h, m int, s float64) time.Time {
	return time.Date(2000, 1, 1, h, m, 0, 0, time.UTC).Add(time.Duration(s * float64(time.Second)))
}

// sleepUntil moves the bubble's clock to t.
func sleepUntil(t time.Time) { time.Sleep(time.Until(t)) }

// export is what recorder saw in one Export call.
type export struct {
	at          time.Time
	values      map[string]int64 // a sum's points added up, a histogram's count
	temporality map[string]metricdata.Temporality
}

// recorder is an Exporter that writes down when it is called and what it got.
// hook, if set, runs first in every Export with its index and answers for it.
type recorder struct {
	temporality sdkmetric.TemporalitySelector
	aggregation sdkmetric.AggregationSelector
	hook        func(ctx context.Context, n int) error

	mu        sync.Mutex
	exports   []export
	shutdowns int
}

var _ sdkmetric.Exporter = (*recorder)(nil)

func (e *recorder) Temporality(k sdkmetric.InstrumentKind) metricdata.Temporality {
	if e.temporality != nil {
		return e.temporality(k)
	}
	return sdkmetric.DefaultTemporalitySelector(k)
}

func (e *recorder) Aggregation(k sdkmetric.InstrumentKind) sdkmetric.Aggregation {
	if e.aggregation != nil {
		return e.aggregation(k)
	}
	return sdkmetric.DefaultAggregationSelector(k)
}

func (e *recorder) Export(ctx context.Context, rm *metricdata.ResourceMetrics) error {
	x := export{at: time.Now(), values: map[string]int64{}, temporality: map[string]metricdata.Temporality{}}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				x.temporality[m.Name] = d.Temporality
				for _, p := range d.DataPoints {
					x.values[m.Name] += p.Value
				}
			case metricdata.Histogram[int64]:
				x.temporality[m.Name] = d.Temporality
				for _, p := range d.DataPoints {
					x.values[m.Name] += int64(p.Count)
				}
			}
		}
	}
	e.mu.Lock()
	n := len(e.exports)
	e.exports = append(e.exports, x)
	e.mu.Unlock()
	if e.hook != nil {
		return e.hook(ctx, n)
	}
	return nil
}

func (e *recorder) ForceFlush(context.Context) error { return nil }

func (e *recorder) Shutdown(context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.shutdowns++
	return nil
}

func (e *recorder) all() []export {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.exports)
}

func (e *recorder) times() []time.Time {
	var ts []time.Time
	for _, x := range e.all() {
		ts = append(ts, x.at)
	}
	return ts
}

func (e *recorder) shutdownCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.shutdowns
}

// logRecords is a slog.Handler that keeps every record.
type logRecords struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecords) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logRecords) WithGroup(string) slog.Handler            { return h }
func (h *logRecords) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}

// lines renders the records as "LEVEL message key=value …".
func (h *logRecords) lines() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.records {
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
		r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
		out = append(out, b.String())
	}
	return out
}

// start builds a Reader on exp, gives it to a new provider and starts its
// clock. The test shuts the provider down.
func start(t *testing.T, exp sdkmetric.Exporter, every time.Duration, opts ...Option) (*Reader, *sdkmetric.MeterProvider) {
	t.Helper()
	r, err := New(exp, every, opts...)
	if err != nil {
		t.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r.Reader()))
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	return r, mp
}

func equalTimes(t *testing.T, what string, got, want []time.Time) {
	t.Helper()
	if !slices.EqualFunc(got, want, time.Time.Equal) {
		t.Errorf("%s:\n got %v\nwant %v", what, fmtTimes(got), fmtTimes(want))
	}
}

func fmtTimes(ts []time.Time) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.UTC().Format("15:04:05.000"))
	}
	return out
}

func TestTicksFollowTheClock(t *testing.T) {
	for _, c := range []struct {
		name    string
		every   time.Duration
		started time.Time
		want    []time.Time
	}{
		{"60s lands on the minute", time.Minute, at(0, 0, 37), []time.Time{at(0, 1, 0), at(0, 2, 0), at(0, 3, 0)}},
		{"10s lands on tens of seconds", 10 * time.Second, at(0, 0, 37), []time.Time{at(0, 0, 40), at(0, 0, 50), at(0, 1, 0)}},
		{"1s lands on the second", time.Second, at(0, 0, 37.25), []time.Time{at(0, 0, 38), at(0, 0, 39), at(0, 0, 40)}},
		{"1.5s divides a day", 1500 * time.Millisecond, at(0, 0, 37.2), []time.Time{at(0, 0, 37.5), at(0, 0, 39), at(0, 0, 40.5)}},
		{"90s divides a day", 90 * time.Second, at(0, 0, 37), []time.Time{at(0, 1, 30), at(0, 3, 0), at(0, 4, 30)}},
		{"started on a boundary waits a whole window", time.Minute, at(0, 1, 0), []time.Time{at(0, 2, 0), at(0, 3, 0)}},
		{"7s counts from Start", 7 * time.Second, at(0, 0, 37), []time.Time{at(0, 0, 44), at(0, 0, 51), at(0, 0, 58)}},
		{"7m counts from Start", 7 * time.Minute, at(0, 0, 37), []time.Time{at(0, 7, 37), at(0, 14, 37), at(0, 21, 37)}},
		{"25h counts from Start", 25 * time.Hour, at(0, 0, 37), []time.Time{at(25, 0, 37), at(50, 0, 37)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sleepUntil(c.started)
				exp := &recorder{}
				_, mp := start(t, exp, c.every)
				sleepUntil(c.want[len(c.want)-1].Add(c.every / 2))
				equalTimes(t, "exports", exp.times(), c.want)
				if err := mp.Shutdown(context.Background()); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

func TestCollectDoesNotMoveTheTicks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sleepUntil(at(0, 0, 37))
		exp := &recorder{}
		r, mp := start(t, exp, 10*time.Second)
		sleepUntil(at(0, 0, 43))
		if err := r.Collect(context.Background()); err != nil {
			t.Fatal(err)
		}
		sleepUntil(at(0, 0, 55))
		equalTimes(t, "exports", exp.times(), []time.Time{at(0, 0, 40), at(0, 0, 43), at(0, 0, 50)})
		if err := mp.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

// document reads app.requests from the /stats document.
func document(t *testing.T, exp *exporter.Exporter) float64 {
	t.Helper()
	body, _ := exp.Document()
	// A series without attributes is the line named after the instrument's
	// last segment: app.requests.requests.
	var doc struct {
		App struct {
			Requests struct {
				Requests *float64 `json:"requests"`
			} `json:"requests"`
		} `json:"app"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || doc.App.Requests.Requests == nil {
		t.Fatalf("no app.requests.requests in %s (%v)", body, err)
	}
	return *doc.App.Requests.Requests
}

// countingExporter is the /stats exporter, writing down when it exports.
type countingExporter struct {
	*exporter.Exporter
	mu  sync.Mutex
	ats []time.Time
}

func (e *countingExporter) Export(ctx context.Context, rm *metricdata.ResourceMetrics) error {
	e.mu.Lock()
	e.ats = append(e.ats, time.Now())
	e.mu.Unlock()
	return e.Exporter.Export(ctx, rm)
}

func (e *countingExporter) times() []time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.ats)
}

func TestAppForceFlushKeepsTheWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		sleepUntil(at(0, 0, 37))
		stats, err := exporter.New()
		if err != nil {
			t.Fatal(err)
		}
		exp := &countingExporter{Exporter: stats}
		r, err := New(exp, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r.Reader()))
		requests, err := mp.Meter("test").Int64Counter("app.requests")
		if err != nil {
			t.Fatal(err)
		}
		// The first document, at start, is the exporter's baseline.
		if err := r.Collect(ctx); err != nil {
			t.Fatal(err)
		}
		if err := r.Start(); err != nil {
			t.Fatal(err)
		}

		requests.Add(ctx, 5)
		sleepUntil(at(0, 0, 50))
		if err := mp.ForceFlush(ctx); err != nil {
			t.Fatal(err)
		}
		requests.Add(ctx, 7)
		sleepUntil(at(0, 1, 0.001))
		equalTimes(t, "exports", exp.times(), []time.Time{at(0, 0, 37), at(0, 1, 0)})
		if got := document(t, stats); got != 12 {
			t.Errorf("app.requests in the window to 00:01:00 = %v, want 12: the flush at 00:00:50 cut the window", got)
		}

		requests.Add(ctx, 3)
		sleepUntil(at(0, 1, 30))
		if err := mp.ForceFlush(ctx); err != nil {
			t.Fatal(err)
		}
		sleepUntil(at(0, 2, 0.001))
		equalTimes(t, "exports", exp.times(), []time.Time{at(0, 0, 37), at(0, 1, 0), at(0, 2, 0)})
		if got := document(t, stats); got != 3 {
			t.Errorf("app.requests in the window to 00:02:00 = %v, want 3", got)
		}
		if err := mp.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// TestPeriodicReaderWindowIsCutByForceFlush is the reason for this package:
// it fails, and the package can go, the day the SDK's PeriodicReader stops
// exporting on the provider's ForceFlush.
func TestPeriodicReaderWindowIsCutByForceFlush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		stats, err := exporter.New()
		if err != nil {
			t.Fatal(err)
		}
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(stats, sdkmetric.WithInterval(time.Minute))))
		requests, err := mp.Meter("test").Int64Counter("app.requests")
		if err != nil {
			t.Fatal(err)
		}
		if err := mp.ForceFlush(ctx); err != nil { // the baseline
			t.Fatal(err)
		}
		requests.Add(ctx, 5)
		sleepUntil(at(0, 0, 50))
		if err := mp.ForceFlush(ctx); err != nil {
			t.Fatal(err)
		}
		if got := document(t, stats); got != 5 {
			t.Errorf("after the app's ForceFlush, app.requests = %v, want 5 (a window cut at the flush)", got)
		}
		if err := mp.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

func TestFloor(t *testing.T) {
	for _, d := range []time.Duration{0, time.Nanosecond, time.Millisecond, 999 * time.Millisecond, -time.Second} {
		r, err := New(&recorder{}, d)
		if !errors.Is(err, ErrTooShort) || r != nil {
			t.Errorf("New(%v) = %v, %v; want nil, ErrTooShort", d, r, err)
		}
	}
	for _, d := range []time.Duration{MinWindow, time.Second + time.Nanosecond, time.Minute} {
		if _, err := New(&recorder{}, d); err != nil {
			t.Errorf("New(%v): %v", d, err)
		}
	}
	if got := ErrTooShort.Error(); strings.Contains(got, "999") {
		t.Errorf("ErrTooShort = %q repeats a value", got)
	}
}

func TestNewRejects(t *testing.T) {
	for _, c := range []struct {
		name string
		exp  sdkmetric.Exporter
		opts []Option
		want string
	}{
		{"nil exporter", nil, nil, "window: nil Exporter"},
		{"nil producer", &recorder{}, []Option{WithProducer(nil)}, "window: WithProducer: nil Producer"},
	} {
		if _, err := New(c.exp, time.Minute, c.opts...); err == nil || err.Error() != c.want {
			t.Errorf("%s: New = %v, want %q", c.name, err, c.want)
		}
	}
	if _, err := New(&recorder{}, time.Minute, WithLogger(nil)); err != nil {
		t.Errorf("WithLogger(nil): %v, want slog.Default", err)
	}
}

func TestShutdownExportsOnceMoreAndStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		sleepUntil(at(0, 0, 37))
		exp := &recorder{}
		r, mp := start(t, exp, time.Minute)
		sleepUntil(at(0, 1, 20))
		if err := mp.Shutdown(ctx); err != nil { // the provider's Shutdown is the Reader's
			t.Fatal(err)
		}
		sleepUntil(at(0, 10, 0))
		equalTimes(t, "exports", exp.times(), []time.Time{at(0, 1, 0), at(0, 1, 20)})
		if n := exp.shutdownCount(); n != 1 {
			t.Errorf("exporter shut down %d times, want 1", n)
		}
		for what, err := range map[string]error{
			"second Shutdown":   r.Shutdown(ctx),
			"Collect":           r.Collect(ctx),
			"Start":             r.Start(),
			"provider Shutdown": mp.Shutdown(ctx),
		} {
			if !errors.Is(err, sdkmetric.ErrReaderShutdown) {
				t.Errorf("%s after Shutdown = %v, want ErrReaderShutdown", what, err)
			}
		}
		var rm metricdata.ResourceMetrics
		if err := r.Reader().Collect(ctx, &rm); !errors.Is(err, sdkmetric.ErrReaderShutdown) {
			t.Errorf("the ManualReader's Collect after Shutdown = %v, want ErrReaderShutdown", err)
		}
	})
}

func TestShutdownDirectly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		exp := &recorder{}
		r, mp := start(t, exp, time.Minute)
		sleepUntil(at(0, 0, 30))
		if err := r.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		equalTimes(t, "exports", exp.times(), []time.Time{at(0, 0, 30)})
		if err := mp.Shutdown(ctx); !errors.Is(err, sdkmetric.ErrReaderShutdown) {
			t.Errorf("provider Shutdown after the Reader's = %v, want ErrReaderShutdown", err)
		}
	})
}

func TestShutdownUnregistered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		exp := &recorder{}
		r, err := New(exp, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Start(); err != nil {
			t.Fatal(err)
		}
		if err := r.Start(); err == nil || err.Error() != "window: Start called twice" {
			t.Errorf("second Start = %v", err)
		}
		if err := r.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown of a Reader no provider holds = %v, want nil", err)
		}
		if n := len(exp.all()); n != 0 || exp.shutdownCount() != 1 {
			t.Errorf("%d exports, %d exporter shutdowns; want 0, 1", n, exp.shutdownCount())
		}
	})
}

func TestShutdownWithoutStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		exp := &recorder{}
		r, err := New(exp, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r.Reader()))
		if err := mp.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := len(exp.all()); n != 1 {
			t.Errorf("%d exports, want the last one", n)
		}
	})
}

func TestShutdownHonoursCtx(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		exp := &recorder{hook: func(_ context.Context, n int) error {
			if n == 0 {
				<-release // an exporter that ignores its ctx
			}
			return nil
		}}
		sleepUntil(at(0, 0, 37))
		r, _ := start(t, exp, time.Minute)
		sleepUntil(at(0, 1, 10))
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err := r.Shutdown(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown = %v, want DeadlineExceeded", err)
		}
		if now := time.Now(); !now.Equal(at(0, 1, 11)) {
			t.Errorf("Shutdown returned at %v, want when its ctx ended", fmtTimes([]time.Time{now}))
		}
		if exp.shutdownCount() != 1 {
			t.Errorf("exporter not shut down")
		}
		close(release) // the clock's goroutine ends now; synctest.Test waits for it
		synctest.Wait()
		if n := len(exp.all()); n != 1 {
			t.Errorf("%d exports, want only the stuck one", n)
		}
	})
}

func TestSlowExportDoesNotBurst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		logs := &logRecords{}
		exp := &recorder{hook: func(_ context.Context, n int) error {
			if n == 0 {
				time.Sleep(25 * time.Second) // two and a half windows
			}
			return nil
		}}
		sleepUntil(at(0, 0, 37))
		_, mp := start(t, exp, 10*time.Second, WithLogger(slog.New(logs)))
		sleepUntil(at(0, 1, 25))
		equalTimes(t, "export starts", exp.times(), []time.Time{at(0, 0, 40), at(0, 1, 10), at(0, 1, 20)})
		if err := mp.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if l := logs.lines(); len(l) != 0 {
			t.Errorf("logged %q", l)
		}
	})
}

func TestTickErrorsAreLoggedOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		logs := &logRecords{}
		exp := &recorder{hook: func(_ context.Context, n int) error {
			if n == 1 || n == 3 {
				return fmt.Errorf("boom %d", n)
			}
			return nil
		}}
		var producerCalls int
		producer := producerFunc(func(context.Context) ([]metricdata.ScopeMetrics, error) {
			producerCalls++
			if producerCalls == 3 {
				return nil, errors.New("producer down")
			}
			return nil, nil
		})
		_, mp := start(t, exp, 10*time.Second, WithLogger(slog.New(logs)), WithProducer(producer))
		requests, err := mp.Meter("test").Int64Counter("app.requests")
		if err != nil {
			t.Fatal(err)
		}
		requests.Add(context.Background(), 1)
		sleepUntil(at(0, 0, 45))
		want := []string{
			"ERROR window: export failed window=10s error=boom 1",
			"ERROR window: collection failed window=10s error=producer down",
			"ERROR window: export failed window=10s error=boom 3",
		}
		if got := logs.lines(); !slices.Equal(got, want) {
			t.Errorf("log:\n got %q\nwant %q", got, want)
		}
		// The collection whose producer failed is exported all the same.
		if xs := exp.all(); len(xs) != 4 || xs[2].values["app.requests"] != 1 {
			t.Errorf("exports = %+v, want 4, the third with app.requests", xs)
		}
		if err := mp.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

type producerFunc func(context.Context) ([]metricdata.ScopeMetrics, error)

func (f producerFunc) Produce(ctx context.Context) ([]metricdata.ScopeMetrics, error) { return f(ctx) }

func TestExporterSelectorsAndProducers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		exp := &recorder{
			temporality: func(sdkmetric.InstrumentKind) metricdata.Temporality { return metricdata.DeltaTemporality },
			aggregation: func(k sdkmetric.InstrumentKind) sdkmetric.Aggregation {
				if k == sdkmetric.InstrumentKindHistogram {
					return sdkmetric.AggregationDrop{}
				}
				return sdkmetric.DefaultAggregationSelector(k)
			},
		}
		produced := producerFunc(func(context.Context) ([]metricdata.ScopeMetrics, error) {
			return []metricdata.ScopeMetrics{{
				Scope: instrumentation.Scope{Name: "producer"},
				Metrics: []metricdata.Metrics{{Name: "produced", Data: metricdata.Sum[int64]{
					Temporality: metricdata.CumulativeTemporality, IsMonotonic: true,
					DataPoints: []metricdata.DataPoint[int64]{{Value: 42}},
				}}},
			}}, nil
		})
		_, mp := start(t, exp, 10*time.Second, WithProducer(produced))
		meter := mp.Meter("test")
		requests, _ := meter.Int64Counter("app.requests")
		latency, _ := meter.Int64Histogram("app.latency")
		requests.Add(ctx, 5)
		latency.Record(ctx, 1)
		sleepUntil(at(0, 0, 15))
		requests.Add(ctx, 2)
		sleepUntil(at(0, 0, 25))
		xs := exp.all()
		if len(xs) != 2 {
			t.Fatalf("%d exports, want 2", len(xs))
		}
		for i, want := range []int64{5, 2} {
			x := xs[i]
			if x.values["app.requests"] != want || x.temporality["app.requests"] != metricdata.DeltaTemporality {
				t.Errorf("export %d: app.requests = %d %v, want %d delta", i, x.values["app.requests"], x.temporality["app.requests"], want)
			}
			if _, ok := x.values["app.latency"]; ok {
				t.Errorf("export %d: app.latency exported, want dropped by the exporter's aggregation", i)
			}
			if x.values["produced"] != 42 {
				t.Errorf("export %d: produced = %d, want 42 from the producer", i, x.values["produced"])
			}
		}
		if err := mp.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

func TestCollectUnregistered(t *testing.T) {
	r, err := New(&recorder{}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Collect(context.Background()); !errors.Is(err, sdkmetric.ErrReaderNotRegistered) {
		t.Errorf("Collect before registration = %v, want ErrReaderNotRegistered", err)
	}
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// A nil Option is skipped, as in every package of komachi.
func TestNilOptionIsSkipped(t *testing.T) {
	r, err := New(&recorder{}, time.Minute, nil, WithLogger(nil))
	if err != nil || r == nil {
		t.Fatalf("New with a nil Option = %v, %v", r, err)
	}
	_ = r.Shutdown(context.Background())
}
