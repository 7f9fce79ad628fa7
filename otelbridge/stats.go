package otelbridge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/host"
	"go.opentelemetry.io/contrib/instrumentation/runtime"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/komachi-go/komachi/exporter"
	"github.com/komachi-go/komachi/heartbeat"
	"github.com/komachi-go/komachi/otelbridge/govitals"
)

// Stats is /stats and /heartbeat for a MeterProvider: the exporter on its
// reader, the heartbeat handler serving it, and the Go vitals. Start builds
// one with its own provider; an app that already owns a MeterProvider builds
// one with NewStats, passes Reader to its provider, and calls Stats.Start.
type Stats struct {
	cfg      config
	exporter *exporter.Exporter
	reader   *sdkmetric.PeriodicReader
	handler  *heartbeat.Handler

	mu      sync.Mutex
	started bool
	regs    []metric.Registration
	stopped bool
}

// NewStats builds the /stats exporter, the reader that feeds it every
// window, and the heartbeat handler, for an app that owns its MeterProvider:
//
//	stats, err := otelbridge.NewStats()
//	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(stats.Reader()), /* the app's own options */)
//	err = stats.Start(ctx, mp)
//	mux.Handle("/ops/", http.StripPrefix("/ops", stats.Handler()))
//
// The reader belongs to the provider once passed to it: the provider's
// Shutdown stops it.
func NewStats(opts ...Option) (*Stats, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	return newStats(cfg)
}

func newStats(cfg config) (*Stats, error) {
	exp, err := exporter.New(cfg.exporterOpts...)
	if err != nil {
		return nil, fmt.Errorf("otelbridge: WithExporterOptions: %w", err)
	}
	hopts := append([]heartbeat.Option{heartbeat.WithStats(exp), heartbeat.WithVitals(cfg.vitals...)}, cfg.heartbeatOpts...)
	h, err := heartbeat.New(hopts...)
	if err != nil {
		return nil, fmt.Errorf("otelbridge: %w", err)
	}
	reader := sdkmetric.NewPeriodicReader(exp,
		sdkmetric.WithInterval(cfg.window),
		sdkmetric.WithProducer(newRuntimeProducer()),
		sdkmetric.WithProducer(govitals.NewProducer()),
	)
	return &Stats{cfg: cfg, exporter: exp, reader: reader, handler: h}, nil
}

// Reader is the reader to pass to the app's MeterProvider
// (sdkmetric.WithReader). It collects once per window.
func (s *Stats) Reader() sdkmetric.Reader { return s.reader }

// Handler answers /heartbeat, /livez and /stats relative to where it is
// mounted; mount it with http.StripPrefix("/ops", h).
func (s *Stats) Handler() *heartbeat.Handler { return s.handler }

// Exporter is the /stats exporter, for its Document.
func (s *Stats) Exporter() *exporter.Exporter { return s.exporter }

// Start records the Go runtime and host metrics and the Go vitals on mp,
// and the exporter's and the heartbeat's own metrics, then collects once, so
// /stats is served from the first moment rather than after a window. mp must
// be the provider that Reader was given to. Start again returns an error.
func (s *Stats) Start(ctx context.Context, mp metric.MeterProvider) error {
	if mp == nil {
		// contrib runtime and host would fall back to the global provider.
		return errors.New("otelbridge: Stats.Start: nil MeterProvider")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		// What Start registers now, nothing would unregister.
		return errors.New("otelbridge: Stats.Start called after Shutdown")
	}
	if s.started {
		return errors.New("otelbridge: Stats.Start called twice")
	}
	s.started = true
	if err := runtime.Start(runtime.WithMeterProvider(mp), runtime.WithMinimumReadMemStatsInterval(readEveryCollection)); err != nil {
		return fmt.Errorf("otelbridge: runtime instrumentation: %w", err)
	}
	if s.cfg.hostMetrics {
		if err := host.Start(host.WithMeterProvider(mp)); err != nil {
			return fmt.Errorf("otelbridge: host instrumentation: %w", err)
		}
	}
	for _, register := range []struct {
		what string
		fn   func() (metric.Registration, error)
	}{
		{"Go vitals", func() (metric.Registration, error) { return govitals.Start(govitals.WithMeterProvider(mp)) }},
		{"exporter metrics", func() (metric.Registration, error) { return s.exporter.RegisterMetrics(mp) }},
		{"heartbeat metrics", func() (metric.Registration, error) { return s.handler.RegisterMetrics(mp) }},
	} {
		reg, err := register.fn()
		if err != nil {
			return fmt.Errorf("otelbridge: %s: %w", register.what, err)
		}
		s.regs = append(s.regs, reg)
	}
	// The first document, now: /stats is never empty after start.
	if err := s.reader.ForceFlush(ctx); err != nil {
		return fmt.Errorf("otelbridge: first collection: %w", err)
	}
	return nil
}

// readEveryCollection makes the contrib runtime instrumentation read
// runtime/metrics at every collection; see newRuntimeProducer.
const readEveryCollection = time.Nanosecond

// newRuntimeProducer returns the contrib producer of go.schedule.duration
// reading runtime/metrics at every collection. Its default caches the read
// for 15 s, so a window shorter than that would see the same cumulative
// histogram twice and serve an empty window. The read is runtime/metrics,
// which does not stop the world: the collection's cadence is the right one.
// (contrib turns 0 into its default, so the smallest positive interval it is.)
func newRuntimeProducer() sdkmetric.Producer {
	if o, ok := runtime.WithMinimumReadMemStatsInterval(readEveryCollection).(runtime.ProducerOption); ok {
		return runtime.NewProducer(o)
	}
	return runtime.NewProducer()
}

// Shutdown drains readiness (/heartbeat answers 503 from now on, /stats and
// /livez keep serving), stops the heartbeat's background checks and
// unregisters the callbacks Start registered (contrib runtime and host offer
// no way to unregister theirs). The reader stops with the app's provider:
// call Shutdown after the provider's Shutdown, so that its last collection
// still reads the Go vitals and komachi's own metrics, and Handler().Drain()
// earlier, when shutdown begins. Calling it again does nothing.
func (s *Stats) Shutdown(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil
	}
	s.stopped = true
	s.handler.Drain()
	var errs []error
	for _, reg := range s.regs {
		errs = append(errs, reg.Unregister())
	}
	s.regs = nil
	errs = append(errs, s.handler.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("otelbridge: %w", err)
	}
	return nil
}
