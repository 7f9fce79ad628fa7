package exporter

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// ErrShutdown is returned by Export and ForceFlush after Shutdown. It wraps
// sdkmetric.ErrExporterShutdown, so errors.Is works with either.
var ErrShutdown = fmt.Errorf("exporter: %w", sdkmetric.ErrExporterShutdown)

// Exporter is an sdk/metric Exporter that renders every collection it is
// handed as the /stats JSON document. Put it on a reader collected once per
// window; serve the document with Handler.
type Exporter struct {
	cfg config

	doc     atomic.Pointer[document]
	histDoc atomic.Pointer[document] // the history JSON; see History
	graphs  atomic.Pointer[graphSet]

	mu      sync.Mutex // serializes Export; guards b and hist
	b       *builder
	hist    *history   // nil when WithHistory(0)
	docGzip gzipSource // makes the document's gzip copies
	histGz  gzipSource // makes the history's gzip copies

	histGzBytes atomic.Int64 // size of the history's last gzip copy, to size the next

	shutdown   atomic.Bool
	stats      selfStats
	overBudget bool // logged once that the document makes more metrics than the budget
}

var _ sdkmetric.Exporter = (*Exporter)(nil)

// selfStats are the exporter's own numbers, read by RegisterMetrics' callback.
type selfStats struct {
	exports, series, bytes, gzBytes, collisions atomic.Int64
	durationNanos                               atomic.Int64
	dropped                                     [numDropReasons]atomic.Int64
}

// New returns an Exporter, or an error naming the first bad option.
func New(opts ...Option) (*Exporter, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	e := &Exporter{cfg: cfg, b: newBuilder(cfg)}
	pool := newGzipPool(cfg.gzipLevel)
	e.docGzip = gzipSource{pool: pool, limit: math.MaxInt, size: &e.stats.gzBytes}
	if cfg.history > 0 {
		e.hist = newHistory(cfg.history, cfg.maxSeries)
		e.histGz = gzipSource{pool: pool, limit: historyGzipMax, size: &e.histGzBytes}
	}
	return e, nil
}

// Temporality asks the SDK for delta histograms in the Windowed mode, so that
// a histogram's min and max are those of the window, and for cumulative
// everything else, so that the exporter can serve 0 for an idle series rather
// than losing it (the SDK forgets a delta series that got nothing).
func (e *Exporter) Temporality(k sdkmetric.InstrumentKind) metricdata.Temporality {
	if e.cfg.mode == Windowed && k == sdkmetric.InstrumentKindHistogram {
		return metricdata.DeltaTemporality
	}
	return metricdata.CumulativeTemporality
}

// Aggregation returns the aggregation chosen by WithAggregationSelector.
func (e *Exporter) Aggregation(k sdkmetric.InstrumentKind) sdkmetric.Aggregation {
	return e.cfg.aggregation(k)
}

// Export renders rm and publishes the result as the current document. It
// keeps none of rm's slices, only the SDK's immutable strings and attribute
// sets, to know a series again in the next export. ctx is checked before the
// render starts; the render itself is bounded and is not abandoned half-way,
// since a window applied to some series and not to others would lose their
// increases.
func (e *Exporter) Export(ctx context.Context, rm *metricdata.ResourceMetrics) error {
	if e.shutdown.Load() {
		return ErrShutdown
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	start := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()

	body, res := e.b.build(rm)
	e.doc.Store(e.docGzip.newDocument(body, nil))
	if e.hist != nil {
		e.publishHistory(body, start.Unix())
	}
	if res.graphs != nil {
		var version uint64 = 1
		if g := e.graphs.Load(); g != nil {
			version = g.version + 1
		}
		e.graphs.Store(&graphSet{graphs: res.graphs, version: version})
	}

	s := &e.stats
	s.exports.Add(1)
	s.series.Store(int64(res.series))
	s.bytes.Store(int64(len(body)))
	s.collisions.Add(int64(res.collisions))
	for i, n := range res.dropped {
		s.dropped[i].Add(int64(n))
	}
	s.durationNanos.Store(int64(time.Since(start)))
	if b := e.cfg.budget; b > 0 && res.series > b && !e.overBudget {
		e.overBudget = true
		e.cfg.logger.Warn("komachi: /stats makes more Mackerel metrics than its budget; each metric over a Pod's 30 bills more micro hosts",
			"metrics", res.series, "budget", b,
			"hint", "choose what /stats serves with KOMACHI_STATS_SELECT or exporter.WithRules; see komachi.exporter.metrics")
	}
	return nil
}

// Document returns the current document, as JSON and gzip-compressed JSON;
// both are nil before the first export. The slices are shared by every caller
// and must not be modified.
//
// Export renders the JSON; the gzip copy is made from it on first need after
// each export, by the first call of Document or the first request to Handler
// that accepts gzip, whichever comes first: that caller pays for the
// compression, callers meanwhile wait for it, and every later one shares it.
// So an export that no one reads compressed costs no compression. Past that
// first call, Document takes no lock and allocates nothing.
func (e *Exporter) Document() (body, gzipped []byte) {
	d := e.doc.Load()
	if d == nil {
		return nil, nil
	}
	return d.body, d.gzipped()
}

// ForceFlush has nothing to flush: every export is published when it ends.
func (e *Exporter) ForceFlush(ctx context.Context) error {
	if e.shutdown.Load() {
		return ErrShutdown
	}
	return ctx.Err()
}

// Shutdown stops the exporter: later exports return ErrShutdown. The last
// document stays readable, so /stats keeps answering while an app drains.
// Calling it again returns ErrShutdown.
func (e *Exporter) Shutdown(ctx context.Context) error {
	if e.shutdown.Swap(true) {
		return ErrShutdown
	}
	return ctx.Err()
}

// RegisterMetrics records the exporter's own health through mp, so that it
// reaches /stats like any other metric (one data path), under
// komachi.exporter.*. It is a method, where heartbeat and govitals take a
// WithMeterProvider option, because the exporter exists before its provider
// does: the provider is built with the exporter's reader.
//
//	komachi.exporter.exports             counter  exports done
//	komachi.exporter.metrics             gauge    leaves in the last document: the Mackerel metrics it makes
//	komachi.exporter.document.size       gauge    bytes of the last document, by komachi.encoding (identity, gzip);
//	                                              gzip: the last gzip copy made (see Document)
//	komachi.exporter.collisions          counter  leaves renamed to keep colliding series apart
//	komachi.exporter.dropped             counter  values left out, by komachi.reason (nonfinite, limit,
//	                                              collision), and overflow: series the SDK folded into its
//	                                              overflow series (one per instrument over its cardinality limit)
//	komachi.exporter.export.duration     gauge    seconds the last export took
//
// DefaultRules serve komachi.exporter.metrics and the total of
// komachi.exporter.dropped.
//
// The values describe the export before the collection that reads them.
// Unregister the returned Registration to stop.
func (e *Exporter) RegisterMetrics(mp metric.MeterProvider) (metric.Registration, error) {
	m := mp.Meter("github.com/komachi-go/komachi/exporter", metric.WithInstrumentationVersion(Version))
	var errs []error
	newInt := func(err error) { errs = append(errs, err) }
	exports, err := m.Int64ObservableCounter("komachi.exporter.exports", metric.WithUnit("{export}"), metric.WithDescription("Exports rendered into the /stats document."))
	newInt(err)
	series, err := m.Int64ObservableGauge("komachi.exporter.metrics", metric.WithUnit("{metric}"), metric.WithDescription("Mackerel metrics (numeric leaves) in the last /stats document"))
	newInt(err)
	size, err := m.Int64ObservableGauge("komachi.exporter.document.size", metric.WithUnit("By"), metric.WithDescription("Size of the last /stats document."))
	newInt(err)
	collisions, err := m.Int64ObservableCounter("komachi.exporter.collisions", metric.WithUnit("{series}"), metric.WithDescription("Leaves renamed to keep series that land on one path apart."))
	newInt(err)
	dropped, err := m.Int64ObservableCounter("komachi.exporter.dropped", metric.WithUnit("{value}"), metric.WithDescription("Values left out of the /stats document."))
	newInt(err)
	duration, err := m.Float64ObservableGauge("komachi.exporter.export.duration", metric.WithUnit("s"), metric.WithDescription("Duration of the last export."))
	newInt(err)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("exporter: RegisterMetrics: %w", err)
	}
	identity := metric.WithAttributeSet(attribute.NewSet(attribute.String("komachi.encoding", "identity")))
	gzipped := metric.WithAttributeSet(attribute.NewSet(attribute.String("komachi.encoding", "gzip")))
	var reasons [numDropReasons]metric.ObserveOption
	for i, name := range dropReasonNames {
		reasons[i] = metric.WithAttributeSet(attribute.NewSet(attribute.String("komachi.reason", name)))
	}
	s := &e.stats
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(exports, s.exports.Load())
		o.ObserveInt64(series, s.series.Load())
		o.ObserveInt64(size, s.bytes.Load(), identity)
		o.ObserveInt64(size, s.gzBytes.Load(), gzipped)
		o.ObserveInt64(collisions, s.collisions.Load())
		for i := range reasons {
			o.ObserveInt64(dropped, s.dropped[i].Load(), reasons[i])
		}
		o.ObserveFloat64(duration, time.Duration(s.durationNanos.Load()).Seconds())
		return nil
	}, exports, series, size, collisions, dropped, duration)
	if err != nil {
		return nil, fmt.Errorf("exporter: RegisterMetrics: %w", err)
	}
	return reg, nil
}
