package harness

import (
	"context"
	"errors"
	"expvar"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/instrumentation/runtime"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/komachi-go/komachi/exporter"
	"github.com/komachi-go/komachi/otelbridge"
	"github.com/komachi-go/komachi/otelbridge/govitals"
)

// The contenders, by the name the commands take.
const (
	Stats   = "stats"   // komachi's /stats
	Prom    = "prom"    // the OTel Prometheus exporter behind promhttp
	Expvar  = "expvar"  // expvar's /debug/vars
	Ceiling = "ceiling" // a fixed byte slice the size of komachi's document
)

// Contenders lists every contender, in the order of the tables.
var Contenders = []string{Stats, Prom, Expvar, Ceiling}

// Paths is where each contender is mounted: where its users mount it.
// The ceiling sits where /stats does, behind the same StripPrefix, so the two
// differ only by their handler.
var Paths = map[string]string{Stats: "/ops/stats", Prom: "/metrics", Expvar: "/debug/vars", Ceiling: "/ops/stats"}

// ExpvarName is the expvar variable the synthetic series are published as.
const ExpvarName = "app"

// Rounds is how many measurements every synthetic series gets before the
// first document, so that histograms fill several buckets.
const Rounds = 20

// Config is one process set-up.
type Config struct {
	// Series is the number of synthetic series, on top of the runtime and
	// host instruments.
	Series int
	// Window is the /stats window; zero means otelbridge's default.
	Window time.Duration
}

// Env is one process set-up, the same for every contender: one MeterProvider
// with the runtime, host and Go vitals instruments and the synthetic series,
// read by both komachi's reader and the Prometheus exporter's reader; the
// same synthetic numbers published through expvar; and the ceiling.
type Env struct {
	Provider  *sdkmetric.MeterProvider
	Stats     *otelbridge.Stats
	Synthetic *Synthetic
	Registry  *prometheus.Registry

	handlers map[string]http.Handler
}

// NewEnv builds the set-up, records Rounds measurements in every synthetic
// series, starts komachi (its first collection, the document /stats then
// serves) and records Rounds more. Shutdown releases it.
func NewEnv(ctx context.Context, cfg Config) (*Env, error) {
	opts := []otelbridge.Option{
		// Every series must be served, whole, as the Prometheus exporter
		// serves them: neither the bound nor the selection is what is
		// measured here (BenchmarkCollectRender measures the selection), and
		// AllRules, tried first, also makes KOMACHI_STATS_SELECT moot. The
		// budget's warning would fire at every start.
		otelbridge.WithExporterOptions(
			exporter.WithMaxSeries(1<<24),
			exporter.WithRules(exporter.AllRules()...),
			exporter.WithBudget(0),
		),
	}
	if cfg.Window > 0 {
		opts = append(opts, otelbridge.WithWindow(cfg.Window))
	}
	stats, err := otelbridge.NewStats(opts...)
	if err != nil {
		return nil, err
	}
	// The Prometheus exporter gets the two producers komachi's reader has,
	// so that it sees the same metrics (go.schedule.duration and the GC
	// pause histogram); it is registered on its own registry, without the
	// client_golang Go and process collectors, so it serves what /stats does.
	reg := prometheus.NewRegistry()
	prom, err := otelprom.New(
		otelprom.WithRegisterer(reg),
		otelprom.WithProducer(runtime.NewProducer()),
		otelprom.WithProducer(govitals.NewProducer()),
	)
	if err != nil {
		return nil, fmt.Errorf("harness: prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(stats.Reader()), sdkmetric.WithReader(prom))
	e := &Env{Provider: mp, Stats: stats, Registry: reg}
	fail := func(err error) (*Env, error) {
		return nil, errors.Join(err, e.Shutdown(context.Background()))
	}
	if e.Synthetic, err = NewSynthetic(mp, cfg.Series); err != nil {
		return fail(err)
	}
	publishExpvar(e.Synthetic.Expvar())
	for r := range Rounds {
		e.Synthetic.Record(ctx, r)
	}
	// Start's collection is the document served for the whole run: the
	// exporter's baseline, every leaf of a later window but the counters
	// at 0 (histograms, windowed as deltas, hold the rounds so far). The
	// bridge's reader collects only on its own clock, not on the provider's
	// ForceFlush, and the servers run a 1 h window, so no later window
	// comes; the bytes differ from a later window's by its digits.
	if err := stats.Start(ctx, mp); err != nil {
		return fail(err)
	}
	// The Prometheus side, read at every scrape, sees every round.
	for r := range Rounds {
		e.Synthetic.Record(ctx, Rounds+r)
	}
	body, gz := stats.Exporter().Document()
	e.handlers = map[string]http.Handler{
		Stats:   http.StripPrefix("/ops", stats.Handler()),
		Prom:    promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		Expvar:  expvar.Handler(),
		Ceiling: http.StripPrefix("/ops", NewCeiling(body, gz)),
	}
	return e, nil
}

// publishExpvar publishes m as ExpvarName. expvar's registry is global and
// refuses a name twice, so a second set-up in one process (tests) replaces
// the contents of the variable the first one published.
func publishExpvar(m *expvar.Map) {
	if old, ok := expvar.Get(ExpvarName).(*expvar.Map); ok {
		old.Init()
		m.Do(func(kv expvar.KeyValue) { old.Set(kv.Key, kv.Value) })
		return
	}
	expvar.Publish(ExpvarName, m)
}

// Handler returns the contender's handler, to be mounted at Paths[name] on
// the root of a mux.
func (e *Env) Handler(name string) (http.Handler, error) {
	h, ok := e.handlers[name]
	if !ok {
		return nil, fmt.Errorf("harness: contender %q: want one of %s", name, strings.Join(Contenders, ", "))
	}
	return h, nil
}

// Mux serves the one contender at its path, as the serve command does.
func (e *Env) Mux(name string) (*http.ServeMux, error) {
	h, err := e.Handler(name)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle(Paths[name], h)
	return mux, nil
}

// Shutdown stops komachi and the provider (and so both readers).
func (e *Env) Shutdown(ctx context.Context) error {
	return errors.Join(e.Stats.Shutdown(ctx), e.Provider.Shutdown(ctx))
}
