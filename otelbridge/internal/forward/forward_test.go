package forward

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"runtime"
	"strconv"
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

	"github.com/komachi-go/komachi/internal/testutil"
	"github.com/komachi-go/komachi/internal/testutil/otlptest"
	"github.com/komachi-go/komachi/otelbridge/internal/mackerelkey"
)

const testKey = "mkr-TEST-api-key-0123456789abcdefXYZ"

// noTicks keeps the reader's own timer out of a test: only ForceFlush and
// Shutdown export.
const noTicks = "3600000"

var testResource = resource.NewSchemaless(attribute.String("service.name", "komachi-forward-test"))

// captureStdLog sends the standard logger's output to a buffer for the test.
func captureStdLog(t *testing.T) *testutil.SyncBuffer {
	t.Helper()
	buf := &testutil.SyncBuffer{}
	out, flags := log.Writer(), log.Flags()
	log.SetOutput(buf)
	t.Cleanup(func() { log.SetOutput(out); log.SetFlags(flags) })
	return buf
}

// newForwarder sets env for the test and builds a forwarder from it, as
// otelbridge does; it logs nowhere unless opts say otherwise.
func newForwarder(t *testing.T, env map[string]string, opts ...Option) *Forwarder {
	t.Helper()
	setEnv(t, env)
	cfg, on, err := FromEnv()
	if err != nil || !on {
		t.Fatalf("FromEnv = enabled %v, %v", on, err)
	}
	opts = append([]Option{WithLogger(slog.New(slog.DiscardHandler))}, opts...)
	f, err := New(context.Background(), cfg, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return f
}

func newProvider(t *testing.T, readers ...sdkmetric.Reader) *sdkmetric.MeterProvider {
	t.Helper()
	// The SDK caps an instrument at 2000 series by default.
	opts := []sdkmetric.Option{sdkmetric.WithResource(testResource), sdkmetric.WithCardinalityLimit(0)}
	for _, r := range readers {
		opts = append(opts, sdkmetric.WithReader(r))
	}
	mp := sdkmetric.NewMeterProvider(opts...)
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	return mp
}

// addSeries records n series of one counter, series i with value i+1 and
// about 100 bytes of protobuf; seriesID reads i back.
func addSeries(t *testing.T, mp metric.MeterProvider, name string, n int) {
	t.Helper()
	counter, err := mp.Meter("test").Int64Counter(name)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		counter.Add(context.Background(), int64(i+1), metric.WithAttributes(
			attribute.String("series", fmt.Sprintf("%06d /api/v1/regions/ap-northeast-1/hosts/%04d/items", i, i%500)),
		))
	}
}

func seriesID(p *metricpb.NumberDataPoint) int {
	for _, kv := range p.GetAttributes() {
		if kv.GetKey() == "series" {
			if id, err := strconv.Atoi(kv.GetValue().GetStringValue()[:6]); err == nil {
				return id
			}
		}
	}
	return -1
}

// TestDelivery sends through both protocols, plain and TLS, to real
// receivers and checks what arrives and how: the key and the headers of
// OTEL_EXPORTER_OTLP_HEADERS side by side, gzip, the path, the resource and
// the temporality the exporter read from the environment.
func TestDelivery(t *testing.T) {
	cert, caFile := otlptest.SelfSignedCert(t)
	for _, tc := range []struct {
		name     string
		protocol string // "" for the default
		grpc     bool
		tls      bool
	}{
		{"grpc", "grpc", true, false},
		{"grpc+tls", "grpc", true, true},
		{"http", "http/protobuf", false, false},
		{"http+tls", "http/protobuf", false, true},
		{"default protocol is http/protobuf", "", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts otlptest.Options
			if tc.tls {
				opts.Cert = &cert
			}
			start := otlptest.StartHTTP
			if tc.grpc {
				start = otlptest.StartGRPC
			}
			c := start(t, opts)
			scheme := "http"
			if tc.tls {
				scheme = "https"
			}
			env := map[string]string{
				envEndpoint:              scheme + "://" + c.Addr,
				envMackerelAPIKey:        testKey,
				envHeaders:               "x-team=ops%20team, X-Trace-Tag = blue ",
				envExportInterval:        noTicks,
				envTemporalityPreference: "delta",
			}
			if tc.protocol != "" {
				env[envProtocol] = tc.protocol
			}
			if tc.tls {
				env[envCertificate] = caFile
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
			if err := mp.ForceFlush(context.Background()); err != nil {
				t.Fatalf("ForceFlush: %v", err)
			}
			if err := mp.Shutdown(context.Background()); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}

			reqs := c.Requests()
			if len(reqs) != 2 {
				t.Fatalf("%d requests, want 2 (the flush and the shutdown)", len(reqs))
			}
			for i, r := range reqs {
				if got := r.Get("mackerel-api-key"); got != testKey {
					t.Errorf("request %d: mackerel-api-key = %q, want the key once", i, got)
				}
				if got := r.Get("x-team"); got != "ops team" {
					t.Errorf("request %d: x-team = %q, want %q", i, got, "ops team")
				}
				if got := r.Get("x-trace-tag"); got != "blue" {
					t.Errorf("request %d: x-trace-tag = %q, want blue", i, got)
				}
				if r.Compression != "gzip" {
					t.Errorf("request %d: compression %q, want gzip", i, r.Compression)
				}
				if !tc.grpc {
					if got := r.Get(":path"); got != "/v1/metrics" {
						t.Errorf("request %d: path %q, want /v1/metrics", i, got)
					}
				}
				rattrs := r.Body.GetResourceMetrics()[0].GetResource().GetAttributes()
				if len(rattrs) != 1 || rattrs[0].GetValue().GetStringValue() != "komachi-forward-test" {
					t.Errorf("request %d: resource attributes %v", i, rattrs)
				}
			}
			pts := otlptest.SumPoints(reqs, "app.requests")
			if len(pts) == 0 || pts[0].GetAsInt() != 7 || pts[0].GetAttributes()[0].GetValue().GetStringValue() != "/ops" {
				t.Fatalf("app.requests points = %v, want 7 with route=/ops first", pts)
			}
			var sum *metricpb.Sum
			for m := range otlptest.Metrics(reqs[:1]) {
				if m.GetName() == "app.requests" {
					sum = m.GetSum()
				}
			}
			if sum.GetAggregationTemporality() != metricpb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA {
				t.Errorf("temporality %v, want delta (OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE)", sum.GetAggregationTemporality())
			}
			// The shutdown collection reads the counters after the flush.
			last := []otlptest.Request{reqs[1]}
			for _, name := range []string{"komachi.otlp.exports", "komachi.otlp.requests"} {
				if p := otlptest.SumPoints(last, name); len(p) != 1 || p[0].GetAsInt() != 1 {
					t.Errorf("own metric %s = %v, want 1; got %v", name, p, otlptest.MetricNames(last))
				}
			}
			if p := otlptest.SumPoints(last, "komachi.otlp.failures"); len(p) != 1 || p[0].GetAsInt() != 0 {
				t.Errorf("komachi.otlp.failures = %v, want 0", p)
			}
		})
	}
}

// TestKeyInHeadersSentOnce: a header that repeats the key is not doubled by
// the key komachi adds.
func TestKeyInHeadersSentOnce(t *testing.T) {
	for _, grpc := range []bool{true, false} {
		t.Run(fmt.Sprint("grpc=", grpc), func(t *testing.T) {
			env := map[string]string{
				envMackerelAPIKey: testKey,
				envHeaders:        "mackerel-api-key=" + testKey + ",x-a=1",
				envExportInterval: noTicks,
			}
			start := otlptest.StartHTTP
			if grpc {
				start, env[envProtocol] = otlptest.StartGRPC, "grpc"
			}
			c := start(t, otlptest.Options{})
			env[envEndpoint] = "http://" + c.Addr
			f := newForwarder(t, env)
			mp := newProvider(t, f.Reader())
			addSeries(t, mp, "c", 1)
			if err := mp.ForceFlush(context.Background()); err != nil {
				t.Fatal(err)
			}
			r := c.Requests()[0]
			if got := r.Get("mackerel-api-key"); got != testKey {
				t.Errorf("mackerel-api-key = %q, want the key once", got)
			}
			if got := r.Get("x-a"); got != "1" {
				t.Errorf("x-a = %q", got)
			}
		})
	}
}

func TestTLSUntrustedFails(t *testing.T) {
	cert, _ := otlptest.SelfSignedCert(t)
	c := otlptest.StartGRPC(t, otlptest.Options{Cert: &cert})
	f := newForwarder(t, map[string]string{
		envEndpoint:       "https://" + c.Addr, // no CERTIFICATE: system roots do not know it
		envProtocol:       "grpc",
		envTimeout:        "1000",
		envExportInterval: noTicks,
	})
	mp := newProvider(t, f.Reader())
	addSeries(t, mp, "c", 1)
	if err := mp.ForceFlush(context.Background()); err == nil {
		t.Fatal("ForceFlush to an untrusted TLS endpoint succeeded")
	}
	if len(c.Requests()) != 0 {
		t.Fatalf("collector received %d requests over an untrusted connection", len(c.Requests()))
	}
}

// TestLargeExportIsSplit: 60 000 series, about 6 MB of protobuf, reach a
// receiver that refuses messages over 4 MiB, in requests of at most
// MaxExportBatchSize points and DefaultMaxRequestSize bytes, each series
// exactly once.
func TestLargeExportIsSplit(t *testing.T) {
	const series = 60_000
	start := time.Now()
	c := otlptest.StartGRPC(t, otlptest.Options{})
	f := newForwarder(t, map[string]string{
		envEndpoint:       "http://" + c.Addr,
		envProtocol:       "grpc",
		envExportInterval: noTicks,
		// Size is what matters here (gzip is TestDelivery's), and delta
		// keeps the provider's last collection empty.
		envCompression:           "none",
		envTemporalityPreference: "delta",
	})
	mp := newProvider(t, f.Reader())
	addSeries(t, mp, "big.counter", series)
	if err := mp.ForceFlush(context.Background()); err != nil {
		t.Fatalf("ForceFlush: %v", err)
	}
	reqs := c.Requests()
	if want := (series + MaxExportBatchSize - 1) / MaxExportBatchSize; len(reqs) != want {
		t.Errorf("%d requests, want %d of at most %d points", len(reqs), want, MaxExportBatchSize)
	}
	total := 0
	for i, r := range reqs {
		total += r.Size
		if r.Size > DefaultMaxRequestSize {
			t.Errorf("request %d: %d bytes > %d", i, r.Size, DefaultMaxRequestSize)
		}
		if len(r.Body.GetResourceMetrics()[0].GetResource().GetAttributes()) != 1 {
			t.Errorf("request %d lacks the resource", i)
		}
	}
	seen := make([]int, series)
	for _, p := range otlptest.SumPoints(reqs, "big.counter") {
		id := seriesID(p)
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
	t.Logf("%d series, %d bytes in %d requests, %v", series, total, len(reqs), time.Since(start))
}

// TestOversizedRequestRefused: a batch of points far larger than the
// batch size allows for is refused by the exporter rather than sent to an
// endpoint that would refuse it.
func TestOversizedRequestRefused(t *testing.T) {
	c := otlptest.StartGRPC(t, otlptest.Options{})
	f := newForwarder(t, map[string]string{
		envEndpoint:       "http://" + c.Addr,
		envProtocol:       "grpc",
		envExportInterval: noTicks,
	})
	mp := newProvider(t, f.Reader())
	counter, _ := mp.Meter("test").Int64Counter("fat")
	pad := strings.Repeat("x", 2*maxPointSize)
	for i := range MaxExportBatchSize {
		counter.Add(context.Background(), 1, metric.WithAttributes(attribute.String("pad", fmt.Sprint(i, pad))))
	}
	err := mp.ForceFlush(context.Background())
	if err == nil || !strings.Contains(err.Error(), "too large") {
		t.Fatalf("ForceFlush = %v, want the request refused as too large", err)
	}
	if n := len(c.Requests()); n != 0 {
		t.Fatalf("%d oversized requests were sent", n)
	}
}

// TestFailedExportLoggedOnce: against a closed port, each failed collection
// is one line through the configured logger and none through the standard
// log, periodic exports included (the reader would hand them to
// otel.Handle); the app and other readers keep working; delivery resumes on
// the same port and the key is in no log.
func TestFailedExportLoggedOnce(t *testing.T) {
	stdlog := captureStdLog(t)
	c := otlptest.StartGRPC(t, otlptest.Options{})
	addr := c.Addr
	c.Stop()

	logs := &testutil.SyncBuffer{}
	f := newForwarder(t, map[string]string{
		envEndpoint:       "http://" + addr,
		envProtocol:       "grpc",
		envMackerelAPIKey: testKey,
		envTimeout:        "300",
		envExportInterval: "50",
	}, WithLogger(slog.New(slog.NewJSONHandler(logs, nil))))
	manual := sdkmetric.NewManualReader()
	mp := newProvider(t, f.Reader(), manual)
	counter, _ := mp.Meter("test").Int64Counter("app.counter")
	ctx := context.Background()
	counter.Add(ctx, 5)
	const failed = `"msg":"OTLP metrics export failed"`
	testutil.Await(t, "three failed exports", logs.Changed(), func() bool { return strings.Count(logs.String(), failed) >= 3 })

	// The app's instruments and another reader of the same provider work.
	counter.Add(ctx, 1)
	var rm metricdata.ResourceMetrics
	if err := manual.Collect(ctx, &rm); err != nil {
		t.Fatalf("ManualReader.Collect while the endpoint is down: %v", err)
	}
	if got := rm.ScopeMetrics[0].Metrics[0].Data.(metricdata.Sum[int64]).DataPoints[0].Value; got != 6 {
		t.Fatalf("collected %d, want 6", got)
	}

	c2 := otlptest.StartGRPC(t, otlptest.Options{Addr: addr})
	testutil.Await(t, "delivery to resume", c2.Changed(), func() bool { return len(otlptest.SumPoints(c2.Requests(), "app.counter")) > 0 })
	testutil.Await(t, "the recovery to be logged", logs.Changed(), func() bool { return strings.Contains(logs.String(), "OTLP metrics export recovered") })
	if err := mp.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown after recovery: %v", err)
	}

	if got, want := strings.Count(logs.String(), failed), f.stats.failures.Load(); int64(got) != want {
		t.Errorf("%d failure lines for %d failed exports", got, want)
	}
	if s := stdlog.String(); s != "" {
		t.Errorf("the standard log got: %s", s)
	}
	if strings.Contains(logs.String(), testKey) {
		t.Fatal("the API key reached the log")
	}
	if got := c2.Requests()[0].Get("mackerel-api-key"); got != testKey {
		t.Fatalf("after reconnect mackerel-api-key = %q", got)
	}
}

// TestFailedCollectionStops: when a request fails, the rest of that
// collection is not sent (the endpoint is likely down, and the next
// collection carries the series again), and it is one failure, logged once.
func TestFailedCollectionStops(t *testing.T) {
	c := otlptest.StartGRPC(t, otlptest.Options{})
	c.Stop()
	logs := &testutil.SyncBuffer{}
	f := newForwarder(t, map[string]string{
		envEndpoint:       "http://" + c.Addr,
		envProtocol:       "grpc",
		envTimeout:        "200",
		envExportInterval: noTicks,
	}, WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	mp := newProvider(t, f.Reader())
	addSeries(t, mp, "c", 3*MaxExportBatchSize)
	if err := mp.ForceFlush(context.Background()); err == nil {
		t.Fatal("ForceFlush to a closed port succeeded")
	}
	if e, fl, r := f.stats.exports.Load(), f.stats.failures.Load(), f.stats.requests.Load(); e != 1 || fl != 1 || r != 1 {
		t.Errorf("exports, failures, requests = %d, %d, %d; want 1, 1, 1", e, fl, r)
	}
	if n := strings.Count(logs.String(), "OTLP metrics export failed"); n != 1 {
		t.Errorf("%d failure lines, want 1:\n%s", n, logs)
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

// TestExportHonoursTimeout: against an endpoint that never answers, an
// export fails within the request timeout (bounded here only by a generous
// deadline) and so never holds the reader.
func TestExportHonoursTimeout(t *testing.T) {
	for _, p := range []Protocol{ProtocolGRPC, ProtocolHTTPProtobuf} {
		t.Run(string(p), func(t *testing.T) {
			f := newForwarder(t, map[string]string{
				envEndpoint:       "http://" + blackhole(t),
				envProtocol:       string(p),
				envTimeout:        "300",
				envExportInterval: noTicks,
			})
			mp := newProvider(t, f.Reader())
			addSeries(t, mp, "c", 10)
			done := make(chan error, 1)
			go func() { done <- mp.ForceFlush(context.Background()) }()
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("ForceFlush to a black hole succeeded")
				}
			case <-time.After(20 * time.Second):
				t.Fatal("the export did not return: the request timeout is not honoured")
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
// from the forwarder (no queue, no retry buffer).
func TestNothingRetainedAfterFailure(t *testing.T) {
	c := otlptest.StartGRPC(t, otlptest.Options{})
	c.Stop()
	f := newForwarder(t, map[string]string{envEndpoint: "http://" + c.Addr, envProtocol: "grpc", envTimeout: "200"})
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
}

// exportAndForget exports one collection times over, as the reader would:
// a collection starts with the producers.
func exportAndForget(t *testing.T, f *Forwarder, times int) (weak.Pointer[metricdata.ResourceMetrics], weak.Pointer[metricdata.DataPoint[int64]]) {
	rm := sampleMetrics(2000)
	dps := rm.ScopeMetrics[0].Metrics[0].Data.(metricdata.Sum[int64]).DataPoints
	wrm, wdps := weak.Make(rm), weak.Make(&dps[0])
	for range times {
		_, _ = f.exp.collections.Produce(context.Background())
		_ = f.exp.Export(context.Background(), rm)
		if err := f.exp.ForceFlush(context.Background()); err == nil {
			t.Fatal("export to a closed port succeeded")
		}
	}
	return wrm, wdps
}

func TestShutdownFlushes(t *testing.T) {
	c := otlptest.StartGRPC(t, otlptest.Options{})
	f := newForwarder(t, map[string]string{
		envEndpoint:       "http://" + c.Addr,
		envProtocol:       "grpc",
		envExportInterval: noTicks,
	})
	mp := newProvider(t, f.Reader())
	counter, _ := mp.Meter("test").Int64Counter("last.words")
	counter.Add(context.Background(), 42)
	if err := mp.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	pts := otlptest.SumPoints(c.Requests(), "last.words")
	if len(pts) != 1 || pts[0].GetAsInt() != 42 {
		t.Fatalf("after Shutdown the collector has %v, want one point of 42", pts)
	}
	if err := f.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	err := f.exp.Export(context.Background(), sampleMetrics(1))
	if !errors.Is(err, ErrShutdown) || !errors.Is(err, sdkmetric.ErrExporterShutdown) {
		t.Fatalf("Export after Shutdown = %v, want ErrShutdown", err)
	}
}

// TestSecretsRedacted: a proxy that echoes request headers in its error body
// must not get the key or header values into errors or logs.
func TestSecretsRedacted(t *testing.T) {
	const token = "sekret-bearer-token-77"
	c := otlptest.StartHTTP(t, otlptest.Options{EchoHeaders: true})
	logs := &testutil.SyncBuffer{}
	f := newForwarder(t, map[string]string{
		envEndpoint:       "http://" + c.Addr,
		envMackerelAPIKey: testKey,
		envHeaders:        "Authorization=Bearer%20" + token,
		envExportInterval: noTicks,
	}, WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	mp := newProvider(t, f.Reader())
	addSeries(t, mp, "c", 1)

	err := mp.ForceFlush(context.Background())
	if err == nil {
		t.Fatal("ForceFlush against a 400 succeeded")
	}
	if !strings.Contains(err.Error(), mackerelkey.Redacted) {
		t.Errorf("the echoed headers were not redacted (or not echoed): %v", err)
	}
	for _, s := range []string{err.Error(), logs.String()} {
		if strings.Contains(s, testKey) || strings.Contains(s, token) {
			t.Fatalf("secret leaked: %s", s)
		}
	}
}

func TestInsecureKeyWarns(t *testing.T) {
	logs := &testutil.SyncBuffer{}
	f := newForwarder(t, map[string]string{
		envEndpoint:       "http://127.0.0.1:1",
		envMackerelAPIKey: testKey,
	}, WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	defer f.Shutdown(context.Background())
	if !strings.Contains(logs.String(), "without TLS") {
		t.Fatalf("no warning about a plaintext key: %q", logs)
	}
}

func TestNewRejects(t *testing.T) {
	if f, err := New(context.Background(), Config{}); err == nil {
		_ = f.Shutdown(context.Background())
		t.Error("New accepted a Config not from FromEnv")
	}
	cfg, _, err := fromEnv(mapEnv(map[string]string{envMackerelAPIKey: testKey}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if f, err := New(ctx, cfg); err == nil {
		_ = f.Shutdown(context.Background())
		t.Error("New accepted a cancelled context")
	}
}
