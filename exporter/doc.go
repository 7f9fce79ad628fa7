// Package exporter renders OpenTelemetry metrics as the nested JSON document
// served at /stats, shaped so that mackerel-plugin-json turns it into good
// Mackerel custom metrics.
//
// An [Exporter] is an sdk/metric Exporter. Put it on a reader collected once
// per window (60 s matches Mackerel's one-minute resolution; otelbridge
// collects a ManualReader on its own clock, so that the app's ForceFlush
// does not cut a window short); every export renders the collection once
// as JSON and publishes it atomically, and its gzip-compressed copy is made
// once, by the first request that asks for it. [Exporter.Handler] serves
// them, as promhttp.HandlerFor serves a registry, without a lock or an
// allocation per request;
// [Exporter.GraphsHandler] serves their graph definitions, and
// [Exporter.HistoryHandler] the last windows' documents (see History).
//
// # What it serves
//
// Each leaf of the document is one Mackerel custom metric, and each Pod a
// micro host that includes 30 metrics, about 10 of which
// mackerel-container-agent posts itself. So /stats serves a selection
// ([Rule], [DefaultRules], [WithRules]): by default about twenty numbers
// that answer every vital of the seed library, and an app's own
// instruments; the rest is opt-in, per instrument, by name pattern:
// which instruments, which histogram stats, which attribute keys (series
// that differ only in dropped keys are merged). Other readers of the same
// MeterProvider, such as OTLP forwarding, keep everything.
// komachi.exporter.metrics says how many metrics the document makes, and
// [WithBudget] logs once when that is more than a Pod's share.
//
// # The document
//
// The contract is docs/stats-json.md at the root of the repository; in short:
//
//   - An instrument name is split on dots into nested objects; each part is
//     sanitized to [A-Za-z0-9_-]+ (see [Sanitize]) and empty parts are skipped.
//   - Every group of sibling leaves, which Mackerel draws as one graph, is
//     one instrument (and one histogram stat), so it holds one unit: a
//     point's attribute values, ordered by key, sanitized and joined by '-',
//     are the last segment (system.cpu.time{cpu.mode=user} is
//     system.cpu.time.user), and a series without attributes repeats the
//     name's last segment (go.goroutine.count.count).
//   - Histograms serve count and sum as name.count.<line> and
//     name.sum.<line>, the other stats (avg, min, max, p50, p90, p95, p99)
//     as name.<stat>.<attributes>, or name.<stat> without attributes, so
//     that one graph draws p50 to p99; quantiles are estimated from the
//     buckets, which are base-2 exponential by default ([DefaultAggregation]).
//   - Values are in Mackerel's units: durations in milliseconds (seconds
//     would lose everything under a microsecond to mackerel-plugin-json's
//     six decimals), ratios as percentages, bytes as bytes.
//     [Exporter.Graphs] gives the graph definitions: one per group, with
//     the instrument's unit and description.
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
// 0 there, since a total handed over then may count from boot. A histogram
// window with nothing in it serves 0 for every stat. In the [Cumulative]
// mode monotonic sums are running totals, for mackerel-plugin-json's -diff
// flag.
//
// # History
//
// The exporter keeps the leaves of the last documents, by default
// [DefaultHistory] (two hours of 60 s windows; [WithHistory] sets it, 0 turns
// it off): each export adds the text of its values. The first request after
// an export renders them as one JSON object: the time of each export,
// oldest first, and per leaf path (dotted, without a prefix, keys sorted)
// one value per window, exactly as that window's /stats wrote it, or null
// where the leaf was absent ([Exporter.History]). It is what a page draws
// the graphs of the last hours from on its first load. Its memory follows
// what it shows: each window holds the text of its values, a path absent
// from every window held is forgotten, and at most [WithMaxSeries] paths
// are held. A history of more than 512 KiB (some 350 series over two
// hours) has no gzip copy.
//
// # Nothing lost silently
//
// Two series that land on one path are both served: the one whose source
// sorts first keeps the path, the others get a suffix _2, _3, …; a leaf whose
// path another series needs as an object moves to <path>._value. NaN and
// ±Inf are left out. The number of leaves is bounded by [WithMaxSeries],
// shared fairly among the instruments, so that one attribute gone wild cuts
// only its own instrument, never komachi's own numbers. The SDK's overflow
// series (measurements past an instrument's cardinality limit) is served
// as the line otel_metric_overflow. Each of these is counted in the
// exporter's own metrics, recorded through the MeterProvider given to
// [Exporter.RegisterMetrics].
package exporter
