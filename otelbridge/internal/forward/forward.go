package forward

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// ScopeName is the instrumentation scope of the forwarder's own metrics.
const ScopeName = "github.com/komachi-go/komachi/otelbridge/internal/forward"

// DefaultMaxRequestSize bounds the uncompressed protobuf size of each
// request, as Mackerel's own exporter does: its gRPC endpoint refuses
// messages over 4 MiB. The exporter refuses a larger request rather than
// send it.
const DefaultMaxRequestSize = 3_500_000

// maxPointSize bounds one data point's protobuf as the SDK makes them: a
// base-2 exponential histogram at its largest default (160 buckets a side,
// each count a varint of up to 10 bytes: 3.3 kB), with 20 exemplars and
// 1 kB of attributes.
const maxPointSize = 7_000

// MaxExportBatchSize is the most data points the reader puts in one
// request, so that a batch of the largest points stays under
// DefaultMaxRequestSize.
const MaxExportBatchSize = DefaultMaxRequestSize / maxPointSize

// Forwarder sends the metrics of a MeterProvider over OTLP on a periodic
// reader of its own.
type Forwarder struct {
	exp    *exporter
	reader *sdkmetric.PeriodicReader
	stats  *counters
}

// New builds the exporter and its periodic reader from cfg, which must come
// from [FromEnv]. The exporter reads OTEL_EXPORTER_OTLP_* itself and the
// reader OTEL_METRIC_EXPORT_INTERVAL and _TIMEOUT; New adds Mackerel's
// endpoint when no endpoint is set, the key, gzip unless
// OTEL_EXPORTER_OTLP_[METRICS_]COMPRESSION is none, and the request size
// bound. Nothing connects yet: a gRPC connection is made on the first
// export, so New does not fail or block when the endpoint is down. Give
// [Forwarder.Reader] to sdkmetric.WithReader; shutting the MeterProvider
// down then flushes and closes the forwarder.
func New(ctx context.Context, cfg Config, opts ...Option) (*Forwarder, error) {
	o := newOptions(opts)
	if cfg.protocol == "" {
		return nil, errors.New("forward: New needs a Config from FromEnv")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("forward: %w", err)
	}
	red := newRedactor(cfg)
	var inner sdkmetric.Exporter
	var err error
	if cfg.protocol == ProtocolGRPC {
		inner, err = otlpmetricgrpc.New(ctx, grpcOptions(cfg)...)
	} else {
		inner, err = otlpmetrichttp.New(ctx, httpOptions(cfg)...)
	}
	if err != nil {
		return nil, red.error(fmt.Errorf("forward: %s exporter: %w", cfg.protocol, err))
	}
	if cfg.apiKey != "" && cfg.insecure {
		o.logger.LogAttrs(ctx, slog.LevelWarn, "the Mackerel API key is sent over a connection without TLS",
			slog.String("endpoint", cfg.endpoint))
	}
	stats := new(counters)
	exp := &exporter{
		inner:       inner,
		collections: new(collections),
		timeout:     cfg.timeout,
		endpoint:    cfg.endpoint,
		protocol:    cfg.protocol,
		redact:      red,
		logger:      o.logger,
		stats:       stats,
	}
	ropts := []sdkmetric.PeriodicReaderOption{
		sdkmetric.WithMaxExportBatchSize(MaxExportBatchSize),
		sdkmetric.WithProducer(exp.collections), // first: see collections
	}
	for _, p := range o.producers {
		ropts = append(ropts, sdkmetric.WithProducer(p))
	}
	return &Forwarder{exp: exp, reader: sdkmetric.NewPeriodicReader(exp, ropts...), stats: stats}, nil
}

func grpcOptions(cfg Config) []otlpmetricgrpc.Option {
	// Reconnect at least once per export interval (capped at 30 s): gRPC's
	// default backoff climbs to 120 s, which would skip exports after an
	// outage of the collector.
	bo := backoff.DefaultConfig
	bo.MaxDelay = min(cfg.interval, 30*time.Second)
	bo.BaseDelay = min(bo.BaseDelay, bo.MaxDelay)
	dial := []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{Backoff: bo, MinConnectTimeout: 20 * time.Second})}
	if cfg.apiKey != "" && !cfg.keyInHeaders {
		dial = append(dial, grpc.WithPerRPCCredentials(apiKeyCredential{key: cfg.apiKey, requireTLS: !cfg.insecure}))
	}
	opts := []otlpmetricgrpc.Option{
		otlpmetricgrpc.WithMaxRequestSize(DefaultMaxRequestSize),
		otlpmetricgrpc.WithDialOption(dial...),
	}
	if cfg.mackerel {
		opts = append(opts, otlpmetricgrpc.WithEndpoint(MackerelEndpoint))
	}
	if cfg.gzip {
		opts = append(opts, otlpmetricgrpc.WithCompressor("gzip"))
	}
	return opts
}

func httpOptions(cfg Config) []otlpmetrichttp.Option {
	opts := []otlpmetrichttp.Option{otlpmetrichttp.WithMaxRequestSize(DefaultMaxRequestSize)}
	if cfg.apiKey != "" {
		// WithHeaders replaces the headers the exporter read from the
		// environment: requestHeaders holds those and the key.
		opts = append(opts, otlpmetrichttp.WithHeaders(cfg.requestHeaders()))
	}
	if cfg.gzip {
		opts = append(opts, otlpmetrichttp.WithCompression(otlpmetrichttp.GzipCompression))
	}
	return opts
}

// apiKeyCredential adds the Mackerel key to every gRPC call, besides the
// metadata from OTEL_EXPORTER_OTLP_[METRICS_]HEADERS.
type apiKeyCredential struct {
	key Secret
	// requireTLS makes gRPC refuse to send the key in plaintext unless the
	// endpoint is plaintext on purpose.
	requireTLS bool
}

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (c apiKeyCredential) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{strings.ToLower(MackerelAPIKeyHeader): string(c.key)}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials.
func (c apiKeyCredential) RequireTransportSecurity() bool { return c.requireTLS }

// Reader is the periodic reader to pass to sdkmetric.WithReader. It runs
// exports in its own goroutine: a slow or dead endpoint never blocks the
// app or other readers of the same provider.
func (f *Forwarder) Reader() sdkmetric.Reader { return f.reader }

// Shutdown stops the reader with a final collect and export, then closes the
// connection. It is what MeterProvider.Shutdown does for a registered
// reader; calling both is harmless.
func (f *Forwarder) Shutdown(ctx context.Context) error {
	err := f.reader.Shutdown(ctx)
	if errors.Is(err, sdkmetric.ErrReaderShutdown) {
		return nil
	}
	return err
}

// RegisterMetrics reports the forwarder's own counters on mp:
// komachi.otlp.exports (collections exported), komachi.otlp.failures (of
// those, failed) and komachi.otlp.requests (OTLP requests attempted, one per
// batch of at most MaxExportBatchSize points). Unregister the returned
// Registration to stop.
func (f *Forwarder) RegisterMetrics(mp metric.MeterProvider) (metric.Registration, error) {
	m := mp.Meter(ScopeName)
	exports, err1 := m.Int64ObservableCounter("komachi.otlp.exports",
		metric.WithUnit("{export}"), metric.WithDescription("OTLP metric exports attempted, one per collection."))
	failures, err2 := m.Int64ObservableCounter("komachi.otlp.failures",
		metric.WithUnit("{export}"), metric.WithDescription("OTLP metric exports that failed."))
	requests, err3 := m.Int64ObservableCounter("komachi.otlp.requests",
		metric.WithUnit("{request}"), metric.WithDescription("OTLP requests attempted; a large export is split into several."))
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("forward: register metrics: %w", err)
	}
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(exports, f.stats.exports.Load())
		o.ObserveInt64(failures, f.stats.failures.Load())
		o.ObserveInt64(requests, f.stats.requests.Load())
		return nil
	}, exports, failures, requests)
	if err != nil {
		return nil, fmt.Errorf("forward: register metrics: %w", err)
	}
	return reg, nil
}
