package otelbridge

import (
	"runtime"
	"testing"
	"time"
)

// After one window, /stats holds a Go counterpart of every vital the seed
// library shows (the table in the package documentation), each under the
// name Mackerel will store.
func TestEveryGoVitalAfterOneWindow(t *testing.T) {
	_, srv := startBridge(t, env(), WithWindow(200*time.Millisecond))
	runtime.GC() // a cycle and a pause to count
	// Burn a little CPU so the CPU classes move within the window.
	deadline := time.Now().Add(50 * time.Millisecond)
	for x := 0; time.Now().Before(deadline); x++ {
		_ = x * x
	}
	time.Sleep(450 * time.Millisecond) // more than two windows
	_, body := get(t, srv.URL+"/ops/stats")
	flat := flatten(t, body)
	for seed, name := range map[string]string{
		"process_count":        "go.goroutine.count",
		"run_queue":            "go.schedule.duration.count",
		"run_queue (length)":   "komachi.go.goroutine.count.runnable",
		"reductions":           "go.cpu.time.user",
		"scheduler_usage (gc)": "go.cpu.time.gc",
		"scheduler_usage":      "go.processor.limit",
		"process cpu":          "process.cpu.time",
		"context_switches":     "process.context_switches.voluntary",
		"context_switches inv": "process.context_switches.involuntary",
		"gc.count":             "go.memory.gc.cycles",
		"gc pauses":            "go.memory.gc.pause.duration.count",
		"gc.words_reclaimed":   "komachi.go.memory.freed",
		"frees":                "komachi.go.memory.frees",
		"allocated":            "go.memory.allocated",
		"allocations":          "go.memory.allocations",
		"io (network)":         "system.network.io",
		"io (disk)":            "process.disk.io",
		"memory.processes":     "go.memory.used",
		"memory gc goal":       "go.memory.gc.goal",
		"memory.<kind>":        "komachi.go.memory.used.heap_objects",
		"port_count":           "process.unix.file_descriptor.count",
		"threads":              "process.thread.count",
		"rss":                  "process.memory.usage",
		"virtual":              "process.memory.virtual",
		"host memory":          "system.memory.usage",
	} {
		if !hasPrefix(flat, name) {
			t.Errorf("seed %s: %s missing from /stats", seed, name)
		}
	}
	// The runtime samples scheduling latencies: a quiet window may hold none.
	// Goroutines woken in a loop make some; a window that sees them serves
	// quantiles.
	deadline = time.Now().Add(10 * time.Second)
	for flat["go.schedule.duration.count"] == 0 {
		if time.Now().After(deadline) {
			t.Fatal("go.schedule.duration never counted a scheduling latency")
		}
		done := make(chan struct{})
		for range 1000 {
			go func() { done <- struct{}{} }()
		}
		for range 1000 {
			<-done
		}
		time.Sleep(50 * time.Millisecond)
		_, body = get(t, srv.URL+"/ops/stats")
		flat = flatten(t, body)
	}
	if _, ok := flat["go.schedule.duration.p99"]; !ok {
		t.Error("a window with scheduling latencies serves no p99")
	}
	if flat["process.unix.file_descriptor.count"] < 3 || flat["process.thread.count"] < 1 {
		t.Errorf("implausible fd/thread counts: %v %v", flat["process.unix.file_descriptor.count"], flat["process.thread.count"])
	}
	if testing.Verbose() {
		t.Logf("%d leaves in /stats", len(flat))
	}
}
