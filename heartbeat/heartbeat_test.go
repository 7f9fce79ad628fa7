package heartbeat

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

func mustNew(t testing.TB, clock *fakeClock, opts ...Option) *Handler {
	t.Helper()
	now := time.Now
	if clock != nil {
		now = clock.now
	}
	h, err := newHandler(now, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := h.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return h
}

// do serves one request; header holds name, value pairs.
func do(h http.Handler, method, target string, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// countingVital counts its calls and returns err after delay (or when ctx
// ends, whichever is first).
type countingVital struct {
	name  string
	delay time.Duration
	err   error
	calls atomic.Int64
}

func (v *countingVital) Name() string { return v.name }

func (v *countingVital) Check(ctx context.Context) error {
	v.calls.Add(1)
	if v.delay > 0 {
		t := time.NewTimer(v.delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return v.err
}

const (
	textPlain    = "text/plain; charset=utf-8"
	ctHealthJSON = "application/health+json"
)

// TestServeHTTPTable is the contract: every path × method × outcome.
func TestServeHTTPTable(t *testing.T) {
	clock := newFakeClock()
	pass := func() Vital { return VitalFunc("db", func(context.Context) error { return nil }) }
	failing := VitalFunc("db", func(context.Context) error { return errors.New("connection refused") })
	drained := mustNew(t, clock, WithVitals(pass()))
	drained.Drain()
	handlers := map[string]*Handler{
		"pass":     mustNew(t, clock, WithVitals(pass())),
		"fail":     mustNew(t, clock, WithVitals(failing)),
		"details":  mustNew(t, clock, WithVitals(failing), WithDetails(true)),
		"drained":  drained,
		"novitals": mustNew(t, clock),
	}

	type row struct {
		handler  string
		target   string
		header   []string
		code     int
		ctype    string
		cache    string
		body     string   // exact, when contains is empty
		contains []string // substrings of the body instead
	}
	notFound := func(handler, target string) row {
		return row{handler: handler, target: target, code: 404, ctype: textPlain, cache: "no-store", body: string(bodyNotFound.b)}
	}
	rows := []row{
		// readiness
		{handler: "pass", target: "/heartbeat", code: 200, ctype: textPlain, cache: "no-cache", body: "heartbeat:ok"},
		{handler: "fail", target: "/heartbeat", code: 503, ctype: textPlain, cache: "no-cache", body: "heartbeat:NG"},
		{handler: "drained", target: "/heartbeat", code: 503, ctype: textPlain, cache: "no-cache", body: "heartbeat:NG"},
		{handler: "novitals", target: "/heartbeat", code: 200, ctype: textPlain, cache: "no-cache", body: "heartbeat:ok"},
		{handler: "pass", target: "/heartbeat?verbose", code: 200, ctype: ctHealthJSON, cache: "no-cache",
			contains: []string{`"status": "pass"`, `"db": [`, `"observedUnit": "s"`}},
		{handler: "pass", target: "/heartbeat?x=1&verbose=true", code: 200, ctype: ctHealthJSON, cache: "no-cache",
			contains: []string{`"status": "pass"`}},
		{handler: "pass", target: "/heartbeat?verbose=0", code: 200, ctype: textPlain, cache: "no-cache", body: "heartbeat:ok"},
		{handler: "pass", target: "/heartbeat?verbose=false", code: 200, ctype: textPlain, cache: "no-cache", body: "heartbeat:ok"},
		{handler: "pass", target: "/heartbeat", header: []string{"Accept", "text/html, Application/Health+JSON;q=0.9"},
			code: 200, ctype: ctHealthJSON, cache: "no-cache", contains: []string{`"status": "pass"`}},
		{handler: "pass", target: "/heartbeat", header: []string{"Accept", "application/health+json;q=0"},
			code: 200, ctype: textPlain, cache: "no-cache", body: "heartbeat:ok"},
		{handler: "pass", target: "/heartbeat", header: []string{"Accept", "*/*"},
			code: 200, ctype: textPlain, cache: "no-cache", body: "heartbeat:ok"},
		{handler: "fail", target: "/heartbeat?verbose", code: 503, ctype: ctHealthJSON, cache: "no-cache",
			contains: []string{`"status": "fail"`}},
		{handler: "details", target: "/heartbeat?verbose", code: 503, ctype: ctHealthJSON, cache: "no-cache",
			contains: []string{`"output": "connection refused"`}},
		{handler: "drained", target: "/heartbeat?verbose", code: 503, ctype: ctHealthJSON, cache: "no-cache",
			body: string(bodyDrainedJSON.b)},
		// liveness: never drained, never failing
		{handler: "pass", target: "/livez", code: 200, ctype: textPlain, cache: "no-cache", body: "livez:ok"},
		{handler: "fail", target: "/livez", code: 200, ctype: textPlain, cache: "no-cache", body: "livez:ok"},
		{handler: "drained", target: "/livez", code: 200, ctype: textPlain, cache: "no-cache", body: "livez:ok"},
		{handler: "drained", target: "/livez?verbose", code: 200, ctype: ctHealthJSON, cache: "no-cache", body: string(bodyLivezJSON.b)},
		// elsewhere
		notFound("pass", "/"),
		notFound("pass", "/nope"),
		notFound("pass", "/heartbeat/"),
		notFound("pass", "/ops/heartbeat"),
		notFound("pass", "/HEARTBEAT"),
		notFound("pass", "/livez/x"),
		notFound("pass", "/stats"),
		notFound("pass", "/stats.json"),
	}
	methods := []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"}
	for _, rw := range rows {
		for _, method := range methods {
			name := fmt.Sprintf("%s %s %s %v", rw.handler, method, rw.target, rw.header)
			t.Run(name, func(t *testing.T) {
				want := rw
				wantAllow := ""
				switch {
				case method == "GET" || method == "HEAD":
				case rw.code == 404:
				default:
					want = row{code: 405, ctype: textPlain, cache: "no-store", body: string(bodyNotAllowed.b)}
					wantAllow = "GET, HEAD"
				}
				res := do(handlers[rw.handler], method, rw.target, rw.header...)
				if res.Code != want.code {
					t.Fatalf("status = %d, want %d; body %q", res.Code, want.code, res.Body)
				}
				hdr := res.Header()
				for name, value := range map[string]string{
					"Content-Type":           want.ctype,
					"Cache-Control":          want.cache,
					"X-Content-Type-Options": "nosniff",
					"Allow":                  wantAllow,
				} {
					if got := hdr.Get(name); got != value {
						t.Errorf("%s = %q, want %q", name, got, value)
					}
				}
				// HEAD answers GET's headers, Content-Length included, with no body.
				get := do(handlers[rw.handler], "GET", rw.target, rw.header...)
				if method == "HEAD" || method == "GET" {
					if got, want := hdr.Get("Content-Length"), strconv.Itoa(get.Body.Len()); got != want {
						t.Errorf("Content-Length = %s, want %s", got, want)
					}
				}
				if method == "HEAD" {
					if res.Body.Len() != 0 {
						t.Errorf("HEAD body = %q, want none", res.Body)
					}
					return
				}
				got := res.Body.String()
				if len(want.contains) == 0 && got != want.body {
					t.Errorf("body = %q, want %q", got, want.body)
				}
				for _, s := range want.contains {
					if !strings.Contains(got, s) {
						t.Errorf("body %q does not contain %q", got, s)
					}
				}
			})
		}
	}
}

// TestVerboseGolden pins the health JSON byte for byte. The fixed clock
// makes times and durations reproducible. Regenerate with -update.
func TestVerboseGolden(t *testing.T) {
	failing := []Option{
		WithTimeout(50 * time.Millisecond),
		WithVitals(
			VitalFunc("cache", func(context.Context) error { return nil }),
			VitalFunc("db", func(context.Context) error {
				return errors.New(`dial tcp 127.0.0.1:5432: connect: connection refused "quoted" <tag>`)
			}),
			VitalFunc("queue", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }),
			VitalFunc("worker", func(context.Context) error { panic("boom") }),
		),
	}
	for _, tc := range []struct {
		name  string
		opts  []Option
		drain bool
		code  int
	}{
		{name: "pass", code: 200, opts: []Option{WithVitals(
			VitalFunc("db", func(context.Context) error { return nil }),
			VitalFunc("cache", func(context.Context) error { return nil }),
		)}},
		{name: "novitals", code: 200},
		{name: "fail", code: 503, opts: failing},
		{name: "fail_details", code: 503, opts: append([]Option{WithDetails(true)}, failing...)},
		{name: "drained", code: 503, drain: true, opts: []Option{WithVitals(
			VitalFunc("db", func(context.Context) error { return nil }))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := mustNew(t, newFakeClock(), tc.opts...)
			if tc.drain {
				h.Drain()
			}
			res := do(h, "GET", "/heartbeat?verbose")
			if res.Code != tc.code {
				t.Errorf("status = %d, want %d", res.Code, tc.code)
			}
			golden(t, filepath.Join("testdata", "heartbeat_"+tc.name+".golden"), res.Body.Bytes())
		})
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run with -update to accept):\n got: %s\nwant: %s", path, got, want)
	}
}

// TestHungVital: a vital that hangs costs a request its timeout and no more,
// and leaves no goroutine behind.
func TestHungVital(t *testing.T) {
	const timeout = 100 * time.Millisecond
	// Generous for a shared machine, yet inside a Kubernetes probe's 1 s.
	const margin = 900 * time.Millisecond
	hung := &countingVital{name: "hung", delay: time.Hour}
	h := mustNew(t, nil, WithTimeout(timeout), WithCacheTTL(0),
		WithVitals(hung, VitalFunc("ok", func(context.Context) error { return nil })))

	// Several probes at once: all share the one run, none waits past it.
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			start := time.Now()
			res := do(h, "GET", "/heartbeat")
			elapsed := time.Since(start)
			if res.Code != 503 || res.Body.String() != "heartbeat:NG" {
				t.Errorf("got %d %q, want 503 heartbeat:NG", res.Code, res.Body)
			}
			if elapsed > timeout+margin {
				t.Errorf("answered after %v, want within %v", elapsed, timeout+margin)
			}
		})
	}
	wg.Wait()
	if n := hung.calls.Load(); n != 1 {
		t.Errorf("hung vital called %d times, want 1", n)
	}
	rep := h.checker.last.Load()
	if !errors.Is(rep.results[0].err, ErrTimeout) {
		t.Errorf("err = %v, want ErrTimeout", rep.results[0].err)
	}
	goleak.VerifyNone(t)
}

// TestVitalIgnoringContext: even a Check that ignores ctx cannot pin a
// request past its timeout; only its own goroutine waits, as documented.
func TestVitalIgnoringContext(t *testing.T) {
	release := make(chan struct{})
	stuck := VitalFunc("stuck", func(context.Context) error { <-release; return nil })
	h := mustNew(t, nil, WithTimeout(50*time.Millisecond), WithVitals(stuck))
	answered := make(chan int)
	go func() { answered <- do(h, "GET", "/heartbeat").Code }()
	select {
	case code := <-answered:
		if code != 503 {
			t.Errorf("status = %d, want 503", code)
		}
	case <-time.After(10 * time.Second):
		t.Error("no answer within 10s while the check is stuck")
		close(release)
		<-answered
		return
	}
	close(release)
	goleak.VerifyNone(t)
}

// TestPanickingVital: a panic is the vital's failure; the process lives and
// the next run recovers.
func TestPanickingVital(t *testing.T) {
	clock := newFakeClock()
	var panics atomic.Bool
	panics.Store(true)
	h := mustNew(t, clock, WithDetails(true), WithVitals(
		VitalFunc("flaky", func(context.Context) error {
			if panics.Load() {
				panic(fmt.Errorf("boom"))
			}
			return nil
		}),
		VitalFunc("exits", func(context.Context) error {
			if panics.Load() {
				runtime.Goexit()
			}
			return nil
		}),
		VitalFunc("nilpanic", func(context.Context) error {
			if panics.Load() {
				panic(nil)
			}
			return nil
		}),
	))
	res := do(h, "GET", "/heartbeat?verbose")
	if res.Code != 503 {
		t.Fatalf("status = %d, want 503", res.Code)
	}
	if !strings.Contains(res.Body.String(), "heartbeat: vital panicked: boom") {
		t.Errorf("body %s lacks the panic", res.Body)
	}
	for i, r := range h.checker.last.Load().results {
		if !errors.Is(r.err, ErrPanic) {
			t.Errorf("%s: err = %v, want ErrPanic", h.checker.entries[i].name, r.err)
		}
	}
	panics.Store(false)
	clock.advance(DefaultCacheTTL)
	if res := do(h, "GET", "/heartbeat"); res.Code != 200 {
		t.Errorf("after recovery: status = %d, want 200", res.Code)
	}
}

// TestProbeStorm: 1000 concurrent requests against a slow vital run it
// once per TTL.
func TestProbeStorm(t *testing.T) {
	const ttl = time.Minute
	clock := newFakeClock()
	slow := &countingVital{name: "slow", delay: 200 * time.Millisecond}
	h := mustNew(t, clock, WithVitals(slow), WithTimeout(10*time.Second), WithCacheTTL(ttl))

	storm := func() {
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range 1000 {
			wg.Go(func() {
				<-start
				if res := do(h, "GET", "/heartbeat"); res.Code != 200 {
					t.Errorf("status = %d, want 200", res.Code)
				}
			})
		}
		close(start)
		wg.Wait()
	}
	storm()
	if n := slow.calls.Load(); n != 1 {
		t.Fatalf("first TTL: vital ran %d times, want 1", n)
	}
	clock.advance(ttl - time.Nanosecond)
	storm()
	if n := slow.calls.Load(); n != 1 {
		t.Fatalf("still inside the TTL: vital ran %d times, want 1", n)
	}
	clock.advance(time.Nanosecond)
	storm()
	if n := slow.calls.Load(); n != 2 {
		t.Fatalf("second TTL: vital ran %d times, want 2", n)
	}
}

// TestCacheTTLZero: no cache, yet concurrent callers still share a run.
func TestCacheTTLZero(t *testing.T) {
	v := &countingVital{name: "v", delay: 100 * time.Millisecond}
	h := mustNew(t, newFakeClock(), WithVitals(v), WithCacheTTL(0))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 50 {
		wg.Go(func() { <-start; do(h, "GET", "/heartbeat") })
	}
	close(start)
	wg.Wait()
	first := v.calls.Load()
	// 50 requests released at once against a 100 ms check: without sharing
	// each would start its own run.
	if first < 1 || first >= 50 {
		t.Fatalf("calls = %d for 50 concurrent requests, want them to share runs", first)
	}
	do(h, "GET", "/heartbeat")
	if got := v.calls.Load(); got != first+1 {
		t.Errorf("sequential request after a run: calls = %d, want %d", got, first+1)
	}
}

// TestClientGoneStopsWaiting: a probe whose client gives up stops waiting;
// the run finishes for the others.
func TestClientGoneStopsWaiting(t *testing.T) {
	v := &countingVital{name: "slow", delay: 300 * time.Millisecond}
	h := mustNew(t, newFakeClock(), WithVitals(v), WithTimeout(10*time.Second))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := httptest.NewRequest("GET", "/heartbeat", nil).WithContext(ctx)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 503 {
		t.Errorf("status = %d, want 503", w.Code)
	}
	if res := do(h, "GET", "/heartbeat"); res.Code != 200 {
		t.Errorf("status = %d, want 200", res.Code)
	}
	if n := v.calls.Load(); n != 1 {
		t.Errorf("calls = %d, want 1 (the abandoned run is shared)", n)
	}
}

// TestDrain flips readiness and nothing else.
func TestDrain(t *testing.T) {
	clock := newFakeClock()
	v := &countingVital{name: "db"}
	h := mustNew(t, clock, WithVitals(v))

	type answer struct {
		code int
		body string
	}
	get := func(target string) answer {
		res := do(h, "GET", target)
		return answer{res.Code, res.Body.String()}
	}
	before := map[string]answer{}
	for _, p := range []string{"/heartbeat", "/livez", "/livez?verbose", "/nope"} {
		before[p] = get(p)
	}
	if before["/heartbeat"] != (answer{200, "heartbeat:ok"}) {
		t.Fatalf("before drain: %v", before["/heartbeat"])
	}
	calls := v.calls.Load()

	h.Drain()
	h.Drain() // idempotent
	clock.advance(time.Hour)
	if got := get("/heartbeat"); got != (answer{503, "heartbeat:NG"}) {
		t.Errorf("drained /heartbeat = %v", got)
	}
	for p, want := range before {
		if p == "/heartbeat" {
			continue
		}
		if got := get(p); got != want {
			t.Errorf("drained %s = %v, want %v as before", p, got, want)
		}
	}
	if got := v.calls.Load(); got != calls {
		t.Errorf("vital ran %d more times while drained, want 0", got-calls)
	}
}

// TestBackground: the loop checks on its own; requests never start a run;
// Shutdown stops it and the Handler falls back to checking on demand. The
// bubble's clock makes the intervals exact and instant.
func TestBackground(t *testing.T) {
	t.Run("refreshes", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			v := &countingVital{name: "v"}
			h := mustNew(t, nil, WithVitals(v), WithBackgroundInterval(time.Second))
			time.Sleep(2500 * time.Millisecond)
			synctest.Wait()
			if n := v.calls.Load(); n != 3 {
				t.Errorf("after 2.5 intervals the loop ran %d times, want 3 (at 0, 1 s and 2 s)", n)
			}
			if res := do(h, "GET", "/heartbeat"); res.Code != 200 {
				t.Errorf("status = %d", res.Code)
			}
			if err := h.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			if err := h.Shutdown(context.Background()); err != nil {
				t.Fatalf("second Shutdown: %v", err)
			}
		})
	})
	t.Run("requests never start a run", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			clock := newFakeClock()
			v := &countingVital{name: "v", delay: 50 * time.Millisecond}
			h := mustNew(t, clock, WithVitals(v), WithBackgroundInterval(time.Hour))
			// Before the first result, requests share the loop's first run.
			if res := do(h, "GET", "/heartbeat"); res.Code != 200 {
				t.Fatalf("status = %d", res.Code)
			}
			clock.advance(24 * time.Hour) // far beyond the TTL
			for range 100 {
				if res := do(h, "GET", "/heartbeat"); res.Code != 200 {
					t.Fatalf("status = %d", res.Code)
				}
			}
			if n := v.calls.Load(); n != 1 {
				t.Fatalf("calls = %d, want 1", n)
			}
			if err := h.Shutdown(context.Background()); err != nil { // must not wait for the hour
				t.Fatal(err)
			}
			do(h, "GET", "/heartbeat")
			if n := v.calls.Load(); n != 2 {
				t.Errorf("after Shutdown, a stale report: calls = %d, want 2 (on demand)", n)
			}
		})
	})
}

// TestShutdownHonoursContext: Shutdown waits for a run in flight only as
// long as ctx allows; the loop still ends with the run, and a later
// Shutdown waits for that.
func TestShutdownHonoursContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		running := make(chan struct{}, 1)
		stuck := VitalFunc("stuck", func(context.Context) error {
			running <- struct{}{}
			<-release // ignores ctx, as a careless Check may
			return nil
		})
		h, err := New(WithTimeout(time.Hour), WithBackgroundInterval(time.Second), WithVitals(stuck))
		if err != nil {
			t.Fatal(err)
		}
		<-running // the loop's first run is in flight
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		start := time.Now()
		if err := h.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown with a run in flight = %v, want the deadline", err)
		}
		if d := time.Since(start); d != 5*time.Second {
			t.Errorf("Shutdown returned after %v, want at its 5s deadline", d)
		}
		close(release)
		if err := h.Shutdown(context.Background()); err != nil {
			t.Errorf("second Shutdown, once the run ended: %v", err)
		}
	})
}

// TestMounting serves through real net/http on loopback, mounted the
// documented ways.
func TestMounting(t *testing.T) {
	h := mustNew(t, nil)

	for _, pattern := range []string{"/ops/", "GET /ops/"} {
		t.Run(pattern, func(t *testing.T) {
			mux := http.NewServeMux()
			mux.Handle(pattern, http.StripPrefix("/ops", h))
			srv := httptest.NewServer(mux)
			defer srv.Close()
			client := srv.Client()
			for _, tc := range []struct {
				method, path string
				code         int
			}{
				{"GET", "/ops/heartbeat", 200},
				{"HEAD", "/ops/heartbeat", 200},
				{"GET", "/ops/livez", 200},
				{"POST", "/ops/heartbeat", 405},
				{"GET", "/ops/nope", 404},
				{"GET", "/heartbeat", 404},
			} {
				req, err := http.NewRequest(tc.method, srv.URL+tc.path, nil)
				if err != nil {
					t.Fatal(err)
				}
				res, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != tc.code {
					t.Errorf("%s %s = %d %q, want %d", tc.method, tc.path, res.StatusCode, body, tc.code)
				}
				if tc.code == 405 && res.Header.Get("Allow") == "" {
					t.Errorf("%s %s: 405 without Allow", tc.method, tc.path)
				}
			}
		})
	}
}

func TestOptionErrors(t *testing.T) {
	ok := VitalFunc("ok", func(context.Context) error { return nil })
	f := func(want string, opts ...Option) {
		t.Helper()
		h, err := New(opts...)
		if err == nil {
			_ = h.Shutdown(context.Background())
			t.Fatalf("New succeeded, want %q", want)
		}
		if err.Error() != want {
			t.Errorf("err = %q, want %q", err, want)
		}
		if !errors.Is(err, ErrInvalidOption) {
			t.Errorf("err %v does not wrap ErrInvalidOption", err)
		}
	}
	f("heartbeat: WithTimeout: must be > 0, got -1s", WithTimeout(-time.Second))
	f("heartbeat: WithTimeout: must be > 0, got 0s", WithTimeout(0))
	f("heartbeat: WithCacheTTL: must be >= 0, got -1ms", WithCacheTTL(-time.Millisecond))
	f("heartbeat: WithBackgroundInterval: must be 0 (on demand) or at least 1s, got -1s", WithBackgroundInterval(-time.Second))
	f("heartbeat: WithBackgroundInterval: must be 0 (on demand) or at least 1s, got 1ns", WithBackgroundInterval(time.Nanosecond))
	f("heartbeat: WithBackgroundInterval: must be 0 (on demand) or at least 1s, got 999ms", WithBackgroundInterval(999*time.Millisecond))
	f("heartbeat: WithMeterProvider: MeterProvider must not be nil", WithMeterProvider(nil))
	f(`heartbeat: WithVitals: vital "ok": timeout must be > 0, got 0s`, WithVitals(VitalWithTimeout(ok, 0)))
	f("heartbeat: WithTimeout: must be > 0, got -1s\nheartbeat: WithCacheTTL: must be >= 0, got -1s",
		WithTimeout(-time.Second), WithCacheTTL(-time.Second))
}

// A nil Option is skipped, as in every komachi package.
func TestNilOptionIsSkipped(t *testing.T) {
	h := mustNew(t, nil, nil, WithVitals(VitalFunc("db", func(context.Context) error { return nil })), nil)
	if res := do(h, "GET", "/heartbeat"); res.Code != 200 {
		t.Errorf("status = %d, want 200", res.Code)
	}
}

func TestVitalPanicsAtSetUp(t *testing.T) {
	ok := VitalFunc("ok", func(context.Context) error { return nil })
	f := func(want string, fn func()) {
		t.Helper()
		defer func() {
			t.Helper()
			if p := recover(); fmt.Sprint(p) != want {
				t.Errorf("panic %v, want %q", p, want)
			}
		}()
		fn()
	}
	f(`heartbeat: WithVitals: duplicate vital name "ok"`, func() { WithVitals(ok, ok) })
	f(`heartbeat: WithVitals: duplicate vital name "ok"`, func() { New(WithVitals(ok), WithVitals(ok)) })
	f("heartbeat: WithVitals: vital 1 has an empty name", func() {
		WithVitals(ok, VitalFunc("", func(context.Context) error { return nil }))
	})
	f("heartbeat: WithVitals: vital 0 is nil", func() { WithVitals(nil) })
	f(`heartbeat: VitalFunc: nil check for vital "x"`, func() { VitalFunc("x", nil) })
	f("heartbeat: VitalWithTimeout: nil vital", func() { VitalWithTimeout(nil, time.Second) })
}

// TestVitalWithTimeout: one vital's own timeout overrides the default.
func TestVitalWithTimeout(t *testing.T) {
	slow := &countingVital{name: "slow", delay: 200 * time.Millisecond}
	h := mustNew(t, nil, WithTimeout(20*time.Millisecond),
		WithVitals(VitalWithTimeout(slow, 10*time.Second)))
	if res := do(h, "GET", "/heartbeat"); res.Code != 200 {
		t.Errorf("status = %d, want 200: the vital's own 10s timeout applies", res.Code)
	}
}

// TestNoAllocs: serving costs this package no allocation. Counted, not
// timed; skipped under -race, which allocates on its own.
func TestNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates; run without -race")
	}
	h := mustNew(t, nil, WithVitals(VitalFunc("v", func(context.Context) error { return nil })), WithCacheTTL(time.Hour))
	drained := mustNew(t, nil)
	drained.Drain()
	for _, tc := range []struct {
		name   string
		h      *Handler
		method string
		target string
		header []string
	}{
		{"heartbeat", h, "GET", "/heartbeat", nil},
		{"heartbeat verbose", h, "GET", "/heartbeat?verbose", nil},
		{"heartbeat accept", h, "GET", "/heartbeat", []string{"Accept", "text/plain, application/health+json;q=0.5"}},
		{"heartbeat HEAD", h, "HEAD", "/heartbeat", nil},
		{"drained", drained, "GET", "/heartbeat?verbose", nil},
		{"livez", h, "GET", "/livez", nil},
		{"404", h, "GET", "/nope", nil},
		{"405", h, "POST", "/heartbeat", nil},
	} {
		r := httptest.NewRequest(tc.method, tc.target, nil)
		for i := 0; i+1 < len(tc.header); i += 2 {
			r.Header.Add(tc.header[i], tc.header[i+1])
		}
		w := newDiscardWriter()
		tc.h.ServeHTTP(w, r) // warm: the first run
		if allocs := testing.AllocsPerRun(100, func() {
			w.reset()
			tc.h.ServeHTTP(w, r)
		}); allocs != 0 {
			t.Errorf("%s: %v allocs per request, want 0", tc.name, allocs)
		}
	}
}
