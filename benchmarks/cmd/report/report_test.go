package main

import (
	"os"
	"time"

	"github.com/google/pprof/profile"
	"path/filepath"
	"strings"
	"testing"
)

// A run's raw files turn into tables and verdicts: medians of the bench
// runs, ratios against each goal.
func TestReport(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("load.raw", `{"contender":"stats","encoding":"identity","conns":64,"series":1000,"requests":1000,"rps":1000,"served_encoding":"identity","server_allocs_per_req":20}
{"contender":"prom","encoding":"identity","conns":64,"series":1000,"requests":100,"rps":100,"served_encoding":"identity","server_allocs_per_req":60000}
{"contender":"ceiling","encoding":"identity","conns":64,"series":1000,"requests":1100,"rps":1100,"served_encoding":"identity","server_allocs_per_req":20}
`)
	write("bench.raw", `goos: linux
BenchmarkCollectRender/komachi/series=10000-2   	9	  27884084 ns/op	 100 body-bytes	 2000 ns/series	  1 B/op	 5 allocs/op
BenchmarkCollectRender/komachi/series=10000-2   	9	  27884084 ns/op	 100 body-bytes	 3000 ns/series	  1 B/op	 5 allocs/op
BenchmarkCollectRender/komachi/series=10000-2   	9	  27884084 ns/op	 100 body-bytes	 9000 ns/series	  1 B/op	 5 allocs/op
BenchmarkCollectRender/komachi+selection=default/series=10000-2   	9	  27884084 ns/op	 100 body-bytes	 1000 ns/series	  1 B/op	 5 allocs/op	 12500 leaves
BenchmarkCollectRender/prometheus/series=10000-2	2	 100909200 ns/op	 1000 body-bytes	10000 ns/series	 1 B/op	 6 allocs/op
BenchmarkCollectRender/prometheus+gzip/series=10000-2	2	 100909200 ns/op	 10 gzip-bytes	15000 ns/series	 1 B/op	 6 allocs/op
BenchmarkServe/stats/identity-2	2410826	        99.60 ns/op	     93545 body-bytes	       0 B/op	       0 allocs/op
PASS
`)
	write("overhead-60s.raw", `{"bridge":false,"app_live_bytes":0,"duration_s":200,"units":100,"wanted":100,"run_cpu_ms_per_s":50,"heap_live_bytes":1048576}
{"bridge":true,"app_live_bytes":0,"duration_s":200,"window_s":60,"units":100,"wanted":100,"run_cpu_ms_per_s":60,"heap_live_bytes":2097152}
`)
	if err := os.Mkdir(filepath.Join(dir, "prof"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Without: 1 s of the app's work in 10 s; with: the same plus 0.1 s in
	// the SDK's Record and 0.2 s of GC.
	writeProfile(t, filepath.Join(dir, "prof", "60s-0-false-1.prof"), map[string]int64{"main.run": 1e9})
	writeProfile(t, filepath.Join(dir, "prof", "60s-0-true-1.prof"), map[string]int64{
		"main.run": 1e9, "go.opentelemetry.io/otel/sdk/metric.(*float64Inst).Record": 1e8, "runtime.gcBgMarkWorker": 2e8})
	var out strings.Builder
	if err := run(&out, dir); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"| /stats throughput vs promhttp, 64 conns, identity | 10.00× | ≥ 5× | **met** |",
		"| /stats throughput vs ceiling, 64 conns, identity | 0.91× | ≥ 0.8× | **met** |",
		"| collection+render per series vs the Prometheus exporter, 10000 series, komachi | 0.30× | ≤ 0.5× | **met** | 3000 vs 10000 ns/series (vs 15000 with gzip: 0.20×) |", // median 3000 of 2000, 3000, 9000
		"| collection+render per series vs the Prometheus exporter, 10000 series, komachi+selection=default | 0.10× | ≤ 0.5× | **met** |",
		"| 10000 | komachi+selection=default | 1000 | 0.10 | 0.07 | 5 | 1 | 12500 | 100 |",
		"| 10000 | prometheus+gzip | 15000 | 1.50 | 1.00 | 6 | 1 |  | (10) |",
		"| /stats handler allocations per request, in process, identity | 0 allocs/op | 0 | **met** |",
		"- 0 MiB app: CPU +10.00 ms/s (pairs +10.0), of which the GC's own estimate +0.00 ms/s (pairs +0.0); live heap +1.00 MiB",
		"| bridge CPU at the defaults, 0 MiB app | 1.00 % of a core | ≤ 1 % | **met** |",
		"| bridge live heap at the defaults, 0 MiB app | +1.00 MiB | ≤ 1 MiB | **met** |",
		"| GC: marking, sweeping, assists | 0.00 | 20.00 | +20.00 |",
		"| the SDK recording the app's Add and Record | 0.00 | 10.00 | +10.00 |",
		"| the app's own work (hashing, allocating) | 100.00 | 100.00 | +0.00 |",
		"| **all** | 100.00 | 130.00 | +30.00 |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	if err := run(&out, t.TempDir()); err == nil {
		t.Error("a directory without raw files made a report")
	}
}

// writeProfile writes a 10 s CPU profile with one sample per stack of one
// function (root main.main), of the given nanoseconds.
func writeProfile(t *testing.T, path string, ns map[string]int64) {
	t.Helper()
	p := &profile.Profile{
		SampleType:    []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		DurationNanos: int64(10 * time.Second),
		Period:        int64(10 * time.Millisecond),
		PeriodType:    &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
	}
	root := &profile.Function{ID: 1, Name: "main.main"}
	p.Function = append(p.Function, root)
	for name, v := range ns {
		id := uint64(len(p.Function) + 1)
		fn := &profile.Function{ID: id, Name: name}
		leaf := &profile.Location{ID: id, Line: []profile.Line{{Function: fn}}}
		top := &profile.Location{ID: id + 1000, Line: []profile.Line{{Function: root}}}
		p.Function = append(p.Function, fn)
		p.Location = append(p.Location, leaf, top)
		p.Sample = append(p.Sample, &profile.Sample{Location: []*profile.Location{leaf, top}, Value: []int64{v / 1e7, v}})
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := p.Write(f); err != nil {
		t.Fatal(err)
	}
}
