package otelbridge

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/runtime"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/komachi-go/komachi/exporter"
	"github.com/komachi-go/komachi/heartbeat"
)

// answer is what one request got.
type answer struct {
	code  int
	ctype string
	cache string
	allow string
	body  string
}

func serve(h http.Handler, method, target string) answer {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, target, nil))
	return answer{w.Code, w.Header().Get("Content-Type"), w.Header().Get("Cache-Control"), w.Header().Get("Allow"), w.Body.String()}
}

// The one handler mounts the page, the heartbeat's paths and the
// exporter's /stats under one prefix; anything else is 404.
func TestHandlerRoutes(t *testing.T) {
	b, srv := startBridge(t, env(t))
	h := http.StripPrefix("/ops", b.Handler())
	notFound := "404 page not found: komachi serves / (the page), /heartbeat, /livez, /stats, /stats/graphs and /stats/history below its mount point\n"
	for _, tc := range []struct {
		method, target string
		code           int
		ctype, body    string
	}{
		{"GET", "/ops/heartbeat", 200, "text/plain; charset=utf-8", "heartbeat:ok"},
		{"GET", "/ops/livez", 200, "text/plain; charset=utf-8", "livez:ok"},
		{"GET", "/ops/stats", 200, "application/json", ""},
		{"HEAD", "/ops/stats", 200, "application/json", ""},
		{"GET", "/ops/stats/graphs", 200, "application/json", ""},
		{"GET", "/ops/stats/history", 200, "application/json", ""},
		{"HEAD", "/ops/stats/history", 200, "application/json", ""},
		{"GET", "/ops/", 200, "text/html; charset=utf-8", ""},
		{"HEAD", "/ops/", 200, "text/html; charset=utf-8", ""},
		{"GET", "/ops/page.js", 200, "text/javascript; charset=utf-8", ""},
		{"GET", "/ops/page.css", 200, "text/css; charset=utf-8", ""},
		{"GET", "/ops/favicon.svg", 200, "image/svg+xml", ""},
		{"POST", "/ops/stats", 405, "text/plain; charset=utf-8", "405 method not allowed: use GET or HEAD\n"},
		{"POST", "/ops/stats/history", 405, "text/plain; charset=utf-8", "405 method not allowed: use GET or HEAD\n"},
		{"POST", "/ops/heartbeat", 405, "text/plain; charset=utf-8", "405 method not allowed: use GET or HEAD\n"},
		{"POST", "/ops/", 405, "text/plain; charset=utf-8", "405 method not allowed: use GET or HEAD\n"},
		{"GET", "/ops/index.html", 404, "text/plain; charset=utf-8", notFound},
		{"GET", "/ops/stats/history/", 404, "text/plain; charset=utf-8", notFound},
		{"GET", "/ops/stats/", 404, "text/plain; charset=utf-8", notFound},
		{"GET", "/ops/stats.json", 404, "text/plain; charset=utf-8", notFound},
		// An escaped slash is one segment to the app's mux, past a guard on
		// /ops/stats/: it must not reach what lies under /stats.
		{"GET", "/ops/stats%2Fhistory", 404, "text/plain; charset=utf-8", notFound},
		{"GET", "/ops/stats%2Fgraphs", 404, "text/plain; charset=utf-8", notFound},
		{"GET", "/ops/heartbeat/x", 404, "text/plain; charset=utf-8", notFound},
		{"DELETE", "/ops/nope", 404, "text/plain; charset=utf-8", notFound},
	} {
		got := serve(h, tc.method, tc.target)
		if got.code != tc.code || got.ctype != tc.ctype || (tc.body != "" && got.body != tc.body) {
			t.Errorf("%s %s = %d %q %q, want %d %q %q", tc.method, tc.target, got.code, got.ctype, got.body, tc.code, tc.ctype, tc.body)
		}
		if tc.code == 405 && got.allow != "GET, HEAD" {
			t.Errorf("%s %s: Allow %q", tc.method, tc.target, got.allow)
		}
		if tc.code == 404 && got.cache != "no-store" {
			t.Errorf("%s %s: Cache-Control %q, want no-store", tc.method, tc.target, got.cache)
		}
	}
	for _, target := range []string{"/ops/stats", "/ops/stats/history", "/ops/"} {
		if got := serve(h, "HEAD", target); got.body != "" {
			t.Errorf("HEAD %s has a body", target)
		}
	}

	// Through net/http, mackerel-plugin-json's way: gzip, decompressed.
	res, err := srv.Client().Get(srv.URL + "/ops/stats")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	want, _ := b.stats.Exporter().Document()
	if !res.Uncompressed || string(body) != string(want) {
		t.Errorf("/ops/stats over HTTP: Uncompressed %v, %d bytes; want the document, gzipped on the wire", res.Uncompressed, len(body))
	}
}

// The page states the bridge's window, the exporter's budget and the
// Mackerel prefix, with its guard headers, and its history is the
// exporter's.
func TestHandlerPage(t *testing.T) {
	// The budget the page states is the exporter's, as configured.
	b, _ := startBridge(t, env(t), WithWindow(90*time.Second), WithMackerelPrefix("shop"),
		WithExporterOptions(exporter.WithBudget(27)))
	h := http.StripPrefix("/ops", b.Handler())
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/ops/", nil))
	body := w.Body.String()
	for _, want := range []string{`data-window-seconds="90"`, `data-budget="27"`, `data-prefix="shop"`, `<script src="page.js" defer></script>`} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /ops/: no %s in the page", want)
		}
	}
	if got := w.Header().Get("Content-Security-Policy"); !strings.HasPrefix(got, "default-src 'none'; ") {
		t.Errorf("GET /ops/: Content-Security-Policy %q", got)
	}
	if got, want := serve(h, "GET", "/ops/stats/history").body, history(b); got != want || !strings.HasPrefix(got, `{"times":[`) {
		t.Errorf("GET /ops/stats/history = %.80q…, want the exporter's history %.80q…", got, want)
	}
}

func history(b *Bridge) string {
	body, _ := b.stats.Exporter().History()
	return string(body)
}

// Before Start readiness fails and /stats has no document; liveness holds
// from the first moment. Start puts both in place; Drain turns readiness
// off and leaves the rest serving.
func TestStatsHandlerAcrossItsLife(t *testing.T) {
	stats, err := NewStats(env(t), WithWindow(time.Hour),
		WithVitals(heartbeat.VitalFunc("db", func(context.Context) error { return nil })))
	if err != nil {
		t.Fatal(err)
	}
	h := stats.Handler()
	check := func(when string, heartbeat, livez, stats int) {
		t.Helper()
		for target, want := range map[string]int{"/heartbeat": heartbeat, "/livez": livez, "/stats": stats} {
			if got := serve(h, "GET", target); got.code != want {
				t.Errorf("%s: %s = %d %q, want %d", when, target, got.code, got.body, want)
			}
		}
	}
	check("before Start", 503, 200, 503)
	if got := serve(h, "GET", "/heartbeat").body; got != "heartbeat:NG" {
		t.Errorf("before Start: /heartbeat body %q, want the seed's heartbeat:NG", got)
	}

	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(stats.Reader()))
	if err := stats.Start(context.Background(), mp); err != nil {
		t.Fatal(err)
	}
	check("after Start", 200, 200, 200)
	stats.Drain()
	stats.Drain() // idempotent
	check("drained", 503, 200, 200)
	if err := mp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := stats.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	check("after Shutdown", 503, 200, 200)
}

// Drain before Start holds: the handler Start puts in place is drained too.
func TestDrainBeforeStart(t *testing.T) {
	stats, err := NewStats(env(t), WithWindow(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	stats.Drain()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(stats.Reader()))
	defer func() { _ = stats.Shutdown(context.Background()) }()
	defer func() { _ = mp.Shutdown(context.Background()) }()
	if err := stats.Start(context.Background(), mp); err != nil {
		t.Fatal(err)
	}
	if got := serve(stats.Handler(), "GET", "/heartbeat"); got.code != 503 {
		t.Errorf("/heartbeat after Drain then Start = %d, want 503", got.code)
	}
}

// An app that starts contrib runtime on its provider itself says so, and
// every runtime metric is recorded once: go.processor.limit, a sum of every
// observation of the collection, shows GOMAXPROCS, not twice it.
func TestWithoutRuntimeMetrics(t *testing.T) {
	stats, err := NewStats(env(t), WithWindow(time.Hour), WithoutRuntimeMetrics(),
		WithExporterOptions(exporter.WithRules(exporter.AllRules()...)))
	if err != nil {
		t.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(stats.Reader()))
	defer func() { _ = stats.Shutdown(context.Background()) }()
	defer func() { _ = mp.Shutdown(context.Background()) }()
	if err := runtime.Start(runtime.WithMeterProvider(mp)); err != nil {
		t.Fatal(err)
	}
	if err := stats.Start(context.Background(), mp); err != nil {
		t.Fatal(err)
	}
	body, _ := stats.Exporter().Document()
	flat := flatten(t, string(body))
	if got, want := flat["go.processor.limit.limit"], float64(goruntime.GOMAXPROCS(0)); got != want {
		t.Errorf("go.processor.limit = %v, want %v: runtime instrumented twice?", got, want)
	}
	if !hasPrefix(flat, "go.schedule.duration") {
		t.Error("go.schedule.duration (contrib's producer on komachi's reader) missing")
	}
}

func TestVitalOptions(t *testing.T) {
	for _, tc := range []struct {
		opt  Option
		want string
	}{
		{WithVitalTimeout(0), "otelbridge: WithVitalTimeout: must be > 0, got 0s"},
		{WithVitalCacheTTL(-time.Second), "otelbridge: WithVitalCacheTTL: must be >= 0, got -1s"},
		{WithVitalInterval(time.Millisecond), "otelbridge: WithVitalInterval: must be 0 (on demand) or at least 1s, got 1ms"},
		{WithVitalInterval(-time.Second), "otelbridge: WithVitalInterval: must be 0 (on demand) or at least 1s, got -1s"},
	} {
		if _, err := NewStats(env(t), tc.opt); err == nil || err.Error() != tc.want {
			t.Errorf("NewStats = %v, want %q", err, tc.want)
		}
	}
	// Every bad value at once.
	_, err := NewStats(env(t), WithVitalTimeout(0), WithWindow(-time.Second))
	if err == nil || !strings.Contains(err.Error(), "WithVitalTimeout") || !strings.Contains(err.Error(), "WithWindow") {
		t.Errorf("two bad options: %v, want both named", err)
	}

	// The settings reach the heartbeat: details in the verbose answer.
	b, _ := startBridge(t, env(t), WithVitalDetails(true), WithVitalTimeout(time.Second), WithVitalCacheTTL(0),
		WithVitals(heartbeat.VitalFunc("db", func(context.Context) error { return errors.New("connection refused") })))
	if got := serve(b.Handler(), "GET", "/heartbeat?verbose"); got.code != 503 || !strings.Contains(got.body, `"output": "connection refused"`) {
		t.Errorf("verbose /heartbeat = %d %s, want the vital's error text", got.code, got.body)
	}
}

// WithResource merges over what Start detects: its attributes win where
// keys meet, and the detected ones stay.
func TestWithResourceMergesOverTheDetected(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	startBridge(t, env(t),
		WithResource(resource.NewSchemaless(attribute.String("service.name", "shop"), attribute.String("team", "payments"))),
		WithMeterProviderOptions(sdkmetric.WithReader(reader)))
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[attribute.Key]string{"service.name": "shop", "team": "payments"} {
		if v, ok := rm.Resource.Set().Value(key); !ok || v.AsString() != want {
			t.Errorf("resource %s = %q, want %q", key, v.AsString(), want)
		}
	}
	if _, ok := rm.Resource.Set().Value("telemetry.sdk.language"); !ok {
		t.Errorf("the detected attributes are gone: %v", rm.Resource.Attributes())
	}
}

// Stats.Shutdown waits for a vitals' run in flight only as long as its ctx
// allows; called again once the run has ended, it returns nil.
func TestStatsShutdownHonoursContext(t *testing.T) {
	release := make(chan struct{})
	running := make(chan struct{}, 1)
	stuck := heartbeat.VitalFunc("stuck", func(context.Context) error {
		select {
		case running <- struct{}{}:
		default:
		}
		<-release // ignores ctx, as a careless Check may
		return nil
	})
	stats, err := NewStats(env(t), WithWindow(time.Hour), WithVitals(stuck),
		WithVitalTimeout(time.Hour), WithVitalInterval(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(stats.Reader()))
	if err := stats.Start(context.Background(), mp); err != nil {
		t.Fatal(err)
	}
	<-running // the background run is in flight
	if err := mp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := stats.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown with a run in flight and a done ctx = %v, want context.Canceled", err)
	}
	if got := serve(stats.Handler(), "GET", "/heartbeat"); got.code != 503 {
		t.Errorf("/heartbeat after a cut-short Shutdown = %d, want 503 (drained)", got.code)
	}
	close(release)
	if err := stats.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown, once the run ended: %v", err)
	}
}
