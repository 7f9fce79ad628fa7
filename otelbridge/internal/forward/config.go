package forward

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Environment variables read by [FromEnv]. The per-signal METRICS variants win
// over the generic ones, as the OpenTelemetry specification says.
const (
	EnvMetricsExporter          = "OTEL_METRICS_EXPORTER"
	EnvEndpoint                 = "OTEL_EXPORTER_OTLP_ENDPOINT"
	EnvMetricsEndpoint          = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"
	EnvProtocol                 = "OTEL_EXPORTER_OTLP_PROTOCOL"
	EnvMetricsProtocol          = "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"
	EnvHeaders                  = "OTEL_EXPORTER_OTLP_HEADERS"
	EnvMetricsHeaders           = "OTEL_EXPORTER_OTLP_METRICS_HEADERS"
	EnvInsecure                 = "OTEL_EXPORTER_OTLP_INSECURE"
	EnvMetricsInsecure          = "OTEL_EXPORTER_OTLP_METRICS_INSECURE"
	EnvCertificate              = "OTEL_EXPORTER_OTLP_CERTIFICATE"
	EnvMetricsCertificate       = "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE"
	EnvClientCertificate        = "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"
	EnvMetricsClientCertificate = "OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE"
	EnvClientKey                = "OTEL_EXPORTER_OTLP_CLIENT_KEY"
	EnvMetricsClientKey         = "OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY"
	EnvCompression              = "OTEL_EXPORTER_OTLP_COMPRESSION"
	EnvMetricsCompression       = "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION"
	EnvTimeout                  = "OTEL_EXPORTER_OTLP_TIMEOUT"
	EnvMetricsTimeout           = "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT"
	EnvTemporalityPreference    = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"
	EnvHistogramAggregation     = "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION"
	EnvExportInterval           = "OTEL_METRIC_EXPORT_INTERVAL"
	EnvExportTimeout            = "OTEL_METRIC_EXPORT_TIMEOUT"
	EnvMackerelAPIKey           = "MACKEREL_APIKEY"
	EnvMackerelAPIKeyAlt        = "MACKEREL_API_KEY"
)

// Defaults applied by [FromEnv] and, for zero fields, by [New].
const (
	// MackerelEndpoint is Mackerel's OTLP metrics endpoint (gRPC over TLS only).
	MackerelEndpoint = "otlp.mackerelio.com:4317"
	// MackerelAPIKeyHeader carries the Mackerel API key on every request.
	MackerelAPIKeyHeader = "Mackerel-Api-Key"

	DefaultTimeout       = 10 * time.Second
	DefaultInterval      = 60 * time.Second
	DefaultExportTimeout = 30 * time.Second
	// DefaultMaxRequestSize keeps each request well under the 4 MiB message
	// limit of Mackerel's gRPC endpoint, as Mackerel's own exporter does.
	DefaultMaxRequestSize = 3_500_000

	defaultHTTPPath = "/v1/metrics"
)

// Protocol is the OTLP transport.
type Protocol string

// The transports of the official Go exporters. http/json is not one of them.
const (
	ProtocolGRPC         Protocol = "grpc"
	ProtocolHTTPProtobuf Protocol = "http/protobuf"
)

// Compression is the request body compression.
type Compression string

// The compressions the official exporters support.
const (
	CompressionGzip Compression = "gzip"
	CompressionNone Compression = "none"
)

// Temporality is the OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE value.
type Temporality string

// The temporality preferences of the OpenTelemetry specification.
const (
	TemporalityCumulative Temporality = "cumulative"
	TemporalityDelta      Temporality = "delta"
	TemporalityLowMemory  Temporality = "lowmemory"
)

// HistogramAggregation is the
// OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION value.
type HistogramAggregation string

// The histogram aggregations of the OpenTelemetry specification.
const (
	HistogramExplicitBucket   HistogramAggregation = "explicit_bucket_histogram"
	HistogramBase2Exponential HistogramAggregation = "base2_exponential_bucket_histogram"
)

// redactedText replaces every secret in output.
const redactedText = "[REDACTED]"

// Secret is a string that never prints itself: fmt, slog, JSON and logr all
// see [REDACTED]. Convert with string(s) at the one place that sends it.
type Secret string

// String returns [REDACTED].
func (Secret) String() string { return redactedText }

// GoString returns [REDACTED] so that %#v does not leak either.
func (Secret) GoString() string { return redactedText }

// LogValue returns [REDACTED].
func (Secret) LogValue() slog.Value { return slog.StringValue(redactedText) }

// MarshalText returns [REDACTED], which covers encoding/json too.
func (Secret) MarshalText() ([]byte, error) { return []byte(redactedText), nil }

// Config is a resolved forwarding configuration, usually built by [FromEnv].
// Printing it (fmt, slog) never shows the API key or header values.
type Config struct {
	Protocol Protocol
	// Endpoint is host:port.
	Endpoint string
	// URLPath is the request path for http/protobuf; gRPC ignores it.
	URLPath  string
	Insecure bool

	// CertificateFile is a PEM file of CAs to trust instead of the system
	// roots; ClientCertificateFile and ClientKeyFile a PEM pair for mTLS.
	CertificateFile       string
	ClientCertificateFile string
	ClientKeyFile         string

	// Headers are sent with every request, besides the API key header.
	Headers map[string]Secret
	// APIKey is Mackerel's API key, sent as the Mackerel-Api-Key header.
	APIKey Secret

	Compression Compression
	// Timeout bounds each request (retries included).
	Timeout              time.Duration
	Temporality          Temporality
	HistogramAggregation HistogramAggregation
	// Interval is the period of the periodic reader; ExportTimeout bounds one
	// whole collect-and-export, every request of a split export included.
	Interval      time.Duration
	ExportTimeout time.Duration
	// MaxRequestSize bounds the uncompressed protobuf size of each request.
	MaxRequestSize int
}

// String describes the configuration with the key and header values redacted.
func (c Config) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "protocol=%s endpoint=%s", c.Protocol, c.Endpoint)
	if c.Protocol == ProtocolHTTPProtobuf {
		fmt.Fprintf(&b, " path=%s", c.URLPath)
	}
	fmt.Fprintf(&b, " insecure=%t", c.Insecure)
	if c.CertificateFile != "" {
		fmt.Fprintf(&b, " certificate=%s", c.CertificateFile)
	}
	if c.ClientCertificateFile != "" {
		fmt.Fprintf(&b, " client_certificate=%s", c.ClientCertificateFile)
	}
	fmt.Fprintf(&b, " headers=[%s]", strings.Join(c.headerNames(), ","))
	if c.APIKey != "" {
		b.WriteString(" api_key=" + redactedText)
	}
	fmt.Fprintf(&b, " compression=%s timeout=%s temporality=%s histogram=%s interval=%s export_timeout=%s max_request_size=%d",
		c.Compression, c.Timeout, c.Temporality, c.HistogramAggregation, c.Interval, c.ExportTimeout, c.MaxRequestSize)
	return b.String()
}

// GoString is [Config.String], so that %#v does not leak either.
func (c Config) GoString() string { return "forward.Config{" + c.String() + "}" }

// LogValue renders the configuration for slog with secrets redacted.
func (c Config) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("protocol", string(c.Protocol)),
		slog.String("endpoint", c.Endpoint),
	}
	if c.Protocol == ProtocolHTTPProtobuf {
		attrs = append(attrs, slog.String("path", c.URLPath))
	}
	attrs = append(attrs,
		slog.Bool("insecure", c.Insecure),
		slog.Any("headers", c.headerNames()),
		slog.Bool("api_key", c.APIKey != ""),
		slog.String("compression", string(c.Compression)),
		slog.Duration("timeout", c.Timeout),
		slog.String("temporality", string(c.Temporality)),
		slog.Duration("interval", c.Interval),
		slog.Duration("export_timeout", c.ExportTimeout),
	)
	if c.CertificateFile != "" {
		attrs = append(attrs, slog.String("certificate", c.CertificateFile))
	}
	return slog.GroupValue(attrs...)
}

func (c Config) headerNames() []string {
	names := make([]string, 0, len(c.Headers))
	for k := range c.Headers {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// FromEnv resolves the configuration from OTEL_* and MACKEREL_APIKEY variables
// read through getenv (os.LookupEnv in production). An empty value counts as
// unset, as the specification says. enabled is false, with a zero Config and
// no error, when nothing asks for forwarding or OTEL_METRICS_EXPORTER turns it
// off; the other variables are then not read, since they may be meant for
// another signal. Every error names the variable at fault and never holds the
// API key or a header value.
func FromEnv(getenv func(string) (string, bool)) (cfg Config, enabled bool, err error) {
	get := func(name string) string {
		v, ok := getenv(name)
		if !ok {
			return ""
		}
		return v
	}
	// pick returns the per-signal variable when set, else the generic one.
	pick := func(generic, specific string) (string, string) {
		if v := get(specific); v != "" {
			return v, specific
		}
		return get(generic), generic
	}

	if v := strings.TrimSpace(get(EnvMetricsExporter)); v != "" {
		on, err := parseMetricsExporter(v)
		if err != nil {
			return Config{}, false, envError(EnvMetricsExporter, err)
		}
		if !on {
			return Config{}, false, nil
		}
	}

	key, err := apiKeyFromEnv(get)
	if err != nil {
		return Config{}, false, err
	}
	rawEndpoint, endpointVar := pick(EnvEndpoint, EnvMetricsEndpoint)
	rawEndpoint = strings.TrimSpace(rawEndpoint)
	if rawEndpoint == "" && key == "" {
		return Config{}, false, nil
	}
	if err := checkShadowed(get); err != nil {
		return Config{}, false, err
	}

	cfg = Config{
		Protocol:             ProtocolGRPC,
		APIKey:               key,
		Compression:          CompressionGzip,
		Timeout:              DefaultTimeout,
		Temporality:          TemporalityCumulative,
		HistogramAggregation: HistogramExplicitBucket,
		Interval:             DefaultInterval,
		ExportTimeout:        DefaultExportTimeout,
		MaxRequestSize:       DefaultMaxRequestSize,
	}

	if v, name := pick(EnvProtocol, EnvMetricsProtocol); v != "" {
		if cfg.Protocol, err = parseProtocol(v); err != nil {
			return Config{}, false, envError(name, err)
		}
	}

	if v, name := pick(EnvInsecure, EnvMetricsInsecure); v != "" {
		if cfg.Insecure, err = parseBool(v); err != nil {
			return Config{}, false, envError(name, err)
		}
	}

	if rawEndpoint == "" {
		// Only the key is set: Mackerel's own endpoint, which speaks gRPC only.
		if cfg.Protocol != ProtocolGRPC {
			return Config{}, false, fmt.Errorf("forward: %s=%s needs %s: Mackerel's OTLP metrics endpoint (%s) accepts gRPC only",
				pickName(get, EnvProtocol, EnvMetricsProtocol), cfg.Protocol, EnvEndpoint, MackerelEndpoint)
		}
		cfg.Endpoint = MackerelEndpoint
		cfg.Insecure = false
	} else {
		ep, err := parseEndpoint(rawEndpoint, cfg.Protocol, endpointVar == EnvMetricsEndpoint)
		if err != nil {
			return Config{}, false, envError(endpointVar, err)
		}
		cfg.Endpoint, cfg.URLPath = ep.hostPort, ep.path
		if ep.scheme != "" {
			// The scheme decides; INSECURE applies to scheme-less endpoints
			// only, as the specification says.
			cfg.Insecure = ep.scheme == "http"
		}
	}

	cert, certVar := pick(EnvCertificate, EnvMetricsCertificate)
	clientCert, clientCertVar := pick(EnvClientCertificate, EnvMetricsClientCertificate)
	clientKey, clientKeyVar := pick(EnvClientKey, EnvMetricsClientKey)
	cfg.CertificateFile, cfg.ClientCertificateFile, cfg.ClientKeyFile = cert, clientCert, clientKey
	if (clientCert == "") != (clientKey == "") {
		return Config{}, false, fmt.Errorf("forward: %s and %s must be set together", clientCertVar, clientKeyVar)
	}
	if cfg.Insecure && (cert != "" || clientCert != "") {
		name := certVar
		if cert == "" {
			name = clientCertVar
		}
		return Config{}, false, fmt.Errorf("forward: %s is set but the endpoint in %s is plaintext (http:// or %s=true); use https:// or drop the certificate",
			name, endpointVar, EnvInsecure)
	}
	if _, err := loadTLS(cfg); err != nil {
		name := certVar
		var ce *certError
		if errors.As(err, &ce) && ce.client {
			name = clientCertVar + "/" + clientKeyVar
		}
		return Config{}, false, envError(name, err)
	}

	if v, name := pick(EnvHeaders, EnvMetricsHeaders); v != "" {
		if cfg.Headers, err = parseHeaders(v); err != nil {
			return Config{}, false, envError(name, err)
		}
		if key != "" {
			for k, hv := range cfg.Headers {
				if strings.EqualFold(k, MackerelAPIKeyHeader) && hv != key {
					return Config{}, false, fmt.Errorf("forward: %s sets %s to a value other than %s; set the key in one place",
						name, MackerelAPIKeyHeader, apiKeyVarName(get))
				}
			}
		}
	}

	if v, name := pick(EnvCompression, EnvMetricsCompression); v != "" {
		if cfg.Compression, err = parseCompression(v); err != nil {
			return Config{}, false, envError(name, err)
		}
	}
	if v, name := pick(EnvTimeout, EnvMetricsTimeout); v != "" {
		if cfg.Timeout, err = parseMillis(v); err != nil {
			return Config{}, false, envError(name, err)
		}
	}
	if v := get(EnvTemporalityPreference); v != "" {
		if cfg.Temporality, err = parseTemporality(v); err != nil {
			return Config{}, false, envError(EnvTemporalityPreference, err)
		}
	}
	if v := get(EnvHistogramAggregation); v != "" {
		if cfg.HistogramAggregation, err = parseHistogramAggregation(v); err != nil {
			return Config{}, false, envError(EnvHistogramAggregation, err)
		}
	}
	if v := get(EnvExportInterval); v != "" {
		if cfg.Interval, err = parseMillis(v); err != nil {
			return Config{}, false, envError(EnvExportInterval, err)
		}
	}
	if v := get(EnvExportTimeout); v != "" {
		if cfg.ExportTimeout, err = parseMillis(v); err != nil {
			return Config{}, false, envError(EnvExportTimeout, err)
		}
	}
	return cfg, true, nil
}

// checkShadowed validates the generic headers and endpoint even when the
// METRICS_ variant wins: the official exporter parses both from the process
// environment and, on a bad value, logs the value (a header may hold a
// token, a URL user:password) through the OTel global logger.
func checkShadowed(get func(string) string) error {
	if get(EnvMetricsHeaders) != "" {
		if v := get(EnvHeaders); v != "" {
			if _, err := parseHeaders(v); err != nil {
				return envError(EnvHeaders, err)
			}
		}
	}
	if get(EnvMetricsEndpoint) != "" {
		if v := strings.TrimSpace(get(EnvEndpoint)); strings.Contains(v, "://") {
			u, err := url.Parse(v)
			if err != nil {
				return envError(EnvEndpoint, errors.New("not a valid URL"))
			}
			if u.User != nil {
				return envError(EnvEndpoint, fmt.Errorf("credentials in the URL are not supported; use %s", EnvHeaders))
			}
		}
	}
	return nil
}

func envError(name string, err error) error {
	return fmt.Errorf("forward: %s: %w", name, err)
}

// pickName tells which of two variables holds the value, for messages.
func pickName(get func(string) string, generic, specific string) string {
	if get(specific) != "" {
		return specific
	}
	return generic
}

func apiKeyVarName(get func(string) string) string {
	if get(EnvMackerelAPIKey) != "" {
		return EnvMackerelAPIKey
	}
	return EnvMackerelAPIKeyAlt
}

func apiKeyFromEnv(get func(string) string) (Secret, error) {
	k1, k2 := get(EnvMackerelAPIKey), get(EnvMackerelAPIKeyAlt)
	if k1 != "" && k2 != "" && k1 != k2 {
		return "", fmt.Errorf("forward: %s and %s are both set and differ; set one", EnvMackerelAPIKey, EnvMackerelAPIKeyAlt)
	}
	key, name := k1, EnvMackerelAPIKey
	if key == "" {
		key, name = k2, EnvMackerelAPIKeyAlt
	}
	if key == "" {
		return "", nil
	}
	if err := checkAPIKey(key); err != nil {
		return "", envError(name, err)
	}
	return Secret(key), nil
}

// ErrInvalidAPIKey reports an API key that cannot be sent as a header value.
var ErrInvalidAPIKey = errors.New("API key must be printable ASCII without spaces")

// checkAPIKey rejects keys that would be refused as a header or that hint at a
// copy-paste accident (a trailing newline from a Secret file). The error
// tells the position, never the key.
func checkAPIKey(key string) error {
	for i := 0; i < len(key); i++ {
		if c := key[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("%w (bad byte at position %d of %d)", ErrInvalidAPIKey, i+1, len(key))
		}
	}
	return nil
}

// parseMetricsExporter reads OTEL_METRICS_EXPORTER, a list of exporter
// names: "none" turns forwarding off and so does a list without "otlp"
// (the app asked for other exporters only).
func parseMetricsExporter(v string) (bool, error) {
	otlp := false
	for item := range strings.SplitSeq(v, ",") {
		switch strings.ToLower(strings.TrimSpace(item)) {
		case "none":
			return false, nil
		case "otlp":
			otlp = true
		case "":
			return false, fmt.Errorf("empty element in %q", quoteShort(v))
		}
	}
	return otlp, nil
}

// ErrUnsupportedProtocol reports a protocol the official Go exporters lack.
var ErrUnsupportedProtocol = errors.New("unsupported protocol")

func parseProtocol(v string) (Protocol, error) {
	switch p := Protocol(strings.ToLower(strings.TrimSpace(v))); p {
	case ProtocolGRPC, ProtocolHTTPProtobuf:
		return p, nil
	case "http/json":
		return "", fmt.Errorf("%w %q: the official Go OTLP exporter has no JSON encoding; use grpc or http/protobuf", ErrUnsupportedProtocol, "http/json")
	default:
		return "", fmt.Errorf("%w %q: want grpc or http/protobuf", ErrUnsupportedProtocol, quoteShort(v))
	}
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("%q is not true or false", quoteShort(v))
}

func parseCompression(v string) (Compression, error) {
	switch c := Compression(strings.ToLower(strings.TrimSpace(v))); c {
	case CompressionGzip, CompressionNone:
		return c, nil
	}
	return "", fmt.Errorf("unsupported compression %q: want gzip or none", quoteShort(v))
}

func parseTemporality(v string) (Temporality, error) {
	switch t := Temporality(strings.ToLower(strings.TrimSpace(v))); t {
	case TemporalityCumulative, TemporalityDelta, TemporalityLowMemory:
		return t, nil
	}
	return "", fmt.Errorf("unknown temporality %q: want cumulative, delta or lowmemory", quoteShort(v))
}

func parseHistogramAggregation(v string) (HistogramAggregation, error) {
	switch h := HistogramAggregation(strings.ToLower(strings.TrimSpace(v))); h {
	case HistogramExplicitBucket, HistogramBase2Exponential:
		return h, nil
	}
	return "", fmt.Errorf("unknown aggregation %q: want %s or %s", quoteShort(v), HistogramExplicitBucket, HistogramBase2Exponential)
}

// maxMillis keeps a millisecond count inside time.Duration.
const maxMillis = math.MaxInt64 / int64(time.Millisecond)

// parseMillis reads a positive whole number of milliseconds. Zero is refused:
// for a timeout it would mean "wait forever" to one exporter and "default" to
// another, and for an interval it means nothing.
func parseMillis(v string) (time.Duration, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number of milliseconds", quoteShort(v))
	}
	if n <= 0 {
		return 0, fmt.Errorf("%d ms: must be positive", n)
	}
	if n > maxMillis {
		return 0, fmt.Errorf("%d ms is too large", n)
	}
	return time.Duration(n) * time.Millisecond, nil
}

// quoteShort keeps echoed values (never secrets) short in messages.
func quoteShort(v string) string {
	const limit = 64
	if len(v) > limit {
		return v[:limit] + "..."
	}
	return v
}

type endpoint struct {
	hostPort string
	path     string
	scheme   string // "", "http" or "https"
}

// parseEndpoint accepts a URL (http:// or https://, as the specification
// wants) or a bare host:port (as the Go exporter and the collector accept).
// It never echoes the value: a URL may carry user:password.
func parseEndpoint(raw string, proto Protocol, perSignal bool) (endpoint, error) {
	var ep endpoint
	if !strings.Contains(raw, "://") {
		host, port, err := net.SplitHostPort(raw)
		if err != nil {
			return ep, errors.New("not a URL (http://host:port) nor host:port")
		}
		if err := checkHostPort(host, port); err != nil {
			return ep, err
		}
		ep.hostPort = net.JoinHostPort(host, port)
		if proto == ProtocolHTTPProtobuf {
			ep.path = defaultHTTPPath
		}
		return ep, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return ep, errors.New("not a valid URL")
	}
	ep.scheme = strings.ToLower(u.Scheme)
	if ep.scheme != "http" && ep.scheme != "https" {
		return ep, errors.New("URL scheme must be http or https")
	}
	if u.User != nil {
		return ep, fmt.Errorf("credentials in the URL are not supported; use %s", EnvHeaders)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return ep, errors.New("URL must not have a query or a fragment")
	}
	port := u.Port()
	if port == "" {
		port = "443"
		if ep.scheme == "http" {
			port = "80"
		}
	}
	if err := checkHostPort(u.Hostname(), port); err != nil {
		return ep, err
	}
	ep.hostPort = net.JoinHostPort(u.Hostname(), port)

	switch proto {
	case ProtocolGRPC:
		if u.Path != "" && u.Path != "/" {
			return ep, fmt.Errorf("a gRPC endpoint takes no path (for OTLP over HTTP set %s=http/protobuf)", EnvProtocol)
		}
	case ProtocolHTTPProtobuf:
		if perSignal {
			// The per-signal URL is used as is.
			ep.path = u.Path
			if ep.path == "" {
				ep.path = "/"
			}
		} else {
			// The generic URL is a base the signal path is appended to.
			ep.path = path.Join("/", u.Path, defaultHTTPPath)
		}
	}
	return ep, nil
}

func checkHostPort(host, port string) error {
	if host == "" {
		return errors.New("missing host")
	}
	if strings.ContainsAny(host, " \t\r\n/\\@") {
		return errors.New("invalid host")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return errors.New("port must be a number from 1 to 65535")
	}
	return nil
}

// withDefaults fills zero fields, so that a hand-built Config works.
func (c Config) withDefaults() Config {
	if c.Protocol == "" {
		c.Protocol = ProtocolGRPC
	}
	if c.Protocol == ProtocolHTTPProtobuf && c.URLPath == "" {
		c.URLPath = defaultHTTPPath
	}
	if c.Compression == "" {
		c.Compression = CompressionGzip
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Temporality == "" {
		c.Temporality = TemporalityCumulative
	}
	if c.HistogramAggregation == "" {
		c.HistogramAggregation = HistogramExplicitBucket
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.ExportTimeout == 0 {
		c.ExportTimeout = DefaultExportTimeout
	}
	if c.MaxRequestSize == 0 {
		c.MaxRequestSize = DefaultMaxRequestSize
	}
	return c
}

// validate checks a Config that may not come from FromEnv; errors name fields.
func (c Config) validate() error {
	if _, err := parseProtocol(string(c.Protocol)); err != nil {
		return fmt.Errorf("Protocol: %w", err)
	}
	host, port, err := net.SplitHostPort(c.Endpoint)
	if err != nil {
		return errors.New("Endpoint: want host:port")
	}
	if err := checkHostPort(host, port); err != nil {
		return fmt.Errorf("Endpoint: %w", err)
	}
	if _, err := parseCompression(string(c.Compression)); err != nil {
		return fmt.Errorf("Compression: %w", err)
	}
	if _, err := parseTemporality(string(c.Temporality)); err != nil {
		return fmt.Errorf("Temporality: %w", err)
	}
	if _, err := parseHistogramAggregation(string(c.HistogramAggregation)); err != nil {
		return fmt.Errorf("HistogramAggregation: %w", err)
	}
	for name, d := range map[string]time.Duration{"Timeout": c.Timeout, "Interval": c.Interval, "ExportTimeout": c.ExportTimeout} {
		if d < 0 {
			return fmt.Errorf("%s: %s must not be negative", name, d)
		}
	}
	if c.MaxRequestSize < 0 {
		return fmt.Errorf("MaxRequestSize: %d must not be negative", c.MaxRequestSize)
	}
	if c.APIKey != "" {
		if err := checkAPIKey(string(c.APIKey)); err != nil {
			return fmt.Errorf("APIKey: %w", err)
		}
	}
	if (c.ClientCertificateFile == "") != (c.ClientKeyFile == "") {
		return errors.New("ClientCertificateFile and ClientKeyFile must be set together")
	}
	for k, v := range c.Headers {
		if !validHeaderKey(k) {
			return fmt.Errorf("Headers: %w", errHeaderKey)
		}
		if err := checkHeaderValue(string(v)); err != nil {
			return fmt.Errorf("Headers[%s]: %w", k, err)
		}
	}
	return nil
}

// requestHeaders merges the configured headers and the API key header; the
// key wins over a header of the same name, whatever its case.
func (c Config) requestHeaders() map[string]string {
	h := make(map[string]string, len(c.Headers)+1)
	for k, v := range c.Headers {
		if c.APIKey != "" && strings.EqualFold(k, MackerelAPIKeyHeader) {
			continue
		}
		h[k] = string(v)
	}
	if c.APIKey != "" {
		h[MackerelAPIKeyHeader] = string(c.APIKey)
	}
	return h
}
