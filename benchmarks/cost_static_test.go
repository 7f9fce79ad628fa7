package benchmarks_test

import (
	"strconv"
	"testing"
)

// gostatsGraphs is mackerel-plugin-gostats' fixed set, its GraphDefinition:
// each graph's unit and how many metrics it defines. Read from
// mackerel-plugin-gostats/lib/mackerel-plugin-gostats.go in
// github.com/mackerelio/mackerel-agent-plugins at commit
// 2c4b498a3b313fbfe47c3b945da8035f19665a29.
var gostatsGraphs = []struct {
	graph, unit string
	metrics     int
}{
	{"runtime", "integer", 2},   // goroutine_num, cgo_call_num
	{"memory", "bytes", 3},      // memory_alloc, memory_sys, memory_stack
	{"operation", "integer", 3}, // memory_lookups, memory_mallocs, memory_frees
	{"heap", "bytes", 4},        // heap_sys, heap_idle, heap_inuse, heap_released
	{"gc", "float", 3},          // gc_num, gc_per_second, gc_pause_per_second
}

// gostatsRow: nothing of gostats is truncated. go-mackerel-plugin (commit
// 1c85d531b8da6e2415076704392e24aee27fce21, printValue) prints a whole
// value with %d and any other with %f; gostats' values are counts and bytes,
// per-minute rates of counters (Diff: (cur-last)*60/elapsed), GCs per second
// (at least 1/elapsed when not 0) and gc_pause_per_second, which is the GC
// pause since the last fetch in milliseconds (golang-stats-api-handler
// divides nanoseconds by 1e6), so six decimals keep every nanosecond.
func gostatsRow() costRow {
	r := costRow{
		way:       "mackerel-plugin-gostats",
		truncated: "0",
		note:      "its fixed set, from its graph definitions (mackerel-agent-plugins 2c4b498, mackerel-plugin-gostats/lib); go-mackerel-plugin prints whole values with %d, and the others are rates and milliseconds that six decimals keep",
	}
	for _, g := range gostatsGraphs {
		r.metrics += g.metrics
		r.graphs++
		if g.unit != "float" {
			r.units++
		}
	}
	return r
}

// seedFixed are the numbers the seed library, KomachiHeartbeat for Elixir,
// serves at /ops/stats with its BeamVital whatever the VM: read from
// lib/komachi_heartbeat/beam_vital.ex in
// github.com/ne-sachirou/ex_komachi_heartbeat at commit
// 3ba0972d16f61c8549f83c0035ef3ae6d2db4b17. Besides these it serves
// scheduler_usage.<id> for each scheduler whose active time moved in the
// second it samples (a ratio of 0 to 1), and error_logger_queue_len only
// while an :error_logger process is registered (not counted).
var seedFixed = []string{
	"context_switches", "gc.count", "gc.words_reclaimed", "io.in", "io.out", "reductions",
	"memory.atom", "memory.binary", "memory.code", "memory.ets", "memory.processes",
	"port_count", "process_count", "run_queue",
}

// seedSchedulers is the schedulers of the Pod counted: the BEAM runs one
// per CPU, and this table is for a 2-CPU Pod, as the machine that measures
// the other rows. (Its README's sample shows 16, so 30 numbers.)
const seedSchedulers = 2

// seedRow: it posts through mackerel-plugin-json, which makes no graph
// definitions, so Mackerel groups the names up to their last dot, with no
// unit. Its integers survive %f; a scheduler_usage ratio under 5e-5 (an
// idle scheduler: its README's sample shows 1.4e-5) is printed with one or
// two significant digits, more than 1 % off at worst.
func seedRow() costRow {
	var names []string
	for _, k := range seedFixed {
		names = append(names, costPrefix+"."+k)
	}
	for id := 1; id <= seedSchedulers; id++ {
		names = append(names, costPrefix+".scheduler_usage."+strconv.Itoa(id))
	}
	return costRow{
		way:       "the seed library (KomachiHeartbeat, Elixir)",
		metrics:   len(names),
		graphs:    len(graphGroups(names)),
		truncated: "≤ " + strconv.Itoa(seedSchedulers),
		note: "its BeamVital's numbers (ex_komachi_heartbeat 3ba0972, lib/komachi_heartbeat/beam_vital.ex): " +
			strconv.Itoa(len(seedFixed)) + " fixed and one scheduler_usage ratio per scheduler, " +
			strconv.Itoa(seedSchedulers) + " here (a 2-CPU Pod; its README's sample has 16); through mackerel-plugin-json, so no graph definitions and no units; a ratio under 5e-5 (an idle scheduler) can lose more than 1 % to %f",
	}
}

// TestStaticRows: the counts the issue quotes for the static rows.
func TestStaticRows(t *testing.T) {
	if g := gostatsRow(); g.metrics != 15 || g.graphs != 5 || g.units != 4 {
		t.Errorf("gostats: %d metrics, %d graphs, %d with a unit; its source defines 15, 5, 4", g.metrics, g.graphs, g.units)
	}
	// context_switches, reductions, port_count, process_count and
	// run_queue share the prefix's graph; gc, io, memory and
	// scheduler_usage have one each.
	if s := seedRow(); s.metrics != 16 || s.graphs != 5 || s.units != 0 {
		t.Errorf("seed: %d metrics, %d graphs, %d with a unit; want 16, 5, 0", s.metrics, s.graphs, s.units)
	}
}
