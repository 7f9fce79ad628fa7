// Command report reads the raw outputs of one run.sh run (load.raw,
// bench.raw, overhead.raw under -dir) and prints the tables and the ratios
// against the goals of the benchmark issue, as Markdown.
//
//	report -dir=results > results/summary.md
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/komachi-go/komachi/benchmarks/internal/harness"
)

func main() {
	dir := flag.String("dir", "results", "directory holding load.raw, bench.raw and overhead.raw")
	flag.Parse()
	if err := run(os.Stdout, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, dir string) error {
	load, err := readLoad(filepath.Join(dir, "load.raw"))
	if err != nil {
		return err
	}
	bench, err := readBench(filepath.Join(dir, "bench.raw"))
	if err != nil {
		return err
	}
	over, err := readOverhead(filepath.Join(dir, "overhead.raw"))
	if err != nil {
		return err
	}
	g := &goals{}
	loadTable(w, load, g)
	benchTables(w, bench, g)
	overheadTable(w, over, bench)
	g.print(w)
	return nil
}

// goals collects the verdicts as the tables are printed.
type goals struct{ lines []string }

func (g *goals) add(name string, ratio, target float64, atMost bool, detail string) {
	met := ratio >= target
	cmp := "≥"
	if atMost {
		met = ratio <= target
		cmp = "≤"
	}
	verdict := "**met**"
	if !met {
		verdict = "**missed**"
	}
	g.lines = append(g.lines, fmt.Sprintf("| %s | %.2f× | %s %.2g× | %s | %s |", name, ratio, cmp, target, verdict, detail))
}

func (g *goals) print(w io.Writer) {
	fmt.Fprint(w, "\n### Goals\n\n")
	fmt.Fprintln(w, "| goal | measured | target | verdict | detail |")
	fmt.Fprintln(w, "|---|--:|--:|---|---|")
	for _, l := range g.lines {
		fmt.Fprintln(w, l)
	}
}

func readLoad(path string) ([]harness.CellRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var recs []harness.CellRecord
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r harness.CellRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		recs = append(recs, r)
	}
	return recs, sc.Err()
}

func loadTable(w io.Writer, recs []harness.CellRecord, g *goals) {
	if len(recs) == 0 {
		return
	}
	fmt.Fprintf(w, "### Load: GET over loopback, %d synthetic series (+ runtime and host)\n\n", recs[0].Series)
	fmt.Fprintln(w, "| contender | encoding | conns | req/s | p50 ms | p99 ms | server CPU µs/req | server allocs/req | server B alloc/req | body B/req | errors |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, r := range recs {
		fmt.Fprintf(w, "| %s | %s | %d | %.0f | %.3g | %.3g | %.1f | %.1f | %.0f | %.0f | %d |\n",
			r.Contender, r.Served, r.Conns, r.RPS, r.P50us/1000, r.P99us/1000, r.CPUusPerReq, r.AllocsPerReq, r.AllocBytesPerReq, r.BodyBytes, r.Errors)
	}
	find := func(contender, enc string, conns int) *harness.CellRecord {
		for i := range recs {
			if recs[i].Contender == contender && recs[i].Encoding == enc && recs[i].Conns == conns {
				return &recs[i]
			}
		}
		return nil
	}
	maxConns := 0
	for _, r := range recs {
		maxConns = max(maxConns, r.Conns)
	}
	for _, enc := range []string{"identity", "gzip"} {
		s, p, c := find(harness.Stats, enc, maxConns), find(harness.Prom, enc, maxConns), find(harness.Ceiling, enc, maxConns)
		if s == nil {
			continue
		}
		if p != nil {
			g.add(fmt.Sprintf("/stats throughput vs promhttp, %d conns, %s", maxConns, enc), s.RPS/p.RPS, 5, false,
				fmt.Sprintf("%.0f vs %.0f req/s", s.RPS, p.RPS))
		}
		if c != nil {
			g.add(fmt.Sprintf("/stats throughput vs ceiling, %d conns, %s", maxConns, enc), s.RPS/c.RPS, 0.8, false,
				fmt.Sprintf("%.0f vs %.0f req/s; bodies %.0f vs %.0f B", s.RPS, c.RPS, s.BodyBytes, c.BodyBytes))
			g.lines = append(g.lines, fmt.Sprintf("| /stats server allocs/req beyond the ceiling's (net/http's own), %d conns, %s | %+.2f | ≈ 0 | %s | %.2f vs %.2f allocs/req (the ceiling allocates nothing itself) |",
				maxConns, enc, s.AllocsPerReq-c.AllocsPerReq, verdictZero(s.AllocsPerReq-c.AllocsPerReq, 0.5), s.AllocsPerReq, c.AllocsPerReq))
		}
	}
}

func verdictZero(v, tol float64) string {
	if v <= tol {
		return "**met**"
	}
	return "**missed**"
}

// benchResult is the median of each unit over the -count runs of one benchmark.
type benchResult map[string]float64

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(-\d+)?\s+\d+\s+(.*)$`)

func readBench(path string) (map[string]benchResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	samples := map[string]map[string][]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		fields := strings.Fields(m[3])
		if samples[m[1]] == nil {
			samples[m[1]] = map[string][]float64{}
		}
		for i := 0; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				return nil, fmt.Errorf("%s: %q: %w", path, sc.Text(), err)
			}
			samples[m[1]][fields[i+1]] = append(samples[m[1]][fields[i+1]], v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(samples) == 0 {
		return nil, errors.New(path + ": no benchmark lines")
	}
	out := map[string]benchResult{}
	for name, units := range samples {
		out[name] = benchResult{}
		for u, vs := range units {
			out[name][u] = median(vs)
		}
	}
	return out, nil
}

func median(vs []float64) float64 {
	s := slices.Clone(vs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// collectRows are BenchmarkCollectRender's rows, in the order of the table:
// komachi serving everything whole, komachi with a selection, and the
// Prometheus exporter.
var collectRows = []string{"komachi", "komachi+selection=default", "komachi+selection=merge", "prometheus", "prometheus+gzip"}

func benchTables(w io.Writer, bench map[string]benchResult, g *goals) {
	fmt.Fprint(w, "\n### Collection plus render, in process (median of the runs)\n\n")
	fmt.Fprintln(w, "| series | row | ns/series | ÷ prometheus | ÷ prometheus+gzip | allocs/op | B/op | leaves | body (gzip) B |")
	fmt.Fprintln(w, "|--:|---|--:|--:|--:|--:|--:|--:|--:|")
	var largest int
	for _, n := range []int{100, 1000, 10000} {
		p := bench[fmt.Sprintf("BenchmarkCollectRender/prometheus/series=%d", n)]
		pg := bench[fmt.Sprintf("BenchmarkCollectRender/prometheus+gzip/series=%d", n)]
		for _, row := range collectRows {
			r := bench[fmt.Sprintf("BenchmarkCollectRender/%s/series=%d", row, n)]
			if r == nil {
				continue
			}
			largest = n
			ratio := func(q benchResult) string {
				if q == nil || q["ns/series"] == 0 {
					return ""
				}
				return fmt.Sprintf("%.2f", r["ns/series"]/q["ns/series"])
			}
			leaves := ""
			if v, ok := r["leaves"]; ok {
				leaves = fmt.Sprintf("%.0f", v)
			}
			body := fmt.Sprintf("%.0f", r["body-bytes"])
			if v, ok := r["gzip-bytes"]; ok {
				if _, plain := r["body-bytes"]; plain {
					body = fmt.Sprintf("%.0f (%.0f)", r["body-bytes"], v)
				} else {
					body = fmt.Sprintf("(%.0f)", v)
				}
			}
			fmt.Fprintf(w, "| %d | %s | %.0f | %s | %s | %.0f | %.0f | %s | %s |\n",
				n, row, r["ns/series"], ratio(p), ratio(pg), r["allocs/op"], r["B/op"], leaves, body)
		}
	}
	p := bench[fmt.Sprintf("BenchmarkCollectRender/prometheus/series=%d", largest)]
	pg := bench[fmt.Sprintf("BenchmarkCollectRender/prometheus+gzip/series=%d", largest)]
	for _, row := range collectRows[:3] {
		k := bench[fmt.Sprintf("BenchmarkCollectRender/%s/series=%d", row, largest)]
		if k == nil || p == nil {
			continue
		}
		detail := fmt.Sprintf("%.0f vs %.0f ns/series", k["ns/series"], p["ns/series"])
		if pg != nil {
			detail += fmt.Sprintf(" (vs %.0f with gzip: %.2f×)", pg["ns/series"], k["ns/series"]/pg["ns/series"])
		}
		g.add(fmt.Sprintf("collection+render per series vs the Prometheus exporter, %d series, %s", largest, row), k["ns/series"]/p["ns/series"], 0.5, true, detail)
	}

	fmt.Fprint(w, "\n### One request in the handler, in process (1000 series; no network, no server)\n\n")
	fmt.Fprintln(w, "| handler | ns/op | allocs/op | B/op | body B |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|")
	var names []string
	for name := range bench {
		if strings.HasPrefix(name, "BenchmarkServe/") {
			names = append(names, name)
		}
	}
	order := func(n string) int {
		for i, c := range harness.Contenders {
			if strings.HasPrefix(n, "BenchmarkServe/"+c+"/") {
				return i
			}
		}
		return len(harness.Contenders)
	}
	slices.SortStableFunc(names, func(a, b string) int {
		if d := order(a) - order(b); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	for _, name := range names {
		r := bench[name]
		fmt.Fprintf(w, "| %s | %.4g | %.0f | %.0f | %.0f |\n", strings.TrimPrefix(name, "BenchmarkServe/"), r["ns/op"], r["allocs/op"], r["B/op"], r["body-bytes"])
	}
	for _, enc := range []string{"identity", "gzip"} {
		if r, ok := bench["BenchmarkServe/stats/"+enc]; ok {
			g.lines = append(g.lines, fmt.Sprintf("| /stats handler allocations per request, in process, %s | %.0f allocs/op | 0 | %s | %.0f B/op |",
				enc, r["allocs/op"], verdictZero(r["allocs/op"], 0), r["B/op"]))
		}
	}
}

// overheadRun is one line of overhead.raw.
type overheadRun struct {
	Bridge    bool    `json:"bridge"`
	Live      int     `json:"app_live_bytes"`
	Duration  float64 `json:"duration_s"`
	Window    float64 `json:"window_s"`
	Units     int     `json:"units"`
	Wanted    int     `json:"wanted"`
	Scrapes   int     `json:"scrapes"`
	CPUPerSec float64 `json:"run_cpu_ms_per_s"`
	SetupCPU  float64 `json:"setup_cpu_ms"`
	GCs       float64 `json:"gcs"`
	HeapLive  float64 `json:"heap_live_bytes"`
	RSS       float64 `json:"rss_bytes"`
	PeakRSS   float64 `json:"peak_rss_bytes"`
}

func readOverhead(path string) ([]overheadRun, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var runs []overheadRun
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r overheadRun
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		runs = append(runs, r)
	}
	return runs, sc.Err()
}

func overheadTable(w io.Writer, runs []overheadRun, bench map[string]benchResult) {
	if len(runs) == 0 {
		return
	}
	fmt.Fprintf(w, "\n### Overhead on an app (median of %s; %.0f s each, window %.0f s with the bridge)\n\n", repsText(runs), runs[0].Duration, maxWindow(runs))
	fmt.Fprintln(w, "| app's own live data | bridge | CPU ms/s (min–max) | GC cycles | live heap MiB | RSS MiB | peak RSS MiB | setup CPU ms | work done |")
	fmt.Fprintln(w, "|--:|---|--:|--:|--:|--:|--:|--:|--:|")
	var lives []int
	for _, r := range runs {
		if !slices.Contains(lives, r.Live) {
			lives = append(lives, r.Live)
		}
	}
	type agg struct{ cpu, cpuMin, cpuMax, gcs, heap, rss, peak, setup, done float64 }
	get := func(live int, bridge bool) (agg, bool) {
		var cpu, gcs, heap, rss, peak, setup, done []float64
		for _, r := range runs {
			if r.Live == live && r.Bridge == bridge {
				cpu, gcs, heap = append(cpu, r.CPUPerSec), append(gcs, r.GCs), append(heap, r.HeapLive)
				rss, peak, setup = append(rss, r.RSS), append(peak, r.PeakRSS), append(setup, r.SetupCPU)
				done = append(done, float64(r.Units)/float64(r.Wanted))
			}
		}
		if len(cpu) == 0 {
			return agg{}, false
		}
		return agg{median(cpu), slices.Min(cpu), slices.Max(cpu), median(gcs), median(heap), median(rss), median(peak), median(setup), median(done)}, true
	}
	const mib = 1 << 20
	var diffs []string
	for _, live := range lives {
		off, ok1 := get(live, false)
		on, ok2 := get(live, true)
		for _, x := range []struct {
			a      agg
			ok     bool
			bridge string
		}{{off, ok1, "without"}, {on, ok2, "with"}} {
			if x.ok {
				fmt.Fprintf(w, "| %.0f MiB | %s | %.1f (%.1f–%.1f) | %.0f | %.2f | %.1f | %.1f | %.1f | %.0f %% |\n",
					float64(live)/mib, x.bridge, x.a.cpu, x.a.cpuMin, x.a.cpuMax, x.a.gcs, x.a.heap/mib, x.a.rss/mib, x.a.peak/mib, x.a.setup, 100*x.a.done)
			}
		}
		if ok1 && ok2 {
			diffs = append(diffs, fmt.Sprintf("- app with %.0f MiB of its own live data: CPU %+.1f ms/s (%+.0f %%), live heap %+.2f MiB, RSS %+.1f MiB, peak RSS %+.1f MiB, GC cycles %+.0f",
				float64(live)/mib, on.cpu-off.cpu, 100*(on.cpu-off.cpu)/off.cpu, (on.heap-off.heap)/mib, (on.rss-off.rss)/mib, (on.peak-off.peak)/mib, on.gcs-off.gcs))
		}
	}
	fmt.Fprint(w, "\nThe bridge's cost (with − without):\n\n")
	for _, d := range diffs {
		fmt.Fprintln(w, d)
	}
	c, ca, rb, rn := bench["BenchmarkBridge/collect"], bench["BenchmarkBridge/collect-all"], bench["BenchmarkBridge/record/bridge"], bench["BenchmarkBridge/record/noop"]
	if c != nil && rb != nil && rn != nil {
		fmt.Fprintf(w, "\nIn process (BenchmarkBridge): one collection of the default bridge, rendered to /stats with the default rules (%.0f leaves): %.0f µs, %.0f allocs, %.0f B allocated (%.1f µs per second of a 60 s window)",
			c["leaves"], c["ns/op"]/1000, c["allocs/op"], c["B/op"], c["ns/op"]/1000/60)
		if ca != nil {
			fmt.Fprintf(w, "; everything whole (%.0f leaves): %.0f µs, %.0f allocs, %.0f B", ca["leaves"], ca["ns/op"]/1000, ca["allocs/op"], ca["B/op"])
		}
		fmt.Fprintf(w, "; one counter Add plus one histogram Record: %.0f ns with the bridge, %.0f ns on the no-op provider.\n", rb["ns/op"], rn["ns/op"])
	}
}

func repsText(runs []overheadRun) string {
	n := 0
	for _, r := range runs {
		if r.Live == runs[0].Live && r.Bridge == runs[0].Bridge {
			n++
		}
	}
	return fmt.Sprintf("%d runs per cell", n)
}

func maxWindow(runs []overheadRun) float64 {
	w := 0.0
	for _, r := range runs {
		w = max(w, r.Window)
	}
	return w
}
