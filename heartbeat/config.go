package heartbeat

import (
	"errors"
	"fmt"
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

	// minBackgroundInterval is the floor of WithBackgroundInterval: below
	// it the loop would keep a core busy running vitals that no probe
	// reads that often.
	minBackgroundInterval = time.Second
)

// config is filled by the options and read once by New.
type config struct {
	vitals   []Vital
	names    map[string]struct{}
	timeout  time.Duration
	ttl      time.Duration
	interval time.Duration
	details  bool
	meter    metric.MeterProvider
	errs     []error
}

// Option configures New. A nil Option is skipped.
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
// which share it). Shutdown stops the goroutine. d must be at least 1 s;
// 0, the default, checks on demand instead, cached for the TTL.
func WithBackgroundInterval(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d != 0 && d < minBackgroundInterval {
			c.fail("WithBackgroundInterval", "must be 0 (on demand) or at least %v, got %v", minBackgroundInterval, d)
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

// WithMeterProvider records each vital's last status and check duration
// through mp (see the package documentation for the instruments), so they
// reach /stats by the same data path as every other metric. Without it
// nothing is recorded; the global MeterProvider is never used implicitly.
// Shutdown unregisters them.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) {
		if mp == nil {
			c.fail("WithMeterProvider", "MeterProvider must not be nil")
			return
		}
		c.meter = mp
	})
}
