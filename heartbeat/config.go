package heartbeat

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/metric"
)

// Defaults used when the matching option is not given.
const (
	// DefaultTimeout bounds each vital's Check. It leaves room inside the
	// 1 s default timeout of a Kubernetes probe and of
	// mackerel-container-agent's readinessProbe.
	DefaultTimeout = 500 * time.Millisecond

	// DefaultCacheTTL is how long one run of the vitals answers every
	// request, so a probe storm costs one run per TTL.
	DefaultCacheTTL = time.Second
)

// config is filled by the options and read once by New.
type config struct {
	vitals      []Vital
	names       map[string]struct{}
	source      Source
	timeout     time.Duration
	ttl         time.Duration
	interval    time.Duration
	details     bool
	statsGuard  func(*http.Request) bool
	bearerToken string
	hasToken    bool
	meter       metric.MeterProvider
	errs        []error
}

// Option configures New.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

func (c *config) fail(option, format string, args ...any) {
	c.errs = append(c.errs, &optionError{option: option, msg: fmt.Sprintf(format, args...)})
}

// newConfig applies opts over the defaults and reports every bad value at
// once, so a user fixes them in one go.
func newConfig(opts []Option) (config, error) {
	c := config{
		names:   map[string]struct{}{},
		timeout: DefaultTimeout,
		ttl:     DefaultCacheTTL,
	}
	for _, o := range opts {
		if o == nil {
			c.fail("New", "nil Option")
			continue
		}
		o.apply(&c)
	}
	for _, v := range c.vitals {
		if t, ok := v.(timeouter); ok && t.Timeout() <= 0 {
			c.fail("WithVitals", "vital %q: timeout must be > 0, got %v", v.Name(), t.Timeout())
		}
	}
	return c, errors.Join(c.errs...)
}

// WithVitals adds vitals that /heartbeat (readiness) runs. /livez never runs
// them.
//
// A nil vital, an empty name or a name already added is a programming error
// and panics at set-up, so it cannot reach production as a silently
// shadowed check.
func WithVitals(v ...Vital) Option {
	for i, x := range v {
		if x == nil {
			panic(fmt.Sprintf("heartbeat: WithVitals: vital %d is nil", i))
		}
		if x.Name() == "" {
			panic(fmt.Sprintf("heartbeat: WithVitals: vital %d has an empty name", i))
		}
		for _, y := range v[:i] {
			if y.Name() == x.Name() {
				panic(fmt.Sprintf("heartbeat: WithVitals: duplicate vital name %q", x.Name()))
			}
		}
	}
	v = append([]Vital(nil), v...)
	return optionFunc(func(c *config) {
		for _, x := range v {
			if _, dup := c.names[x.Name()]; dup {
				panic(fmt.Sprintf("heartbeat: WithVitals: duplicate vital name %q", x.Name()))
			}
			c.names[x.Name()] = struct{}{}
			c.vitals = append(c.vitals, x)
		}
	})
}

// WithStats serves src's document at /stats. Without it /stats answers 404.
func WithStats(src Source) Option {
	return optionFunc(func(c *config) {
		if src == nil {
			c.fail("WithStats", "source must not be nil")
			return
		}
		c.source = src
	})
}

// WithTimeout sets the timeout of each vital that does not carry its own
// (see VitalWithTimeout). Default DefaultTimeout.
func WithTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d <= 0 {
			c.fail("WithTimeout", "must be > 0, got %v", d)
			return
		}
		c.timeout = d
	})
}

// WithCacheTTL sets how long the result of one run of the vitals answers
// /heartbeat. 0 disables the cache but still lets concurrent requests share
// one run. Default DefaultCacheTTL.
func WithCacheTTL(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d < 0 {
			c.fail("WithCacheTTL", "must be >= 0, got %v", d)
			return
		}
		c.ttl = d
	})
}

// WithBackgroundInterval runs the vitals in a goroutine of the Handler,
// starting at once and then d after the end of each run, so requests never
// wait for a check (except the ones arriving before the first run ends,
// which share it). Close stops the goroutine. 0, the default, checks on
// demand instead, cached for the TTL.
func WithBackgroundInterval(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d < 0 {
			c.fail("WithBackgroundInterval", "must be >= 0, got %v", d)
			return
		}
		c.interval = d
	})
}

// WithDetails puts each failing vital's error text in the verbose JSON
// ("output"). Off by default: error text can reveal hosts, users or
// queries to whoever can reach the probe port.
func WithDetails(on bool) Option {
	return optionFunc(func(c *config) { c.details = on })
}

// WithStatsGuard lets /stats answer only the requests for which allow
// returns true; the others get 403. /heartbeat and /livez stay open to
// probes. Combined with WithStatsBearerToken, both must pass.
func WithStatsGuard(allow func(*http.Request) bool) Option {
	return optionFunc(func(c *config) {
		if allow == nil {
			c.fail("WithStatsGuard", "func must not be nil")
			return
		}
		c.statsGuard = allow
	})
}

// WithStatsBearerToken makes /stats require "Authorization: Bearer <token>"
// (compared in constant time); other requests get 401.
// mackerel-plugin-json sends it with -header "Authorization: Bearer <token>".
func WithStatsBearerToken(token string) Option {
	return optionFunc(func(c *config) {
		if token == "" {
			c.fail("WithStatsBearerToken", "token must not be empty")
			return
		}
		c.bearerToken = token
		c.hasToken = true
	})
}

// WithMeterProvider records each vital's last status and check duration
// through mp (see the package documentation for the instruments), so they
// reach /stats by the same data path as every other metric. Without it
// nothing is recorded; the global MeterProvider is never used implicitly.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) {
		if mp == nil {
			c.fail("WithMeterProvider", "MeterProvider must not be nil")
			return
		}
		c.meter = mp
	})
}
