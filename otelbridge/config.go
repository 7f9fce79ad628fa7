package otelbridge

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/komachi-go/komachi/exporter"
	"github.com/komachi-go/komachi/heartbeat"
)

// DefaultWindow is the window of /stats unless WithWindow or
// KOMACHI_STATS_WINDOW say otherwise: Mackerel's one-minute resolution, and
// the seed library's fixed 60-second counters.
const DefaultWindow = 60 * time.Second

// EnvStatsWindow names the environment variable that sets the window, as a Go
// duration such as "10s". WithWindow wins over it.
const EnvStatsWindow = "KOMACHI_STATS_WINDOW"

// config holds the settings of a Bridge or Stats, filled in once by newConfig.
type config struct {
	window        time.Duration
	windowOption  bool
	exporterOpts  []exporter.Option
	heartbeatOpts []heartbeat.Option
	vitals        []heartbeat.Vital
	resource      *resource.Resource
	providerOpts  []sdkmetric.Option
	global        bool
	logger        *slog.Logger
	hostMetrics   bool
	lookupEnv     func(string) (string, bool)
}

// Option configures Start and NewStats.
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

// WithVitals adds vitals to /heartbeat, the readiness check.
func WithVitals(v ...heartbeat.Vital) Option {
	return optionFunc(func(c config) config { c.vitals = append(c.vitals, v...); return c })
}

// WithHeartbeatOptions passes options to the heartbeat handler (timeouts, the
// cache TTL, a guard on /stats, details in verbose answers). Leave out
// heartbeat.WithStats and heartbeat.WithMeterProvider: the bridge sets the
// exporter as the source and records the vital metrics itself, and those
// would replace the one and record the other twice.
func WithHeartbeatOptions(opts ...heartbeat.Option) Option {
	return optionFunc(func(c config) config { c.heartbeatOpts = append(c.heartbeatOpts, opts...); return c })
}

// WithResource merges r over the resource Start detects (service name and
// attributes from OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, host,
// process, container). Ignored by NewStats: there the app's provider owns
// the resource.
func WithResource(r *resource.Resource) Option {
	return optionFunc(func(c config) config { c.resource = r; return c })
}

// WithMeterProviderOptions adds options to the MeterProvider that Start
// builds: views, more readers, a cardinality limit.
func WithMeterProviderOptions(opts ...sdkmetric.Option) Option {
	return optionFunc(func(c config) config { c.providerOpts = append(c.providerOpts, opts...); return c })
}

// WithGlobalMeterProvider makes Start set the MeterProvider it builds as the
// global one (otel.SetMeterProvider), so instrumentation libraries that use
// the global find it. Off by default: no global state unless asked.
func WithGlobalMeterProvider() Option {
	return optionFunc(func(c config) config { c.global = true; return c })
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

// withLookupEnv replaces os.LookupEnv, for tests.
func withLookupEnv(f func(string) (string, bool)) Option {
	return optionFunc(func(c config) config { c.lookupEnv = f; return c })
}

func newConfig(opts []Option) (config, error) {
	c := config{window: DefaultWindow, hostMetrics: true, lookupEnv: os.LookupEnv}
	for _, o := range opts {
		if o == nil {
			return c, errors.New("otelbridge: nil Option")
		}
		c = o.apply(c)
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	if c.windowOption {
		if c.window <= 0 {
			return c, fmt.Errorf("otelbridge: WithWindow: must be > 0, got %v", c.window)
		}
	} else if v, ok := c.lookupEnv(EnvStatsWindow); ok && v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return c, fmt.Errorf("otelbridge: %s: %q is not a Go duration such as 60s", EnvStatsWindow, v)
		}
		if d <= 0 {
			return c, fmt.Errorf("otelbridge: %s: must be > 0, got %q", EnvStatsWindow, v)
		}
		c.window = d
	}
	return c, nil
}
