package otelbridge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/host"
	"go.opentelemetry.io/contrib/instrumentation/runtime"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/komachi-go/komachi/exporter"
	"github.com/komachi-go/komachi/heartbeat"
	"github.com/komachi-go/komachi/otelbridge/govitals"
	"github.com/komachi-go/komachi/otelbridge/internal/graphdefs"
	"github.com/komachi-go/komachi/otelbridge/internal/page"
	"github.com/komachi-go/komachi/otelbridge/internal/window"
)

// Stats is /stats and /heartbeat for a MeterProvider: the exporter on its
// reader, the heartbeat handler, the Go vitals, and one http.Handler serving
// them. Start builds one with its own provider; an app that already owns a
// MeterProvider builds one with NewStats, passes Reader to its provider, and
// calls Stats.Start.
type Stats struct {
	cfg      config
	exporter *exporter.Exporter
	reader   *window.Reader
	poster   *graphdefs.Poster // nil unless graph definitions are posted
	hbOpts   []heartbeat.Option
	ops      http.Handler

	// heartbeat serves /heartbeat and /livez: until Start, a handler whose
	// readiness fails (see notStarted); from Start on, the one with the
	// app's vitals, recording their metrics through the app's provider.
	heartbeat atomic.Pointer[heartbeat.Handler]

	mu      sync.Mutex
	started bool
	drained bool
	regs    []metric.Registration
	stopped bool
}

// NewStats builds the /stats exporter and the reader that feeds it every
// window, for an app that owns its MeterProvider:
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
	pending, err := heartbeat.New(heartbeat.WithVitals(notStarted))
	if err != nil {
		return nil, fmt.Errorf("otelbridge: %w", err)
	}
	reader, err := window.New(exp, cfg.window,
		window.WithProducer(newRuntimeProducer()),
		window.WithProducer(govitals.NewProducer()),
		window.WithLogger(cfg.logger),
	)
	if err != nil {
		return nil, fmt.Errorf("otelbridge: WithWindow or %s: %w", EnvStatsWindow, err)
	}
	s := &Stats{cfg: cfg, exporter: exp, reader: reader, hbOpts: cfg.heartbeatOpts}
	if cfg.postGraphs {
		s.poster, err = graphdefs.New(cfg.graphDefs, s.graphsToPost,
			graphdefs.WithInterval(cfg.window), graphdefs.WithLogger(cfg.logger))
		if err != nil {
			return nil, fmt.Errorf("otelbridge: graph definitions: %w", err)
		}
	}
	s.heartbeat.Store(pending)
	pg, err := page.New(page.Config{Window: cfg.window, Budget: exp.Budget(), Prefix: cfg.prefix})
	if err != nil {
		return nil, fmt.Errorf("otelbridge: the page: %w", err)
	}
	s.ops = &opsHandler{stats: s, document: exp.Handler(), graphs: exp.GraphsHandler(cfg.prefix),
		history: exp.HistoryHandler(), page: pg}
	return s, nil
}

// graphsToPost is the exporter's graph definitions as the poster takes them,
// named under the plugin's prefix.
func (s *Stats) graphsToPost() ([]graphdefs.Graph, uint64) {
	graphs, version := s.exporter.Graphs()
	out := make([]graphdefs.Graph, len(graphs))
	for i, g := range graphs {
		metrics := make([]graphdefs.Metric, len(g.Metrics))
		for j, m := range g.Metrics {
			metrics[j] = graphdefs.Metric{Name: m.Name, Label: m.Label, Stacked: m.Stacked}
		}
		out[i] = graphdefs.Graph{Name: s.cfg.prefix + "." + g.Name, Label: g.Label, Unit: g.Unit, Metrics: metrics}
	}
	return out, version
}

// notStarted keeps readiness failing until Stats.Start has made the first
// document and the app's vitals are in place.
var notStarted = heartbeat.VitalFunc("komachi", func(context.Context) error {
	return errors.New("otelbridge: not started")
})

// opsHandler routes below the mount point: the page and its assets to the
// page's handler, /heartbeat and /livez to the heartbeat handler, /stats and
// what lies under it to the exporter's. Each endpoint is one case.
type opsHandler struct {
	stats    *Stats
	document http.Handler
	graphs   http.Handler
	history  http.Handler
	page     http.Handler
}

func (h *opsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Route on the path as sent: /stats%2Fhistory is one segment to the
	// app's mux, which a guard on /ops/stats/ does not match, so it must not
	// become /stats/history here (r.URL.Path holds it unescaped).
	path := r.URL.Path
	if r.URL.RawPath != "" {
		path = r.URL.EscapedPath()
	}
	switch path {
	case "/", "/page.js", "/page.css", "/favicon.svg":
		h.page.ServeHTTP(w, r)
	case "/heartbeat", "/livez":
		h.stats.heartbeat.Load().ServeHTTP(w, r)
	case "/stats":
		h.document.ServeHTTP(w, r)
	case "/stats/graphs":
		h.graphs.ServeHTTP(w, r)
	case "/stats/history":
		h.history.ServeHTTP(w, r)
	default:
		w.Header()["Cache-Control"] = noStore
		http.Error(w, "404 page not found: komachi serves / (the page), /heartbeat, /livez, /stats, /stats/graphs and /stats/history below its mount point", http.StatusNotFound)
	}
}

var noStore = []string{"no-store"}

// Reader is the reader to pass to the app's MeterProvider
// (sdkmetric.WithReader). It collects once per window on komachi's own clock,
// aligned to the wall clock when the window divides a day (every Pod's
// 60 s window covers the same minute), and it takes no part in the
// provider's ForceFlush: an app that flushes does not cut a /stats window
// short. The provider's Shutdown stops it, after a last collection.
func (s *Stats) Reader() sdkmetric.Reader { return s.reader.Reader() }

// Handler answers /heartbeat and /livez (package heartbeat), /stats (the
// exporter's handler), /stats/graphs (its graph definitions, named under
// WithMackerelPrefix or KOMACHI_MACKEREL_PREFIX, or a ?prefix= of the
// request), /stats/history (the leaves of the last windows) and / (the live
// page that draws them, with /page.js, /page.css and /favicon.svg) relative
// to where it is mounted:
//
//	mux.Handle("/ops/", http.StripPrefix("/ops", stats.Handler()))
//
// Any other path answers 404. Until Start, readiness answers 503 and /stats
// 503 (no document yet); /livez answers 200 from the first moment.
func (s *Stats) Handler() http.Handler { return s.ops }

// Drain makes readiness (/heartbeat) answer 503 from now on, while /livez
// and /stats keep serving. Call it when shutdown begins, then wait at least
// one probe period before stopping the server, so that Kubernetes and
// mackerel-container-agent stop routing to the process while it still
// answers. It cannot be undone; Shutdown drains too.
func (s *Stats) Drain() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drained = true
	s.heartbeat.Load().Drain()
}

// Exporter is the /stats exporter, for its Document.
func (s *Stats) Exporter() *exporter.Exporter { return s.exporter }

// Start records the Go runtime and host metrics and the Go vitals on mp,
// puts the app's vitals in place (their metrics recorded through mp too)
// with the exporter's own metrics, then collects once, so /stats is served
// from the first moment rather than after a window. mp must be the provider
// that Reader was given to. Start again returns an error; after a failed
// Start, Shutdown stops what it had started.
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
	if s.cfg.runtimeMetrics {
		if err := runtime.Start(runtime.WithMeterProvider(mp), runtime.WithMinimumReadMemStatsInterval(readEveryCollection)); err != nil {
			return fmt.Errorf("otelbridge: runtime instrumentation: %w", err)
		}
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
	} {
		reg, err := register.fn()
		if err != nil {
			return fmt.Errorf("otelbridge: %s: %w", register.what, err)
		}
		s.regs = append(s.regs, reg)
	}
	hb, err := heartbeat.New(append(s.hbOpts, heartbeat.WithMeterProvider(mp))...)
	if err != nil {
		return fmt.Errorf("otelbridge: %w", err)
	}
	if s.drained {
		hb.Drain()
	}
	s.heartbeat.Store(hb)
	// The first document, now: /stats is never empty after start. Then the
	// clock, and the graph definitions of that first document.
	if err := s.reader.Collect(ctx); err != nil {
		return fmt.Errorf("otelbridge: first collection: %w", err)
	}
	if err := s.reader.Start(); err != nil {
		return fmt.Errorf("otelbridge: %w", err)
	}
	if s.poster != nil {
		if err := s.poster.Start(ctx); err != nil {
			return fmt.Errorf("otelbridge: graph definitions: %w", err)
		}
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
// /livez keep serving), unregisters the callbacks Start registered (contrib
// runtime and host offer no way to unregister theirs) and stops the
// heartbeat's metrics and background checks, waiting within ctx for a run
// of the vitals in flight. The reader stops with the app's provider: call
// Shutdown after the provider's Shutdown, so that its last collection still
// reads the Go vitals and komachi's own metrics, and Drain earlier, when
// shutdown begins. Calling it again stops nothing more; it waits, within
// its ctx, for a run the first call's ctx cut short.
func (s *Stats) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	hb := s.heartbeat.Load()
	var errs []error
	if !s.stopped {
		s.stopped, s.drained = true, true
		hb.Drain()
		for _, reg := range s.regs {
			errs = append(errs, reg.Unregister())
		}
		s.regs = nil
	}
	poster := s.poster
	s.poster = nil
	s.mu.Unlock()
	// Outside the lock: Drain must not wait for a slow vital.
	errs = append(errs, hb.Shutdown(ctx))
	if poster != nil {
		if err := poster.Shutdown(ctx); err != nil && !errors.Is(err, graphdefs.ErrShutdown) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("otelbridge: %w", err)
	}
	return nil
}
