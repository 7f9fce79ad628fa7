package main

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/pprof/profile"
)

// overheadRun is one line of an overhead-<window>.raw file: one cell of
// cmd/overhead.
type overheadRun struct {
	Bridge    bool    `json:"bridge"`
	Live      int     `json:"app_live_bytes"`
	Duration  float64 `json:"duration_s"`
	Window    float64 `json:"window_s"`
	Units     int     `json:"units"`
	Wanted    int     `json:"wanted"`
	Scrapes   int     `json:"scrapes"`
	CPUPerSec float64 `json:"run_cpu_ms_per_s"`
	GCs       float64 `json:"gcs"`
	GCCPU     float64 `json:"gc_cpu_ms_per_s"`
	GCIdleCPU float64 `json:"gc_idle_cpu_ms_per_s"`
	HeapLive  float64 `json:"heap_live_bytes"`
	RSS       float64 `json:"rss_bytes"`
}

// overheadSet is one overhead.sh run: its cells, and the CPU profiles of
// the cells in prof/ named <window>-<live bytes>-<bridge>-<rep>.prof.
type overheadSet struct {
	window string // as overhead.sh was given it: "60s", "5s"
	runs   []overheadRun
	prof   string // the profiles' directory
}

// readOverheads reads every overhead-<window>.raw of dir, the longest
// window first.
func readOverheads(dir string) ([]overheadSet, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "overhead-*.raw"))
	if err != nil {
		return nil, err
	}
	var sets []overheadSet
	for _, path := range paths {
		runs, err := readLines[overheadRun](path)
		if err != nil {
			return nil, err
		}
		set := overheadSet{window: strings.TrimSuffix(strings.TrimPrefix(filepath.Base(path), "overhead-"), ".raw"), runs: runs, prof: filepath.Join(dir, "prof")}
		if len(set.runs) > 0 {
			sets = append(sets, set)
		}
	}
	// The default window first, then the stress runs.
	slices.SortFunc(sets, func(a, b overheadSet) int {
		da, _ := time.ParseDuration(a.window)
		db, _ := time.ParseDuration(b.window)
		return cmp.Compare(db, da)
	})
	return sets, nil
}

// cpuCategory says where a CPU sample's time went, from its stack. The
// first category with a frame on the stack wins, so a GC assist inside
// the SDK's Record counts as GC, and the collectors that run inside a
// window's collection count as the window's.
var cpuCategories = []struct {
	name   string
	frames []string // prefixes of function names
}{
	{"GC: marking, sweeping, assists", []string{"runtime.gcBgMarkWorker", "runtime.bgsweep", "runtime.bgscavenge", "runtime.gcAssistAlloc", "runtime.gcStart", "runtime.gcMarkDone", "runtime.gcMarkTermination", "runtime.sweepone", "runtime.deductSweepCredit"}},
	{"the SDK recording the app's Add and Record", []string{"go.opentelemetry.io/otel/sdk/metric.(*int64Inst)", "go.opentelemetry.io/otel/sdk/metric.(*float64Inst)"}},
	{"a window: collection (runtime, host, vitals) and /stats render", []string{"github.com/komachi-go/komachi/otelbridge/internal/window."}},
	{"serving /ops/stats and /ops/heartbeat", []string{"net/http.(*conn).serve", "net/http.(*Server).Serve"}},
	{"the benchmark's own scraper (the plugin's and probe's side)", []string{"main.serveAndScrape", "net/http.(*persistConn)", "net/http.(*Transport)", "net/http.(*Client)"}},
	{"the app's own work (hashing, allocating)", []string{"main.run"}},
	{"the rest of the runtime: scheduler, timers, profiler", nil},
}

func cpuCategory(s *profile.Sample) int {
	for i, c := range cpuCategories {
		if c.frames == nil {
			return i
		}
		for _, loc := range s.Location {
			for _, line := range loc.Line {
				if line.Function == nil {
					continue
				}
				for _, f := range c.frames {
					if strings.HasPrefix(line.Function.Name, f) {
						return i
					}
				}
			}
		}
	}
	return len(cpuCategories) - 1
}

// profileSplit sums the CPU profiles matching pattern by category, in ms of
// CPU per second of profile; ok is false when none matched.
func profileSplit(pattern string) (perSec []float64, ok bool, err error) {
	paths, err := filepath.Glob(pattern)
	if err != nil || len(paths) == 0 {
		return nil, false, err
	}
	sums := make([]float64, len(cpuCategories))
	var dur float64
	for _, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			return nil, false, err
		}
		p, err := profile.Parse(f)
		f.Close()
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", path, err)
		}
		idx := -1
		for i, st := range p.SampleType {
			if st.Type == "cpu" && st.Unit == "nanoseconds" {
				idx = i
			}
		}
		if idx < 0 {
			return nil, false, fmt.Errorf("%s: not a CPU profile", path)
		}
		for _, s := range p.Sample {
			sums[cpuCategory(s)] += float64(s.Value[idx])
		}
		dur += float64(p.DurationNanos)
	}
	for i := range sums {
		sums[i] /= dur / 1e3 // ns per ns of profile → ms per s
	}
	return sums, true, nil
}

// overheadTable prints one overhead.sh run: the cells, the pairs'
// differences, and where the CPU went by the profiles; at the default
// window it also checks the goals.
func overheadTable(w io.Writer, set overheadSet, g *goals) error {
	runs := set.runs
	fmt.Fprintf(w, "\n### Overhead on an app, window %s (%d runs per cell of %.0f s; the four cells of a run at the same time)\n\n", set.window, countCell(runs, runs[0]), runs[0].Duration)
	fmt.Fprintln(w, "| app's own live data | bridge | CPU ms/s (min–max) | GC cycles | GC CPU ms/s (idle marking) | live heap MiB | RSS MiB | scrapes | work done |")
	fmt.Fprintln(w, "|--:|---|--:|--:|--:|--:|--:|--:|--:|")
	var lives []int
	for _, r := range runs {
		if !slices.Contains(lives, r.Live) {
			lives = append(lives, r.Live)
		}
	}
	const mib = 1 << 20
	var notes []string
	for _, live := range lives {
		var with, without []overheadRun
		for _, r := range runs {
			if r.Live == live {
				if r.Bridge {
					with = append(with, r)
				} else {
					without = append(without, r)
				}
			}
		}
		for _, cell := range []struct {
			name string
			rs   []overheadRun
		}{{"without", without}, {"with", with}} {
			if len(cell.rs) == 0 {
				continue
			}
			cpu := pluck(cell.rs, func(r overheadRun) float64 { return r.CPUPerSec })
			fmt.Fprintf(w, "| %.0f MiB | %s | %.1f (%.1f–%.1f) | %.0f | %.1f (%.1f) | %.2f | %.1f | %.0f | %.0f %% |\n",
				float64(live)/mib, cell.name, median(cpu), slices.Min(cpu), slices.Max(cpu),
				median(pluck(cell.rs, func(r overheadRun) float64 { return r.GCs })),
				median(pluck(cell.rs, func(r overheadRun) float64 { return r.GCCPU })),
				median(pluck(cell.rs, func(r overheadRun) float64 { return r.GCIdleCPU })),
				median(pluck(cell.rs, func(r overheadRun) float64 { return r.HeapLive }))/mib,
				median(pluck(cell.rs, func(r overheadRun) float64 { return r.RSS }))/mib,
				median(pluck(cell.rs, func(r overheadRun) float64 { return float64(r.Scrapes) })),
				100*median(pluck(cell.rs, func(r overheadRun) float64 { return float64(r.Units) / float64(r.Wanted) })))
		}
		// Pairs: the i-th run with and without ran side by side.
		n := min(len(with), len(without))
		if n == 0 {
			continue
		}
		var dCPU, dGC, dHeap []float64
		for i := range n {
			dCPU = append(dCPU, with[i].CPUPerSec-without[i].CPUPerSec)
			dGC = append(dGC, with[i].GCCPU-without[i].GCCPU)
			dHeap = append(dHeap, with[i].HeapLive-without[i].HeapLive)
		}
		cpu, heap := median(dCPU), median(dHeap)
		notes = append(notes, fmt.Sprintf("- %.0f MiB app: CPU %+.2f ms/s (pairs %s), of which the GC's own estimate %+.2f ms/s (pairs %s); live heap %+.2f MiB",
			float64(live)/mib, cpu, joinf(dCPU, "%+.1f"), median(dGC), joinf(dGC, "%+.1f"), heap/mib))
		if set.window == "60s" {
			g.lines = append(g.lines,
				fmt.Sprintf("| bridge CPU at the defaults, %.0f MiB app | %.2f %% of a core | ≤ 1 %% | %s | %+.2f ms/s, median of %d side-by-side pairs |",
					float64(live)/mib, cpu/10, verdictAtMost(cpu/10, 1), cpu, n),
				fmt.Sprintf("| bridge live heap at the defaults, %.0f MiB app | %+.2f MiB | ≤ 1 MiB | %s | after two GCs, median of %d pairs |",
					float64(live)/mib, heap/mib, verdictAtMost(heap/mib, 1), n))
		}
	}
	fmt.Fprint(w, "\nThe bridge's cost, with − without, median of the pairs:\n\n")
	for _, n := range notes {
		fmt.Fprintln(w, n)
	}
	for _, live := range lives {
		off, ok1, err := profileSplit(filepath.Join(set.prof, fmt.Sprintf("%s-%d-false-*.prof", set.window, live)))
		if err != nil {
			return err
		}
		on, ok2, err := profileSplit(filepath.Join(set.prof, fmt.Sprintf("%s-%d-true-*.prof", set.window, live)))
		if err != nil {
			return err
		}
		if !ok1 || !ok2 {
			continue
		}
		fmt.Fprintf(w, "\nWhere the CPU goes, %.0f MiB app, by the CPU profiles of all runs (ms/s):\n\n", float64(live)/mib)
		fmt.Fprintln(w, "| where | without | with | with − without |")
		fmt.Fprintln(w, "|---|--:|--:|--:|")
		var a, b float64
		for i, c := range cpuCategories {
			fmt.Fprintf(w, "| %s | %.2f | %.2f | %+.2f |\n", c.name, off[i], on[i], on[i]-off[i])
			a, b = a+off[i], b+on[i]
		}
		fmt.Fprintf(w, "| **all** | %.2f | %.2f | %+.2f |\n", a, b, b-a)
	}
	return nil
}

func countCell(runs []overheadRun, like overheadRun) int {
	n := 0
	for _, r := range runs {
		if r.Live == like.Live && r.Bridge == like.Bridge {
			n++
		}
	}
	return n
}

func pluck(rs []overheadRun, f func(overheadRun) float64) []float64 {
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = f(r)
	}
	return out
}

func joinf(xs []float64, format string) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf(format, x)
	}
	return strings.Join(parts, ", ")
}

// bridgeBench prints BenchmarkBridge: the in-process cost of one window's
// collection and of the app's recording, which the overhead tables'
// profiles should agree with.
func bridgeBench(w io.Writer, bench map[string]benchResult) {
	c, ca, rb, rn := bench["BenchmarkBridge/collect"], bench["BenchmarkBridge/collect-all"], bench["BenchmarkBridge/record/bridge"], bench["BenchmarkBridge/record/noop"]
	if c == nil || rb == nil || rn == nil {
		return
	}
	fmt.Fprintf(w, "\nIn process (BenchmarkBridge): one collection of the default bridge, rendered to /stats with the default rules (%.0f leaves): %.0f µs, %.0f allocs, %.0f B allocated (%.1f µs per second of a 60 s window)",
		c["leaves"], c["ns/op"]/1000, c["allocs/op"], c["B/op"], c["ns/op"]/1000/60)
	if ca != nil {
		fmt.Fprintf(w, "; everything whole (%.0f leaves): %.0f µs, %.0f allocs, %.0f B", ca["leaves"], ca["ns/op"]/1000, ca["allocs/op"], ca["B/op"])
	}
	fmt.Fprintf(w, "; one counter Add plus one histogram Record: %.0f ns with the bridge, %.0f ns on the no-op provider.\n", rb["ns/op"], rn["ns/op"])
}
