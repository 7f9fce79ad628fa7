package exporter

import (
	"compress/gzip"
	"fmt"
	"log/slog"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// DefaultMaxSeries is the number of leaves /stats serves at most unless
// WithMaxSeries says otherwise: a safety net against an attribute that
// takes unbounded values, far above what anyone would pay for (each leaf is
// one Mackerel custom metric; see DefaultBudget).
const DefaultMaxSeries = 10000

// DefaultBudget is the number of leaves above which the exporter logs, once,
// that /stats makes more Mackerel metrics than a Pod's share: a micro host
// includes 30 metrics, and mackerel-container-agent's own take about 10.
const DefaultBudget = 20

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
	budget      int
	history     int
	gzipLevel   int
	aggregation sdkmetric.AggregationSelector
	rules       []Rule
	selection   selection
	logger      *slog.Logger
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

// WithMaxSeries bounds the number of leaves in the document. The bound is
// shared fairly among the instruments: when they would serve more, the
// largest are cut to an equal share (the most that keeps the total within
// the bound), whole series at a time in sorted order, and what is cut is
// counted as dropped with reason "limit". komachi's own instruments are
// never cut, so the count of what was dropped survives. The default is
// DefaultMaxSeries.
func WithMaxSeries(n int) Option {
	return optionFunc(func(c config) config { c.maxSeries = n; return c })
}

// WithRules puts rules before DefaultRules: the first rule that matches an
// instrument's name decides what /stats serves of it. Pass AllRules() to
// serve everything. See Rule and ParseRules.
func WithRules(rules ...Rule) Option {
	return optionFunc(func(c config) config { c.rules = append(c.rules, rules...); return c })
}

// WithBudget sets the number of leaves (Mackerel metrics) above which the
// exporter logs a warning, once; 0 turns the warning off. The default is
// DefaultBudget.
func WithBudget(n int) Option {
	return optionFunc(func(c config) config { c.budget = n; return c })
}

// Budget is the number of leaves above which the exporter warns (WithBudget):
// what a page or a report compares komachi.exporter.metrics with.
func (e *Exporter) Budget() int { return e.cfg.budget }

// WithLogger sets where the exporter reports what needs a person's
// attention (the budget exceeded); the default is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c config) config { c.logger = l; return c })
}

// WithGzipLevel sets the compress/gzip level of the compressed copies of the
// document and the history, made once per export by the first request that
// asks for one (see Exporter.Document). The default is
// gzip.DefaultCompression.
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
		budget:      DefaultBudget,
		history:     DefaultHistory,
		gzipLevel:   gzip.DefaultCompression,
		aggregation: DefaultAggregation,
	}
	for _, o := range opts {
		if o != nil {
			c = o.apply(c)
		}
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
	if c.budget < 0 {
		return c, fmt.Errorf("exporter: WithBudget: must be >= 0, got %d", c.budget)
	}
	if c.history < 0 {
		return c, fmt.Errorf("exporter: WithHistory: must be >= 0, got %d", c.history)
	}
	if c.history > MaxHistory {
		return c, fmt.Errorf("exporter: WithHistory: at most %d windows (a week of minutes), got %d", MaxHistory, c.history)
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	var err error
	if c.selection, err = newSelection(c.rules); err != nil {
		return c, fmt.Errorf("exporter: WithRules: %w", err)
	}
	return c, nil
}
