package otelbridge

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// After a window, /stats holds, at the default selection, a Go counterpart
// of every vital the seed library shows (the README's table), each under the
// name Mackerel will store, and nothing more than a Pod's share.
func TestEveryGoVitalAfterOneWindow(t *testing.T) {
	b, srv := startBridge(t, env(t), WithWindow(time.Hour))
	runtime.GC() // a cycle and a pause to count
	// Goroutines woken in a loop make scheduling latencies to sample.
	done := make(chan struct{})
	for range 1000 {
		go func() { done <- struct{}{} }()
	}
	for range 1000 {
		<-done
	}
	if err := b.stats.reader.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, body := get(t, srv.URL+"/ops/stats")
	flat := flatten(t, body)
	for seed, name := range map[string]string{
		"process_count":                 "go.goroutine.count.count",
		"run_queue":                     "go.schedule.duration.p99",
		"reductions, scheduler_usage":   "process.cpu.time.time",
		"context_switches":              "process.context_switches.context_switches",
		"gc.count":                      "go.memory.gc.cycles.cycles",
		"gc.words_reclaimed":            "go.memory.allocated.allocated",
		"gc pauses":                     "go.memory.gc.pause.duration.p99",
		"memory.processes (stack)":      "go.memory.used.stack",
		"memory.processes (other)":      "go.memory.used.other",
		"memory.processes (goal)":       "go.memory.gc.goal.goal",
		"memory.binary and other kinds": "komachi.go.memory.used.heap_objects",
		"port_count":                    "process.unix.file_descriptor.count.count",
		"threads":                       "process.thread.count.count",
		"komachi's metrics":             "komachi.exporter.metrics.metrics",
		"komachi's drops":               "komachi.exporter.dropped.dropped",
	} {
		if _, ok := flat[name]; !ok {
			t.Errorf("seed %s: %s missing from /stats", seed, name)
		}
	}
	if flat["go.memory.gc.cycles.cycles"] < 1 {
		t.Errorf("the window's GC cycle was not counted: %v", flat["go.memory.gc.cycles.cycles"])
	}
	if flat["process.unix.file_descriptor.count.count"] < 3 || flat["process.thread.count.count"] < 1 {
		t.Errorf("implausible fd/thread counts: %v %v", flat["process.unix.file_descriptor.count.count"], flat["process.thread.count.count"])
	}
	if len(flat) > 20 {
		t.Errorf("%d leaves at the defaults, more than a Pod's 20: %v", len(flat), flat)
	}
}
