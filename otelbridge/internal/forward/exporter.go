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

// ErrShutdown is returned by an export after the forwarder shut down. It
// wraps sdkmetric.ErrExporterShutdown, so errors.Is works with either.
var ErrShutdown = fmt.Errorf("forward: %w", sdkmetric.ErrExporterShutdown)

var errRequestTimeout = errors.New("OTEL_EXPORTER_OTLP_TIMEOUT exceeded")

// counters are the forwarder's own numbers, read by RegisterMetrics.
type counters struct {
	exports  atomic.Int64 // collections exported
	failures atomic.Int64 // of those, failed
	requests atomic.Int64 // OTLP requests attempted, one per batch
}

// collections counts the reader's collections. Registered as the reader's
// first producer, it is called once per collection, before the reader
// exports that collection's batches: that is how the exporter tells the
// batches of one collection from those of the next.
type collections struct{ n atomic.Uint64 }

// Produce implements sdkmetric.Producer and adds nothing.
func (c *collections) Produce(context.Context) ([]metricdata.ScopeMetrics, error) {
	c.n.Add(1)
	return nil, nil
}

// exporter wraps the OTLP exporter between the reader and the wire.
//
// A failure is logged once through the logger, counted, and kept for
// ForceFlush and Shutdown to return, rather than returned from Export: the
// reader hands a periodic export's error to otel.Handle, whose default
// prints it again through the standard log, and komachi sets no global
// handler. After a failed request the rest of its collection is dropped:
// the endpoint is likely down and each batch would wait out its own
// timeout; with cumulative temporality the next collection carries the same
// series again. Nothing of a collection is kept between calls.
type exporter struct {
	inner       sdkmetric.Exporter
	collections *collections
	// timeout bounds each request, retries included, as
	// OTEL_EXPORTER_OTLP_TIMEOUT means: the HTTP exporter applies it to each
	// attempt only, and retries until the reader's own timeout.
	timeout  time.Duration
	endpoint string
	protocol Protocol
	redact   redactor
	logger   *slog.Logger
	stats    *counters

	mu            sync.Mutex
	collection    uint64 // the collection being exported
	err           error  // its failure, if any
	failuresInRow int64
	shutdown      bool
}

var _ sdkmetric.Exporter = (*exporter)(nil)

// Temporality implements sdkmetric.Exporter, as the OTLP exporter read it
// from OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE.
func (e *exporter) Temporality(k sdkmetric.InstrumentKind) metricdata.Temporality {
	return e.inner.Temporality(k)
}

// Aggregation implements sdkmetric.Exporter, as the OTLP exporter read it
// from OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION.
func (e *exporter) Aggregation(k sdkmetric.InstrumentKind) sdkmetric.Aggregation {
	return e.inner.Aggregation(k)
}

// Export sends one batch in one request. It honours ctx and keeps no
// reference to rm. It returns an error only after Shutdown.
func (e *exporter) Export(ctx context.Context, rm *metricdata.ResourceMetrics) error {
	e.mu.Lock()
	if e.shutdown {
		e.mu.Unlock()
		return ErrShutdown
	}
	if n := e.collections.n.Load(); n != e.collection {
		e.collection, e.err = n, nil
		e.stats.exports.Add(1)
	}
	dropped := e.err != nil
	e.mu.Unlock()
	if dropped {
		return nil
	}

	e.stats.requests.Add(1)
	reqCtx, cancel := context.WithTimeoutCause(ctx, e.timeout, errRequestTimeout)
	err := e.inner.Export(reqCtx, rm)
	cancel()
	if err != nil {
		err = e.redact.error(fmt.Errorf("forward: export to %s: %w", e.endpoint, err))
		e.stats.failures.Add(1)
	}
	e.mu.Lock()
	before := e.failuresInRow
	if err != nil {
		e.err = err
		e.failuresInRow++
	} else {
		e.failuresInRow = 0
	}
	e.mu.Unlock()

	switch {
	case err != nil:
		e.logger.LogAttrs(ctx, slog.LevelWarn, "OTLP metrics export failed",
			slog.String("endpoint", e.endpoint),
			slog.String("protocol", string(e.protocol)),
			slog.Int64("failures_in_row", before+1),
			slog.String("error", err.Error()))
	case before > 0:
		e.logger.LogAttrs(ctx, slog.LevelInfo, "OTLP metrics export recovered",
			slog.String("endpoint", e.endpoint),
			slog.Int64("failed_before", before))
	}
	return nil
}

// ForceFlush implements sdkmetric.Exporter. The reader calls it after
// exporting the collection it made for the flush, so it returns that
// collection's failure.
func (e *exporter) ForceFlush(ctx context.Context) error {
	e.mu.Lock()
	err := e.err
	e.mu.Unlock()
	return errors.Join(err, e.inner.ForceFlush(ctx))
}

// Shutdown implements sdkmetric.Exporter. The reader calls it after its last
// export, whose failure it returns, then the connection is closed.
func (e *exporter) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	if e.shutdown {
		e.mu.Unlock()
		return ErrShutdown
	}
	e.shutdown = true
	last := e.err
	e.mu.Unlock()
	err := e.inner.Shutdown(ctx)
	if err != nil {
		err = e.redact.error(fmt.Errorf("forward: shutdown: %w", err))
	}
	return errors.Join(last, err)
}

// MarshalLog keeps the SDK's logr output (which walks readers and their
// exporters) away from our fields, secrets included.
func (e *exporter) MarshalLog() any {
	return struct {
		Type     string
		Protocol Protocol
		Endpoint string
	}{"komachi OTLP forward", e.protocol, e.endpoint}
}
