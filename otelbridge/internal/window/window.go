package window

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// MinWindow is the shortest window New accepts.
const MinWindow = time.Second

// alignedUnit is what a window must divide to be aligned to the wall clock:
// then its boundaries fall on the same clock times every day.
const alignedUnit = 24 * time.Hour

// ErrTooShort is returned by New for a window shorter than MinWindow. It does
// not repeat the value, which may come from an environment variable.
var ErrTooShort = errors.New("window: must be at least 1s")

// ErrShutdown is returned by Shutdown, Collect and Start after Shutdown. It
// wraps sdkmetric.ErrReaderShutdown, so errors.Is works with either.
var ErrShutdown = fmt.Errorf("window: %w", sdkmetric.ErrReaderShutdown)

// Option configures New.
type Option interface {
	apply(*config) error
}

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

type config struct {
	producers []sdkmetric.Producer
	logger    *slog.Logger
}

// WithProducer adds a producer of metrics from outside the provider (such
// as the contrib runtime producer); it is read at every collection.
func WithProducer(p sdkmetric.Producer) Option {
	return optionFunc(func(c *config) error {
		if p == nil {
			return errors.New("window: WithProducer: nil Producer")
		}
		c.producers = append(c.producers, p)
		return nil
	})
}

// WithLogger sets where a tick's failed collection or export is reported;
// the default, and what nil means, is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) error { c.logger = l; return nil })
}

// Reader collects a MeterProvider on its own clock and exports each
// collection to its exporter. Its methods are safe to call concurrently.
type Reader struct {
	exp    sdkmetric.Exporter
	every  time.Duration
	logger *slog.Logger
	manual *sdkmetric.ManualReader
	reader *providerReader

	// turn is held for one collection and export, so that exports never
	// overlap (each one is the window since the last); a channel rather than
	// a mutex so that waiting for it honours a context.
	turn chan struct{}
	rm   metricdata.ResourceMetrics // guarded by turn; reused between collections

	mu       sync.Mutex
	stopped  bool
	cancel   context.CancelFunc // ends the clock; nil until Start
	finished chan struct{}      // closed when the clock's goroutine returns
}

// providerReader is the sdkmetric.Reader handed to the provider: the
// ManualReader (its unexported methods are how the provider registers it),
// with Shutdown routed to the Reader so that the provider's Shutdown exports
// the last window and stops the clock. It deliberately has no ForceFlush.
type providerReader struct {
	*sdkmetric.ManualReader
	r *Reader
}

// Shutdown shuts down the Reader; see Reader.Shutdown.
func (p *providerReader) Shutdown(ctx context.Context) error { return p.r.Shutdown(ctx) }

// New returns a Reader that will collect every window and export to exp,
// once Start is called. It returns ErrTooShort for a window under MinWindow,
// or an error naming a bad option.
func New(exp sdkmetric.Exporter, every time.Duration, opts ...Option) (*Reader, error) {
	if exp == nil {
		return nil, errors.New("window: nil Exporter")
	}
	if every < MinWindow {
		return nil, ErrTooShort
	}
	var c config
	for _, o := range opts {
		if o == nil {
			continue // as everywhere in komachi: a nil Option is skipped
		}
		if err := o.apply(&c); err != nil {
			return nil, err
		}
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	mopts := []sdkmetric.ManualReaderOption{
		sdkmetric.WithTemporalitySelector(exp.Temporality),
		sdkmetric.WithAggregationSelector(exp.Aggregation),
	}
	for _, p := range c.producers {
		mopts = append(mopts, sdkmetric.WithProducer(p))
	}
	r := &Reader{
		exp:    exp,
		every:  every,
		logger: c.logger,
		manual: sdkmetric.NewManualReader(mopts...),
		turn:   make(chan struct{}, 1),
	}
	r.reader = &providerReader{ManualReader: r.manual, r: r}
	return r, nil
}

// Reader is the reader to give the MeterProvider (sdkmetric.WithReader).
// The provider's ForceFlush passes it by; the provider's Shutdown is
// Reader.Shutdown. Calling its Collect directly would take a collection out
// of the window.
func (r *Reader) Reader() sdkmetric.Reader { return r.reader }

// Start starts the clock: the first tick comes at the next boundary (see the
// package documentation), the next ones every window after it. Until the
// Reader is given to a provider, a tick only logs ErrReaderNotRegistered. A
// second call, or one after Shutdown, returns an error.
func (r *Reader) Start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return ErrShutdown
	}
	if r.cancel != nil {
		return errors.New("window: Start called twice")
	}
	origin := time.Now()
	if alignedUnit%r.every == 0 {
		origin = time.Unix(0, 0)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.finished = cancel, make(chan struct{})
	go r.run(ctx, origin, r.finished)
	return nil
}

// next returns the first boundary after now: origin plus a whole number of
// windows. An origin without a monotonic reading (the Unix epoch) makes it
// wall-clock arithmetic; Start's time.Now makes it monotonic.
func next(origin time.Time, every time.Duration, now time.Time) time.Time {
	return origin.Add((now.Sub(origin)/every + 1) * every)
}

// run is the clock: it sleeps to the next boundary, collects and exports,
// and computes the following boundary from the time the export ended.
func (r *Reader) run(ctx context.Context, origin time.Time, finished chan<- struct{}) {
	defer close(finished)
	now := time.Now()
	target := next(origin, r.every, now)
	timer := time.NewTimer(target.Sub(now))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		// A wall clock stepped back can wake the timer before the boundary;
		// then it waits for the boundary rather than cutting a sliver.
		if now = time.Now(); !now.Before(target) {
			r.tick(ctx)
			now = time.Now()
		}
		target = next(origin, r.every, now)
		timer.Reset(target.Sub(now))
	}
}

// tick collects and exports once, logging what fails. Errors caused by
// Shutdown ending the clock are not logged: Shutdown exports once more and
// reports its own.
func (r *Reader) tick(clock context.Context) {
	ctx, cancel := context.WithTimeout(clock, r.every)
	defer cancel()
	select {
	case r.turn <- struct{}{}:
	case <-ctx.Done():
		if clock.Err() == nil {
			r.logger.Error("window: collection skipped: the previous one is still running", "window", r.every)
		}
		return
	}
	collectErr, exportErr := r.collectAndExport(ctx)
	<-r.turn
	if clock.Err() != nil {
		return
	}
	if collectErr != nil {
		r.logger.Error("window: collection failed", "window", r.every, "error", collectErr)
	}
	if exportErr != nil {
		r.logger.Error("window: export failed", "window", r.every, "error", exportErr)
	}
}

// collectAndExport collects into r.rm and exports it; the caller holds turn.
func (r *Reader) collectAndExport(ctx context.Context) (collectErr, exportErr error) {
	collectErr = r.manual.Collect(ctx, &r.rm)
	if collectErr != nil && !gathered(collectErr) {
		return collectErr, nil
	}
	return collectErr, r.exp.Export(ctx, &r.rm)
}

// gathered reports whether a collection that returned err still filled rm.
// The SDK stops before touching rm when the reader is shut down or not
// registered, or ctx is already done (rm then holds the previous collection);
// otherwise a failing callback or producer leaves out only its own data.
func gathered(err error) bool {
	return !errors.Is(err, sdkmetric.ErrReaderShutdown) &&
		!errors.Is(err, sdkmetric.ErrReaderNotRegistered) &&
		!errors.Is(err, context.Canceled) &&
		!errors.Is(err, context.DeadlineExceeded)
}

// Collect collects and exports now, outside the clock; the next tick stays
// on its boundary. It waits for a collection in progress, honouring ctx. A
// collection error comes back with the export's, even when what was
// gathered was exported. After Shutdown it returns ErrShutdown.
func (r *Reader) Collect(ctx context.Context) error {
	r.mu.Lock()
	stopped := r.stopped
	r.mu.Unlock()
	if stopped {
		return ErrShutdown
	}
	collectErr, exportErr := r.collectNow(ctx)
	if err := errors.Join(collectErr, exportErr); err != nil {
		return fmt.Errorf("window: %w", err)
	}
	return nil
}

// collectNow takes the turn, honouring ctx, and collects and exports; its
// errors are prefixed with what failed, for the caller to wrap.
func (r *Reader) collectNow(ctx context.Context) (collectErr, exportErr error) {
	select {
	case r.turn <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("waiting for the collection in progress: %w", context.Cause(ctx)), nil
	}
	collectErr, exportErr = r.collectAndExport(ctx)
	<-r.turn
	if collectErr != nil {
		collectErr = fmt.Errorf("collect: %w", collectErr)
	}
	if exportErr != nil {
		exportErr = fmt.Errorf("export: %w", exportErr)
	}
	return collectErr, exportErr
}

// Shutdown stops the clock (a tick in progress sees its context cancelled),
// collects and exports one last time unless the Reader was never given to a
// provider, then shuts down the ManualReader and the exporter. If ctx ends
// before the tick in progress returns, or before the last export can start,
// that export is skipped and ctx's error is returned with the rest; the
// clock's goroutine then ends when the exporter returns. A second call
// returns ErrShutdown.
func (r *Reader) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return ErrShutdown
	}
	r.stopped = true
	cancel, finished := r.cancel, r.finished
	r.mu.Unlock()

	var errs []error
	flush := true
	if cancel != nil {
		cancel()
		select {
		case <-finished:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("window: Shutdown: waiting for the collection in progress: %w", context.Cause(ctx)))
			flush = false
		}
	}
	if flush {
		collectErr, exportErr := r.collectNow(ctx)
		if errors.Is(collectErr, sdkmetric.ErrReaderNotRegistered) {
			collectErr = nil // never given to a provider: nothing to flush
		}
		if err := errors.Join(collectErr, exportErr); err != nil {
			errs = append(errs, fmt.Errorf("window: Shutdown: %w", err))
		}
	}
	if err := r.manual.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("window: Shutdown: manual reader: %w", err))
	}
	if err := r.exp.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("window: Shutdown: exporter: %w", err))
	}
	return errors.Join(errs...)
}
