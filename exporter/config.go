package exporter

import (
	"compress/gzip"
	"fmt"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// DefaultMaxSeries is the number of leaves /stats serves at most unless
// WithMaxSeries says otherwise. Each leaf becomes one Mackerel custom metric;
// a Go service with the runtime and host instrumentations and a few HTTP
// routes serves a few hundred.
const DefaultMaxSeries = 10000

// Mode says how monotonic sums and histograms are shown.
type Mode int

const (
	// Windowed shows monotonic sums and histograms as their increase over the
	// last completed window: the interval between two calls of Export, which
	// a PeriodicReader makes every interval. Every reader of the document
	// during a window sees the same bytes. This is the default, and matches
	// the seed library's 60-second counters.
	Windowed Mode = iota
	// Cumulative shows monotonic sums as running totals, for users who let
	// mackerel-plugin-json compute rates with its -diff flag.
	Cumulative
)

func (m Mode) String() string {
	switch m {
	case Windowed:
		return "windowed"
	case Cumulative:
		return "cumulative"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// config holds the settings of an Exporter, filled in once by newConfig.
type config struct {
	mode        Mode
	maxSeries   int
	gzipLevel   int
	aggregation sdkmetric.AggregationSelector
}

// Option configures an Exporter.
type Option interface {
	apply(config) config
}

type optionFunc func(config) config

func (f optionFunc) apply(c config) config { return f(c) }

// WithMode sets how monotonic sums and histograms are shown; the default is
// Windowed.
func WithMode(m Mode) Option {
	return optionFunc(func(c config) config { c.mode = m; return c })
}

// WithMaxSeries bounds the number of leaves in the document. The leaves past
// the bound, in sorted order, are left out and counted as dropped with reason
// "limit". The default is DefaultMaxSeries.
func WithMaxSeries(n int) Option {
	return optionFunc(func(c config) config { c.maxSeries = n; return c })
}

// WithGzipLevel sets the compress/gzip level of the compressed copy of the
// document, rendered once per export. The default is gzip.DefaultCompression.
func WithGzipLevel(level int) Option {
	return optionFunc(func(c config) config { c.gzipLevel = level; return c })
}

// WithAggregationSelector sets the aggregation the SDK uses per instrument
// kind. The default is DefaultAggregation.
func WithAggregationSelector(s sdkmetric.AggregationSelector) Option {
	return optionFunc(func(c config) config { c.aggregation = s; return c })
}

// DefaultAggregation is the SDK's default aggregation, but for histograms,
// which are base-2 exponential (at most 160 buckets, scale at most 20). Their
// buckets follow the data, so the p50 to p99 that /stats estimates from them
// stay close (within a few percent) whatever the unit and range; the SDK's
// default explicit buckets, or an instrument's advice such as otelhttp's
// 5 ms first bucket, would put all sub-millisecond latencies in one bucket
// and every quantile at its max. A View still wins over this, for the
// instruments it matches.
func DefaultAggregation(k sdkmetric.InstrumentKind) sdkmetric.Aggregation {
	if k == sdkmetric.InstrumentKindHistogram {
		return sdkmetric.AggregationBase2ExponentialHistogram{MaxSize: 160, MaxScale: 20}
	}
	return sdkmetric.DefaultAggregationSelector(k)
}

func newConfig(opts []Option) (config, error) {
	c := config{
		mode:        Windowed,
		maxSeries:   DefaultMaxSeries,
		gzipLevel:   gzip.DefaultCompression,
		aggregation: DefaultAggregation,
	}
	for _, o := range opts {
		c = o.apply(c)
	}
	if c.mode != Windowed && c.mode != Cumulative {
		return c, fmt.Errorf("exporter: WithMode: unknown mode %d", int(c.mode))
	}
	if c.maxSeries <= 0 {
		return c, fmt.Errorf("exporter: WithMaxSeries: must be > 0, got %d", c.maxSeries)
	}
	if c.gzipLevel < gzip.HuffmanOnly || c.gzipLevel > gzip.BestCompression {
		return c, fmt.Errorf("exporter: WithGzipLevel: must be in [%d, %d], got %d", gzip.HuffmanOnly, gzip.BestCompression, c.gzipLevel)
	}
	if c.aggregation == nil {
		return c, fmt.Errorf("exporter: WithAggregationSelector: selector is nil")
	}
	return c, nil
}
