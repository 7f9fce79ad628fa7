// Command overhead measures what komachi costs the app it runs in: a small
// app doing a fixed amount of work per second for a fixed time, with the
// bridge (otelbridge.Start at its defaults, the 60 s window included) or
// without it (its instruments on the OTel no-op provider). It prints one
// JSON line with the process's CPU time, heap and RSS. Run both at the same
// time, so that both see the same machine (overhead.sh does), and compare:
//
//	overhead -bridge=false -duration=200s -cpuprofile=without.prof &
//	overhead -bridge=true  -duration=200s -cpuprofile=with.prof
//
// With the bridge, the app also serves /ops on loopback and scrapes its own
// /ops/stats once per window (as mackerel-plugin-json would, once a minute)
// and /ops/heartbeat every 5 s (as a readiness probe would): the client
// side of those requests is counted against the bridge too.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/komachi-go/komachi/benchmarks/internal/harness"
	"github.com/komachi-go/komachi/otelbridge"
)

type options struct {
	bridge   bool
	duration time.Duration
	window   time.Duration
	rate     int
	unit     int
	cpuprof  string
	live     int
}

// Report is the command's output line.
type Report struct {
	Bridge      bool    `json:"bridge"`
	DurationSec float64 `json:"duration_s"`
	WindowSec   float64 `json:"window_s"`
	LiveBytes   int     `json:"app_live_bytes"` // the app's own long-lived data
	Units       int     `json:"units"`          // units of work done
	Wanted      int     `json:"wanted"`         // units the rate asked for
	Scrapes     int     `json:"scrapes"`

	SetupCPUms   float64 `json:"setup_cpu_ms"` // from process start to the work loop
	RunCPUms     float64 `json:"run_cpu_ms"`   // during the work loop
	RunCPUPerSec float64 `json:"run_cpu_ms_per_s"`
	GCs          uint32  `json:"gcs"`
	// The runtime's own estimate of the CPU its GC took (runtime/metrics
	// /cpu/classes/gc/total), and the part of it spent marking on idle Ps.
	GCCPUPerSec     float64 `json:"gc_cpu_ms_per_s"`
	GCIdleCPUPerSec float64 `json:"gc_idle_cpu_ms_per_s"`
	AllocBytes      uint64  `json:"alloc_bytes"` // allocated during the work loop

	HeapLive uint64 `json:"heap_live_bytes"` // heap objects after two GCs at the end
	RSS      uint64 `json:"rss_bytes"`
	PeakRSS  uint64 `json:"peak_rss_bytes"`
}

func main() {
	var o options
	flag.BoolVar(&o.bridge, "bridge", false, "run the app with otelbridge.Start (else its instruments are no-ops)")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "how long the app works")
	flag.DurationVar(&o.window, "window", time.Minute, "the /stats window with -bridge: the default, or shorter for a stress run")
	flag.IntVar(&o.rate, "rate", 2000, "units of work per second")
	flag.IntVar(&o.unit, "unit", 16<<10, "bytes allocated and hashed per unit")
	flag.IntVar(&o.live, "live", 0, "bytes of long-lived data the app holds (its caches, sessions…), in 4 KiB objects")
	flag.StringVar(&o.cpuprof, "cpuprofile", "", "write a CPU profile of the work loop to this file")
	flag.Parse()
	if o.duration <= 0 || o.rate <= 0 || o.unit <= 0 || o.window <= 0 {
		fmt.Fprintln(os.Stderr, "overhead: -duration, -window, -rate and -unit must be positive")
		os.Exit(2)
	}
	r, err := run(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "overhead:", err)
		os.Exit(1)
	}
	b, _ := json.Marshal(r)
	fmt.Println(string(b))
}

func run(o options) (*Report, error) {
	for _, v := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "MACKEREL_APIKEY", "MACKEREL_API_KEY", otelbridge.EnvStatsWindow, otelbridge.EnvStatsSelect} {
		if os.Getenv(v) != "" {
			return nil, fmt.Errorf("%s is set: unset it, the app must run with the defaults", v)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rep := &Report{Bridge: o.bridge, DurationSec: o.duration.Seconds(), LiveBytes: o.live}
	// The app's long-lived data, in objects with pointers so that the GC
	// marks them as it would a real app's caches.
	type entry struct {
		next *entry
		_    [4<<10 - 8]byte
	}
	var live *entry
	for range o.live / (4 << 10) {
		live = &entry{next: live}
	}
	defer runtime.KeepAlive(live)

	var mp metric.MeterProvider = noop.NewMeterProvider()
	var scraped <-chan int
	if o.bridge {
		rep.WindowSec = o.window.Seconds()
		// At the default window the bridge gets no option at all: what a
		// user's otelbridge.Start(ctx) runs.
		var opts []otelbridge.Option
		if o.window != time.Minute {
			opts = append(opts, otelbridge.WithWindow(o.window))
		}
		bridge, err := otelbridge.Start(ctx, opts...)
		if err != nil {
			return nil, err
		}
		defer func() { _ = bridge.Shutdown(context.Background()) }()
		mp = bridge.MeterProvider()
		stop, done, err := serveAndScrape(ctx, bridge.Handler(), o.window)
		if err != nil {
			return nil, err
		}
		defer stop()
		scraped = done
	}
	meter := mp.Meter("github.com/komachi-go/komachi/benchmarks/overhead")
	units, err := meter.Int64Counter("app.work.units", metric.WithUnit("{unit}"))
	if err != nil {
		return nil, err
	}
	took, err := meter.Float64Histogram("app.work.duration", metric.WithUnit("s"))
	if err != nil {
		return nil, err
	}
	attrs := metric.WithAttributeSet(attribute.NewSet(attribute.String("app.job", "hash")))

	gcStart := readGCCPU()
	start, err := harness.ReadUsage()
	if err != nil {
		return nil, err
	}
	rep.SetupCPUms = ms(start.CPU)

	// The work: every 10 ms, rate/100 units of allocating, filling and
	// hashing a buffer; each unit counted and timed through the app's
	// instruments. The rate is fixed, so both runs do the same work.
	if o.cpuprof != "" {
		f, err := os.Create(o.cpuprof)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
		defer pprof.StopCPUProfile()
	}
	perTick := max(1, o.rate/100)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	began := time.Now()
	deadline := began.Add(o.duration)
	var sink byte
	for now := began; now.Before(deadline); now = <-tick.C {
		rep.Wanted += perTick
		for range perTick {
			t0 := time.Now()
			buf := make([]byte, o.unit)
			for i := 0; i < len(buf); i += 512 {
				buf[i] = byte(rep.Units + i)
			}
			sum := sha256.Sum256(buf)
			sink ^= sum[0]
			units.Add(ctx, 1, attrs)
			took.Record(ctx, time.Since(t0).Seconds(), attrs)
			rep.Units++
		}
	}
	_ = sink
	end, err := harness.ReadUsage()
	if err != nil {
		return nil, err
	}
	rep.RunCPUms = ms(end.CPU - start.CPU)
	rep.RunCPUPerSec = rep.RunCPUms / time.Since(began).Seconds()
	gcEnd := readGCCPU()
	rep.GCs = end.GCs - start.GCs
	elapsed := time.Since(began).Seconds()
	rep.GCCPUPerSec = (gcEnd[0] - gcStart[0]) * 1e3 / elapsed
	rep.GCIdleCPUPerSec = (gcEnd[1] - gcStart[1]) * 1e3 / elapsed
	rep.AllocBytes = end.AllocBytes - start.AllocBytes
	cancel()
	if scraped != nil {
		rep.Scrapes = <-scraped
	}
	// Two cycles: the first frees what the second would find unreachable
	// only once the first had swept (finalizers, sync.Pool's victim cache).
	runtime.GC()
	runtime.GC()
	final, err := harness.ReadUsage()
	if err != nil {
		return nil, err
	}
	rep.HeapLive, rep.RSS, rep.PeakRSS = final.HeapLive, end.RSS, final.PeakRSS
	return rep, nil
}

// readGCCPU reads the GC's CPU seconds so far: in all, and marking on idle Ps.
func readGCCPU() [2]float64 {
	s := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}, {Name: "/cpu/classes/gc/mark/idle:cpu-seconds"}}
	metrics.Read(s)
	return [2]float64{s[0].Value.Float64(), s[1].Value.Float64()}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// serveAndScrape serves h at /ops on loopback and, until ctx ends, gets
// /ops/stats (gzip) every window and /ops/heartbeat every 5 s. done yields
// the number of successful /stats scrapes once the scraper has stopped.
func serveAndScrape(ctx context.Context, h http.Handler, window time.Duration) (stop func(), done <-chan int, err error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/ops/", http.StripPrefix("/ops", h))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(lis) }()
	base := "http://" + lis.Addr().String() + "/ops"
	client := &http.Client{Timeout: 10 * time.Second}
	get := func(path string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req) // Go's transport asks for gzip by itself
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			err = errors.New(resp.Status)
		}
		return err
	}
	out := make(chan int, 1)
	go func() {
		scrape, probe := time.NewTicker(window), time.NewTicker(5*time.Second)
		defer scrape.Stop()
		defer probe.Stop()
		n := 0
		for {
			select {
			case <-ctx.Done():
				client.CloseIdleConnections()
				out <- n
				return
			case <-scrape.C:
				if get("/stats") == nil {
					n++
				}
			case <-probe.C:
				_ = get("/heartbeat")
			}
		}
	}()
	return func() { _ = srv.Close() }, out, nil
}
