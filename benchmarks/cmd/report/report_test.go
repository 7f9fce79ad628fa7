package main

import (
	"os"
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
	write("overhead.raw", `{"bridge":false,"app_live_bytes":0,"duration_s":10,"units":100,"wanted":100,"run_cpu_ms_per_s":50,"heap_live_bytes":1048576}
{"bridge":true,"app_live_bytes":0,"duration_s":10,"window_s":5,"units":100,"wanted":100,"run_cpu_ms_per_s":60,"heap_live_bytes":2097152}
`)
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
		"CPU +10.0 ms/s (+20 %), live heap +1.00 MiB",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	if err := run(&out, t.TempDir()); err == nil {
		t.Error("a directory without raw files made a report")
	}
}
