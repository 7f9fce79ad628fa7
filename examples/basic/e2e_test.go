package main

import (
	"bytes"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/komachi-go/komachi/internal/plugintest"
	"github.com/komachi-go/komachi/internal/testutil"
)

// TestEndToEnd builds the example, runs it on a free loopback port as a
// user would, and reads /ops/stats as mackerel-plugin-json does.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the example binary")
	}
	// The defaults plus three opt-ins, chosen the way an operator would.
	ex := testutil.StartExample(t, ".", []string{"-drain", "2s"},
		"KOMACHI_STATS_WINDOW=1s", "OTEL_SERVICE_NAME=komachi-e2e",
		"KOMACHI_STATS_SELECT=process.cpu.time@; system.memory.usage; komachi.heartbeat.vital.status")

	if !strings.Contains(ex.Stderr.String(), "listening on") {
		t.Errorf("the example did not say where to look:\n%s", ex.Stderr)
	}
	for _, path := range []string{"/hello?name=e2e", "/hello", "/hello?lang=ja", "/"} {
		if code, body := ex.Get(path); code != 200 {
			t.Fatalf("GET %s = %d %s", path, code, body)
		}
	}

	var flat map[string]float64
	testutil.Poll(t, 20*time.Second, "the HTTP metrics in /ops/stats", func() bool {
		code, body := ex.Get("/ops/stats")
		if code != 200 {
			return false
		}
		var err error
		if flat, err = plugintest.Flatten("", body); err != nil {
			t.Fatalf("/ops/stats: %v", err)
		}
		_, served := flat["http.server.request.duration.count.count"]
		_, greeted := flat["app.greetings.en"]
		return served && greeted
	})
	for _, want := range []string{
		"go.goroutine.count.count",                  // runtime
		"go.memory.used.stack",                      // runtime
		"go.schedule.duration.p99",                  // runtime producer
		"http.server.request.duration.p99",          // otelhttp
		"http.server.request.duration.count.count",  // otelhttp
		"app.greetings.en",                          // the app's counter
		"komachi.exporter.metrics.metrics",          // the exporter's own health
		"process.cpu.time.time",                     // opted in: host, states merged
		"system.memory.usage.used",                  // opted in: host
		"komachi.heartbeat.vital.status.goroutines", // opted in: the vital's status, through the same path
	} {
		if _, ok := flat[want]; !ok {
			t.Errorf("/ops/stats lacks %s", want)
		}
	}
	if _, ok := flat["process.memory.usage.usage"]; ok {
		t.Error("process.memory.usage served without being opted in")
	}
	// The graph definitions, under the example's prefix.
	code, body := ex.Get("/ops/stats/graphs")
	if code != 200 || !bytes.Contains(body, []byte(`"basic.go.goroutine.count":{"label":`)) {
		t.Errorf("/ops/stats/graphs = %d %s", code, body)
	}
	for name := range flat {
		if !plugintest.ValidName(name) {
			t.Errorf("invalid Mackerel metric name %q", name)
		}
	}

	// SIGTERM: readiness goes 503 at once while the server still answers,
	// then the process stops cleanly.
	if err := ex.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	testutil.Poll(t, 5*time.Second, "readiness 503 while draining", func() bool {
		code, _ := ex.Get("/ops/heartbeat")
		return code == http.StatusServiceUnavailable
	})
	if code, _ := ex.Get("/ops/livez"); code != 200 {
		t.Errorf("liveness while draining = %d", code)
	}
	if code, _ := ex.Get("/ops/stats"); code != 200 {
		t.Errorf("/ops/stats while draining = %d", code)
	}
	if err := ex.Wait(20 * time.Second); err != nil {
		t.Fatalf("exit: %v\n%s", err, ex.Stderr)
	}
}

func TestBadAddr(t *testing.T) {
	if err := run(nil, "localhost:http-alt", 0); err == nil || !strings.Contains(err.Error(), "-addr") {
		t.Errorf("run with a bad -addr = %v", err)
	}
}
