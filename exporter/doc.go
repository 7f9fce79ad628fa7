// Package exporter renders OpenTelemetry metrics as the nested JSON document
// served at /stats, shaped so that mackerel-plugin-json turns it into good
// Mackerel custom metrics.
//
// An [Exporter] is an sdk/metric Exporter. Put it on a
// [go.opentelemetry.io/otel/sdk/metric.PeriodicReader] whose interval is the
// window (60 s matches Mackerel's one-minute resolution); every export renders
// the collection once, as JSON and as gzip-compressed JSON, and publishes both
// atomically. [Exporter.Document] hands them out without a lock or an
// allocation, so serving them costs nothing per request (the heartbeat
// package's Source interface is exactly that method).
//
// # The document
//
// The contract is docs/stats-json.md at the root of the repository; in short:
//
//   - An instrument name is split on dots into nested objects; each part is
//     sanitized to [A-Za-z0-9_-]+ (see [Sanitize]) and empty parts are skipped.
//   - A point's attribute values, ordered by key, sanitized and joined by '-',
//     are the last segment: system.cpu.time{cpu.mode=user} is
//     system.cpu.time.user, so Mackerel draws one graph per instrument with a
//     line per attribute set. A point without attributes has no such segment.
//   - Histograms serve count, sum, avg, min, max, p50, p90, p95 and p99 as
//     name.stat[.attributes]; quantiles are estimated from the buckets,
//     which are base-2 exponential by default ([DefaultAggregation]).
//   - Only objects and finite numbers; keys sorted; the same input gives the
//     same bytes.
//
// # Windows
//
// In the default [Windowed] mode, monotonic sums and histograms show their
// increase over the last completed window (between two exports), and every
// reader during a window sees the same bytes; gauges and up-down counters
// show their level. A series that got nothing in a window shows 0 rather
// than vanishing. The first export is the baseline: cumulative series show
// 0 there, since a total handed over then may count from boot. In the [Cumulative] mode monotonic sums are running
// totals, for mackerel-plugin-json's -diff flag.
//
// # Nothing lost silently
//
// Two series that land on one path are both served: the one whose source
// sorts first keeps the path, the others get a suffix _2, _3, …; a leaf whose
// path another series needs as an object moves to <path>._value. NaN and
// ±Inf are left out, and the number of leaves is bounded by
// [WithMaxSeries]. Each of these is counted in the exporter's own metrics,
// recorded through the MeterProvider given to [Exporter.RegisterMetrics].
package exporter
