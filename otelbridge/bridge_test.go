package otelbridge

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"

	"github.com/komachi-go/komachi/exporter"
	"github.com/komachi-go/komachi/heartbeat"
	"github.com/komachi-go/komachi/internal/plugintest"
	"github.com/komachi-go/komachi/internal/testutil"
	"github.com/komachi-go/komachi/internal/testutil/otlptest"
)

func TestMain(m *testing.M) {
	// Nothing from the machine running the tests: no forwarding to an
	// endpoint of its own, no graph definitions posted with its key.
	testutil.ClearEnv()
	goleak.VerifyTestMain(m,
		// gRPC's and the OTel SDK's process-wide helpers, started once on first use.
		goleak.IgnoreTopFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"),
		goleak.IgnoreAnyFunction("go.opencensus.io/stats/view.(*worker).start"),
	)
}

// env sets the variables for the test (t.Setenv); TestMain has cleared
// every other variable that would switch OTLP forwarding or graph
// definitions on, or change /stats. It returns no option.
func env(t *testing.T, kv ...string) Option {
	t.Helper()
	for i := 0; i+1 < len(kv); i += 2 {
		t.Setenv(kv[i], kv[i+1])
	}
	return nil
}

func startBridge(t *testing.T, opts ...Option) (*Bridge, *httptest.Server) {
	t.Helper()
	b, err := Start(context.Background(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ops/", http.StripPrefix("/ops", b.Handler()))
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return b, srv
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// flatten reads /stats the way mackerel-plugin-json does, names without a
// prefix.
func flatten(t *testing.T, body string) map[string]float64 {
	t.Helper()
	flat, err := plugintest.Flatten("", []byte(body))
	if err != nil {
		t.Fatalf("/stats: %v", err)
	}
	return flat
}

func hasPrefix(flat map[string]float64, prefix string) bool {
	for k := range flat {
		if k == prefix || strings.HasPrefix(k, prefix+".") {
			return true
		}
	}
	return false
}

func TestStartServesStatsFromTheFirstMoment(t *testing.T) {
	b, srv := startBridge(t, env(t))
	if b.Forwarding() {
		t.Fatal("OTLP forwarding on with no variable set")
	}
	code, body := get(t, srv.URL+"/ops/stats")
	if code != http.StatusOK {
		t.Fatalf("/ops/stats = %d %s", code, body)
	}
	flat := flatten(t, body)
	for _, name := range []string{"go.goroutine.count", "go.memory.used", "go.schedule.duration", "komachi.exporter"} {
		if !hasPrefix(flat, name) {
			t.Errorf("%s missing from the first document", name)
		}
	}
	if code, body := get(t, srv.URL+"/ops/heartbeat"); code != 200 || body != "heartbeat:ok" {
		t.Errorf("/ops/heartbeat = %d %q", code, body)
	}
}

func TestAppInstrumentsReachStats(t *testing.T) {
	b, srv := startBridge(t, env(t), WithWindow(time.Hour))
	c, _ := b.MeterProvider().Meter("app").Int64Counter("app.orders")
	c.Add(context.Background(), 7, metric.WithAttributes(attribute.String("shop", "tokyo")))
	// The window's end, now.
	if err := b.stats.reader.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, body := get(t, srv.URL+"/ops/stats")
	if got := flatten(t, body)["app.orders.tokyo"]; got != 7 {
		t.Fatalf("app.orders.tokyo = %v, want 7: %s", got, body)
	}
}

func TestBadConfigurationNamesTheCulprit(t *testing.T) {
	const key = "s3cr3t key"
	for _, tc := range []struct {
		env  []string
		opts []Option
		want string
	}{
		{[]string{"KOMACHI_STATS_WINDOW", "soon"}, nil, "KOMACHI_STATS_WINDOW"},
		{[]string{"KOMACHI_STATS_WINDOW", "-5s"}, nil, "KOMACHI_STATS_WINDOW"},
		{[]string{"KOMACHI_STATS_WINDOW", "1ns"}, nil, "KOMACHI_STATS_WINDOW"},
		{[]string{"KOMACHI_STATS_WINDOW", "1ms"}, nil, "KOMACHI_STATS_WINDOW"},
		{[]string{"KOMACHI_STATS_WINDOW", "0"}, nil, "KOMACHI_STATS_WINDOW"},
		{nil, []Option{WithWindow(-time.Second)}, "WithWindow"},
		{nil, []Option{WithWindow(time.Nanosecond)}, "WithWindow"},
		{nil, []Option{WithWindow(time.Millisecond)}, "WithWindow"},
		{nil, []Option{WithWindow(0)}, "WithWindow"},
		{[]string{"KOMACHI_STATS_SELECT", "http.server.request.duration:p98"}, nil, "KOMACHI_STATS_SELECT"},
		{[]string{"KOMACHI_MACKEREL_PREFIX", "custom.app"}, nil, "KOMACHI_MACKEREL_PREFIX"},
		{[]string{"KOMACHI_MACKEREL_GRAPH_DEFS", "maybe"}, nil, "KOMACHI_MACKEREL_GRAPH_DEFS"},
		{nil, []Option{WithMackerelPrefix("a..b")}, "WithMackerelPrefix"},
		{[]string{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://[::1"}, nil, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{[]string{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317", "OTEL_METRIC_EXPORT_INTERVAL", "often"}, nil, "OTEL_METRIC_EXPORT_INTERVAL"},
		{[]string{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon"}, nil, "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{[]string{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_HEADERS", "novalue"}, nil, "OTEL_EXPORTER_OTLP_HEADERS"},
		{[]string{"OTEL_METRICS_EXPORTER", "prometheus"}, nil, "OTEL_METRICS_EXPORTER"},
		{[]string{"MACKEREL_APIKEY", key}, nil, "MACKEREL_APIKEY"},
		{nil, []Option{WithExporterOptions(exporter.WithMaxSeries(-1))}, "WithMaxSeries"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			env(t, tc.env...)
			b, err := Start(context.Background(), tc.opts...)
			if err == nil {
				_ = b.Shutdown(context.Background())
				t.Fatalf("want an error naming %s, got none", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %s", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("error %q shows the API key", err)
			}
		})
	}
}

func TestBadResourceAttributes(t *testing.T) {
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "novalue")
	b, err := Start(context.Background(), env(t))
	if err == nil {
		_ = b.Shutdown(context.Background())
		t.Fatal("want an error for OTEL_RESOURCE_ATTRIBUTES")
	}
	if !strings.Contains(err.Error(), "OTEL_RESOURCE_ATTRIBUTES") {
		t.Errorf("error %q does not name OTEL_RESOURCE_ATTRIBUTES", err)
	}
}

func TestWindowFromEnvironmentAndOptionWins(t *testing.T) {
	c, err := newConfig([]Option{env(t, "KOMACHI_STATS_WINDOW", "10s")})
	if err != nil || c.window != 10*time.Second {
		t.Errorf("KOMACHI_STATS_WINDOW=10s gave %v, %v", c.window, err)
	}
	c, err = newConfig([]Option{env(t, "KOMACHI_STATS_WINDOW", "10s"), WithWindow(3 * time.Second)})
	if err != nil || c.window != 3*time.Second {
		t.Errorf("WithWindow(3s) over the env gave %v, %v", c.window, err)
	}
	c, _ = newConfig([]Option{env(t, "KOMACHI_STATS_WINDOW", "")})
	if c.window != DefaultWindow {
		t.Errorf("default window %v", c.window)
	}
}

func TestShutdownDrainsAndIsSafeTwice(t *testing.T) {
	b, err := Start(context.Background(), env(t))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.StripPrefix("/ops", b.Handler()))
	defer srv.Close()
	if err := b.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := b.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if code, _ := get(t, srv.URL+"/ops/heartbeat"); code != http.StatusServiceUnavailable {
		t.Errorf("readiness after Shutdown = %d, want 503", code)
	}
	if code, _ := get(t, srv.URL+"/ops/livez"); code != http.StatusOK {
		t.Errorf("liveness after Shutdown = %d, want 200", code)
	}
	if code, _ := get(t, srv.URL+"/ops/stats"); code != http.StatusOK {
		t.Errorf("/stats after Shutdown = %d, want its last document", code)
	}
}

func TestVitalsDecideReadiness(t *testing.T) {
	failing := heartbeat.VitalFunc("db", func(context.Context) error { return io.ErrUnexpectedEOF })
	_, srv := startBridge(t, env(t), WithVitals(failing))
	if code, body := get(t, srv.URL+"/ops/heartbeat"); code != 503 || body != "heartbeat:NG" {
		t.Errorf("/ops/heartbeat with a failing vital = %d %q", code, body)
	}
}

// An app that owns its MeterProvider adds the reader to it and gets the same
// /stats, with no second provider.
func TestAttachToTheAppsProvider(t *testing.T) {
	stats, err := NewStats(env(t), WithWindow(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(stats.Reader()))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	g, _ := mp.Meter("app").Int64Gauge("app.level")
	g.Record(context.Background(), 3)
	if err := stats.Start(context.Background(), mp); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stats.Shutdown(context.Background()) }()
	if err := stats.Start(context.Background(), mp); err == nil {
		t.Error("a second Start should fail")
	}
	srv := httptest.NewServer(http.StripPrefix("/ops", stats.Handler()))
	defer srv.Close()
	_, body := get(t, srv.URL+"/ops/stats")
	flat := flatten(t, body)
	if flat["app.level.level"] != 3 || !hasPrefix(flat, "go.goroutine.count") {
		names := make([]string, 0, len(flat))
		for k := range flat {
			names = append(names, k)
		}
		sort.Strings(names)
		t.Errorf("attached /stats lacks the app's or the runtime's metrics: %v", names)
	}
}

// With a Mackerel key and a custom endpoint (a proxy, a collector, this
// test), metrics arrive over real gRPC carrying Mackerel-Api-Key, gzip-
// compressed, and /stats keeps working; Shutdown flushes.
func TestForwardsToAnOTLPReceiver(t *testing.T) {
	r := otlptest.StartGRPC(t, otlptest.Options{})
	api := startGraphDefsReceiver(t, "testkey123")
	var logs testutil.SyncBuffer
	b, srv := startBridge(t, env(t,
		"MACKEREL_APIKEY", "testkey123",
		"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", // the spec's default is http/protobuf
		"MACKEREL_APIBASE", api.URL,
		"KOMACHI_MACKEREL_PREFIX", "shop",
		"OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+r.Addr,
		"OTEL_EXPORTER_OTLP_INSECURE", "true",
		"OTEL_METRIC_EXPORT_INTERVAL", "100",
	), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if !b.Forwarding() {
		t.Fatal("forwarding off with MACKEREL_APIKEY set")
	}
	c, _ := b.MeterProvider().Meter("app").Int64Counter("app.flushed.on.shutdown")
	testutil.Await(t, "a request at the OTLP receiver", r.Changed(), func() bool { return len(r.Requests()) > 0 })
	if code, _ := get(t, srv.URL+"/ops/stats"); code != 200 {
		t.Errorf("/stats = %d while forwarding", code)
	}
	if !slices.Contains(otlptest.MetricNames(r.Requests()), "go.goroutine.count") {
		t.Error("runtime metrics not forwarded")
	}
	first := r.Requests()[0]
	if got := first.Header["mackerel-api-key"]; len(got) != 1 || got[0] != "testkey123" {
		t.Errorf("Mackerel-Api-Key = %v", got)
	}
	if got := first.Compression; got != "gzip" {
		t.Errorf("request compression = %q, want gzip", got)
	}
	// The graph definitions of the first document, posted to the Mackerel
	// API under the plugin's prefix.
	var defs []graphDefParam
	select {
	case defs = <-api.posted:
	case <-time.After(15 * time.Second):
		t.Fatal("no graph definitions posted")
	}
	names := map[string]string{}
	for _, d := range defs {
		names[d.Name] = d.Unit
	}
	if names["custom.shop.go.goroutine.count"] != "integer" || names["custom.shop.go.memory.used"] != "bytes" {
		t.Errorf("posted graph definitions = %v", names)
	}
	c.Add(context.Background(), 1)
	if err := b.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(otlptest.MetricNames(r.Requests()), "app.flushed.on.shutdown") {
		t.Error("Shutdown did not flush the last values over OTLP")
	}
	if strings.Contains(logs.String(), "testkey123") {
		t.Errorf("the API key is in the log:\n%s", logs.String())
	}
}

type graphDefParam struct {
	Name        string `json:"name"`
	DisplayName string `json:"displayName"`
	Unit        string `json:"unit"`
}

type graphDefsReceiver struct {
	*httptest.Server
	posted chan []graphDefParam
}

// startGraphDefsReceiver stands in for Mackerel's API on loopback: it takes
// POST /api/v0/graph-defs/create with the key and answers 401 without it.
func startGraphDefsReceiver(t *testing.T, key string) *graphDefsReceiver {
	t.Helper()
	r := &graphDefsReceiver{posted: make(chan []graphDefParam, 16)}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost || req.URL.Path != "/api/v0/graph-defs/create" || req.Header.Get("X-Api-Key") != key {
			http.Error(w, `{"error":{"message":"Authentication failed"}}`, http.StatusUnauthorized)
			return
		}
		var defs []graphDefParam
		if err := json.NewDecoder(req.Body).Decode(&defs); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		select {
		case r.posted <- defs:
		default:
		}
		_, _ = io.WriteString(w, `{"success":true}`)
	}))
	t.Cleanup(r.Close)
	return r
}

// The last collection, made by Shutdown, still reads every instrument: the
// Go vitals and the exporter's and heartbeat's own metrics are unregistered
// only after it, so the document /stats keeps serving is whole.
func TestShutdownKeepsEverySeriesInTheLastDocument(t *testing.T) {
	b, err := Start(context.Background(), env(t), WithWindow(time.Hour),
		WithExporterOptions(exporter.WithRules(exporter.AllRules()...)),
		WithVitals(heartbeat.VitalFunc("db", func(context.Context) error { return nil })))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.StripPrefix("/ops", b.Handler()))
	defer srv.Close()
	get(t, srv.URL+"/ops/heartbeat") // a run, for the vital's metrics
	if err := b.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, body := get(t, srv.URL+"/ops/stats")
	flat := flatten(t, body)
	for _, name := range []string{
		"go.goroutine.count",      // contrib runtime
		"go.cpu.time",             // govitals
		"process.thread.count",    // govitals
		"komachi.exporter",        // the exporter's own metrics
		"komachi.heartbeat.vital", // the vital, read from the last run
	} {
		if !hasPrefix(flat, name) {
			t.Errorf("%s missing from the last document", name)
		}
	}
}

// A failure after the reader exists (here forward.New refusing a cancelled
// context) stops what was started.
func TestStartFailureLeavesNothingRunning(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b, err := Start(ctx,
		env(t, "OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317"),
		WithVitalInterval(time.Hour))
	if err == nil {
		_ = b.Shutdown(context.Background())
		t.Fatal("Start with a cancelled context succeeded")
	}
	goleak.VerifyNone(t,
		goleak.IgnoreTopFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"),
		goleak.IgnoreAnyFunction("go.opencensus.io/stats/view.(*worker).start"))
}

// A nil Option is skipped, as in every komachi package.
func TestNilOption(t *testing.T) {
	b, err := Start(context.Background(), env(t), nil)
	if err != nil {
		t.Fatalf("Start with a nil Option: %v", err)
	}
	if err := b.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	stats, err := NewStats(nil, env(t))
	if err != nil {
		t.Fatalf("NewStats with a nil Option: %v", err)
	}
	if err := stats.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	_ = stats.reader.Shutdown(context.Background())
}

// Stats.Start with no provider is an error, and registers nothing on the
// global MeterProvider on the way (contrib runtime and host would fall back
// to it).
func TestStatsStartNilProvider(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	global := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = global.Shutdown(context.Background()) }()
	prev := otel.GetMeterProvider()
	otel.SetMeterProvider(global)
	defer otel.SetMeterProvider(prev)

	stats, err := NewStats(env(t))
	if err != nil {
		t.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(stats.Reader()))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	defer func() { _ = stats.Shutdown(context.Background()) }()
	if err := stats.Start(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "MeterProvider") {
		t.Errorf("Start(nil) = %v, want an error naming the MeterProvider", err)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		t.Errorf("Start(nil) recorded %s on the global MeterProvider", sm.Scope.Name)
	}
}

// Start after Shutdown would register callbacks nothing unregisters.
func TestStatsStartAfterShutdown(t *testing.T) {
	stats, err := NewStats(env(t))
	if err != nil {
		t.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(stats.Reader()))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	if err := stats.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := stats.Start(context.Background(), mp); err == nil {
		t.Error("Start after Shutdown succeeded")
	}
}

// An option wins over its variable: the variable it overrides is not read,
// so a bad value there fails nothing.
func TestOptionOverridesItsVariable(t *testing.T) {
	env(t, "KOMACHI_MACKEREL_PREFIX", "custom", "KOMACHI_MACKEREL_GRAPH_DEFS", "bogus", "KOMACHI_STATS_WINDOW", "soon")
	c, err := newConfig([]Option{WithMackerelPrefix("basic"), WithoutGraphDefs(), WithWindow(2 * time.Second)})
	if err != nil || c.prefix != "basic" || c.postGraphs || c.window != 2*time.Second {
		t.Errorf("newConfig = prefix %q, post %t, window %v, %v", c.prefix, c.postGraphs, c.window, err)
	}
}
