package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/komachi-go/komachi/internal/plugintest"
)

// TestEndToEnd builds the example, runs it on a free loopback port as a
// user would, and reads /ops/stats as mackerel-plugin-json does.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the example binary")
	}
	bin := filepath.Join(t.TempDir(), "basic")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	addr := freeAddr(t)
	cmd := exec.Command(bin, "-addr", addr, "-drain", "2s")
	// The defaults plus three opt-ins, chosen the way an operator would.
	cmd.Env = append(cleanEnv(), "KOMACHI_STATS_WINDOW=1s", "OTEL_SERVICE_NAME=komachi-e2e",
		"KOMACHI_STATS_SELECT=process.cpu.time@; system.memory.usage; komachi.heartbeat.vital.status")
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// done is closed once Wait has returned, with waitErr set: the cleanup
	// must not read cmd.ProcessState, which Wait writes in another goroutine.
	var waitErr error
	done := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			_ = cmd.Process.Kill()
			<-done
		}
	})
	base := "http://" + addr

	waitFor(t, 30*time.Second, "readiness", func() bool {
		code, body := get(base + "/ops/heartbeat")
		return code == 200 && body == "heartbeat:ok"
	})
	if !strings.Contains(stderr.String(), "listening on") {
		t.Errorf("the example did not say where to look:\n%s", stderr.String())
	}
	for _, path := range []string{"/hello?name=e2e", "/hello", "/hello?lang=ja", "/"} {
		if code, body := get(base + path); code != 200 {
			t.Fatalf("GET %s = %d %s", path, code, body)
		}
	}

	var flat map[string]float64
	waitFor(t, 20*time.Second, "the HTTP metrics in /ops/stats", func() bool {
		code, body := get(base + "/ops/stats")
		if code != 200 {
			return false
		}
		flat = pluginFlatten(t, body)
		return hasPrefix(flat, "http.server.request.duration.count") && hasPrefix(flat, "app.greetings")
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
	code, body := get(base + "/ops/stats/graphs")
	if code != 200 || !strings.Contains(body, `"basic.go.goroutine.count":{"label":`) {
		t.Errorf("/ops/stats/graphs = %d %s", code, body)
	}
	for name := range flat {
		if !plugintest.ValidName(name) {
			t.Errorf("invalid Mackerel metric name %q", name)
		}
	}

	// SIGTERM: readiness goes 503 at once while the server still answers,
	// then the process stops cleanly.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "readiness 503 while draining", func() bool {
		code, _ := get(base + "/ops/heartbeat")
		return code == http.StatusServiceUnavailable
	})
	if code, _ := get(base + "/ops/livez"); code != 200 {
		t.Errorf("liveness while draining = %d", code)
	}
	if code, _ := get(base + "/ops/stats"); code != 200 {
		t.Errorf("/ops/stats while draining = %d", code)
	}
	select {
	case <-done:
		if waitErr != nil {
			t.Fatalf("exit: %v\n%s", waitErr, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("did not stop after SIGTERM\n%s", stderr.String())
	}
}

func TestBadAddr(t *testing.T) {
	if err := run(nil, "localhost:http-alt", 0); err == nil || !strings.Contains(err.Error(), "-addr") {
		t.Errorf("run with a bad -addr = %v", err)
	}
}

// cleanEnv is this process's environment without the variables that would
// switch OTLP forwarding on or change the window.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "OTEL_") || strings.HasPrefix(kv, "MACKEREL_") || strings.HasPrefix(kv, "KOMACHI_") || strings.HasPrefix(kv, "PORT=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func freeAddr(t *testing.T) string {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	return lis.Addr().String()
}

var client = &http.Client{Timeout: 5 * time.Second}

func get(url string) (int, string) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func pluginFlatten(t *testing.T, body string) map[string]float64 {
	t.Helper()
	flat, err := plugintest.Flatten("", []byte(body))
	if err != nil {
		t.Fatalf("/ops/stats: %v", err)
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
