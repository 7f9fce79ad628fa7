package heartbeat

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Names of what the Handler records through WithMeterProvider.
const (
	// ScopeName is the instrumentation scope of the Handler's meter.
	ScopeName = "github.com/komachi-go/komachi/heartbeat"

	// MetricVitalStatus is a gauge: 1 when the vital's last check passed,
	// 0 when it failed.
	MetricVitalStatus = "komachi.heartbeat.vital.status"

	// MetricVitalDuration is a gauge: how long the vital's last check took,
	// in seconds (up to its timeout when it hung).
	MetricVitalDuration = "komachi.heartbeat.vital.duration"

	// AttributeVitalName is the attribute carrying the vital's name on both
	// metrics; in /stats it becomes the last path segment, one line per
	// vital on one graph.
	AttributeVitalName = "komachi.vital.name"
)

// registerMetrics exposes the last report through observable gauges: the
// callback only reads what the last run left, so collecting costs no check
// and serving a request costs nothing at all. Before the first run there is
// nothing to report.
func registerMetrics(mp metric.MeterProvider, c *checker) (metric.Registration, error) {
	meter := mp.Meter(ScopeName)
	status, err := meter.Int64ObservableGauge(MetricVitalStatus,
		metric.WithDescription("Whether the vital's last check passed (1) or failed (0)."),
		metric.WithUnit("1"))
	if err != nil {
		return nil, err
	}
	duration, err := meter.Float64ObservableGauge(MetricVitalDuration,
		metric.WithDescription("Duration of the vital's last check."),
		metric.WithUnit("s"))
	if err != nil {
		return nil, err
	}
	// Attribute sets are built once here, not at every collection.
	attrs := make([][]metric.ObserveOption, len(c.entries))
	for i, e := range c.entries {
		set := attribute.NewSet(attribute.String(AttributeVitalName, e.name))
		attrs[i] = []metric.ObserveOption{metric.WithAttributeSet(set)}
	}
	return meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		rep := c.last.Load()
		if rep == nil {
			return nil
		}
		for i, r := range rep.results {
			var up int64
			if r.ok {
				up = 1
			}
			o.ObserveInt64(status, up, attrs[i]...)
			o.ObserveFloat64(duration, r.duration.Seconds(), attrs[i]...)
		}
		return nil
	}, status, duration)
}
