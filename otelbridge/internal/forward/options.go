package forward

import (
	"log/slog"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// Option adjusts [New].
type Option interface {
	apply(*options)
}

type options struct {
	logger    *slog.Logger
	producers []sdkmetric.Producer
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// WithLogger sets where failed exports are logged; nil means slog.Default(),
// which is also the default.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(o *options) { o.logger = l })
}

// WithProducers adds producers (such as the runtime's go.schedule.duration)
// to the forwarding reader, so OTLP carries what /stats carries.
func WithProducers(p ...sdkmetric.Producer) Option {
	return optionFunc(func(o *options) { o.producers = append(o.producers, p...) })
}

func newOptions(opts []Option) options {
	var o options
	for _, opt := range opts {
		if opt != nil {
			opt.apply(&o)
		}
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	return o
}
