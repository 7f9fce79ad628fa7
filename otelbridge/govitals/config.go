package govitals

import (
	"errors"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
)

// ErrNilMeterProvider is returned by [Start] when [WithMeterProvider] was
// given a nil provider: silently falling back to the global provider would
// hide a wiring mistake behind metrics that go nowhere.
var ErrNilMeterProvider = errors.New("govitals: WithMeterProvider: nil MeterProvider")

// config holds the settings of [Start], filled in by newConfig.
type config struct {
	meterProvider metric.MeterProvider
	err           error
}

// Option configures [Start]. A nil Option is ignored.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithMeterProvider sets the MeterProvider the vitals are recorded with.
// Without it, [Start] uses otel.GetMeterProvider() as it is at the time of the
// call. A nil mp makes Start fail with [ErrNilMeterProvider].
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) {
		if mp == nil {
			c.err = ErrNilMeterProvider
			return
		}
		c.meterProvider = mp
	})
}

// newConfig applies opts over the defaults.
func newConfig(opts []Option) config {
	c := config{meterProvider: otel.GetMeterProvider()}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	return c
}
