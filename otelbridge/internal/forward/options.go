package forward

import (
	"fmt"
	"log/slog"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// Option adjusts [New].
type Option interface {
	apply(*options)
}

type options struct {
	logger    *slog.Logger
	interval  time.Duration
	producers []sdkmetric.Producer
	err       error
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// WithLogger sets where failures are logged; nil means slog.Default(),
// which is also the default.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(o *options) { o.logger = l })
}

// WithInterval overrides the export interval of the Config (and so
// OTEL_METRIC_EXPORT_INTERVAL). It must be positive.
func WithInterval(d time.Duration) Option {
	return optionFunc(func(o *options) {
		if d <= 0 {
			o.err = fmt.Errorf("forward: WithInterval(%s): must be positive", d)
			return
		}
		o.interval = d
	})
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
