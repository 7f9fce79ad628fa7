// Package otelbridge sets komachi up in one call: a MeterProvider with the Go
// runtime, host and vital metrics, the /stats exporter on a windowed reader,
// one handler serving /heartbeat and /livez (package heartbeat) and /stats
// (the exporter's), and OTLP forwarding to Mackerel or any collector when
// the environment asks for it.
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
// /stats alone, mount it on the more specific pattern and leave the probes
// open:
//
//	ops := http.StripPrefix("/ops", bridge.Handler())
//	mux.Handle("/ops/", ops)
//	mux.Handle("/ops/stats", requireBearer(token, ops)) // your middleware; see the Bridge.Handler example
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
// # Environment
//
//	KOMACHI_STATS_WINDOW                   the /stats window, a Go duration (default 60s); WithWindow wins
//	OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES  the resource (service name, labels)
//	MACKEREL_APIKEY (or MACKEREL_API_KEY)  forward over OTLP, to otlp.mackerelio.com:4317 unless an endpoint is set,
//	                                       with the header Mackerel-Api-Key on every request
//	OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_METRICS_ENDPOINT  forward over OTLP to this endpoint
//	OTEL_EXPORTER_OTLP_PROTOCOL (and _METRICS_)  grpc (default) or http/protobuf
//	OTEL_EXPORTER_OTLP_HEADERS, _INSECURE, _CERTIFICATE, _COMPRESSION, _TIMEOUT (and their _METRICS_ forms)
//	OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE  cumulative (default), delta or lowmemory
//	OTEL_METRIC_EXPORT_INTERVAL, OTEL_METRIC_EXPORT_TIMEOUT  the OTLP reader's interval and timeout, in ms
//	OTEL_METRICS_EXPORTER=none             no OTLP forwarding, whatever else is set
//
// A value that does not parse makes Start return an error that names the
// variable; the API key never appears in an error or a log line. OTLP
// requests are gzip-compressed, time out after 10 s and are split so each
// stays under 3.5 MB (Mackerel's endpoint refuses messages over 4 MB);
// failures are logged, reported to the OTel error handler and counted in
// komachi.otlp.* metrics, and never block /stats or the app.
//
// # The seed library's vitals in Go
//
// KomachiHeartbeat shows the BEAM's vital signs; these are their closest Go
// counterparts, by OpenTelemetry semantic-convention name where one exists.
// "runtime" and "host" are the contrib instrumentations, "govitals" is
// package [github.com/komachi-go/komachi/otelbridge/govitals]. All are read
// from runtime/metrics and /proc when a collection asks, never with
// runtime.ReadMemStats (which stops the world).
//
//	seed key              Go metric                                                   from
//	process_count         go.goroutine.count                                          runtime
//	run_queue             go.schedule.duration (histogram: time runnable before running),
//	                      komachi.go.goroutine.count{komachi.go.goroutine.state=runnable}  runtime, govitals
//	reductions            go.cpu.time{go.cpu.state=user|gc|scavenge|idle}              govitals
//	scheduler_usage.<id>  go.cpu.time with go.processor.limit; process.cpu.time        govitals, runtime, host
//	context_switches      process.context_switches{process.context_switch.type}        govitals
//	gc.count              go.memory.gc.cycles                                          govitals
//	gc.words_reclaimed    komachi.go.memory.freed, komachi.go.memory.frees;
//	                      go.memory.allocated, go.memory.allocations                   govitals, runtime
//	(GC pauses)           go.memory.gc.pause.duration (histogram)                      govitals
//	io.in / io.out        system.network.io (host), process.disk.io                    host, govitals
//	memory.processes      go.memory.used{go.memory.type=stack|other}, go.memory.gc.goal, go.memory.limit  runtime
//	memory.<kind>         komachi.go.memory.used{go.memory.detailed_type}              govitals
//	port_count            process.unix.file_descriptor.count                           govitals
//	(threads)             process.thread.count                                         govitals
//	(RSS)                 process.memory.usage, process.memory.virtual                 govitals
//
// Linux keeps no per-process network byte counters (/proc/self/net/dev counts
// the whole network namespace, sidecars included), so network IO is the
// host's system.network.io.
package otelbridge
