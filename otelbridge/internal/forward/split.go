package forward

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// ErrShutdown is returned by an export after the forwarder shut down.
var ErrShutdown = errors.New("forward: exporter is shut down")

// counters are the forwarder's own numbers, read by RegisterMetrics.
type counters struct {
	exports    atomic.Int64 // Export calls (one per collection)
	failures   atomic.Int64 // Export calls that returned an error
	requests   atomic.Int64 // OTLP requests attempted
	dataPoints atomic.Int64 // data points in requests the server accepted
}

// splitExporter wraps an OTLP exporter so that no request exceeds limit
// bytes of uncompressed protobuf: a larger collection goes out as several
// requests, in order, each data point whole and exactly once. It keeps
// nothing between calls: a failed export is dropped, and with cumulative
// temporality the next collection carries the same series again.
type splitExporter struct {
	inner       sdkmetric.Exporter
	temporality sdkmetric.TemporalitySelector
	aggregation sdkmetric.AggregationSelector
	limit       int
	timeout     time.Duration // per request
	endpoint    string
	protocol    Protocol
	redact      redactor
	logger      *slog.Logger
	stats       *counters
	// afterShutdown releases what the inner exporter does not (idle HTTP
	// connections of our own transport).
	afterShutdown func()

	failuresInRow atomic.Int64
	shutdownOnce  sync.Once
	isShutdown    atomic.Bool
}

var _ sdkmetric.Exporter = (*splitExporter)(nil)

// Temporality implements sdkmetric.Exporter.
func (e *splitExporter) Temporality(k sdkmetric.InstrumentKind) metricdata.Temporality {
	return e.temporality(k)
}

// Aggregation implements sdkmetric.Exporter.
func (e *splitExporter) Aggregation(k sdkmetric.InstrumentKind) sdkmetric.Aggregation {
	return e.aggregation(k)
}

// Export sends rm in one or more requests. It honours ctx, keeps no reference
// to rm, and returns an error with secrets redacted.
func (e *splitExporter) Export(ctx context.Context, rm *metricdata.ResourceMetrics) error {
	if e.isShutdown.Load() {
		return ErrShutdown
	}
	e.stats.exports.Add(1)
	start := time.Now()
	requests, err := e.export(ctx, rm)
	if err != nil {
		err = e.redact.error(fmt.Errorf("forward: export to %s: %w", e.endpoint, err))
		e.stats.failures.Add(1)
		n := e.failuresInRow.Add(1)
		e.logger.LogAttrs(context.Background(), slog.LevelWarn, "OTLP metrics export failed",
			slog.String("endpoint", e.endpoint),
			slog.String("protocol", string(e.protocol)),
			slog.Int64("failures_in_row", n),
			slog.Int("requests", requests),
			slog.Duration("elapsed", time.Since(start)),
			slog.String("error", err.Error()))
		return err
	}
	if n := e.failuresInRow.Swap(0); n > 0 {
		e.logger.LogAttrs(context.Background(), slog.LevelInfo, "OTLP metrics export recovered",
			slog.String("endpoint", e.endpoint),
			slog.Int64("failed_before", n))
	}
	return nil
}

func (e *splitExporter) export(ctx context.Context, rm *metricdata.ResourceMetrics) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	size, points := estimateRequest(rm)
	if size <= e.limit {
		return 1, e.send(ctx, rm, points)
	}
	b := &batcher{
		ctx:   ctx,
		e:     e,
		res:   rm,
		base:  requestBaseSize(rm.Resource),
		limit: e.limit,
	}
	b.size = b.base
	err := b.run()
	return b.sent, err
}

// send makes one request, bounded by the request timeout.
func (e *splitExporter) send(ctx context.Context, rm *metricdata.ResourceMetrics, points int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeoutCause(ctx, e.timeout, errRequestTimeout)
	defer cancel()
	e.stats.requests.Add(1)
	if err := e.inner.Export(ctx, rm); err != nil {
		return err
	}
	e.stats.dataPoints.Add(int64(points))
	return nil
}

var errRequestTimeout = errors.New("OTLP request timeout")

// ForceFlush implements sdkmetric.Exporter; nothing is buffered here.
func (e *splitExporter) ForceFlush(ctx context.Context) error {
	return e.inner.ForceFlush(ctx)
}

// Shutdown implements sdkmetric.Exporter. It closes the connection; the
// reader has done its final export before calling it.
func (e *splitExporter) Shutdown(ctx context.Context) error {
	err := ErrShutdown
	e.shutdownOnce.Do(func() {
		e.isShutdown.Store(true)
		err = e.inner.Shutdown(ctx)
		if e.afterShutdown != nil {
			e.afterShutdown()
		}
		if err != nil {
			err = e.redact.error(fmt.Errorf("forward: shutdown: %w", err))
		}
	})
	return err
}

// MarshalLog keeps the SDK's logr output (which walks readers and their
// exporters) away from our fields, secrets included.
func (e *splitExporter) MarshalLog() any {
	return struct {
		Type     string
		Protocol Protocol
		Endpoint string
		Limit    int
	}{"komachi OTLP forward", e.protocol, e.endpoint, e.limit}
}

// batcher walks a collection in order and cuts it into requests whose
// estimated size stays within limit. Each request repeats the resource and
// the headers of the scopes and metrics it holds points of. Data point
// slices are shared with rm, never copied.
type batcher struct {
	ctx   context.Context
	e     *splitExporter
	res   *metricdata.ResourceMetrics
	base  int
	limit int

	size   int // estimate of the request being filled
	points int
	scopes []metricdata.ScopeMetrics
	// scopeOpen tells whether the current source scope has an entry in
	// scopes (its header counted in size).
	scopeOpen bool
	scope     *metricdata.ScopeMetrics
	scopeHdr  int
	sent      int
}

func (b *batcher) run() error {
	for i := range b.res.ScopeMetrics {
		b.scope = &b.res.ScopeMetrics[i]
		b.scopeHdr = scopeHeaderSize(&b.scope.Scope)
		b.scopeOpen = false
		for j := range b.scope.Metrics {
			if err := b.addMetric(&b.scope.Metrics[j]); err != nil {
				return err
			}
		}
	}
	return b.flush()
}

func (b *batcher) addMetric(m *metricdata.Metrics) error {
	switch a := m.Data.(type) {
	case metricdata.Gauge[int64]:
		return addPoints(b, m, a.DataPoints, numberPointSize[int64], func(d []metricdata.DataPoint[int64]) metricdata.Aggregation {
			a.DataPoints = d
			return a
		})
	case metricdata.Gauge[float64]:
		return addPoints(b, m, a.DataPoints, numberPointSize[float64], func(d []metricdata.DataPoint[float64]) metricdata.Aggregation {
			a.DataPoints = d
			return a
		})
	case metricdata.Sum[int64]:
		return addPoints(b, m, a.DataPoints, numberPointSize[int64], func(d []metricdata.DataPoint[int64]) metricdata.Aggregation {
			a.DataPoints = d
			return a
		})
	case metricdata.Sum[float64]:
		return addPoints(b, m, a.DataPoints, numberPointSize[float64], func(d []metricdata.DataPoint[float64]) metricdata.Aggregation {
			a.DataPoints = d
			return a
		})
	case metricdata.Histogram[int64]:
		return addPoints(b, m, a.DataPoints, histogramPointSize[int64], func(d []metricdata.HistogramDataPoint[int64]) metricdata.Aggregation {
			a.DataPoints = d
			return a
		})
	case metricdata.Histogram[float64]:
		return addPoints(b, m, a.DataPoints, histogramPointSize[float64], func(d []metricdata.HistogramDataPoint[float64]) metricdata.Aggregation {
			a.DataPoints = d
			return a
		})
	case metricdata.ExponentialHistogram[int64]:
		return addPoints(b, m, a.DataPoints, expHistogramPointSize[int64], func(d []metricdata.ExponentialHistogramDataPoint[int64]) metricdata.Aggregation {
			a.DataPoints = d
			return a
		})
	case metricdata.ExponentialHistogram[float64]:
		return addPoints(b, m, a.DataPoints, expHistogramPointSize[float64], func(d []metricdata.ExponentialHistogramDataPoint[float64]) metricdata.Aggregation {
			a.DataPoints = d
			return a
		})
	case metricdata.Summary:
		return addPoints(b, m, a.DataPoints, summaryPointSize, func(d []metricdata.SummaryDataPoint) metricdata.Aggregation {
			a.DataPoints = d
			return a
		})
	default:
		// Unknown to the transform, which reports and drops it: pass it
		// along untouched so that the error surfaces as it would unsplit.
		need := metricHeaderSize(m)
		if err := b.makeRoom(need + b.pendingScope()); err != nil {
			return err
		}
		b.openScope()
		b.size += need
		b.appendMetric(m, m.Data)
		return nil
	}
}

// addPoints adds the points of one metric, closing a segment of them and
// sending the request whenever the next point would not fit.
func addPoints[T any](b *batcher, m *metricdata.Metrics, dps []T, size func(*T) int, with func([]T) metricdata.Aggregation) error {
	hdr := metricHeaderSize(m)
	start, open := 0, false
	for i := range dps {
		s := size(&dps[i])
		need := s + b.pendingScope()
		if !open {
			need += hdr
		}
		if b.points > 0 && b.size+need > b.limit {
			if open {
				b.appendMetric(m, with(dps[start:i]))
			}
			if err := b.flush(); err != nil {
				return err
			}
			start, open = i, false
			need = s + hdr + b.pendingScope()
		}
		b.openScope()
		open = true
		b.size += need
		b.points++
	}
	if open {
		b.appendMetric(m, with(dps[start:]))
	}
	return nil
}

// pendingScope is the header cost of the current scope if the request being
// filled does not hold it yet.
func (b *batcher) pendingScope() int {
	if b.scopeOpen {
		return 0
	}
	return b.scopeHdr
}

// makeRoom sends the request being filled if need more bytes would not fit.
func (b *batcher) makeRoom(need int) error {
	if b.points > 0 && b.size+need > b.limit {
		return b.flush()
	}
	return nil
}

func (b *batcher) openScope() {
	if b.scopeOpen {
		return
	}
	b.scopes = append(b.scopes, metricdata.ScopeMetrics{Scope: b.scope.Scope})
	b.scopeOpen = true
}

func (b *batcher) appendMetric(m *metricdata.Metrics, data metricdata.Aggregation) {
	sm := &b.scopes[len(b.scopes)-1]
	sm.Metrics = append(sm.Metrics, metricdata.Metrics{
		Name:        m.Name,
		Description: m.Description,
		Unit:        m.Unit,
		Data:        data,
	})
}

// flush sends the request being filled, if any, and starts a new one.
func (b *batcher) flush() error {
	if len(b.scopes) == 0 {
		return nil
	}
	req := &metricdata.ResourceMetrics{Resource: b.res.Resource, ScopeMetrics: b.scopes}
	points := b.points
	b.scopes, b.points, b.size, b.scopeOpen = nil, 0, b.base, false
	b.sent++
	return b.e.send(b.ctx, req, points)
}
