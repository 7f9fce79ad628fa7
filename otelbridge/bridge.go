package otelbridge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/komachi-go/komachi/otelbridge/govitals"
	"github.com/komachi-go/komachi/otelbridge/internal/forward"
)

// Bridge is komachi running in a service: a MeterProvider with the Go
// runtime, host and vital metrics, /stats and /heartbeat fed by it, and, when
// the environment asks for it, the same metrics forwarded over OTLP.
type Bridge struct {
	stats    *Stats
	provider *sdkmetric.MeterProvider
	forward  *forward.Forwarder // nil when OTLP forwarding is off

	shutdownOnce sync.Once
	shutdownErr  error
}

// Start builds and starts everything in one call:
//
//   - a MeterProvider whose resource comes from OTEL_SERVICE_NAME and
//     OTEL_RESOURCE_ATTRIBUTES plus host, process and container detection;
//   - the /stats exporter on a reader whose window is WithWindow,
//     KOMACHI_STATS_WINDOW or 60 s;
//   - the contrib runtime (with go.schedule.duration) and host
//     instrumentations, and the Go vitals they lack (package govitals);
//   - one handler serving /heartbeat and /livez (package heartbeat) and
//     /stats (the exporter's);
//   - OTLP forwarding when OTEL_EXPORTER_OTLP_ENDPOINT,
//     OTEL_EXPORTER_OTLP_METRICS_ENDPOINT or MACKEREL_APIKEY is set (see
//     the package documentation).
//
// A bad option or environment variable makes it return an error naming it,
// and nothing is left running. The caller must call Shutdown.
func Start(ctx context.Context, opts ...Option) (*Bridge, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	fcfg, forwarding, err := forward.FromEnv()
	if err != nil {
		return nil, fmt.Errorf("otelbridge: %w", err)
	}
	res, err := detectResource(ctx, cfg)
	if err != nil {
		return nil, err
	}
	stats, err := newStats(cfg)
	if err != nil {
		return nil, err
	}
	b := &Bridge{stats: stats}
	// From here on the reader's goroutine runs: a failure must stop it too.
	fail := func(err error) (*Bridge, error) {
		_ = b.Shutdown(context.WithoutCancel(ctx))
		return nil, err
	}
	popts := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithReader(stats.Reader())}
	if forwarding {
		// The forwarding reader gets its own producers: a producer's
		// output belongs to one reader's collection.
		b.forward, err = forward.New(ctx, fcfg, forward.WithLogger(cfg.logger),
			forward.WithProducers(newRuntimeProducer(), govitals.NewProducer()))
		if err != nil {
			return fail(fmt.Errorf("otelbridge: %w", err))
		}
		popts = append(popts, sdkmetric.WithReader(b.forward.Reader()))
	}
	b.provider = sdkmetric.NewMeterProvider(append(popts, cfg.providerOpts...)...)
	if err := stats.Start(ctx, b.provider); err != nil {
		return fail(err)
	}
	if b.forward != nil {
		reg, err := b.forward.RegisterMetrics(b.provider)
		if err != nil {
			return fail(fmt.Errorf("otelbridge: OTLP metrics: %w", err))
		}
		stats.regs = append(stats.regs, reg)
		cfg.logger.Info("komachi: forwarding metrics over OTLP", "config", fcfg)
	}
	return b, nil
}

// MeterProvider is the provider for the app's own instruments: what they
// record reaches /stats and OTLP like the runtime metrics do.
func (b *Bridge) MeterProvider() *sdkmetric.MeterProvider { return b.provider }

// Handler answers /heartbeat, /livez and /stats relative to where it is
// mounted: mux.Handle("/ops/", http.StripPrefix("/ops", b.Handler())).
// See Stats.Handler.
func (b *Bridge) Handler() http.Handler { return b.stats.Handler() }

// Drain makes readiness (/heartbeat) answer 503 from now on, while /livez
// and /stats keep serving: call it when shutdown begins, wait at least one
// probe period, stop the server, then call Shutdown. See Stats.Drain.
func (b *Bridge) Drain() { b.stats.Drain() }

// Forwarding reports whether metrics are also sent over OTLP.
func (b *Bridge) Forwarding() bool { return b.forward != nil }

// Shutdown drains readiness at once, then stops everything: a last
// collection is exported to /stats and flushed over OTLP, within ctx.
// /stats keeps serving its last document. Calling it again returns the first
// call's result.
func (b *Bridge) Shutdown(ctx context.Context) error {
	b.shutdownOnce.Do(func() {
		b.stats.Drain()
		var errs []error
		// The provider's last collection first, while every callback is
		// still registered: unregistering before it would leave the Go
		// vitals and komachi's own metrics out of the last document and
		// the last OTLP export. (The forwarding reader, when there is one,
		// belongs to the provider and is flushed by it.)
		if b.provider != nil {
			errs = append(errs, b.provider.Shutdown(ctx))
		} else {
			// Start failed before the provider took the reader: its
			// goroutine runs from NewPeriodicReader on all the same.
			errs = append(errs, b.stats.reader.Shutdown(ctx))
		}
		errs = append(errs, b.stats.Shutdown(ctx))
		if err := errors.Join(errs...); err != nil {
			b.shutdownErr = fmt.Errorf("otelbridge: shutdown: %w", err)
		}
	})
	return b.shutdownErr
}
