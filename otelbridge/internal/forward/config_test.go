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
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/komachi-go/komachi/internal/testutil/otlptest"
)

func TestFromEnvOff(t *testing.T) {
	for name, env := range map[string]map[string]string{
		"nothing":                    {},
		"empty values are unset":     {envEndpoint: "", envMackerelAPIKey: "", envMackerelAPIKeyAlt: ""},
		"other vars only, even bad":  {envProtocol: "carrier-pigeon", envHeaders: "no equals", envExportInterval: "-1"},
		"exporter none, key set":     {envMetricsExporter: "none", envMackerelAPIKey: testKey},
		"exporter None, endpoint":    {envMetricsExporter: " None ", envEndpoint: "http://127.0.0.1:4318"},
		"whitespace endpoint no key": {envEndpoint: "  "},
		"bad shadowed headers, off":  {envMetricsHeaders: "x=1", envHeaders: "bad"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg, on, err := fromEnv(mapEnv(env))
			if err != nil || on {
				t.Fatalf("fromEnv = %v, %v; want off without error", on, err)
			}
			if cfg.endpoint != "" || cfg.apiKey != "" {
				t.Fatalf("off but Config %v", cfg)
			}
		})
	}
}

func TestFromEnvGood(t *testing.T) {
	_, caFile := otlptest.SelfSignedCert(t)
	defaults := Config{
		gzip: true, timeout: defaultTimeout, temporality: "cumulative", histogram: "explicit_bucket_histogram",
		interval: defaultInterval, exportTimeout: defaultExportTimeout,
	}
	with := func(f func(*Config)) Config {
		c := defaults
		f(&c)
		return c
	}
	mackerel := with(func(c *Config) {
		c.protocol, c.endpoint, c.mackerel, c.apiKey = ProtocolGRPC, MackerelEndpoint, true, testKey
	})
	withKey := func(f func(*Config)) Config {
		c := mackerel
		f(&c)
		return c
	}
	// A collector: over HTTP by default, or gRPC when asked.
	httpTo := func(hostPort, path string, insecure bool) Config {
		return with(func(c *Config) {
			c.protocol, c.endpoint, c.urlPath, c.insecure = ProtocolHTTPProtobuf, hostPort, path, insecure
		})
	}
	grpcTo := func(hostPort string, insecure bool) Config {
		return with(func(c *Config) { c.protocol, c.endpoint, c.insecure = ProtocolGRPC, hostPort, insecure })
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want Config
	}{
		{"key only: Mackerel", map[string]string{envMackerelAPIKey: testKey}, mackerel},
		{"alternative key name", map[string]string{envMackerelAPIKeyAlt: testKey}, mackerel},
		{"both key names agree", map[string]string{envMackerelAPIKey: testKey, envMackerelAPIKeyAlt: testKey}, mackerel},
		{"exporter otlp", map[string]string{envMetricsExporter: " OTLP ", envMackerelAPIKey: testKey}, mackerel},
		{"key only, INSECURE false", map[string]string{envMackerelAPIKey: testKey, envInsecure: "false"}, mackerel},
		{"Mackerel's endpoint named: gRPC", map[string]string{envMackerelAPIKey: testKey, envEndpoint: "https://otlp.mackerelio.com:4317"},
			withKey(func(c *Config) { c.mackerel = false })},
		{"https URL: http/protobuf", map[string]string{envEndpoint: "https://collector.internal:4318"},
			httpTo("collector.internal:4318", "/v1/metrics", false)},
		{"http URL is insecure", map[string]string{envEndpoint: "http://collector.internal:4317/", envProtocol: "grpc"},
			grpcTo("collector.internal:4317", true)},
		{"INSECURE agrees with the scheme", map[string]string{envEndpoint: "http://collector.internal:4317", envProtocol: "grpc", envInsecure: "true"},
			grpcTo("collector.internal:4317", true)},
		{"URL without port", map[string]string{envEndpoint: "HTTPS://collector.internal"},
			httpTo("collector.internal:443", "/v1/metrics", false)},
		{"gRPC over TLS without port", map[string]string{envEndpoint: "https://collector.internal", envProtocol: "grpc"},
			grpcTo("collector.internal:443", false)},
		{"host:port is TLS", map[string]string{envEndpoint: "collector.internal:4317", envProtocol: "grpc"},
			grpcTo("collector.internal:4317", false)},
		{"host:port INSECURE", map[string]string{envEndpoint: "collector.internal:4317", envProtocol: "grpc", envInsecure: "TRUE"},
			grpcTo("collector.internal:4317", true)},
		{"METRICS_INSECURE wins", map[string]string{envEndpoint: "collector.internal:4317", envProtocol: "grpc", envInsecure: "true", envMetricsInsecure: "false"},
			grpcTo("collector.internal:4317", false)},
		{"IPv6", map[string]string{envEndpoint: "http://[::1]:4318"}, httpTo("[::1]:4318", "/v1/metrics", true)},
		{"METRICS_ENDPOINT wins", map[string]string{envEndpoint: "http://other:1", envMetricsEndpoint: "https://collector.internal:4317", envProtocol: "grpc"},
			grpcTo("collector.internal:4317", false)},
		{"METRICS_PROTOCOL wins, generic unchecked", map[string]string{envEndpoint: "https://collector.internal:4317", envProtocol: "http/json", envMetricsProtocol: "grpc"},
			grpcTo("collector.internal:4317", false)},
		{"key and custom endpoint", map[string]string{envMackerelAPIKey: testKey, envEndpoint: "http://127.0.0.1:4318"},
			withKey(func(c *Config) {
				c.protocol, c.endpoint, c.urlPath, c.insecure, c.mackerel = ProtocolHTTPProtobuf, "127.0.0.1:4318", "/v1/metrics", true, false
			})},
		{"http/protobuf base URL with path", map[string]string{envEndpoint: "https://collector.internal/otlp/", envProtocol: "HTTP/PROTOBUF"},
			httpTo("collector.internal:443", "/otlp/v1/metrics", false)},
		{"http/protobuf per-signal URL as is", map[string]string{envMetricsEndpoint: "https://collector.internal:4318/custom/path", envMetricsProtocol: "http/protobuf", envProtocol: "grpc"},
			httpTo("collector.internal:4318", "/custom/path", false)},
		{"http/protobuf per-signal URL without path", map[string]string{envMetricsEndpoint: "https://collector.internal:4318"},
			httpTo("collector.internal:4318", "/", false)},
		{"headers", map[string]string{envMackerelAPIKey: testKey, envHeaders: " x-a = 1 ,X-B=two%20words%2C%3D"},
			withKey(func(c *Config) { c.headers = map[string]Secret{"x-a": "1", "X-B": "two words,="} })},
		{"METRICS_HEADERS replace", map[string]string{envMackerelAPIKey: testKey, envHeaders: "x-a=1", envMetricsHeaders: "x-b=2"},
			withKey(func(c *Config) { c.headers = map[string]Secret{"x-b": "2"} })},
		{"header repeats the key", map[string]string{envMackerelAPIKey: testKey, envHeaders: "mackerel-api-key=" + testKey},
			withKey(func(c *Config) { c.headers, c.keyInHeaders = map[string]Secret{"mackerel-api-key": testKey}, true })},
		{"certificate", map[string]string{envMackerelAPIKey: testKey, envCertificate: caFile}, mackerel},
		{"compression none", map[string]string{envMackerelAPIKey: testKey, envCompression: "gzip", envMetricsCompression: "None"},
			withKey(func(c *Config) { c.gzip = false })},
		{"timeouts and interval", map[string]string{envMackerelAPIKey: testKey, envTimeout: "1", envMetricsTimeout: " 2500 ", envExportInterval: "100", envExportTimeout: "45000"},
			withKey(func(c *Config) {
				c.timeout, c.interval, c.exportTimeout = 2500*time.Millisecond, 100*time.Millisecond, 45*time.Second
			})},
		{"delta", map[string]string{envMackerelAPIKey: testKey, envTemporalityPreference: "Delta"},
			withKey(func(c *Config) { c.temporality = "delta" })},
		{"lowmemory", map[string]string{envMackerelAPIKey: testKey, envTemporalityPreference: "lowmemory"},
			withKey(func(c *Config) { c.temporality = "lowmemory" })},
		{"exponential histogram", map[string]string{envMackerelAPIKey: testKey, envHistogramAggregation: "base2_exponential_bucket_histogram"},
			withKey(func(c *Config) { c.histogram = "base2_exponential_bucket_histogram" })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, on, err := fromEnv(mapEnv(tc.env))
			if err != nil || !on {
				t.Fatalf("fromEnv = %v, %v", on, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("fromEnv:\n got %#v %v key=%t\nwant %#v %v key=%t",
					got, got.headers, got.keyInHeaders, tc.want, tc.want.headers, tc.want.keyInHeaders)
			}
		})
	}
}

// TestFromEnvErrors goes through FromEnv and the process environment, as
// Start does: each case fails at start, naming its variable, and no error
// holds the key or a header value.
func TestFromEnvErrors(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, caFile := otlptest.SelfSignedCert(t)
	k := map[string]string{envMackerelAPIKey: testKey}
	plus := func(kv ...string) map[string]string {
		m := maps.Clone(k)
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	grpc := func(kv ...string) map[string]string { return plus(append(kv, envProtocol, "grpc")...) }
	for _, tc := range []struct {
		name    string
		env     map[string]string
		wantVar string
		secret  string // must not appear in the error, besides the key
	}{
		{"bad exporter list", plus(envMetricsExporter, "otlp,,x"), envMetricsExporter, ""},
		{"exporter prometheus", plus(envMetricsExporter, "prometheus"), envMetricsExporter, ""},
		{"exporter console", plus(envMetricsExporter, "console"), envMetricsExporter, ""},
		{"exporter list", plus(envMetricsExporter, "otlp,none"), envMetricsExporter, ""},
		{"key with space", map[string]string{envMackerelAPIKey: "abc def-" + testKey}, envMackerelAPIKey, "abc def"},
		{"key with newline", map[string]string{envMackerelAPIKey: testKey + "\n"}, envMackerelAPIKey, ""},
		{"key with tab", map[string]string{envMackerelAPIKeyAlt: "\t" + testKey}, envMackerelAPIKeyAlt, ""},
		{"key non-ASCII", map[string]string{envMackerelAPIKey: testKey + "é"}, envMackerelAPIKey, ""},
		{"key names disagree", map[string]string{envMackerelAPIKey: testKey, envMackerelAPIKeyAlt: "other-key-123456"}, envMackerelAPIKeyAlt, "other-key-123456"},
		{"protocol http/json", plus(envProtocol, "http/json"), envProtocol, ""},
		{"protocol unknown", plus(envMetricsProtocol, "udp"), envMetricsProtocol, ""},
		{"key only but http", plus(envProtocol, "http/protobuf"), envProtocol, ""},
		{"Mackerel's endpoint over http", plus(envEndpoint, "https://otlp.mackerelio.com:4317", envProtocol, "http/protobuf"), envProtocol, ""},
		{"key only, INSECURE true", plus(envInsecure, "true"), envInsecure, ""},
		{"insecure yes", grpc(envEndpoint, "collector:4317", envInsecure, "yes"), envInsecure, ""},
		{"metrics insecure 1", grpc(envEndpoint, "collector:4317", envMetricsInsecure, "1"), envMetricsInsecure, ""},
		{"INSECURE against https", plus(envEndpoint, "https://collector:4318", envInsecure, "true"), envInsecure, ""},
		{"INSECURE=false against http", plus(envEndpoint, "http://collector:4318", envMetricsInsecure, "false"), envMetricsInsecure, ""},
		{"endpoint scheme", plus(envEndpoint, "ftp://collector:21"), envEndpoint, ""},
		{"endpoint no host", plus(envEndpoint, "http://:4317"), envEndpoint, ""},
		{"endpoint empty URL", plus(envEndpoint, "https://"), envEndpoint, ""},
		{"endpoint credentials", plus(envEndpoint, "https://user:hunter2pass@collector:4317"), envEndpoint, "hunter2pass"},
		{"endpoint no port", grpc(envEndpoint, "collector"), envEndpoint, ""},
		{"endpoint port range", grpc(envEndpoint, "collector:99999"), envEndpoint, ""},
		{"endpoint port zero", plus(envEndpoint, "http://collector:0"), envEndpoint, ""},
		{"endpoint port name", plus(envMetricsEndpoint, "http://collector:otlp"), envMetricsEndpoint, ""},
		{"endpoint query", plus(envEndpoint, "http://collector:4317?token=abcdef123"), envEndpoint, "abcdef123"},
		{"endpoint bad URL", plus(envEndpoint, "http://col lector:4317/%zz"), envEndpoint, ""},
		{"endpoint bare IP", grpc(envEndpoint, "127.0.0.1:4317"), envEndpoint, ""},
		{"http/protobuf bare host:port", plus(envEndpoint, "collector:4318"), envEndpoint, ""},
		{"plaintext gRPC without port", grpc(envEndpoint, "http://collector"), envEndpoint, ""},
		{"grpc endpoint with path", grpc(envEndpoint, "http://collector:4317/v1/metrics"), envEndpoint, ""},
		{"headers no =", plus(envHeaders, "x-a=1,Mackerel-Api-Key: topsecret99"), envHeaders, "topsecret99"},
		{"headers empty name", plus(envHeaders, "=topsecret99"), envHeaders, "topsecret99"},
		{"headers bad name", plus(envMetricsHeaders, "x a=topsecret99"), envMetricsHeaders, "topsecret99"},
		{"headers bad escape", plus(envHeaders, "x-a=topsecret99%zz"), envHeaders, "topsecret99"},
		{"headers CRLF", plus(envHeaders, "x-a=topsecret99%0D%0AX-Evil: 1"), envHeaders, "topsecret99"},
		{"headers NUL", plus(envHeaders, "x-a=top%00secret99"), envHeaders, "secret99"},
		{"headers non-ASCII", plus(envHeaders, "x-a=topsecret99%C3%A9"), envHeaders, "topsecret99"},
		{"headers duplicate", plus(envHeaders, "x-a=topsecret99,X-A=2"), envHeaders, "topsecret99"},
		{"headers trailing comma", plus(envHeaders, "x-a=topsecret99,"), envHeaders, "topsecret99"},
		{"shadowed generic headers", plus(envMetricsHeaders, "x-a=1", envHeaders, "Authorization: topsecret99"), envHeaders, "topsecret99"},
		{"shadowed generic endpoint", plus(envMetricsEndpoint, "http://127.0.0.1:4318", envEndpoint, "https://u:hunter2pass@c:1"), envEndpoint, "hunter2pass"},
		{"headers other key", plus(envHeaders, "Mackerel-Api-Key=another-key-999"), envHeaders, "another-key-999"},
		{"certificate missing", plus(envCertificate, filepath.Join(dir, "nope.pem")), envCertificate, ""},
		{"certificate junk", plus(envMetricsCertificate, junk), envMetricsCertificate, ""},
		{"shadowed certificate missing", plus(envMetricsCertificate, caFile, envCertificate, filepath.Join(dir, "nope.pem")), envCertificate, ""},
		{"certificate on http", plus(envEndpoint, "http://collector:4318", envCertificate, caFile), envCertificate, ""},
		{"client cert alone", plus(envClientCertificate, caFile), envClientKey, ""},
		{"metrics client key alone", plus(envMetricsClientKey, caFile), envMetricsClientCertificate, ""},
		{"client pair junk", plus(envClientCertificate, junk, envClientKey, junk), envClientCertificate, ""},
		{"compression br", plus(envCompression, "br"), envCompression, ""},
		{"timeout negative", plus(envTimeout, "-1"), envTimeout, ""},
		{"timeout zero", plus(envMetricsTimeout, "0"), envMetricsTimeout, ""},
		{"timeout words", plus(envTimeout, "10s"), envTimeout, ""},
		{"timeout float", plus(envTimeout, "1.5"), envTimeout, ""},
		{"timeout overflow", plus(envTimeout, "9223372036854775807"), envTimeout, ""},
		{"temporality", plus(envTemporalityPreference, "sometimes"), envTemporalityPreference, ""},
		{"histogram", plus(envHistogramAggregation, "exponential"), envHistogramAggregation, ""},
		{"interval negative", plus(envExportInterval, "-100"), envExportInterval, ""},
		{"interval junk", plus(envExportInterval, "1m"), envExportInterval, ""},
		{"interval with spaces", plus(envExportInterval, " 100"), envExportInterval, ""},
		{"export timeout zero", plus(envExportTimeout, "0"), envExportTimeout, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			setEnv(t, tc.env)
			cfg, on, err := FromEnv()
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
		})
	}
}

// TestConfigNeverPrintsSecrets covers every way a Config gets printed.
func TestConfigNeverPrintsSecrets(t *testing.T) {
	const token = "bearer-token-abcdef"
	cfg, _, err := fromEnv(mapEnv(map[string]string{
		envMackerelAPIKey: testKey,
		envHeaders:        "authorization=" + url.PathEscape("Bearer "+token),
	}))
	if err != nil {
		t.Fatal(err)
	}
	var js bytes.Buffer
	slog.New(slog.NewJSONHandler(&js, nil)).Info("config", "forward", cfg)
	var text bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("config", "forward", cfg, "key", cfg.apiKey, "headers", cfg.headers)
	marshalled, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	outputs := []string{
		cfg.String(), fmt.Sprint(cfg), fmt.Sprintf("%v|%+v|%#v|%s|%q", cfg, cfg, cfg, cfg, cfg),
		fmt.Sprintf("%v|%+v|%#v|%s|%x", cfg.apiKey, cfg.headers, cfg.headers, cfg.apiKey, cfg.apiKey),
		fmt.Sprintf("%v", &cfg), js.String(), text.String(), string(marshalled),
	}
	for _, s := range outputs {
		if strings.Contains(s, testKey) || strings.Contains(s, token) {
			t.Fatalf("secret printed: %s", s)
		}
	}
	if !strings.Contains(cfg.String(), "authorization") || !strings.Contains(js.String(), `"endpoint":"otlp.mackerelio.com:4317"`) ||
		!strings.Contains(string(marshalled), "endpoint=otlp.mackerelio.com:4317") {
		t.Errorf("useful fields missing: %s / %s / %s", cfg, js.String(), marshalled)
	}
}

var headerErrRE = regexp.MustCompile(`^entry \d+( \([!#$%&'*+.^_` + "`" + `|~0-9A-Za-z-]+\))?: (` + strings.Join([]string{
	regexp.QuoteMeta(errHeaderEmpty.Error()),
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
			envMackerelAPIKey: testKey, envEndpoint: endpoint, envProtocol: protocol,
			envHeaders: headers, envExportInterval: interval, envTimeout: timeout, envInsecure: insecure,
		}
		cfg, on, err := fromEnv(mapEnv(env))
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
		if cfg.protocol == "" || cfg.endpoint == "" {
			t.Fatalf("enabled without a protocol or an endpoint: %v", cfg)
		}
	})
}
