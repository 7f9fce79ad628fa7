package harness_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"

	"github.com/komachi-go/komachi/benchmarks/internal/harness"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newEnv(t *testing.T, series int) *harness.Env {
	t.Helper()
	env, err := harness.NewEnv(context.Background(), harness.Config{Series: series})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return env
}

// get fetches the contender's path from a real loopback server.
func get(t *testing.T, env *harness.Env, contender string, gz bool) (*http.Response, []byte) {
	t.Helper()
	mux, err := env.Mux(contender)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+harness.Paths[contender], nil)
	if gz {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, DisableCompression: true}, Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || len(body) == 0 {
		t.Fatalf("%s: %s with %d bytes, want 200 with a body", contender, resp.Status, len(body))
	}
	return resp, body
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Every contender answers with the synthetic series, and the ceiling serves
// exactly as many bytes as /stats, with the same headers.
func TestContenders(t *testing.T) {
	env := newEnv(t, 40)

	statsResp, stats := get(t, env, harness.Stats, false)
	var doc map[string]any
	if err := json.Unmarshal(stats, &doc); err != nil {
		t.Fatalf("/stats is not JSON: %v", err)
	}
	app, _ := doc["app"].(map[string]any)
	if _, ok := app["component0"]; !ok {
		t.Errorf("/stats has no app.component0: %.300s", stats)
	}
	// Everything whole, as promhttp serves it: the runtime's and host's
	// instruments, which the default selection leaves out, and all nine
	// stats of a histogram.
	hist, _ := app["component3"].(map[string]any)["duration"].(map[string]any)
	if len(hist) != 9 {
		t.Errorf("/stats serves %d stats of app.component3.duration, want all 9: %v", len(hist), hist)
	}
	system, _ := doc["system"].(map[string]any)
	if _, ok := system["memory"]; !ok {
		t.Errorf("/stats has no system.memory (the default selection's doing?): %.300s", stats)
	}

	ceilResp, ceil := get(t, env, harness.Ceiling, false)
	if len(ceil) != len(stats) {
		t.Errorf("ceiling serves %d bytes, /stats %d", len(ceil), len(stats))
	}
	for _, h := range []string{"Content-Type", "Cache-Control", "X-Content-Type-Options", "Vary", "Content-Length"} {
		if got, want := ceilResp.Header.Get(h), statsResp.Header.Get(h); got != want {
			t.Errorf("ceiling's %s = %q, /stats's %q", h, got, want)
		}
	}

	statsGzResp, statsGz := get(t, env, harness.Stats, true)
	ceilGzResp, ceilGz := get(t, env, harness.Ceiling, true)
	if statsGzResp.Header.Get("Content-Encoding") != "gzip" || ceilGzResp.Header.Get("Content-Encoding") != "gzip" {
		t.Errorf("Content-Encoding: /stats %q, ceiling %q; want gzip for both", statsGzResp.Header.Get("Content-Encoding"), ceilGzResp.Header.Get("Content-Encoding"))
	}
	if len(ceilGz) != len(statsGz) {
		t.Errorf("ceiling serves %d gzip bytes, /stats %d", len(ceilGz), len(statsGz))
	}
	if !bytes.Equal(gunzip(t, statsGz), stats) {
		t.Error("/stats gzipped is not /stats")
	}

	_, prom := get(t, env, harness.Prom, false)
	for _, want := range []string{"app_component0_requests_total{", "app_component3_duration_seconds_bucket{", "go_goroutine_count", "go_memory_gc_pause_duration_seconds_bucket"} {
		if !bytes.Contains(prom, []byte(want)) {
			t.Errorf("promhttp serves no %s", want)
		}
	}
	promGzResp, promGz := get(t, env, harness.Prom, true)
	if promGzResp.Header.Get("Content-Encoding") != "gzip" || len(gunzip(t, promGz)) == 0 {
		t.Errorf("promhttp with gzip: Content-Encoding %q", promGzResp.Header.Get("Content-Encoding"))
	}

	_, ev := get(t, env, harness.Expvar, false)
	var vars map[string]json.RawMessage
	var synthetic map[string]any
	if err := json.Unmarshal(ev, &vars); err != nil {
		t.Fatalf("/debug/vars is not JSON: %v", err)
	}
	if err := json.Unmarshal(vars[harness.ExpvarName], &synthetic); err != nil {
		t.Fatalf("/debug/vars has no object %s: %v", harness.ExpvarName, err)
	}
	for _, want := range []string{"app.component0.requests", "app.component3.duration"} {
		if _, ok := synthetic[want]; !ok {
			t.Errorf("expvar serves no %s.%s", harness.ExpvarName, want)
		}
	}
	if _, ok := vars["memstats"]; !ok {
		t.Error("expvar serves no memstats")
	}

	if _, err := env.Handler("nope"); err == nil || !strings.Contains(err.Error(), "stats, prom, expvar, ceiling") {
		t.Errorf("unknown contender: %v, want an error listing the contenders", err)
	}
}

// The expvar mirror holds the numbers the OTel SDK aggregated.
func TestSyntheticExpvarMatchesOTel(t *testing.T) {
	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(ctx) }()
	s, err := harness.NewSynthetic(mp, 35) // 4 instruments, the last with 5 series
	if err != nil {
		t.Fatal(err)
	}
	ev := s.Expvar()
	for r := range 7 {
		s.Record(ctx, r)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	points := 0
	for _, m := range rm.ScopeMetrics[0].Metrics {
		inst, _ := ev.Get(m.Name).(interface{ String() string })
		if inst == nil {
			t.Fatalf("expvar has no %s", m.Name)
		}
		var byKey map[string]any
		if err := json.Unmarshal([]byte(inst.String()), &byKey); err != nil {
			t.Fatal(err)
		}
		switch d := m.Data.(type) {
		case metricdata.Sum[int64]:
			for _, dp := range d.DataPoints {
				points++
				k := expvarKey(dp.Attributes.ToSlice())
				if got := byKey[k].(float64); got != float64(dp.Value) {
					t.Errorf("%s %s: expvar %v, OTel %d", m.Name, k, got, dp.Value)
				}
			}
		case metricdata.Gauge[float64]:
			for _, dp := range d.DataPoints {
				points++
				k := expvarKey(dp.Attributes.ToSlice())
				if got := byKey[k].(float64); got != dp.Value {
					t.Errorf("%s %s: expvar %v, OTel %v", m.Name, k, got, dp.Value)
				}
			}
		case metricdata.Histogram[float64]:
			for _, dp := range d.DataPoints {
				points++
				k := expvarKey(dp.Attributes.ToSlice())
				h := byKey[k].(map[string]any)
				if h["count"].(float64) != float64(dp.Count) || math.Abs(h["sum"].(float64)-dp.Sum) > 1e-9 {
					t.Errorf("%s %s: expvar count %v sum %v, OTel %d %v", m.Name, k, h["count"], h["sum"], dp.Count, dp.Sum)
				}
				buckets := h["buckets"].(map[string]any)
				if got := buckets["+Inf"].(float64); got != float64(dp.BucketCounts[len(dp.BucketCounts)-1]) {
					t.Errorf("%s %s: +Inf bucket %v, OTel %d", m.Name, k, got, dp.BucketCounts[len(dp.BucketCounts)-1])
				}
			}
		default:
			t.Errorf("%s: unexpected %T", m.Name, m.Data)
		}
	}
	if points != 35 {
		t.Errorf("OTel collected %d series, want 35", points)
	}
}

func expvarKey(kvs []attribute.KeyValue) string {
	var method, route string
	for _, kv := range kvs {
		switch kv.Key {
		case "http.request.method":
			method = kv.Value.AsString()
		case "http.route":
			route = kv.Value.AsString()
		}
	}
	return method + "-" + route
}

// The load generator runs a bounded cell against a real server, and the
// server's usage is read around the timed run.
func TestRun(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 4096)
	srv := httptest.NewServer(harness.NewCeiling(body, body[:100]))
	defer srv.Close()
	admin := httptest.NewServer(harness.UsageHandler())
	defer admin.Close()

	var before, after harness.Usage
	res, err := harness.Run(context.Background(), harness.Cell{
		URL: srv.URL + "/stats", Conns: 2, Gzip: true,
		Warmup: 50 * time.Millisecond, Duration: 200 * time.Millisecond, MaxRequests: 1000,
		Before: func(ctx context.Context) (err error) { before, err = harness.FetchUsage(ctx, admin.URL); return },
		After:  func(ctx context.Context) (err error) { after, err = harness.FetchUsage(ctx, admin.URL); return },
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.Requests > 1000 || res.Errors != 0 {
		t.Fatalf("%d requests, %d errors; want 1 to 1000 without error", res.Requests, res.Errors)
	}
	if res.Latency.Count() != res.Requests || res.Latency.Quantile(0.5) <= 0 {
		t.Errorf("latency holds %d durations (p50 %v) for %d requests", res.Latency.Count(), res.Latency.Quantile(0.5), res.Requests)
	}
	if res.Bytes != 100*res.Requests || res.Encodings["gzip"] != res.Requests {
		t.Errorf("read %d bytes with encodings %v for %d gzip answers of 100 bytes", res.Bytes, res.Encodings, res.Requests)
	}
	if after.CPU <= before.CPU || after.Mallocs <= before.Mallocs {
		t.Errorf("usage did not move: before %+v, after %+v", before, after)
	}

	if _, err := harness.Run(context.Background(), harness.Cell{URL: srv.URL, Conns: 0, Duration: time.Second}); err == nil {
		t.Error("a cell without connections ran")
	}
	// A server that answers 404 fails the cell rather than measuring errors.
	if _, err := harness.Run(context.Background(), harness.Cell{URL: srv.URL + "/nope", Conns: 1, Duration: 50 * time.Millisecond, MaxRequests: 10}); err == nil {
		t.Error("a cell where every request failed returned no error")
	}
}

func TestLatencyQuantiles(t *testing.T) {
	var l harness.Latency
	for i := 1; i <= 10000; i++ {
		l.Record(time.Duration(i) * time.Microsecond)
	}
	f := func(q float64, want time.Duration) {
		t.Helper()
		got := l.Quantile(q)
		if math.Abs(float64(got-want)) > 0.02*float64(want) {
			t.Errorf("q%v = %v, want %v ± 2%%", q, got, want)
		}
	}
	f(0.5, 5*time.Millisecond)
	f(0.99, 9900*time.Microsecond)
	f(1, 10*time.Millisecond)
	if l.Max() != 10*time.Millisecond || l.Count() != 10000 {
		t.Errorf("max %v count %d", l.Max(), l.Count())
	}
	var small harness.Latency
	small.Record(3)
	small.Record(-1) // a clock step: counted as zero, never a panic
	if small.Quantile(1) != 3 || small.Quantile(0.1) != 0 {
		t.Errorf("small values: q1 %v q0.1 %v, want exact", small.Quantile(1), small.Quantile(0.1))
	}
	var merged harness.Latency
	merged.Merge(&l)
	merged.Merge(&small)
	if merged.Count() != 10002 || merged.Max() != l.Max() {
		t.Errorf("merged: count %d max %v", merged.Count(), merged.Max())
	}
	var empty harness.Latency
	if empty.Quantile(0.5) != 0 {
		t.Error("an empty histogram has a quantile")
	}
}
