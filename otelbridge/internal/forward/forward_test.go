package forward

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"weak"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
)

const testKey = "mkr-TEST-api-key-0123456789abcdefXYZ"

var testResource = resource.NewSchemaless(attribute.String("service.name", "komachi-forward-test"))

// syncBuffer is a log sink safe for the reader's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newForwarder(t *testing.T, env map[string]string, opts ...Option) *Forwarder {
	t.Helper()
	cfg, on, err := FromEnv(mapEnv(env))
	if err != nil || !on {
		t.Fatalf("FromEnv = enabled %v, %v", on, err)
	}
	f, err := New(context.Background(), cfg, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return f
}

func newProvider(t *testing.T, readers ...sdkmetric.Reader) *sdkmetric.MeterProvider {
	t.Helper()
	opts := []sdkmetric.Option{sdkmetric.WithResource(testResource)}
	for _, r := range readers {
		opts = append(opts, sdkmetric.WithReader(r))
	}
	mp := sdkmetric.NewMeterProvider(opts...)
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	return mp
}

func header(r received, name string) string {
	return strings.Join(r.header[name], ",")
}

// TestDelivery sends through both protocols, plain and TLS, to real
// receivers and checks what arrives and how.
func TestDelivery(t *testing.T) {
	cert, caFile := testCert(t)
	for _, tc := range []struct {
		name  string
		proto Protocol
		tls   bool
	}{
		{"grpc", ProtocolGRPC, false},
		{"grpc+tls", ProtocolGRPC, true},
		{"http", ProtocolHTTPProtobuf, false},
		{"http+tls", ProtocolHTTPProtobuf, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var serverCert *tls.Certificate
			if tc.tls {
				serverCert = &cert
			}
			var rec *recorder
			var addr string
			if tc.proto == ProtocolGRPC {
				c := startGRPCCollector(t, "127.0.0.1:0", serverCert)
				rec, addr = &c.recorder, c.addr
			} else {
				c := startHTTPCollector(t, serverCert)
				rec, addr = &c.recorder, c.addr
			}
			scheme := "http"
			if tc.tls {
				scheme = "https"
			}
			env := map[string]string{
				EnvEndpoint:              scheme + "://" + addr,
				EnvProtocol:              string(tc.proto),
				EnvMackerelAPIKey:        testKey,
				EnvHeaders:               "x-team=ops%20team, X-Trace-Tag = blue ,",
				EnvExportInterval:        "100",
				EnvTemporalityPreference: "delta",
			}
			if tc.tls {
				env[EnvCertificate] = caFile
			}
			f := newForwarder(t, env)
			mp := newProvider(t, f.Reader())
			if _, err := f.RegisterMetrics(mp); err != nil {
				t.Fatal(err)
			}
			counter, err := mp.Meter("test").Int64Counter("app.requests")
			if err != nil {
				t.Fatal(err)
			}
			counter.Add(context.Background(), 7, metric.WithAttributes(attribute.String("route", "/ops")))

			waitFor(t, "app.requests to arrive", func() bool { return len(sumPoints(rec.all(), "app.requests")) > 0 })
			waitFor(t, "komachi.otlp.data_points > 0 to arrive", func() bool {
				for _, p := range sumPoints(rec.all(), "komachi.otlp.data_points") {
					if p.GetAsInt() > 0 {
						return true
					}
				}
				return false
			})
			if err := mp.Shutdown(context.Background()); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}

			reqs := rec.all()
			for i, r := range reqs {
				if got := header(r, "mackerel-api-key"); got != testKey {
					t.Errorf("request %d: mackerel-api-key = %q, want the key", i, got)
				}
				if got := header(r, "x-team"); got != "ops team" {
					t.Errorf("request %d: x-team = %q, want %q", i, got, "ops team")
				}
				if got := header(r, "x-trace-tag"); got != "blue" {
					t.Errorf("request %d: x-trace-tag = %q, want blue", i, got)
				}
				if r.compression != "gzip" {
					t.Errorf("request %d: compression %q, want gzip", i, r.compression)
				}
				if tc.proto == ProtocolHTTPProtobuf {
					if got := header(r, ":path"); got != "/v1/metrics" {
						t.Errorf("request %d: path %q, want /v1/metrics", i, got)
					}
				}
				rattrs := r.req.GetResourceMetrics()[0].GetResource().GetAttributes()
				if len(rattrs) != 1 || rattrs[0].GetValue().GetStringValue() != "komachi-forward-test" {
					t.Errorf("request %d: resource attributes %v", i, rattrs)
				}
			}
			pts := sumPoints(reqs, "app.requests")
			if pts[0].GetAsInt() != 7 || pts[0].GetAttributes()[0].GetValue().GetStringValue() != "/ops" {
				t.Errorf("first app.requests point = %v, want 7 with route=/ops", pts[0])
			}
			var sum *metricpb.Sum
			for _, rm := range reqs[0].req.GetResourceMetrics() {
				for _, sm := range rm.GetScopeMetrics() {
					for _, m := range sm.GetMetrics() {
						if m.GetName() == "app.requests" {
							sum = m.GetSum()
						}
					}
				}
			}
			if sum != nil && sum.GetAggregationTemporality() != metricpb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA {
				t.Errorf("temporality %v, want delta (OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE)", sum.GetAggregationTemporality())
			}
			for _, name := range []string{"komachi.otlp.exports", "komachi.otlp.failures", "komachi.otlp.requests", "komachi.otlp.data_points"} {
				if len(sumPoints(reqs, name)) == 0 {
					t.Errorf("own metric %s never arrived; got %v", name, metricNames(reqs))
				}
			}
		})
	}
}

func TestTLSUntrustedFails(t *testing.T) {
	cert, _ := testCert(t)
	c := startGRPCCollector(t, "127.0.0.1:0", &cert)
	f := newForwarder(t, map[string]string{
		EnvEndpoint:       "https://" + c.addr, // no CERTIFICATE: system roots do not know it
		EnvTimeout:        "1000",
		EnvExportInterval: "3600000",
	})
	mp := newProvider(t, f.Reader())
	counter, _ := mp.Meter("test").Int64Counter("c")
	counter.Add(context.Background(), 1)
	err := mp.ForceFlush(context.Background())
	if err == nil {
		t.Fatal("ForceFlush to an untrusted TLS endpoint succeeded")
	}
	if len(c.all()) != 0 {
		t.Fatalf("collector received %d requests over an untrusted connection", len(c.all()))
	}
}

// TestLargeExportIsSplit: 60k series with attributes, about 7 MB of
// protobuf, must reach a receiver that refuses messages over 4 MiB.
func TestLargeExportIsSplit(t *testing.T) {
	const series = 60_000
	c := startGRPCCollector(t, "127.0.0.1:0", nil)
	f := newForwarder(t, map[string]string{
		EnvEndpoint:       "http://" + c.addr,
		EnvExportInterval: "3600000", // only the explicit flush below exports
	})
	// The SDK caps an instrument at 2000 series by default.
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(testResource),
		sdkmetric.WithReader(f.Reader()), sdkmetric.WithCardinalityLimit(0))
	defer mp.Shutdown(context.Background())
	counter, _ := mp.Meter("test").Int64Counter("big.counter")
	ctx := context.Background()
	for i := range series {
		counter.Add(ctx, int64(i+1), metric.WithAttributes(
			attribute.Int("series", i),
			attribute.String("host", fmt.Sprintf("host-%04d", i%500)),
			attribute.String("path", fmt.Sprintf("/api/v1/items/%06d", i)),
			attribute.String("region", "ap-northeast-1"),
		))
	}
	if err := mp.ForceFlush(ctx); err != nil {
		t.Fatalf("ForceFlush: %v", err)
	}
	reqs := c.all()
	if len(reqs) < 2 {
		t.Fatalf("%d request(s) of %d bytes; want the export split", len(reqs), reqs[0].size)
	}
	total := 0
	for i, r := range reqs {
		total += r.size
		if r.size > DefaultMaxRequestSize {
			t.Errorf("request %d: %d bytes > %d", i, r.size, DefaultMaxRequestSize)
		}
		if i < len(reqs)-1 && r.size < DefaultMaxRequestSize*3/4 {
			t.Errorf("request %d: only %d bytes; splitting wastes requests", i, r.size)
		}
		if len(r.req.GetResourceMetrics()[0].GetResource().GetAttributes()) != 1 {
			t.Errorf("request %d lacks the resource", i)
		}
	}
	t.Logf("%d series, %d bytes in %d requests", series, total, len(reqs))
	seen := make([]int, series)
	for _, p := range sumPoints(reqs, "big.counter") {
		id := -1
		for _, kv := range p.GetAttributes() {
			if kv.GetKey() == "series" {
				id = int(kv.GetValue().GetIntValue())
			}
		}
		if id < 0 || id >= series {
			t.Fatalf("point without a valid series attribute: %v", p)
		}
		if p.GetAsInt() != int64(id+1) {
			t.Errorf("series %d: value %d, want %d", id, p.GetAsInt(), id+1)
		}
		seen[id]++
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("series %d arrived %d times, want exactly once", id, n)
		}
	}
	if got := f.stats.requests.Load(); got != int64(len(reqs)) {
		t.Errorf("requests counter %d, collector saw %d", got, len(reqs))
	}
}

// TestEndpointDown: failures are reported and counted, the app and other
// readers keep working, and delivery resumes on the same port.
func TestEndpointDown(t *testing.T) {
	c := startGRPCCollector(t, "127.0.0.1:0", nil)
	addr := c.addr
	c.srv.Stop()

	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	f := newForwarder(t, map[string]string{
		EnvEndpoint:       "http://" + addr,
		EnvMackerelAPIKey: testKey,
		EnvTimeout:        "300",
		EnvExportInterval: "100",
		EnvExportTimeout:  "1000",
	}, WithLogger(logger))
	manual := sdkmetric.NewManualReader()
	mp := newProvider(t, f.Reader(), manual)
	counter, _ := mp.Meter("test").Int64Counter("app.counter")
	ctx := context.Background()
	counter.Add(ctx, 5)

	handled := len(otelErrors.all())
	waitFor(t, "three failed exports", func() bool { return f.stats.failures.Load() >= 3 })

	// The app's instruments and another reader of the same provider work.
	counter.Add(ctx, 1)
	var rm metricdata.ResourceMetrics
	if err := manual.Collect(ctx, &rm); err != nil {
		t.Fatalf("ManualReader.Collect while the endpoint is down: %v", err)
	}
	if got := rm.ScopeMetrics[0].Metrics[0].Data.(metricdata.Sum[int64]).DataPoints[0].Value; got != 6 {
		t.Fatalf("collected %d, want 6", got)
	}

	waitFor(t, "the reader to hand failures to otel.Handle", func() bool { return len(otelErrors.all()) > handled })
	for _, err := range otelErrors.all()[handled:] {
		if strings.Contains(err.Error(), testKey) {
			t.Fatalf("otel.Handle got the API key: %v", err)
		}
	}
	if !strings.Contains(logs.String(), "OTLP metrics export failed") {
		t.Fatalf("no failure logged: %s", logs)
	}

	// Back on the same port.
	c2 := startGRPCCollector(t, addr, nil)
	waitFor(t, "delivery to resume", func() bool { return len(sumPoints(c2.all(), "app.counter")) > 0 })
	waitFor(t, "the recovery to be logged", func() bool { return strings.Contains(logs.String(), "OTLP metrics export recovered") })
	if strings.Contains(logs.String(), testKey) {
		t.Fatal("the API key reached the log")
	}
	if got := header(c2.all()[0], "mackerel-api-key"); got != testKey {
		t.Fatalf("after reconnect mackerel-api-key = %q", got)
	}
}

// blackhole accepts connections and never answers, like a firewall that
// drops packets after the handshake.
func blackhole(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := lis.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = lis.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
	})
	return lis.Addr().String()
}

// TestExportHonoursTimeout: against an endpoint that never answers, Export
// returns an error within the request timeout (bounded here only by a
// generous deadline) and so never holds the reader.
func TestExportHonoursTimeout(t *testing.T) {
	for _, p := range []Protocol{ProtocolGRPC, ProtocolHTTPProtobuf} {
		t.Run(string(p), func(t *testing.T) {
			f := newForwarder(t, map[string]string{
				EnvEndpoint:       "http://" + blackhole(t),
				EnvProtocol:       string(p),
				EnvTimeout:        "300",
				EnvExportInterval: "3600000",
			})
			defer f.Shutdown(context.Background())
			rm := sampleMetrics(10)
			done := make(chan error, 1)
			go func() { done <- f.exp.Export(context.Background(), rm) }()
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("Export to a black hole succeeded")
				}
			case <-time.After(20 * time.Second):
				t.Fatal("Export did not return: the request timeout is not honoured")
			}

			// A caller's own deadline is honoured too.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if err := f.exp.Export(ctx, rm); !errors.Is(err, context.Canceled) {
				t.Fatalf("Export with a canceled context = %v, want context.Canceled", err)
			}
		})
	}
}

// sampleMetrics is a collection of n Sum points with distinct attributes.
func sampleMetrics(n int) *metricdata.ResourceMetrics {
	dps := make([]metricdata.DataPoint[int64], n)
	now := time.Now()
	for i := range dps {
		dps[i] = metricdata.DataPoint[int64]{
			Attributes: attribute.NewSet(attribute.Int("uid", i), attribute.String("pad", strings.Repeat("x", 40))),
			StartTime:  now.Add(-time.Minute),
			Time:       now,
			Value:      int64(i),
		}
	}
	return &metricdata.ResourceMetrics{
		Resource: testResource,
		ScopeMetrics: []metricdata.ScopeMetrics{{
			Metrics: []metricdata.Metrics{{
				Name: "sample",
				Data: metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: true, DataPoints: dps},
			}},
		}},
	}
}

// TestNothingRetainedAfterFailure is the structural memory bound: after
// failed exports, neither the collection nor its data points are reachable
// from the forwarder (no queue, no retry buffer), split or not.
func TestNothingRetainedAfterFailure(t *testing.T) {
	c := startGRPCCollector(t, "127.0.0.1:0", nil)
	addr := c.addr
	c.srv.Stop()
	for _, limit := range []int{DefaultMaxRequestSize, 4096} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			cfg, _, err := FromEnv(mapEnv(map[string]string{EnvEndpoint: "http://" + addr, EnvTimeout: "200"}))
			if err != nil {
				t.Fatal(err)
			}
			cfg.MaxRequestSize = limit
			f, err := New(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Shutdown(context.Background())

			wrm, wdps := exportAndForget(t, f, 3)
			for range 5 {
				runtime.GC()
				if wrm.Value() == nil && wdps.Value() == nil {
					break
				}
			}
			if wrm.Value() != nil || wdps.Value() != nil {
				t.Fatal("the forwarder keeps a failed collection reachable")
			}
			if got := f.stats.failures.Load(); got != 3 {
				t.Fatalf("failures = %d, want 3", got)
			}
		})
	}
}

func exportAndForget(t *testing.T, f *Forwarder, times int) (weak.Pointer[metricdata.ResourceMetrics], weak.Pointer[metricdata.DataPoint[int64]]) {
	rm := sampleMetrics(2000)
	dps := rm.ScopeMetrics[0].Metrics[0].Data.(metricdata.Sum[int64]).DataPoints
	wrm, wdps := weak.Make(rm), weak.Make(&dps[0])
	for range times {
		if err := f.exp.Export(context.Background(), rm); err == nil {
			t.Fatal("export to a closed port succeeded")
		}
	}
	return wrm, wdps
}

func TestShutdownFlushes(t *testing.T) {
	c := startGRPCCollector(t, "127.0.0.1:0", nil)
	f := newForwarder(t, map[string]string{
		EnvEndpoint:       "http://" + c.addr,
		EnvExportInterval: "3600000",
	})
	mp := newProvider(t, f.Reader())
	counter, _ := mp.Meter("test").Int64Counter("last.words")
	counter.Add(context.Background(), 42)
	if err := mp.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	pts := sumPoints(c.all(), "last.words")
	if len(pts) != 1 || pts[0].GetAsInt() != 42 {
		t.Fatalf("after Shutdown the collector has %v, want one point of 42", pts)
	}
	if err := f.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if err := f.exp.Export(context.Background(), sampleMetrics(1)); !errors.Is(err, ErrShutdown) {
		t.Fatalf("Export after Shutdown = %v, want ErrShutdown", err)
	}
}

// TestSecretsRedacted: a proxy that echoes request headers in its error body
// must not get the key or header values into errors, logs or otel.Handle.
func TestSecretsRedacted(t *testing.T) {
	const token = "sekret-bearer-token-77"
	c := startHTTPCollector(t, nil)
	c.echo = true
	logs := &syncBuffer{}
	f := newForwarder(t, map[string]string{
		EnvEndpoint:       "http://" + c.addr,
		EnvProtocol:       "http/protobuf",
		EnvMackerelAPIKey: testKey,
		EnvHeaders:        "Authorization=Bearer%20" + token,
		EnvExportInterval: "100",
	}, WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	mp := newProvider(t, f.Reader())
	counter, _ := mp.Meter("test").Int64Counter("c")
	counter.Add(context.Background(), 1)

	handled := len(otelErrors.all())
	err := mp.ForceFlush(context.Background())
	if err == nil {
		t.Fatal("ForceFlush against a 400 succeeded")
	}
	waitFor(t, "a periodic failure to reach otel.Handle", func() bool { return len(otelErrors.all()) > handled })
	texts := []string{err.Error(), logs.String()}
	for _, e := range otelErrors.all()[handled:] {
		texts = append(texts, e.Error())
	}
	if !strings.Contains(err.Error(), redactedText) {
		t.Errorf("the echoed headers were not redacted (or not echoed): %v", err)
	}
	for _, s := range texts {
		if strings.Contains(s, testKey) || strings.Contains(s, token) {
			t.Fatalf("secret leaked: %s", s)
		}
	}
}

func TestInsecureKeyWarns(t *testing.T) {
	logs := &syncBuffer{}
	f := newForwarder(t, map[string]string{
		EnvEndpoint:       "http://127.0.0.1:1",
		EnvMackerelAPIKey: testKey,
	}, WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	defer f.Shutdown(context.Background())
	if !strings.Contains(logs.String(), "without TLS") {
		t.Fatalf("no warning about a plaintext key: %q", logs)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	good := Config{Endpoint: "127.0.0.1:4317", Insecure: true}
	for name, mutate := range map[string]func(*Config){
		"protocol":    func(c *Config) { c.Protocol = "http/json" },
		"endpoint":    func(c *Config) { c.Endpoint = "no-port" },
		"port":        func(c *Config) { c.Endpoint = "h:0" },
		"compression": func(c *Config) { c.Compression = "br" },
		"timeout":     func(c *Config) { c.Timeout = -time.Second },
		"interval":    func(c *Config) { c.Interval = -1 },
		"size":        func(c *Config) { c.MaxRequestSize = -1 },
		"key":         func(c *Config) { c.APIKey = Secret(testKey + "\n") },
		"header":      func(c *Config) { c.Headers = map[string]Secret{"x": "a\r\nb"} },
		"header name": func(c *Config) { c.Headers = map[string]Secret{"bad name": "v"} },
		"temporality": func(c *Config) { c.Temporality = "sometimes" },
		"client cert": func(c *Config) { c.ClientCertificateFile = "x.pem" },
	} {
		t.Run(name, func(t *testing.T) {
			c := good
			mutate(&c)
			f, err := New(context.Background(), c)
			if err == nil {
				_ = f.Shutdown(context.Background())
				t.Fatal("New accepted a bad Config")
			}
			if strings.Contains(err.Error(), testKey) {
				t.Fatalf("error holds the key: %v", err)
			}
		})
	}
	if _, err := New(context.Background(), good, WithInterval(-time.Second)); err == nil {
		t.Error("New accepted WithInterval(-1s)")
	}
	f, err := New(context.Background(), good, WithInterval(time.Minute), WithLogger(nil))
	if err != nil {
		t.Fatalf("New(good): %v", err)
	}
	if f.Config().Interval != time.Minute || f.Config().Protocol != ProtocolGRPC || f.Config().Timeout != DefaultTimeout {
		t.Errorf("defaults/overrides not applied: %v", f.Config())
	}
	_ = f.Shutdown(context.Background())
}
