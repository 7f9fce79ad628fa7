package forward

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/komachi-go/komachi/otelbridge/internal/mackerelkey"
)

// The variables FromEnv checks. The per-signal METRICS_ variants win over the
// generic ones, as the OpenTelemetry specification says.
const (
	envMetricsExporter          = "OTEL_METRICS_EXPORTER"
	envEndpoint                 = "OTEL_EXPORTER_OTLP_ENDPOINT"
	envMetricsEndpoint          = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"
	envProtocol                 = "OTEL_EXPORTER_OTLP_PROTOCOL"
	envMetricsProtocol          = "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"
	envHeaders                  = "OTEL_EXPORTER_OTLP_HEADERS"
	envMetricsHeaders           = "OTEL_EXPORTER_OTLP_METRICS_HEADERS"
	envInsecure                 = "OTEL_EXPORTER_OTLP_INSECURE"
	envMetricsInsecure          = "OTEL_EXPORTER_OTLP_METRICS_INSECURE"
	envCertificate              = "OTEL_EXPORTER_OTLP_CERTIFICATE"
	envMetricsCertificate       = "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE"
	envClientCertificate        = "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"
	envMetricsClientCertificate = "OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE"
	envClientKey                = "OTEL_EXPORTER_OTLP_CLIENT_KEY"
	envMetricsClientKey         = "OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY"
	envCompression              = "OTEL_EXPORTER_OTLP_COMPRESSION"
	envMetricsCompression       = "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION"
	envTimeout                  = "OTEL_EXPORTER_OTLP_TIMEOUT"
	envMetricsTimeout           = "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT"
	envTemporalityPreference    = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"
	envHistogramAggregation     = "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION"
	envExportInterval           = "OTEL_METRIC_EXPORT_INTERVAL"
	envExportTimeout            = "OTEL_METRIC_EXPORT_TIMEOUT"
	envMackerelAPIKey           = mackerelkey.EnvName
	envMackerelAPIKeyAlt        = mackerelkey.EnvNameAlt
)

const (
	// MackerelEndpoint is Mackerel's OTLP metrics ingest, gRPC over TLS only.
	MackerelEndpoint = "otlp.mackerelio.com:4317"
	// MackerelAPIKeyHeader carries the Mackerel API key on every request.
	MackerelAPIKeyHeader = "Mackerel-Api-Key"

	mackerelHost    = "otlp.mackerelio.com"
	defaultHTTPPath = "/v1/metrics"
)

// The defaults of the exporters and of the periodic reader, shown when a
// Config prints itself.
const (
	defaultTimeout       = 10 * time.Second
	defaultInterval      = 60 * time.Second
	defaultExportTimeout = 30 * time.Second
)

// Protocol is the OTLP transport.
type Protocol string

// The transports of the official Go exporters; http/json is not one of them.
const (
	ProtocolGRPC         Protocol = "grpc"
	ProtocolHTTPProtobuf Protocol = "http/protobuf"
)

// Secret is a string that never prints itself (fmt, slog, JSON, logr):
// mackerelkey's, for the key and for header values alike.
type Secret = mackerelkey.Secret

// Config is what [FromEnv] found: the transport, what komachi adds to the
// exporter (Mackerel's endpoint and key, gzip), and for printing the
// settings the exporter and the reader read from the environment themselves.
// Printing it (fmt, slog) never shows the API key or header values.
type Config struct {
	protocol Protocol
	endpoint string // host:port
	urlPath  string // http/protobuf only
	// mackerel: no endpoint variable is set, so New points the exporter at
	// MackerelEndpoint.
	mackerel bool
	insecure bool
	apiKey   Secret
	// headers are the OTEL_EXPORTER_OTLP_[METRICS_]HEADERS that the exporter
	// sends; keyInHeaders tells that they carry the key already.
	headers      map[string]Secret
	keyInHeaders bool
	gzip         bool

	timeout, interval, exportTimeout time.Duration
	temporality, histogram           string
}

// String describes the configuration with the key and header values redacted.
func (c Config) String() string {
	var b strings.Builder
	for i, a := range c.attrs() {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%s", a.Key, a.Value)
	}
	return b.String()
}

// GoString is [Config.String], so that %#v does not leak either.
func (c Config) GoString() string { return "forward.Config{" + c.String() + "}" }

// LogValue renders the configuration for slog with secrets redacted.
func (c Config) LogValue() slog.Value { return slog.GroupValue(c.attrs()...) }

// MarshalText is [Config.String], for encoding/json and text loggers.
func (c Config) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

func (c Config) attrs() []slog.Attr {
	names := make([]string, 0, len(c.headers))
	for k := range c.headers {
		names = append(names, k)
	}
	slices.Sort(names)
	attrs := []slog.Attr{slog.String("protocol", string(c.protocol)), slog.String("endpoint", c.endpoint)}
	if c.protocol == ProtocolHTTPProtobuf {
		attrs = append(attrs, slog.String("path", c.urlPath))
	}
	attrs = append(attrs, slog.Bool("insecure", c.insecure), slog.String("headers", "["+strings.Join(names, ",")+"]"))
	if c.apiKey != "" {
		attrs = append(attrs, slog.String("api_key", mackerelkey.Redacted))
	}
	compression := "none"
	if c.gzip {
		compression = "gzip"
	}
	return append(attrs,
		slog.String("compression", compression),
		slog.Duration("timeout", c.timeout),
		slog.String("temporality", c.temporality),
		slog.String("histogram", c.histogram),
		slog.Duration("interval", c.interval),
		slog.Duration("export_timeout", c.exportTimeout),
	)
}

// FromEnv checks the OTEL_* and MACKEREL_APIKEY variables of the process,
// which the exporters and the reader built by [New] read themselves. enabled
// is false, with no error, when nothing asks for forwarding or
// OTEL_METRICS_EXPORTER is none; the other variables are then not read, as
// they may be meant for another signal. Otherwise every variable the exporter
// would read is checked, the shadowed generic ones included, and a value the
// exporter would skip with a log line is an error. Every error names the
// variable and never holds its value.
func FromEnv() (cfg Config, enabled bool, err error) {
	return fromEnv(os.LookupEnv)
}

func fromEnv(lookup func(string) (string, bool)) (Config, bool, error) {
	raw := func(name string) string { v, _ := lookup(name); return v }
	// The exporters trim what they read, and a blank value is unset.
	get := func(name string) string { return strings.TrimSpace(raw(name)) }

	switch v := strings.ToLower(get(envMetricsExporter)); v {
	case "", "otlp":
	case "none":
		return Config{}, false, nil
	default:
		return Config{}, false, fmt.Errorf("forward: %s: komachi exports over OTLP only: want otlp or none", envMetricsExporter)
	}
	key, keyVar, err := mackerelkey.FromEnv(lookup)
	if err != nil {
		return Config{}, false, fmt.Errorf("forward: %w", err)
	}
	endpointVar := winner(get, envEndpoint, envMetricsEndpoint)
	rawEndpoint := get(endpointVar)
	if rawEndpoint == "" && key == "" {
		return Config{}, false, nil
	}

	cfg := Config{apiKey: key, mackerel: rawEndpoint == ""}
	var ep endpoint
	if !cfg.mackerel {
		if ep, err = parseEndpoint(rawEndpoint); err != nil {
			return Config{}, false, envError(endpointVar, err)
		}
		if endpointVar == envMetricsEndpoint {
			// The exporter parses the shadowed generic endpoint too, and
			// logs its value when it fails.
			if v := get(envEndpoint); v != "" {
				if _, err := parseEndpoint(v); err != nil {
					return Config{}, false, envError(envEndpoint, err)
				}
			}
		}
	}
	toMackerel := cfg.mackerel || strings.EqualFold(ep.host, mackerelHost)

	// No exporter reads the protocol, so only the one that wins is checked: the
	// generic may be meant for another signal.
	proto, protoVar, err := lastSet(get, parseProtocol, winner(get, envProtocol, envMetricsProtocol))
	switch {
	case err != nil:
		return Config{}, false, err
	case protoVar == "" && toMackerel:
		proto = ProtocolGRPC
	case protoVar == "":
		proto = ProtocolHTTPProtobuf // the specification's default
	case proto != ProtocolGRPC && toMackerel:
		return Config{}, false, fmt.Errorf("forward: %s: Mackerel's OTLP metrics ingest (%s) accepts gRPC only", protoVar, MackerelEndpoint)
	}
	cfg.protocol = proto

	insecure, insecureVar, err := lastSet(get, parseBool, envInsecure, envMetricsInsecure)
	if err != nil {
		return Config{}, false, err
	}
	if cfg.mackerel {
		if insecure {
			return Config{}, false, fmt.Errorf("forward: %s: Mackerel's OTLP metrics ingest (%s) takes TLS only; set %s for a plaintext collector",
				insecureVar, MackerelEndpoint, envEndpoint)
		}
		cfg.endpoint = MackerelEndpoint
	} else {
		if cfg.endpoint, cfg.urlPath, err = ep.resolve(proto, endpointVar == envMetricsEndpoint); err != nil {
			return Config{}, false, envError(endpointVar, err)
		}
		cfg.insecure = ep.scheme == "http"
		switch {
		case ep.scheme == "":
			cfg.insecure = insecure
		case insecureVar != "" && insecure != cfg.insecure:
			// The exporter would let the variable win over the scheme.
			return Config{}, false, fmt.Errorf("forward: %s contradicts the scheme of %s; drop it (it is for an endpoint without a scheme)",
				insecureVar, endpointVar)
		}
	}

	_, caVar, err := lastSet(get, checkCertificate, envCertificate, envMetricsCertificate)
	if err != nil {
		return Config{}, false, err
	}
	clientVar, err := clientPairFromEnv(get)
	if err != nil {
		return Config{}, false, err
	}
	if cfg.insecure && (caVar != "" || clientVar != "") {
		return Config{}, false, fmt.Errorf("forward: %s is set but the endpoint in %s is plaintext (http:// or %s=true); use https:// or drop the certificate",
			cmp.Or(caVar, clientVar), endpointVar, envInsecure)
	}

	headers, headersVar, err := lastSet(get, parseHeaders, envHeaders, envMetricsHeaders)
	if err != nil {
		return Config{}, false, err
	}
	cfg.headers = headers
	for k, v := range headers {
		if key != "" && strings.EqualFold(k, MackerelAPIKeyHeader) {
			if v != key {
				return Config{}, false, fmt.Errorf("forward: %s sets %s to a value other than %s; set the key in one place",
					headersVar, MackerelAPIKeyHeader, keyVar)
			}
			cfg.keyInHeaders = true
		}
	}

	gzip, compressionVar, err := lastSet(get, parseCompression, envCompression, envMetricsCompression)
	if err != nil {
		return Config{}, false, err
	}
	cfg.gzip = gzip || compressionVar == "" // komachi's default, as Mackerel's own exporter

	if cfg.timeout, err = withDefault(get, parseMillis, defaultTimeout, envTimeout, envMetricsTimeout); err != nil {
		return Config{}, false, err
	}
	if cfg.temporality, err = withDefault(get, parseTemporality, "cumulative", envTemporalityPreference); err != nil {
		return Config{}, false, err
	}
	if cfg.histogram, err = withDefault(get, parseHistogramAggregation, "explicit_bucket_histogram", envHistogramAggregation); err != nil {
		return Config{}, false, err
	}
	// The periodic reader reads these two untrimmed.
	if cfg.interval, err = withDefault(raw, parseMillis, defaultInterval, envExportInterval); err != nil {
		return Config{}, false, err
	}
	if cfg.exportTimeout, err = withDefault(raw, parseMillis, defaultExportTimeout, envExportTimeout); err != nil {
		return Config{}, false, err
	}
	return cfg, true, nil
}

// lastSet parses each of the named variables that is set, since the exporter
// reads every one of them, and returns the value of the last one set: the
// METRICS_ variant over the generic. name is "" when none is set.
func lastSet[T any](get func(string) string, parse func(string) (T, error), names ...string) (v T, name string, err error) {
	for _, n := range names {
		s := get(n)
		if s == "" {
			continue
		}
		p, err := parse(s)
		if err != nil {
			var zero T
			return zero, n, envError(n, err)
		}
		v, name = p, n
	}
	return v, name, nil
}

// winner names the variable of a pair whose value the exporter uses: the
// METRICS_ variant when set.
func winner(get func(string) string, generic, specific string) string {
	if get(specific) != "" {
		return specific
	}
	return generic
}

func withDefault[T any](get func(string) string, parse func(string) (T, error), def T, names ...string) (T, error) {
	v, name, err := lastSet(get, parse, names...)
	if name == "" && err == nil {
		return def, nil
	}
	return v, err
}

func envError(name string, err error) error {
	return fmt.Errorf("forward: %s: %w", name, err)
}

// clientPairFromEnv checks both client certificate pairs; it returns the
// variable of the pair in use, or "".
func clientPairFromEnv(get func(string) string) (string, error) {
	inUse := ""
	for _, pair := range [][2]string{{envClientCertificate, envClientKey}, {envMetricsClientCertificate, envMetricsClientKey}} {
		cert, key := get(pair[0]), get(pair[1])
		if cert == "" && key == "" {
			continue
		}
		if cert == "" || key == "" {
			return "", fmt.Errorf("forward: %s and %s must be set together", pair[0], pair[1])
		}
		if err := checkClientPair(cert, key); err != nil {
			return "", envError(pair[0]+"/"+pair[1], err)
		}
		inUse = pair[0]
	}
	return inUse, nil
}

func parseProtocol(v string) (Protocol, error) {
	switch p := Protocol(strings.ToLower(v)); p {
	case ProtocolGRPC, ProtocolHTTPProtobuf:
		return p, nil
	case "http/json":
		return "", errors.New("the official Go OTLP exporter has no JSON encoding; want grpc or http/protobuf")
	}
	return "", errors.New("unsupported protocol: want grpc or http/protobuf")
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, errors.New("want true or false")
}

// parseCompression reports whether v asks for gzip.
func parseCompression(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "gzip":
		return true, nil
	case "none":
		return false, nil
	}
	return false, errors.New("unsupported compression: want gzip or none")
}

func parseTemporality(v string) (string, error) {
	switch t := strings.ToLower(v); t {
	case "cumulative", "delta", "lowmemory":
		return t, nil
	}
	return "", errors.New("unknown temporality: want cumulative, delta or lowmemory")
}

func parseHistogramAggregation(v string) (string, error) {
	switch h := strings.ToLower(v); h {
	case "explicit_bucket_histogram", "base2_exponential_bucket_histogram":
		return h, nil
	}
	return "", errors.New("unknown aggregation: want explicit_bucket_histogram or base2_exponential_bucket_histogram")
}

// maxMillis keeps a millisecond count inside time.Duration.
const maxMillis = math.MaxInt64 / int64(time.Millisecond)

// parseMillis reads a positive whole number of milliseconds. Zero is
// refused: for a timeout it would mean "no timeout" to the exporter, and the
// reader skips it with a log line.
func parseMillis(v string) (time.Duration, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	switch {
	case err != nil:
		return 0, errors.New("not a whole number of milliseconds")
	case n <= 0:
		return 0, errors.New("must be a positive number of milliseconds")
	case n > maxMillis:
		return 0, errors.New("too large")
	}
	return time.Duration(n) * time.Millisecond, nil
}

// endpoint is an OTLP endpoint as the exporter reads it from the
// environment: a URL, or for gRPC a bare host:port.
type endpoint struct {
	scheme     string // "http", "https", or "" for a bare host:port
	host, port string // port may be "" in a URL
	path       string
}

// parseEndpoint refuses what the exporter would skip with a log line (the
// log holds the value, and a URL may carry user:password), and URLs whose
// parts it would drop. It never echoes the value.
func parseEndpoint(raw string) (endpoint, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return endpoint{}, errors.New("not a valid URL (a bare host:port must start with a letter; else write http://host:port)")
	}
	if u.User != nil {
		return endpoint{}, fmt.Errorf("credentials in the URL are not supported; use %s", envHeaders)
	}
	if !strings.Contains(raw, "://") {
		host, port, err := net.SplitHostPort(raw)
		if err != nil {
			return endpoint{}, errors.New("not a URL (http://host:port) nor host:port")
		}
		return endpoint{host: host, port: port}, checkHostPort(host, port)
	}
	ep := endpoint{scheme: strings.ToLower(u.Scheme), host: u.Hostname(), port: u.Port(), path: u.Path}
	if ep.scheme != "http" && ep.scheme != "https" {
		return endpoint{}, errors.New("URL scheme must be http or https")
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return endpoint{}, errors.New("URL must not have a query or a fragment")
	}
	port := ep.port
	if port == "" {
		port = "443"
	}
	return ep, checkHostPort(ep.host, port)
}

// resolve returns host:port and, for http/protobuf, the request path, as the
// exporter will use them.
func (ep endpoint) resolve(proto Protocol, perSignal bool) (hostPort, urlPath string, err error) {
	port := ep.port
	if port == "" && ep.scheme == "https" {
		port = "443"
	}
	if proto == ProtocolGRPC {
		if ep.path != "" && ep.path != "/" {
			return "", "", fmt.Errorf("a gRPC endpoint takes no path (for OTLP over HTTP set %s=http/protobuf)", envProtocol)
		}
		if port == "" {
			return "", "", errors.New("a plaintext gRPC endpoint needs a port (such as :4317)")
		}
		return net.JoinHostPort(ep.host, port), "", nil
	}
	if ep.scheme == "" {
		return "", "", errors.New("OTLP over HTTP needs a URL (http://host:port or https://host:port)")
	}
	if port == "" {
		port = "80"
	}
	switch {
	case perSignal && ep.path == "":
		urlPath = "/"
	case perSignal:
		urlPath = ep.path // used as is, as the specification says
	default:
		urlPath = path.Join("/", ep.path, defaultHTTPPath) // a base for the signal's path
	}
	return net.JoinHostPort(ep.host, port), urlPath, nil
}

func checkHostPort(host, port string) error {
	if host == "" {
		return errors.New("missing host")
	}
	if strings.ContainsAny(host, " \t\r\n/\\@") {
		return errors.New("invalid host")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return errors.New("port must be a number from 1 to 65535")
	}
	return nil
}

// requestHeaders are the headers for the HTTP exporter: the ones from the
// environment, which its WithHeaders option replaces, and the key.
func (c Config) requestHeaders() map[string]string {
	h := make(map[string]string, len(c.headers)+1)
	for k, v := range c.headers {
		if !strings.EqualFold(k, MackerelAPIKeyHeader) {
			h[k] = string(v)
		}
	}
	if c.apiKey != "" {
		h[MackerelAPIKeyHeader] = string(c.apiKey)
	}
	return h
}
