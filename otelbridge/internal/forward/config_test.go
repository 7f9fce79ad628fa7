package forward

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestFromEnvOff(t *testing.T) {
	for name, env := range map[string]map[string]string{
		"nothing":                    {},
		"empty values are unset":     {EnvEndpoint: "", EnvMackerelAPIKey: "", EnvMackerelAPIKeyAlt: ""},
		"other vars only, even bad":  {EnvProtocol: "carrier-pigeon", EnvHeaders: "no equals", EnvExportInterval: "-1"},
		"exporter none, key set":     {EnvMetricsExporter: "none", EnvMackerelAPIKey: testKey},
		"exporter None, endpoint":    {EnvMetricsExporter: " None ", EnvEndpoint: "http://127.0.0.1:4317"},
		"exporter prometheus only":   {EnvMetricsExporter: "prometheus", EnvEndpoint: "http://127.0.0.1:4317"},
		"exporter list with none":    {EnvMetricsExporter: "otlp,none", EnvEndpoint: "http://127.0.0.1:4317"},
		"whitespace endpoint no key": {EnvEndpoint: "  "},
		"bad shadowed headers, off":  {EnvMetricsHeaders: "x=1", EnvHeaders: "bad"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg, on, err := FromEnv(mapEnv(env))
			if err != nil || on {
				t.Fatalf("FromEnv = %v, %v; want off without error", on, err)
			}
			if cfg.Endpoint != "" || cfg.APIKey != "" {
				t.Fatalf("off but Config %v", cfg)
			}
		})
	}
}

func TestFromEnvGood(t *testing.T) {
	_, caFile := testCert(t)
	mackerel := Config{
		Protocol: ProtocolGRPC, Endpoint: MackerelEndpoint, APIKey: testKey,
		Compression: CompressionGzip, Timeout: DefaultTimeout, Temporality: TemporalityCumulative,
		HistogramAggregation: HistogramExplicitBucket, Interval: DefaultInterval,
		ExportTimeout: DefaultExportTimeout, MaxRequestSize: DefaultMaxRequestSize,
	}
	with := func(f func(*Config)) Config {
		c := mackerel
		c.Headers = maps.Clone(c.Headers)
		f(&c)
		return c
	}
	collector := func(c *Config) { c.APIKey = ""; c.Endpoint = "collector.internal:4317" }
	for _, tc := range []struct {
		name string
		env  map[string]string
		want Config
	}{
		{"key only: Mackerel", map[string]string{EnvMackerelAPIKey: testKey}, mackerel},
		{"alternative key name", map[string]string{EnvMackerelAPIKeyAlt: testKey}, mackerel},
		{"both key names agree", map[string]string{EnvMackerelAPIKey: testKey, EnvMackerelAPIKeyAlt: testKey}, mackerel},
		{"exporter otlp in a list", map[string]string{EnvMetricsExporter: "prometheus, otlp", EnvMackerelAPIKey: testKey}, mackerel},
		{"key only ignores INSECURE", map[string]string{EnvMackerelAPIKey: testKey, EnvInsecure: "true"}, mackerel},
		{"https URL", map[string]string{EnvEndpoint: "https://collector.internal:4317"}, with(collector)},
		{"http URL is insecure", map[string]string{EnvEndpoint: "http://collector.internal:4317/"},
			with(func(c *Config) { collector(c); c.Insecure = true })},
		{"scheme beats INSECURE", map[string]string{EnvEndpoint: "https://collector.internal:4317", EnvInsecure: "true"}, with(collector)},
		{"URL without port", map[string]string{EnvEndpoint: "HTTPS://collector.internal"},
			with(func(c *Config) { collector(c); c.Endpoint = "collector.internal:443" })},
		{"host:port is TLS", map[string]string{EnvEndpoint: "collector.internal:4317"}, with(collector)},
		{"host:port INSECURE", map[string]string{EnvEndpoint: "collector.internal:4317", EnvInsecure: "TRUE"},
			with(func(c *Config) { collector(c); c.Insecure = true })},
		{"METRICS_INSECURE wins", map[string]string{EnvEndpoint: "collector.internal:4317", EnvInsecure: "true", EnvMetricsInsecure: "false"}, with(collector)},
		{"IPv6", map[string]string{EnvEndpoint: "http://[::1]:4317"},
			with(func(c *Config) { collector(c); c.Endpoint = "[::1]:4317"; c.Insecure = true })},
		{"METRICS_ENDPOINT wins", map[string]string{EnvEndpoint: "http://other:1", EnvMetricsEndpoint: "https://collector.internal:4317"}, with(collector)},
		{"key and custom endpoint", map[string]string{EnvMackerelAPIKey: testKey, EnvEndpoint: "http://127.0.0.1:4317"},
			with(func(c *Config) { c.Endpoint = "127.0.0.1:4317"; c.Insecure = true })},
		{"http/protobuf base URL", map[string]string{EnvEndpoint: "http://collector.internal:4318", EnvProtocol: "http/protobuf"},
			with(func(c *Config) {
				collector(c)
				c.Protocol, c.Endpoint, c.URLPath, c.Insecure = ProtocolHTTPProtobuf, "collector.internal:4318", "/v1/metrics", true
			})},
		{"http/protobuf base URL with path", map[string]string{EnvEndpoint: "https://collector.internal/otlp/", EnvProtocol: "HTTP/PROTOBUF"},
			with(func(c *Config) {
				collector(c)
				c.Protocol, c.Endpoint, c.URLPath = ProtocolHTTPProtobuf, "collector.internal:443", "/otlp/v1/metrics"
			})},
		{"http/protobuf per-signal URL as is", map[string]string{EnvMetricsEndpoint: "https://collector.internal:4318/custom/path", EnvMetricsProtocol: "http/protobuf", EnvProtocol: "grpc"},
			with(func(c *Config) {
				collector(c)
				c.Protocol, c.Endpoint, c.URLPath = ProtocolHTTPProtobuf, "collector.internal:4318", "/custom/path"
			})},
		{"http/protobuf per-signal URL without path", map[string]string{EnvMetricsEndpoint: "https://collector.internal:4318", EnvProtocol: "http/protobuf"},
			with(func(c *Config) {
				collector(c)
				c.Protocol, c.Endpoint, c.URLPath = ProtocolHTTPProtobuf, "collector.internal:4318", "/"
			})},
		{"headers", map[string]string{EnvMackerelAPIKey: testKey, EnvHeaders: " x-a = 1 ,X-B=two%20words%2C%3D, ,"},
			with(func(c *Config) { c.Headers = map[string]Secret{"x-a": "1", "X-B": "two words,="} })},
		{"METRICS_HEADERS replace", map[string]string{EnvMackerelAPIKey: testKey, EnvHeaders: "x-a=1", EnvMetricsHeaders: "x-b=2"},
			with(func(c *Config) { c.Headers = map[string]Secret{"x-b": "2"} })},
		{"header repeats the key", map[string]string{EnvMackerelAPIKey: testKey, EnvHeaders: "mackerel-api-key=" + testKey},
			with(func(c *Config) { c.Headers = map[string]Secret{"mackerel-api-key": testKey} })},
		{"certificate", map[string]string{EnvMackerelAPIKey: testKey, EnvCertificate: caFile},
			with(func(c *Config) { c.CertificateFile = caFile })},
		{"compression none", map[string]string{EnvMackerelAPIKey: testKey, EnvCompression: "gzip", EnvMetricsCompression: "None"},
			with(func(c *Config) { c.Compression = CompressionNone })},
		{"timeouts and interval", map[string]string{EnvMackerelAPIKey: testKey, EnvTimeout: "1", EnvMetricsTimeout: " 2500 ", EnvExportInterval: "100", EnvExportTimeout: "45000"},
			with(func(c *Config) {
				c.Timeout, c.Interval, c.ExportTimeout = 2500*time.Millisecond, 100*time.Millisecond, 45*time.Second
			})},
		{"delta", map[string]string{EnvMackerelAPIKey: testKey, EnvTemporalityPreference: "Delta"},
			with(func(c *Config) { c.Temporality = TemporalityDelta })},
		{"lowmemory", map[string]string{EnvMackerelAPIKey: testKey, EnvTemporalityPreference: "lowmemory"},
			with(func(c *Config) { c.Temporality = TemporalityLowMemory })},
		{"exponential histogram", map[string]string{EnvMackerelAPIKey: testKey, EnvHistogramAggregation: "base2_exponential_bucket_histogram"},
			with(func(c *Config) { c.HistogramAggregation = HistogramBase2Exponential })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, on, err := FromEnv(mapEnv(tc.env))
			if err != nil || !on {
				t.Fatalf("FromEnv = %v, %v", on, err)
			}
			if got.String() != tc.want.String() || !maps.Equal(got.Headers, tc.want.Headers) || got.APIKey != tc.want.APIKey ||
				got.ClientCertificateFile != tc.want.ClientCertificateFile {
				t.Fatalf("FromEnv:\n got %v %v\nwant %v %v", got, got.Headers, tc.want, tc.want.Headers)
			}
		})
	}
}

func TestFromEnvErrors(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, caFile := testCert(t)
	k := map[string]string{EnvMackerelAPIKey: testKey}
	plus := func(kv ...string) map[string]string {
		m := maps.Clone(k)
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		name    string
		env     map[string]string
		wantVar string
		secret  string // must not appear in the error, besides the key
	}{
		{"bad exporter list", plus(EnvMetricsExporter, "otlp,,x"), EnvMetricsExporter, ""},
		{"key with space", map[string]string{EnvMackerelAPIKey: "abc def-" + testKey}, EnvMackerelAPIKey, "abc def"},
		{"key with newline", map[string]string{EnvMackerelAPIKey: testKey + "\n"}, EnvMackerelAPIKey, ""},
		{"key with tab", map[string]string{EnvMackerelAPIKeyAlt: "\t" + testKey}, EnvMackerelAPIKeyAlt, ""},
		{"key non-ASCII", map[string]string{EnvMackerelAPIKey: testKey + "é"}, EnvMackerelAPIKey, ""},
		{"key names disagree", map[string]string{EnvMackerelAPIKey: testKey, EnvMackerelAPIKeyAlt: "other-key-123456"}, EnvMackerelAPIKeyAlt, "other-key-123456"},
		{"protocol http/json", plus(EnvProtocol, "http/json"), EnvProtocol, ""},
		{"protocol unknown", plus(EnvMetricsProtocol, "udp"), EnvMetricsProtocol, ""},
		{"key only but http", plus(EnvProtocol, "http/protobuf"), EnvProtocol, ""},
		{"insecure yes", plus(EnvEndpoint, "collector:4317", EnvInsecure, "yes"), EnvInsecure, ""},
		{"metrics insecure 1", plus(EnvEndpoint, "collector:4317", EnvMetricsInsecure, "1"), EnvMetricsInsecure, ""},
		{"endpoint scheme", plus(EnvEndpoint, "ftp://collector:21"), EnvEndpoint, ""},
		{"endpoint no host", plus(EnvEndpoint, "http://:4317"), EnvEndpoint, ""},
		{"endpoint empty URL", plus(EnvEndpoint, "https://"), EnvEndpoint, ""},
		{"endpoint credentials", plus(EnvEndpoint, "https://user:hunter2pass@collector:4317"), EnvEndpoint, "hunter2pass"},
		{"endpoint no port", plus(EnvEndpoint, "collector"), EnvEndpoint, ""},
		{"endpoint port range", plus(EnvEndpoint, "collector:99999"), EnvEndpoint, ""},
		{"endpoint port zero", plus(EnvEndpoint, "http://collector:0"), EnvEndpoint, ""},
		{"endpoint port name", plus(EnvMetricsEndpoint, "http://collector:otlp"), EnvMetricsEndpoint, ""},
		{"endpoint query", plus(EnvEndpoint, "http://collector:4317?token=abcdef123"), EnvEndpoint, "abcdef123"},
		{"endpoint bad URL", plus(EnvEndpoint, "http://col lector:4317/%zz"), EnvEndpoint, ""},
		{"grpc endpoint with path", plus(EnvEndpoint, "http://collector:4317/v1/metrics"), EnvEndpoint, ""},
		{"headers no =", plus(EnvHeaders, "x-a=1,Mackerel-Api-Key: topsecret99"), EnvHeaders, "topsecret99"},
		{"headers empty name", plus(EnvHeaders, "=topsecret99"), EnvHeaders, "topsecret99"},
		{"headers bad name", plus(EnvMetricsHeaders, "x a=topsecret99"), EnvMetricsHeaders, "topsecret99"},
		{"headers bad escape", plus(EnvHeaders, "x-a=topsecret99%zz"), EnvHeaders, "topsecret99"},
		{"headers CRLF", plus(EnvHeaders, "x-a=topsecret99%0D%0AX-Evil: 1"), EnvHeaders, "topsecret99"},
		{"headers NUL", plus(EnvHeaders, "x-a=top%00secret99"), EnvHeaders, "secret99"},
		{"headers non-ASCII", plus(EnvHeaders, "x-a=topsecret99%C3%A9"), EnvHeaders, "topsecret99"},
		{"headers duplicate", plus(EnvHeaders, "x-a=topsecret99,X-A=2"), EnvHeaders, "topsecret99"},
		{"shadowed generic headers", plus(EnvMetricsHeaders, "x-a=1", EnvHeaders, "Authorization: topsecret99"), EnvHeaders, "topsecret99"},
		{"shadowed generic endpoint", plus(EnvMetricsEndpoint, "http://127.0.0.1:4317", EnvEndpoint, "https://u:hunter2pass@c:1"), EnvEndpoint, "hunter2pass"},
		{"headers other key", plus(EnvHeaders, "Mackerel-Api-Key=another-key-999"), EnvHeaders, "another-key-999"},
		{"certificate missing", plus(EnvCertificate, filepath.Join(dir, "nope.pem")), EnvCertificate, ""},
		{"certificate junk", plus(EnvMetricsCertificate, junk), EnvMetricsCertificate, ""},
		{"certificate on http", plus(EnvEndpoint, "http://collector:4317", EnvCertificate, caFile), EnvCertificate, ""},
		{"client cert alone", plus(EnvClientCertificate, caFile), EnvClientKey, ""},
		{"client pair junk", plus(EnvClientCertificate, junk, EnvClientKey, junk), EnvClientCertificate, ""},
		{"compression br", plus(EnvCompression, "br"), EnvCompression, ""},
		{"timeout negative", plus(EnvTimeout, "-1"), EnvTimeout, ""},
		{"timeout zero", plus(EnvMetricsTimeout, "0"), EnvMetricsTimeout, ""},
		{"timeout words", plus(EnvTimeout, "10s"), EnvTimeout, ""},
		{"timeout float", plus(EnvTimeout, "1.5"), EnvTimeout, ""},
		{"timeout overflow", plus(EnvTimeout, "9223372036854775807"), EnvTimeout, ""},
		{"temporality", plus(EnvTemporalityPreference, "sometimes"), EnvTemporalityPreference, ""},
		{"histogram", plus(EnvHistogramAggregation, "exponential"), EnvHistogramAggregation, ""},
		{"interval negative", plus(EnvExportInterval, "-100"), EnvExportInterval, ""},
		{"interval junk", plus(EnvExportInterval, "1m"), EnvExportInterval, ""},
		{"export timeout zero", plus(EnvExportTimeout, "0"), EnvExportTimeout, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, on, err := FromEnv(mapEnv(tc.env))
			if err == nil {
				t.Fatalf("FromEnv accepted it: %v, %v", on, cfg)
			}
			if on {
				t.Errorf("enabled despite the error")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.wantVar) {
				t.Errorf("error %q does not name %s", msg, tc.wantVar)
			}
			if strings.Contains(msg, testKey) || (tc.secret != "" && strings.Contains(msg, tc.secret)) {
				t.Errorf("error leaks a secret: %q", msg)
			}
			t.Log(msg)
		})
	}
}

// TestConfigNeverPrintsSecrets covers every way a Config gets printed.
func TestConfigNeverPrintsSecrets(t *testing.T) {
	const token = "bearer-token-abcdef"
	cfg, _, err := FromEnv(mapEnv(map[string]string{
		EnvMackerelAPIKey: testKey,
		EnvHeaders:        "authorization=" + url.PathEscape("Bearer "+token),
	}))
	if err != nil {
		t.Fatal(err)
	}
	var js bytes.Buffer
	slog.New(slog.NewJSONHandler(&js, nil)).Info("config", "forward", cfg)
	var text bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("config", "forward", cfg, "key", cfg.APIKey, "headers", cfg.Headers)
	marshalled, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	outputs := []string{
		cfg.String(), fmt.Sprint(cfg), fmt.Sprintf("%v|%+v|%#v|%s|%q", cfg, cfg, cfg, cfg, cfg),
		fmt.Sprintf("%v|%+v|%#v|%s|%x", cfg.APIKey, cfg.Headers, cfg.Headers, cfg.APIKey, cfg.APIKey),
		fmt.Sprintf("%v", &cfg), js.String(), text.String(), string(marshalled),
	}
	for _, s := range outputs {
		if strings.Contains(s, testKey) || strings.Contains(s, token) {
			t.Fatalf("secret printed: %s", s)
		}
	}
	if !strings.Contains(cfg.String(), "authorization") || !strings.Contains(js.String(), `"endpoint":"otlp.mackerelio.com:4317"`) {
		t.Errorf("useful fields missing: %s / %s", cfg, js.String())
	}
}

var headerErrRE = regexp.MustCompile(`^entry \d+( \([!#$%&'*+.^_` + "`" + `|~0-9A-Za-z-]+\))?: (` + strings.Join([]string{
	regexp.QuoteMeta(errHeaderMissingEq.Error()),
	regexp.QuoteMeta(errHeaderKey.Error()),
	regexp.QuoteMeta(errHeaderEscape.Error()),
	regexp.QuoteMeta(errHeaderControl.Error()),
	regexp.QuoteMeta(errHeaderNonASCII.Error()),
	regexp.QuoteMeta(errHeaderDuplicate.Error()),
}, "|") + `)$`)

// FuzzParseHeaders: the parser never panics; what it accepts is sendable
// and survives a round trip; what it refuses is explained without quoting
// any value.
func FuzzParseHeaders(f *testing.F) {
	for _, s := range []string{
		"", "a=b", "a=b,c=d", " a = b , c = d%20e ,", "Mackerel-Api-Key=abc", "k=%zz", "k=a%0Ab",
		"k=%C3%A9", "=v", "novalue", "a=1,A=2", "a==b", "a=b=c", ",,,", "x-bin=YWJj", "k=%2C%3D%25",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parseHeaders(s)
		if err != nil {
			if !headerErrRE.MatchString(err.Error()) {
				t.Fatalf("error %q is not one of the fixed messages", err)
			}
			return
		}
		var parts []string
		for k, v := range h {
			if !validHeaderKey(k) || checkHeaderValue(string(v)) != nil {
				t.Fatalf("accepted unsendable %q=%q", k, string(v))
			}
			if strings.TrimSpace(string(v)) != string(v) {
				t.Fatalf("value %q not trimmed", string(v))
			}
			parts = append(parts, k+"="+url.PathEscape(string(v)))
		}
		again, err := parseHeaders(strings.Join(parts, ","))
		if err != nil || !maps.Equal(again, h) {
			t.Fatalf("round trip of %v: %v, %v", h, again, err)
		}
	})
}

// FuzzFromEnv: any values, no panic, and the key never appears in an error
// or a printed Config.
func FuzzFromEnv(f *testing.F) {
	f.Add("http://127.0.0.1:4317", "grpc", "a=b", "100", "5000", "true")
	f.Add("collector:4317", "http/protobuf", "k=%zz", "-1", "x", "maybe")
	f.Add("https://u:p@h", "http/json", "=", "0", "", "")
	f.Fuzz(func(t *testing.T, endpoint, protocol, headers, interval, timeout, insecure string) {
		env := map[string]string{
			EnvMackerelAPIKey: testKey, EnvEndpoint: endpoint, EnvProtocol: protocol,
			EnvHeaders: headers, EnvExportInterval: interval, EnvTimeout: timeout, EnvInsecure: insecure,
		}
		cfg, on, err := FromEnv(mapEnv(env))
		if err != nil {
			if on || strings.Contains(err.Error(), testKey) {
				t.Fatalf("on=%v err=%v", on, err)
			}
			return
		}
		if !on {
			t.Fatal("key set but off")
		}
		if s := fmt.Sprintf("%v %#v", cfg, cfg); strings.Contains(s, testKey) {
			t.Fatalf("printed key: %s", s)
		}
		if err := cfg.validate(); err != nil {
			t.Fatalf("FromEnv produced a Config that New refuses: %v", err)
		}
	})
}
