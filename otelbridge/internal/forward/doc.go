// Package forward sends a MeterProvider's metrics over OTLP, configured from
// the standard OTEL_* environment variables and Mackerel's API key, on the
// official otlpmetricgrpc / otlpmetrichttp exporters and a
// sdkmetric.PeriodicReader of its own.
//
// Forwarding is off unless asked for: [FromEnv] turns it on when
// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_METRICS_ENDPOINT is set,
// or when MACKEREL_APIKEY (or MACKEREL_API_KEY) is; with only the key, the
// endpoint is Mackerel's, otlp.mackerelio.com:4317, gRPC over TLS. Setting
// OTEL_METRICS_EXPORTER to "none" (or to a list without "otlp") turns it off.
// With a key, every request carries the header Mackerel-Api-Key, to
// whichever endpoint.
//
// Variables read (METRICS_ variants win over the generic ones; an empty
// value is unset):
//
//	OTEL_EXPORTER_OTLP_[METRICS_]ENDPOINT     http(s)://host[:port][/path] or host:port
//	OTEL_EXPORTER_OTLP_[METRICS_]PROTOCOL     grpc (default) | http/protobuf
//	OTEL_EXPORTER_OTLP_[METRICS_]HEADERS      k=v,k2=v2 (values percent-decoded)
//	OTEL_EXPORTER_OTLP_[METRICS_]INSECURE     true | false, for host:port endpoints
//	OTEL_EXPORTER_OTLP_[METRICS_]CERTIFICATE  PEM file of CAs to trust
//	OTEL_EXPORTER_OTLP_[METRICS_]CLIENT_CERTIFICATE, _CLIENT_KEY  PEM pair for mTLS
//	OTEL_EXPORTER_OTLP_[METRICS_]COMPRESSION  gzip (default) | none
//	OTEL_EXPORTER_OTLP_[METRICS_]TIMEOUT      ms per request, default 10000
//	OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE  cumulative (default) | delta | lowmemory
//	OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION  explicit_bucket_histogram | base2_exponential_bucket_histogram
//	OTEL_METRIC_EXPORT_INTERVAL               ms, default 60000
//	OTEL_METRIC_EXPORT_TIMEOUT                ms per collect+export, default 30000
//	MACKEREL_APIKEY, MACKEREL_API_KEY         Mackerel API key with write permission
//
// The official exporters read most of these themselves but skip bad values
// with a log line; here a bad value is an error naming the variable, and the
// resolved settings are passed to the exporters as explicit options.
//
// Each request stays under [Config.MaxRequestSize] bytes of uncompressed
// protobuf (3.5 MB by default: Mackerel's gRPC endpoint refuses messages
// over 4 MB). A larger collection is split into several requests, in order,
// each data point whole and sent once; sizes come from a cheap upper bound of
// the encoding computed on the SDK's data, see size.go.
//
// Failures never block the app: exports run on the reader's goroutine and
// honour its timeout; they are reported to otel.Handle (by the reader), to a
// *slog.Logger ([WithLogger]) and in [Forwarder.RegisterMetrics]'s counters.
// Nothing is queued: a failed collection is dropped, and with the default
// cumulative temporality the next one carries the same series. The API key
// and header values never appear in errors, logs or a printed [Config].
package forward
