// Command load is the load benchmark: it starts the serve command once per
// contender (each a child process with the same set-up), then loads each
// contender over loopback with N keep-alive connections for a fixed time
// after a warm-up, reading the server's CPU time and allocations around the
// timed run. Cells are interleaved between contenders and repeated; a line
// of the table sums its repetitions. It writes one JSON line per line of the
// table to -out and the table to stdout.
//
//	load -serve=./bin/serve -series=1000 -conns=1,16,64 -reps=2 -duration=4s -out=results/load.raw
//
// The load generator and the server share the machine's cores: the figures
// are comparable between contenders measured in the same run, not absolute.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/komachi-go/komachi/benchmarks/internal/harness"
)

type options struct {
	serve      string
	series     int
	contenders []string
	gzip       []string
	conns      []int
	warmup     time.Duration
	duration   time.Duration
	window     time.Duration
	reps       int
	out        string
}

func main() {
	var o options
	var contenders, gz, conns string
	flag.StringVar(&o.serve, "serve", "./bin/serve", "the serve command's binary")
	flag.IntVar(&o.series, "series", 1000, "synthetic series in the server")
	flag.StringVar(&contenders, "contenders", strings.Join(harness.Contenders, ","), "contenders to load, in order")
	flag.StringVar(&gz, "gzip", "stats,prom,ceiling", "contenders also loaded with Accept-Encoding: gzip")
	flag.StringVar(&conns, "conns", "1,16,64", "connection counts")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "warm-up per cell, not measured")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "timed run per cell")
	// The servers live through the whole run: with the default 60 s window
	// komachi would render a new document mid-run (its synthetic counters
	// then showing a window without increase, a smaller document than the
	// ceiling's copy). One document per run keeps /stats and the ceiling
	// serving the same bytes; the render's cost is measured on its own.
	flag.DurationVar(&o.window, "window", time.Hour, "the /stats window passed to serve, longer than the run")
	flag.IntVar(&o.reps, "reps", 2, "repetitions of each cell, interleaved between contenders; the table sums them")
	flag.StringVar(&o.out, "out", "", "file for the raw JSON lines (default: none)")
	flag.Parse()
	if o.reps < 1 || o.duration <= 0 || o.warmup < 0 {
		fmt.Fprintln(os.Stderr, "load: -reps must be ≥ 1, -duration > 0 and -warmup ≥ 0")
		os.Exit(2)
	}
	o.contenders = split(contenders)
	o.gzip = split(gz)
	for _, c := range split(conns) {
		n, err := strconv.Atoi(c)
		if err != nil || n < 1 || n > 1024 {
			fmt.Fprintf(os.Stderr, "load: -conns: %q is not a count from 1 to 1024\n", c)
			os.Exit(2)
		}
		o.conns = append(o.conns, n)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func split(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func run(o options) error {
	var out io.Writer = io.Discard
	if o.out != "" {
		f, err := os.Create(o.out)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
	}
	records, err := loadAll(o)
	if err != nil {
		return err
	}
	for _, r := range records {
		b, _ := json.Marshal(r)
		fmt.Fprintln(out, string(b))
	}
	printTable(os.Stdout, records)
	return nil
}

type hello struct {
	URL       string `json:"url"`
	Usage     string `json:"usage"`
	DocBytes  int    `json:"doc_bytes"`
	GzipBytes int    `json:"gzip_bytes"`
}

// server is one contender's serve process.
type server struct {
	contender string
	hello
	stdin io.Closer
	done  chan error
	kill  func() error
}

// startServer starts the serve command for contender and reads its first
// line. The process stops when stop closes its stdin.
func startServer(o options, contender string) (*server, error) {
	cmd := exec.Command(o.serve, "-contender="+contender, "-series="+strconv.Itoa(o.series), "-window="+o.window.String())
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{contender: contender, stdin: stdin, done: make(chan error, 1), kill: cmd.Process.Kill}
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() {
		_ = stdin.Close()
		err := errors.Join(lines.Err(), cmd.Wait())
		return nil, fmt.Errorf("serve -contender=%s printed nothing: %w", contender, err)
	}
	go func() { _, _ = io.Copy(io.Discard, stdout); s.done <- cmd.Wait() }()
	if err := json.Unmarshal(lines.Bytes(), &s.hello); err != nil {
		s.stop()
		return nil, fmt.Errorf("serve's first line %q: %w", lines.Text(), err)
	}
	return s, nil
}

func (s *server) stop() {
	_ = s.stdin.Close() // serve stops when its stdin closes
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.kill() // our own child, by its pid
		<-s.done
	}
}

// key names one line of the table.
type key struct {
	contender, encoding string
	conns               int
}

// total sums a line's repetitions.
type total struct {
	res                 harness.Result
	cpu                 time.Duration
	mallocs, allocBytes uint64
	gcs                 uint32
	docBytes, gzipBytes int
}

// loadAll starts every contender's server (the same set-up in each), then
// runs the cells interleaved: for each encoding and connection count, each
// repetition loads every contender in turn, so that a drift in the shared
// machine's load falls on all of them alike.
func loadAll(o options) ([]harness.CellRecord, error) {
	var servers []*server
	defer func() {
		for _, s := range servers {
			s.stop()
		}
	}()
	for _, c := range o.contenders {
		s, err := startServer(o, c)
		if err != nil {
			return nil, err
		}
		servers = append(servers, s)
	}
	ctx := context.Background()
	totals := map[key]*total{}
	var order []key
	for _, enc := range []string{"identity", "gzip"} {
		for _, conns := range o.conns {
			for rep := range o.reps {
				for _, s := range servers {
					if enc == "gzip" && !slices.Contains(o.gzip, s.contender) {
						continue
					}
					k := key{s.contender, enc, conns}
					t := totals[k]
					if t == nil {
						t = &total{res: harness.Result{Encodings: map[string]uint64{}}, docBytes: s.DocBytes, gzipBytes: s.GzipBytes}
						totals[k] = t
						order = append(order, k)
					}
					var before, after harness.Usage
					res, err := harness.Run(ctx, harness.Cell{
						URL: s.URL, Conns: conns, Gzip: enc == "gzip",
						Warmup: o.warmup, Duration: o.duration,
						Before: func(ctx context.Context) (err error) { before, err = harness.FetchUsage(ctx, s.Usage); return },
						After:  func(ctx context.Context) (err error) { after, err = harness.FetchUsage(ctx, s.Usage); return },
					})
					if err != nil {
						return nil, fmt.Errorf("%s, %s, %d conns: %w", s.contender, enc, conns, err)
					}
					fmt.Fprintf(os.Stderr, "load: %-7s %-8s conns=%-3d rep %d: %9.0f req/s  p50 %8.0f µs  p99 %8.0f µs  server %7.1f µs CPU/req\n",
						s.contender, enc, conns, rep+1, res.Throughput(), us(res.Latency.Quantile(0.5)), us(res.Latency.Quantile(0.99)),
						us(after.CPU-before.CPU)/float64(res.Requests))
					t.res.Requests += res.Requests
					t.res.Errors += res.Errors
					t.res.Bytes += res.Bytes
					t.res.Elapsed += res.Elapsed
					t.res.Latency.Merge(&res.Latency)
					for e, n := range res.Encodings {
						t.res.Encodings[e] += n
					}
					t.cpu += after.CPU - before.CPU
					t.mallocs += after.Mallocs - before.Mallocs
					t.allocBytes += after.AllocBytes - before.AllocBytes
					t.gcs += after.GCs - before.GCs
				}
			}
		}
	}
	// The table's order: by contender, then encoding, then connections.
	slices.SortStableFunc(order, func(a, b key) int {
		if d := slices.Index(o.contenders, a.contender) - slices.Index(o.contenders, b.contender); d != 0 {
			return d
		}
		return strings.Compare(b.encoding, a.encoding) // identity before gzip
	})
	var recs []harness.CellRecord
	for _, k := range order {
		t := totals[k]
		n := float64(t.res.Requests)
		served := "identity"
		for e, c := range t.res.Encodings {
			if e != "" && c > t.res.Requests/2 {
				served = e
			}
		}
		recs = append(recs, harness.CellRecord{
			Contender: k.contender, Encoding: k.encoding, Conns: k.conns, Series: o.series, Reps: o.reps,
			Requests: t.res.Requests, Errors: t.res.Errors,
			ElapsedSec: t.res.Elapsed.Seconds(), RPS: t.res.Throughput(),
			P50us:     us(t.res.Latency.Quantile(0.50)),
			P99us:     us(t.res.Latency.Quantile(0.99)),
			MaxUs:     us(t.res.Latency.Max()),
			BodyBytes: float64(t.res.Bytes) / n,
			Served:    served,

			CPUusPerReq:      us(t.cpu) / n,
			AllocsPerReq:     float64(t.mallocs) / n,
			AllocBytesPerReq: float64(t.allocBytes) / n,
			ServerGCs:        t.gcs,
			ServerCPUCores:   t.cpu.Seconds() / t.res.Elapsed.Seconds(),
			DocBytes:         t.docBytes, GzipBytes: t.gzipBytes,
		})
	}
	return recs, nil
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func printTable(w io.Writer, recs []harness.CellRecord) {
	fmt.Fprintln(w, "| contender | encoding | conns | req/s | p50 µs | p99 µs | server CPU µs/req | server allocs/req | body B/req | errors |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, r := range recs {
		fmt.Fprintf(w, "| %s | %s | %d | %.0f | %.0f | %.0f | %.1f | %.1f | %.0f | %d |\n",
			r.Contender, r.Served, r.Conns, r.RPS, r.P50us, r.P99us, r.CPUusPerReq, r.AllocsPerReq, r.BodyBytes, r.Errors)
	}
}
