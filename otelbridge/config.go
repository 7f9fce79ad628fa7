package otelbridge

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/komachi-go/komachi/exporter"
	"github.com/komachi-go/komachi/heartbeat"
	"github.com/komachi-go/komachi/otelbridge/internal/graphdefs"
	"github.com/komachi-go/komachi/otelbridge/internal/window"
)

// DefaultWindow is the window of /stats unless WithWindow or
// KOMACHI_STATS_WINDOW say otherwise: Mackerel's one-minute resolution, and
// the seed library's fixed 60-second counters.
const DefaultWindow = 60 * time.Second

// EnvStatsWindow names the environment variable that sets the window, as a Go
// duration such as "10s", at least MinWindow. WithWindow wins over it.
const EnvStatsWindow = "KOMACHI_STATS_WINDOW"

// MinWindow is the shortest window: below it a collection would follow
// another so closely that it kept a core busy.
const MinWindow = window.MinWindow

// EnvStatsSelect names the environment variable that chooses what /stats
// serves: rules in the syntax of exporter.ParseRules, tried after the rules
// of WithExporterOptions(exporter.WithRules(…)) and before
// exporter.DefaultRules. See docs/stats-json.md for the defaults and
// recipes.
const EnvStatsSelect = "KOMACHI_STATS_SELECT"

// config holds the settings of a Bridge or Stats, filled in once by newConfig.
type config struct {
	window         time.Duration
	windowOption   bool
	exporterOpts   []exporter.Option
	heartbeatOpts  []heartbeat.Option // the vitals and their settings
	resource       *resource.Resource
	providerOpts   []sdkmetric.Option
	logger         *slog.Logger
	hostMetrics    bool
	runtimeMetrics bool
	errs           []error

	prefix      string // mackerel-plugin-json's -prefix, for graph definitions
	noGraphDefs bool
	graphDefs   graphdefs.Config // when posting: the key, API base and prefix
	postGraphs  bool
}

// Option configures Start and NewStats. A nil Option is skipped.
type Option interface {
	apply(config) config
}

type optionFunc func(config) config

func (f optionFunc) apply(c config) config { return f(c) }

// WithWindow sets the /stats window: monotonic sums and histograms show their
// increase over it, and it is the interval of the reader that feeds /stats.
// It wins over KOMACHI_STATS_WINDOW; the default is DefaultWindow.
func WithWindow(d time.Duration) Option {
	return optionFunc(func(c config) config { c.window, c.windowOption = d, true; return c })
}

// WithExporterOptions passes options to the /stats exporter (its mode, the
// bound on series, the gzip level).
func WithExporterOptions(opts ...exporter.Option) Option {
	return optionFunc(func(c config) config { c.exporterOpts = append(c.exporterOpts, opts...); return c })
}

// WithVitals adds vitals to /heartbeat, the readiness check. As with
// heartbeat.WithVitals, a nil vital, an empty name or a name given twice
// panics at set-up.
func WithVitals(v ...heartbeat.Vital) Option {
	o := heartbeat.WithVitals(v...)
	return optionFunc(func(c config) config { c.heartbeatOpts = append(c.heartbeatOpts, o); return c })
}

// WithVitalTimeout sets the timeout of each vital that does not carry its
// own (heartbeat.VitalWithTimeout); it must be > 0. The default is
// heartbeat.DefaultTimeout.
func WithVitalTimeout(d time.Duration) Option {
	return optionFunc(func(c config) config {
		if d <= 0 {
			return c.fail(fmt.Errorf("otelbridge: WithVitalTimeout: must be > 0, got %v", d))
		}
		c.heartbeatOpts = append(c.heartbeatOpts, heartbeat.WithTimeout(d))
		return c
	})
}

// WithVitalCacheTTL sets how long one run of the vitals answers /heartbeat;
// 0 disables the cache (concurrent probes still share a run). The default is
// heartbeat.DefaultCacheTTL.
func WithVitalCacheTTL(d time.Duration) Option {
	return optionFunc(func(c config) config {
		if d < 0 {
			return c.fail(fmt.Errorf("otelbridge: WithVitalCacheTTL: must be >= 0, got %v", d))
		}
		c.heartbeatOpts = append(c.heartbeatOpts, heartbeat.WithCacheTTL(d))
		return c
	})
}

// WithVitalInterval checks the vitals in the background every d (at least
// 1 s), so that probes never wait for a check; see
// heartbeat.WithBackgroundInterval. 0, the default, checks on demand.
func WithVitalInterval(d time.Duration) Option {
	return optionFunc(func(c config) config {
		if d != 0 && d < time.Second {
			return c.fail(fmt.Errorf("otelbridge: WithVitalInterval: must be 0 (on demand) or at least 1s, got %v", d))
		}
		c.heartbeatOpts = append(c.heartbeatOpts, heartbeat.WithBackgroundInterval(d))
		return c
	})
}

// WithVitalDetails puts each failing vital's error text in the verbose
// /heartbeat answer; see heartbeat.WithDetails. Off by default.
func WithVitalDetails(on bool) Option {
	return optionFunc(func(c config) config {
		c.heartbeatOpts = append(c.heartbeatOpts, heartbeat.WithDetails(on))
		return c
	})
}

// WithResource merges r over the resource Start detects (service name and
// attributes from OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, host,
// process, container): r's attributes win where keys meet, the detected
// ones stay otherwise. Given more than once, the last r is merged. Ignored
// by NewStats: there the app's provider owns the resource.
//
// sdkmetric.WithResource passed through WithMeterProviderOptions is not the
// way: it replaces the detected resource instead of merging over it.
func WithResource(r *resource.Resource) Option {
	return optionFunc(func(c config) config { c.resource = r; return c })
}

// WithMeterProviderOptions adds options to the MeterProvider that Start
// builds: views, more readers, a cardinality limit. For the resource, use
// WithResource. To make the provider the global one, call
// otel.SetMeterProvider(b.MeterProvider()) after Start.
func WithMeterProviderOptions(opts ...sdkmetric.Option) Option {
	return optionFunc(func(c config) config { c.providerOpts = append(c.providerOpts, opts...); return c })
}

// WithLogger sets where the bridge and OTLP forwarding report problems; the
// default is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c config) config { c.logger = l; return c })
}

// WithoutHostMetrics leaves out the contrib host instrumentation (system CPU,
// memory and network of the whole host), for apps that get those elsewhere.
func WithoutHostMetrics() Option {
	return optionFunc(func(c config) config { c.hostMetrics = false; return c })
}

// WithoutRuntimeMetrics leaves out the contrib runtime instrumentation's
// instruments (runtime.Start), for an app that starts it on the same
// MeterProvider itself: started twice, every runtime metric would be
// recorded twice. go.schedule.duration, which contrib runtime makes through
// a producer of each reader rather than through the provider, stays on
// komachi's readers.
func WithoutRuntimeMetrics() Option {
	return optionFunc(func(c config) config { c.runtimeMetrics = false; return c })
}

// WithMackerelPrefix sets the prefix mackerel-plugin-json runs with
// (-prefix): the graph definitions at /stats/graphs and those posted to
// Mackerel name the metrics custom.<prefix>.…, so it must be the same. It
// wins over KOMACHI_MACKEREL_PREFIX; the default is "app". Use the
// service's name, neither "custom" (the agent adds custom. itself) nor the
// first segment of the app's own instruments (app for app.orders), which
// would double it.
func WithMackerelPrefix(p string) Option {
	return optionFunc(func(c config) config {
		if !exporter.ValidPrefix(p) || p == "custom" || strings.HasPrefix(p, "custom.") {
			return c.fail(errors.New("otelbridge: WithMackerelPrefix: want metric-name segments [-a-zA-Z0-9_]+ joined by dots, not starting with custom"))
		}
		c.prefix = p
		return c
	})
}

// WithoutGraphDefs turns off posting the graph definitions to Mackerel, which
// Start does when MACKEREL_APIKEY is set (as does
// KOMACHI_MACKEREL_GRAPH_DEFS=off). /stats/graphs still serves them.
func WithoutGraphDefs() Option {
	return optionFunc(func(c config) config { c.noGraphDefs = true; return c })
}

// fail records a bad option value; newConfig reports them all at once.
func (c config) fail(err error) config {
	c.errs = append(c.errs, err)
	return c
}

func newConfig(opts []Option) (config, error) {
	c := config{window: DefaultWindow, hostMetrics: true, runtimeMetrics: true}
	for _, o := range opts {
		if o == nil {
			continue
		}
		c = o.apply(c)
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	if c.windowOption {
		if c.window < MinWindow {
			c = c.fail(fmt.Errorf("otelbridge: WithWindow: must be at least %v, got %v", MinWindow, c.window))
		}
	} else if v, ok := os.LookupEnv(EnvStatsWindow); ok && v != "" {
		d, err := time.ParseDuration(v)
		switch {
		case err != nil:
			c = c.fail(fmt.Errorf("otelbridge: %s: not a Go duration such as 60s", EnvStatsWindow))
		case d < MinWindow:
			c = c.fail(fmt.Errorf("otelbridge: %s: must be at least %v", EnvStatsWindow, MinWindow))
		default:
			c.window = d
		}
	}
	// The exporter logs through the bridge's logger unless told otherwise,
	// and the environment's rules follow the options' (first match wins).
	c.exporterOpts = append([]exporter.Option{exporter.WithLogger(c.logger)}, c.exporterOpts...)
	if v, ok := os.LookupEnv(EnvStatsSelect); ok && strings.TrimSpace(v) != "" {
		rules, err := exporter.ParseRules(v)
		if err != nil {
			c = c.fail(fmt.Errorf("otelbridge: %s: %w", EnvStatsSelect, err))
		}
		c.exporterOpts = append(c.exporterOpts, exporter.WithRules(rules...))
	}
	// An option wins over its variable, so a variable it overrides is not
	// read at all (nor refused).
	lookup := func(name string) (string, bool) {
		if name == graphdefs.EnvPrefix && c.prefix != "" || name == graphdefs.EnvGraphDefs && c.noGraphDefs {
			return "", false
		}
		return os.LookupEnv(name)
	}
	gcfg, post, err := graphdefs.FromEnv(lookup)
	if err != nil {
		c = c.fail(fmt.Errorf("otelbridge: %w", err))
	}
	if c.prefix != "" {
		gcfg.Prefix = c.prefix
	}
	c.prefix = gcfg.Prefix
	c.graphDefs, c.postGraphs = gcfg, post && !c.noGraphDefs
	return c, errors.Join(c.errs...)
}
