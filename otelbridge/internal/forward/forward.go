package forward

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/gzip"
)

// ScopeName is the instrumentation scope of the forwarder's own metrics.
const ScopeName = "github.com/komachi-go/komachi/otelbridge/internal/forward"

// Forwarder sends the metrics of a MeterProvider over OTLP on a periodic
// reader of its own.
type Forwarder struct {
	cfg    Config
	exp    *splitExporter
	reader *sdkmetric.PeriodicReader
	stats  *counters
}

// New builds the exporter and its periodic reader. Nothing connects yet: a
// gRPC connection is made on the first export, so New does not fail or
// block when the endpoint is down. Give [Forwarder.Reader] to
// sdkmetric.WithReader; shutting the MeterProvider down then flushes and
// closes the forwarder.
func New(ctx context.Context, cfg Config, opts ...Option) (*Forwarder, error) {
	o := newOptions(opts)
	if o.err != nil {
		return nil, o.err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("forward: %w", err)
	}
	cfg = cfg.withDefaults()
	if o.interval > 0 {
		cfg.Interval = o.interval
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("forward: invalid Config: %w", err)
	}
	tlsCfg, err := loadTLS(cfg)
	if err != nil {
		return nil, fmt.Errorf("forward: %w", err)
	}
	red := newRedactor(cfg)
	stats := new(counters)
	exp := &splitExporter{
		temporality: temporalitySelector(cfg.Temporality),
		aggregation: aggregationSelector(cfg.HistogramAggregation),
		limit:       cfg.MaxRequestSize,
		timeout:     cfg.Timeout,
		endpoint:    cfg.Endpoint,
		protocol:    cfg.Protocol,
		redact:      red,
		logger:      o.logger,
		stats:       stats,
	}
	switch cfg.Protocol {
	case ProtocolGRPC:
		exp.inner, err = newGRPCExporter(ctx, cfg, tlsCfg, exp)
	case ProtocolHTTPProtobuf:
		exp.inner, exp.afterShutdown, err = newHTTPExporter(ctx, cfg, tlsCfg, exp)
	}
	if err != nil {
		return nil, red.error(fmt.Errorf("forward: %s exporter: %w", cfg.Protocol, err))
	}
	if cfg.APIKey != "" && cfg.Insecure {
		o.logger.LogAttrs(ctx, slog.LevelWarn, "the Mackerel API key is sent over a connection without TLS",
			slog.String("endpoint", cfg.Endpoint))
	}
	ropts := []sdkmetric.PeriodicReaderOption{sdkmetric.WithInterval(cfg.Interval), sdkmetric.WithTimeout(cfg.ExportTimeout)}
	for _, p := range o.producers {
		ropts = append(ropts, sdkmetric.WithProducer(p))
	}
	reader := sdkmetric.NewPeriodicReader(exp, ropts...)
	return &Forwarder{cfg: cfg, exp: exp, reader: reader, stats: stats}, nil
}

// The official exporters read OTEL_* from the process environment as well
// and log bad values they skip. Every field they read is overridden below
// with an explicit option, so the Config alone decides.

func newGRPCExporter(ctx context.Context, cfg Config, tlsCfg *tls.Config, e *splitExporter) (sdkmetric.Exporter, error) {
	var creds credentials.TransportCredentials
	if cfg.Insecure {
		creds = insecure.NewCredentials()
	} else {
		creds = credentials.NewTLS(tlsCfg)
	}
	compressor := encoding.Identity
	if cfg.Compression == CompressionGzip {
		compressor = gzip.Name
	}
	// Reconnect at least once per export interval (capped at 30 s): gRPC's
	// default backoff climbs to 120 s, which would skip exports after an
	// outage of the collector.
	maxDelay := min(cfg.Interval, 30*time.Second)
	bo := backoff.DefaultConfig
	bo.MaxDelay = maxDelay
	bo.BaseDelay = min(bo.BaseDelay, maxDelay)
	return otlpmetricgrpc.New(ctx,
		otlpmetricgrpc.WithEndpoint(cfg.Endpoint),
		otlpmetricgrpc.WithTLSCredentials(creds),
		otlpmetricgrpc.WithHeaders(cfg.requestHeaders()),
		otlpmetricgrpc.WithTimeout(cfg.Timeout),
		// The splitter keeps requests far below this; it only guards.
		otlpmetricgrpc.WithMaxRequestSize(max(cfg.MaxRequestSize, DefaultMaxRequestSize)*2),
		otlpmetricgrpc.WithTemporalitySelector(e.temporality),
		otlpmetricgrpc.WithAggregationSelector(e.aggregation),
		otlpmetricgrpc.WithDialOption(
			// Call options given last win over the exporter's own (and
			// over OTEL_EXPORTER_OTLP_COMPRESSION it read itself).
			grpc.WithDefaultCallOptions(grpc.UseCompressor(compressor)),
			grpc.WithConnectParams(grpc.ConnectParams{Backoff: bo, MinConnectTimeout: 20 * time.Second}),
		),
	)
}

func newHTTPExporter(ctx context.Context, cfg Config, tlsCfg *tls.Config, e *splitExporter) (sdkmetric.Exporter, func(), error) {
	// Our own transport, so that Shutdown can close its idle connections
	// (the exporter's default transport is shared and never closed).
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   30 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       tlsCfg,
	}
	client := &http.Client{Transport: tr, Timeout: cfg.Timeout}
	scheme := "https"
	if cfg.Insecure {
		scheme = "http"
	}
	u := url.URL{Scheme: scheme, Host: cfg.Endpoint, Path: cfg.URLPath}
	compression := otlpmetrichttp.NoCompression
	if cfg.Compression == CompressionGzip {
		compression = otlpmetrichttp.GzipCompression
	}
	exp, err := otlpmetrichttp.New(ctx,
		// A URL sets endpoint, path and insecure together.
		otlpmetrichttp.WithEndpointURL(u.String()),
		otlpmetrichttp.WithHTTPClient(client),
		otlpmetrichttp.WithHeaders(cfg.requestHeaders()),
		otlpmetrichttp.WithCompression(compression),
		otlpmetrichttp.WithTimeout(cfg.Timeout),
		otlpmetrichttp.WithMaxRequestSize(max(cfg.MaxRequestSize, DefaultMaxRequestSize)*2),
		otlpmetrichttp.WithTemporalitySelector(e.temporality),
		otlpmetrichttp.WithAggregationSelector(e.aggregation),
	)
	if err != nil {
		tr.CloseIdleConnections()
		return nil, nil, err
	}
	return exp, tr.CloseIdleConnections, nil
}

func temporalitySelector(t Temporality) sdkmetric.TemporalitySelector {
	switch t {
	case TemporalityDelta:
		return sdkmetric.DeltaTemporalitySelector
	case TemporalityLowMemory:
		return sdkmetric.LowMemoryTemporalitySelector
	default:
		return sdkmetric.CumulativeTemporalitySelector
	}
}

func aggregationSelector(h HistogramAggregation) sdkmetric.AggregationSelector {
	if h != HistogramBase2Exponential {
		return sdkmetric.DefaultAggregationSelector
	}
	return func(k sdkmetric.InstrumentKind) sdkmetric.Aggregation {
		if k == sdkmetric.InstrumentKindHistogram {
			// The specification's defaults, as the official exporter uses.
			return sdkmetric.AggregationBase2ExponentialHistogram{MaxSize: 160, MaxScale: 20}
		}
		return sdkmetric.DefaultAggregationSelector(k)
	}
}

// Reader is the periodic reader to pass to sdkmetric.WithReader. It runs
// exports in its own goroutine: a slow or dead endpoint never blocks the
// app or other readers of the same provider.
func (f *Forwarder) Reader() sdkmetric.Reader { return f.reader }

// Config returns the resolved configuration in use.
func (f *Forwarder) Config() Config { return f.cfg }

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
// those, failed), komachi.otlp.requests (OTLP requests attempted, several
// per export when split) and komachi.otlp.data_points (data points the
// endpoint accepted). Unregister the returned Registration to stop.
func (f *Forwarder) RegisterMetrics(mp metric.MeterProvider) (metric.Registration, error) {
	m := mp.Meter(ScopeName)
	exports, err1 := m.Int64ObservableCounter("komachi.otlp.exports",
		metric.WithUnit("{export}"), metric.WithDescription("OTLP metric exports attempted, one per collection."))
	failures, err2 := m.Int64ObservableCounter("komachi.otlp.failures",
		metric.WithUnit("{export}"), metric.WithDescription("OTLP metric exports that failed."))
	requests, err3 := m.Int64ObservableCounter("komachi.otlp.requests",
		metric.WithUnit("{request}"), metric.WithDescription("OTLP requests attempted; a large export is split into several."))
	points, err4 := m.Int64ObservableCounter("komachi.otlp.data_points",
		metric.WithUnit("{data_point}"), metric.WithDescription("Data points accepted by the OTLP endpoint."))
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return nil, fmt.Errorf("forward: register metrics: %w", err)
	}
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(exports, f.stats.exports.Load())
		o.ObserveInt64(failures, f.stats.failures.Load())
		o.ObserveInt64(requests, f.stats.requests.Load())
		o.ObserveInt64(points, f.stats.dataPoints.Load())
		return nil
	}, exports, failures, requests, points)
	if err != nil {
		return nil, fmt.Errorf("forward: register metrics: %w", err)
	}
	return reg, nil
}
