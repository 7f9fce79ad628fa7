// Package forward sends a MeterProvider's metrics over OTLP, on the official
// otlpmetricgrpc / otlpmetrichttp exporters and a sdkmetric.PeriodicReader
// of its own.
//
// The exporters read OTEL_EXPORTER_OTLP_* and the reader
// OTEL_METRIC_EXPORT_INTERVAL and OTEL_METRIC_EXPORT_TIMEOUT themselves, as
// the OpenTelemetry specification describes them (the README's
// Configuration table lists them). [FromEnv] checks them first, because the
// exporters skip a bad value with a log line that may hold the value: here it
// is an error naming the variable, never quoting it. It also refuses what
// the exporters would take differently from the specification (an INSECURE
// that contradicts the endpoint's scheme, a certificate on a plaintext
// endpoint).
//
// Forwarding is off unless asked for: it is on when
// OTEL_EXPORTER_OTLP_[METRICS_]ENDPOINT or MACKEREL_APIKEY (or
// MACKEREL_API_KEY) is set, and OTEL_METRICS_EXPORTER is unset or otlp;
// none turns it off, and any other value is an error. The protocol is
// http/protobuf unless OTEL_EXPORTER_OTLP_[METRICS_]PROTOCOL says grpc,
// except for Mackerel's ingest, which takes gRPC only. What komachi adds:
//
//   - with only the key, the endpoint is Mackerel's, otlp.mackerelio.com:4317,
//     over TLS;
//   - with a key, every request carries it as Mackerel-Api-Key, to whichever
//     endpoint, besides the headers of OTEL_EXPORTER_OTLP_[METRICS_]HEADERS;
//   - requests are gzip-compressed unless the COMPRESSION variable is none;
//   - the reader splits a collection into requests of at most
//     [MaxExportBatchSize] data points, and the exporter refuses one over
//     [DefaultMaxRequestSize] bytes (Mackerel's endpoint refuses messages
//     over 4 MiB).
//
// Failures never block the app: exports run on the reader's goroutine and
// honour its timeout. A failed export is logged once through the
// *slog.Logger of [WithLogger] and counted by [Forwarder.RegisterMetrics]'s
// counters; it is not handed to otel.Handle, whose default prints through
// the standard log. Nothing is queued: a failed collection is dropped, and
// with the default cumulative temporality the next one carries the same
// series. The API key and header values never appear in errors, logs or a
// printed [Config].
package forward
