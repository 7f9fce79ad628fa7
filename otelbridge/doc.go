// Package otelbridge sets komachi up in one call: a MeterProvider with the Go
// runtime, host and vital metrics, the /stats exporter on a reader of
// komachi's own clock (60 s windows on the minute, untouched by the app's
// ForceFlush), one handler serving /heartbeat and /livez (package
// heartbeat), /stats, /stats/graphs and /stats/history (the exporter's) and
// a live page of their graphs at /, and OTLP forwarding to Mackerel or any
// collector when the environment asks for it.
//
//	bridge, err := otelbridge.Start(ctx)
//	if err != nil { … }
//	defer bridge.Shutdown(context.Background())
//	mux.Handle("/ops/", http.StripPrefix("/ops", bridge.Handler()))
//	meter := bridge.MeterProvider().Meter("my/app")  // the app's own instruments
//
// An app that already owns a MeterProvider uses [NewStats] instead: it adds
// [Stats.Reader] to its provider and calls [Stats.Start]; there is no second
// provider. If that app starts contrib runtime on its provider itself, it
// passes [WithoutRuntimeMetrics], so that nothing is recorded twice.
//
// # Shutdown
//
// When shutdown begins, call [Bridge.Drain] (or [Stats.Drain]): readiness
// answers 503 while /livez and /stats keep serving. Wait at least one probe
// period, stop the server, then call [Bridge.Shutdown]: a last collection
// reaches /stats and OTLP.
//
// # Guarding /stats
//
// A guard (a bearer token, an allow-list) is ordinary middleware. To guard
// /stats and what lies under it (/stats/graphs, /stats/history, which the
// page reads), mount it on the more specific patterns and leave the probes
// open:
//
//	ops := http.StripPrefix("/ops", bridge.Handler())
//	mux.Handle("/ops/", ops)
//	mux.Handle("/ops/stats", requireBearer(token, ops)) // your middleware; see the Bridge.Handler example
//	mux.Handle("/ops/stats/", requireBearer(token, ops))
//
// # Resource and global state
//
// The resource is detected: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES,
// then host, process and container. [WithResource] merges its attributes
// over that. Passing sdkmetric.WithResource through [WithMeterProviderOptions]
// is not the way: it replaces the detected resource instead of merging.
//
// Nothing global is set: to let instrumentation libraries that read the
// global MeterProvider find the bridge's, call
// otel.SetMeterProvider(bridge.MeterProvider()) yourself.
//
// # What /stats serves
//
// A selection of about twenty numbers, so that a Pod fits one Mackerel micro
// host: every vital of the seed library KomachiHeartbeat (the README's
// table "The seed library's vitals in Go" maps each to its Go metric and
// /stats leaf), komachi's own counts, the HTTP server's count and p99, and
// the app's own instruments. KOMACHI_STATS_SELECT, or
// WithExporterOptions(exporter.WithRules(…)), chooses more or less; see
// exporter.DefaultRules and docs/stats-json.md. OTLP forwarding sends
// every series.
//
// /stats/graphs serves the graph definitions of the document, named under
// the plugin's prefix ([WithMackerelPrefix], KOMACHI_MACKEREL_PREFIX); with
// MACKEREL_APIKEY set, Start also posts them to Mackerel's API at start and
// whenever the set of graphs changes ([WithoutGraphDefs] to stop).
//
// # The page
//
// The mount point itself (/ops/ in the example) serves a page that draws,
// offline and with no Mackerel account, the graphs Mackerel will draw from
// /stats: one chart per graph definition of /stats/graphs, in its unit, over
// the windows of /stats/history (two hours of 60 s windows on the first
// load, then one more each window), under a header with the metric count
// against the budget (exporter.DefaultBudget), the window, the heartbeat's
// verdict per vital and the time of the last window. Its script and styles
// are embedded in the binary and fetched relative to the page, so it works
// read-only below any prefix, and its JSON behind the guard of /stats
// (a browser passes a guard of cookies, basic auth or addresses; not a
// bearer token); its Content-Security-Policy allows nothing inline and
// nothing from another origin.
//
// # Environment
//
// The README's Configuration table lists every variable Start reads:
// KOMACHI_STATS_WINDOW, KOMACHI_STATS_SELECT, KOMACHI_MACKEREL_PREFIX,
// KOMACHI_MACKEREL_GRAPH_DEFS, MACKEREL_APIKEY, MACKEREL_APIBASE, the
// resource's OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, and the OTLP
// exporters' OTEL_EXPORTER_OTLP_* and OTEL_METRIC_EXPORT_*. A value that
// does not parse makes Start return an error that names the variable; the
// API key never appears in an error or a log line. OTLP requests are
// gzip-compressed and split by the SDK's reader; a failed export is logged
// once through [WithLogger]'s logger, counted in komachi.otlp.failures, and
// never blocks /stats or the app.
package otelbridge
