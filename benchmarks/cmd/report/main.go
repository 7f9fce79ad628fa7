// Command report reads the raw outputs of one run.sh run (load.raw,
// bench.raw, overhead-<window>.raw and the CPU profiles under -dir) and prints the tables and the ratios
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
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/komachi-go/komachi/benchmarks/internal/harness"
)

func main() {
	dir := flag.String("dir", "results", "directory holding load.raw, bench.raw, overhead-*.raw and prof/")
	flag.Parse()
	if err := run(os.Stdout, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

// run prints every section whose raw files dir holds (run.sh writes them
// all; overhead.sh alone writes only its own), and fails when it holds none.
func run(w io.Writer, dir string) error {
	load, err := readLoad(filepath.Join(dir, "load.raw"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	bench, err := readBench(filepath.Join(dir, "bench.raw"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	over, err := readOverheads(dir)
	if err != nil {
		return err
	}
	if load == nil && bench == nil && over == nil {
		return fmt.Errorf("no load.raw, bench.raw or overhead-*.raw in %s: run run.sh", dir)
	}
	g := &goals{}
	loadTable(w, load, g)
	benchTables(w, bench, g)
	for _, o := range over {
		if err := overheadTable(w, o, g); err != nil {
			return err
		}
	}
	bridgeBench(w, bench)
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
	return readLines[harness.CellRecord](path)
}

// readLines reads a file of one JSON value per line, as the commands
// print their results.
func readLines[T any](path string) ([]T, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, v)
	}
	return out, sc.Err()
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
				maxConns, enc, s.AllocsPerReq-c.AllocsPerReq, verdictAtMost(s.AllocsPerReq-c.AllocsPerReq, 0.5), s.AllocsPerReq, c.AllocsPerReq))
		}
	}
}

func verdictAtMost(v, tol float64) string {
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
				enc, r["allocs/op"], verdictAtMost(r["allocs/op"], 0), r["B/op"]))
		}
	}
}
