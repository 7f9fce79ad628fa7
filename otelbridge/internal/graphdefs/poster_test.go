package graphdefs

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func sampleGraphs(prefix string) []Graph {
	return []Graph{
		{Name: prefix + ".go.goroutine", Label: "Goroutines", Unit: "integer", Metrics: []Metric{{Name: "count", Label: "count"}}},
		{Name: prefix + ".go.memory.used", Label: "Memory used", Unit: "bytes", Metrics: []Metric{{Name: "*", Label: "%1", Stacked: true}}},
		{Name: prefix + ".http.server.request.duration.#", Label: "Request duration %1", Unit: "milliseconds",
			Metrics: []Metric{{Name: "p50", Label: "p50"}, {Name: "p99", Label: "p99"}}},
	}
}

// testSource is a source whose graphs the test changes; each change is a
// new version.
type testSource struct {
	mu      sync.Mutex
	graphs  []Graph
	version uint64
	panics  int // the next calls that panic
}

func (s *testSource) get() ([]Graph, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.panics > 0 {
		s.panics--
		panic("source broke")
	}
	return slices.Clone(s.graphs), s.version
}

func (s *testSource) set(g []Graph) {
	s.mu.Lock()
	s.graphs = g
	s.version++
	s.mu.Unlock()
}

const testPrefix = "myapp"

func testConfig(base string) Config {
	return Config{APIKey: testKey, APIBase: base, Prefix: testPrefix}
}

func newTestLogger(b *logBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startBubbled starts a Poster that reaches fake through handlerTransport,
// checking every minute. Call it inside a synctest bubble.
func startBubbled(t *testing.T, fake http.Handler, src *testSource) (*Poster, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	p, err := New(testConfig("http://mackerel.test/"), src.get,
		WithLogger(newTestLogger(logs)),
		WithInterval(time.Minute),
		WithHTTPClient(&http.Client{Transport: handlerTransport{fake}}))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	return p, logs
}

func stop(t *testing.T, p *Poster) {
	t.Helper()
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// offsets returns when each request arrived, counted from t0.
func offsets(t0 time.Time, got []received) []time.Duration {
	var out []time.Duration
	for _, r := range got {
		out = append(out, r.at.Sub(t0))
	}
	return out
}

func graphNames(defs []graphDef) []string {
	var names []string
	for _, d := range defs {
		names = append(names, d.Name)
	}
	return names
}

func logLines(logs *logBuffer, contains string) []string {
	var out []string
	for line := range strings.SplitSeq(logs.String(), "\n") {
		if line != "" && strings.Contains(line, contains) {
			out = append(out, line)
		}
	}
	return out
}

// A 500 is logged and retried one interval later with the current set, and a
// 200 ends it: no post follows until the version changes, and then one comes
// at the next check.
func TestPostRetriesThenWaitsForAChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := newFake(t, testPrefix, http.StatusInternalServerError, http.StatusOK)
		src := &testSource{}
		src.set(sampleGraphs(testPrefix))
		t0 := time.Now()
		p, logs := startBubbled(t, fake, src)

		time.Sleep(10*time.Minute + 30*time.Second)
		synctest.Wait()
		got := fake.requests()
		if want := []time.Duration{0, time.Minute}; !slices.Equal(offsets(t0, got), want) {
			t.Fatalf("requests at %v, want %v (the 500, then one retry and nothing more)", offsets(t0, got), want)
		}
		want := []string{"custom.myapp.go.goroutine", "custom.myapp.go.memory.used", "custom.myapp.http.server.request.duration.#"}
		for i, r := range got {
			if names := graphNames(r.defs); !slices.Equal(names, want) {
				t.Errorf("request %d posted %v, want %v", i, names, want)
			}
		}
		d := got[1].defs[2]
		if d.DisplayName != "Request duration %1" || d.Unit != "milliseconds" || len(d.Metrics) != 2 ||
			d.Metrics[0].Name != "custom.myapp.http.server.request.duration.#.p50" || d.Metrics[0].DisplayName != "p50" {
			t.Errorf("definition %+v", d)
		}
		if m := got[1].defs[1].Metrics[0]; m.Name != "custom.myapp.go.memory.used.*" || !m.IsStacked {
			t.Errorf("stacked wildcard metric %+v", m)
		}
		failures := logLines(logs, "failed")
		if len(failures) != 1 || !strings.Contains(failures[0], "status=500") || !strings.Contains(failures[0], "retry_in=1m0s") {
			t.Errorf("failure log lines %q, want one with status=500 retry_in=1m0s", failures)
		}

		// A change at 10m30s is posted at the 11m check.
		src.set(append(sampleGraphs(testPrefix), Graph{Name: testPrefix + ".app.jobs", Unit: "float", Metrics: []Metric{{Name: "done"}}}))
		time.Sleep(9*time.Minute + 30*time.Second)
		synctest.Wait()
		got = fake.requests()
		if want := []time.Duration{0, time.Minute, 11 * time.Minute}; !slices.Equal(offsets(t0, got), want) {
			t.Fatalf("requests at %v, want %v", offsets(t0, got), want)
		}
		if n := len(got[2].defs); n != 4 {
			t.Errorf("the re-post has %d definitions, want 4", n)
		}
		stop(t, p)
		assertNoKey(t, "the log", logs.String())
	})
}

// However often the version changes, posts are one interval apart.
func TestAtMostOncePerInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := newFake(t, testPrefix)
		src := &testSource{}
		src.set(sampleGraphs(testPrefix))
		t0 := time.Now()
		p, _ := startBubbled(t, fake, src)
		for range 29 { // a change every 10 s until 4m50s
			time.Sleep(10 * time.Second)
			src.set(sampleGraphs(testPrefix))
		}
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		stop(t, p)
		want := []time.Duration{0, time.Minute, 2 * time.Minute, 3 * time.Minute, 4 * time.Minute, 5 * time.Minute}
		if got := offsets(t0, fake.requests()); !slices.Equal(got, want) {
			t.Errorf("requests at %v, want %v", got, want)
		}
	})
}

// Failures back off from one interval, doubling, up to MaxBackoff; each is
// one log line with the status and the wait.
func TestBackoffDoublesUpToMax(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := newFake(t, testPrefix, http.StatusServiceUnavailable)
		src := &testSource{}
		src.set(sampleGraphs(testPrefix))
		t0 := time.Now()
		p, logs := startBubbled(t, fake, src)
		time.Sleep(6 * time.Hour)
		synctest.Wait()
		stop(t, p)

		at := offsets(t0, fake.requests())
		var gaps []time.Duration
		for i := 1; i < len(at); i++ {
			gaps = append(gaps, at[i]-at[i-1])
		}
		want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60, 60, 60}
		for i := range want {
			want[i] *= time.Minute
		}
		if !slices.Equal(gaps, want) {
			t.Errorf("gaps between attempts %v, want %v", gaps, want)
		}
		failures := logLines(logs, "failed")
		if len(failures) != len(at) {
			t.Errorf("%d failure lines for %d attempts", len(failures), len(at))
		}
		for i, line := range failures {
			if !strings.Contains(line, "status=503") || !strings.Contains(line, "retry_in="+min(time.Minute<<i, MaxBackoff).String()) {
				t.Errorf("line %d: %s", i, line)
			}
		}
		assertNoKey(t, "the log", logs.String())
	})
}

// Until the source has definitions nothing is posted, nor logged.
func TestNothingPostedBeforeTheFirstGraphs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := newFake(t, testPrefix)
		src := &testSource{}
		t0 := time.Now()
		p, logs := startBubbled(t, fake, src)
		time.Sleep(2*time.Minute + 30*time.Second)
		src.set(sampleGraphs(testPrefix))
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		stop(t, p)
		if got, want := offsets(t0, fake.requests()), []time.Duration{3 * time.Minute}; !slices.Equal(got, want) {
			t.Errorf("requests at %v, want %v", got, want)
		}
		if lines := logLines(logs, "level=WARN"); len(lines) != 0 {
			t.Errorf("warnings: %q", lines)
		}
	})
}

// Definitions Mackerel would refuse are left out (one bad unit would fail
// the whole request), logged once per version, and the rest is posted.
func TestInvalidGraphsAreLeftOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := newFake(t, testPrefix, http.StatusBadGateway, http.StatusOK)
		src := &testSource{}
		src.set(append(sampleGraphs(testPrefix),
			Graph{Name: testPrefix + ".go.gc", Unit: "cycles", Metrics: []Metric{{Name: "count"}}},
			Graph{Name: "other.go.gc", Unit: "integer", Metrics: []Metric{{Name: "count"}}},
		))
		p, logs := startBubbled(t, fake, src)
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		stop(t, p)
		got := fake.requests()
		if len(got) != 2 {
			t.Fatalf("%d requests, want 2 (a 502, then a 200)", len(got))
		}
		if n := len(got[1].defs); n != 3 {
			t.Errorf("posted %d definitions, want the 3 valid ones", n)
		}
		lines := logLines(logs, "left out")
		if len(lines) != 1 || !strings.Contains(lines[0], "left_out=2") || !strings.Contains(lines[0], "cycles") {
			t.Errorf("left-out lines %q, want one, with left_out=2 naming the bad unit", lines)
		}
	})
}

// Shutdown cancels a post in progress and does not report it as a failure.
func TestShutdownCancelsAPostInProgress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		inFlight := make(chan struct{})
		blocking := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(inFlight)
			<-r.Context().Done()
			w.WriteHeader(http.StatusGatewayTimeout)
		})
		src := &testSource{}
		src.set(sampleGraphs(testPrefix))
		p, logs := startBubbled(t, blocking, src)
		<-inFlight
		stop(t, p)
		if lines := logLines(logs, "failed"); len(lines) != 0 {
			t.Errorf("failure logged on shutdown: %q", lines)
		}
	})
}

// Start's context gives values, not the lifetime: cancelling it does not
// stop the poster.
func TestStartContextCancelDoesNotStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := newFake(t, testPrefix)
		src := &testSource{}
		src.set(sampleGraphs(testPrefix))
		p, err := New(testConfig("http://mackerel.test/"), src.get,
			WithLogger(newTestLogger(&logBuffer{})), WithHTTPClient(&http.Client{Transport: handlerTransport{fake}}))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		if err := p.Start(ctx); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		cancel()
		src.set(sampleGraphs(testPrefix))
		time.Sleep(DefaultInterval)
		synctest.Wait()
		stop(t, p)
		if n := len(fake.requests()); n != 2 {
			t.Errorf("%d requests, want 2", n)
		}
	})
}

// A panicking source is a failed attempt, not a crash.
func TestSourcePanicIsAFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := newFake(t, testPrefix)
		src := &testSource{panics: 1}
		src.set(sampleGraphs(testPrefix))
		t0 := time.Now()
		p, logs := startBubbled(t, fake, src)
		time.Sleep(3 * time.Minute)
		synctest.Wait()
		stop(t, p)
		if got, want := offsets(t0, fake.requests()), []time.Duration{time.Minute}; !slices.Equal(got, want) {
			t.Errorf("requests at %v, want %v", got, want)
		}
		if lines := logLines(logs, "source panicked"); len(lines) != 1 {
			t.Errorf("panic lines %q, want one", lines)
		}
	})
}

func TestStartShutdownContract(t *testing.T) {
	src := &testSource{}
	p, err := New(testConfig(""), src.get)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown before Start: %v", err)
	}
	if err := p.Shutdown(context.Background()); !errors.Is(err, ErrShutdown) {
		t.Errorf("second Shutdown: %v, want ErrShutdown", err)
	}
	if err := p.Start(context.Background()); !errors.Is(err, ErrShutdown) {
		t.Errorf("Start after Shutdown: %v, want ErrShutdown", err)
	}

	synctest.Test(t, func(t *testing.T) {
		p, _ := startBubbled(t, newFake(t, testPrefix), &testSource{})
		if err := p.Start(context.Background()); err == nil || errors.Is(err, ErrShutdown) {
			t.Errorf("second Start: %v, want an error", err)
		}
		stop(t, p)
	})
}

// The real exchange over loopback: the request Mackerel gets, a 500 whose
// body echoes the key, the retry, and a log that never holds the key.
func TestRealHTTPExchange(t *testing.T) {
	fake := newFake(t, testPrefix, http.StatusInternalServerError, http.StatusOK)
	fake.arrived = make(chan struct{}, 2)
	var userAgent string
	var uaOnce sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		uaOnce.Do(func() { userAgent = r.UserAgent() })
		fake.ServeHTTP(w, r)
	}))
	defer srv.Close()

	src := &testSource{}
	src.set(sampleGraphs(testPrefix))
	logs := &logBuffer{}
	// A short interval keeps the retry close; the test waits for requests,
	// not for time.
	p, err := New(testConfig(srv.URL), src.get, WithLogger(newTestLogger(logs)), WithInterval(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		select {
		case <-fake.arrived:
		case <-time.After(time.Minute): // a failsafe, not a wait
			t.Fatalf("request %d never arrived", i+1)
		}
	}
	stop(t, p)

	got := fake.requests()
	if len(got) != 2 || got[0].status != 500 || got[1].status != 200 {
		t.Fatalf("requests %+v", got)
	}
	if !slices.Equal(graphNames(got[0].defs), graphNames(got[1].defs)) || len(got[1].defs) != 3 {
		t.Errorf("the retry posted %v, first %v", graphNames(got[1].defs), graphNames(got[0].defs))
	}
	if !strings.HasPrefix(userAgent, "komachi (mackerel-client-go") {
		t.Errorf("User-Agent %q", userAgent)
	}
	text := logs.String()
	if lines := logLines(logs, "failed"); len(lines) != 1 || !strings.Contains(lines[0], "status=500") || !strings.Contains(lines[0], "refused X-Api-Key [REDACTED] ([REDACTED])") {
		t.Errorf("failure lines %q, want one with status=500 and the echoed key redacted", lines)
	}
	assertNoKey(t, "the log", text)
}

// A redirect is not followed: Go would send X-Api-Key to its target.
func TestRedirectIsNotFollowed(t *testing.T) {
	var leaked sync.Once
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked.Do(func() { t.Errorf("the redirect was followed, X-Api-Key present: %t", r.Header.Get("X-Api-Key") != "") })
	}))
	defer elsewhere.Close()
	redirecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer redirecting.Close()

	src := &testSource{}
	src.set(sampleGraphs(testPrefix))
	logs := &logBuffer{lines: make(chan string, 4)}
	p, err := New(testConfig(redirecting.URL), src.get, WithLogger(newTestLogger(logs)), WithInterval(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	var line string
	select {
	case line = <-logs.lines:
	case <-time.After(time.Minute): // a failsafe, not a wait
		t.Fatal("no log line")
	}
	stop(t, p)
	if !strings.Contains(line, "failed") || !strings.Contains(line, "status=307") {
		t.Errorf("log line %q, want a failure with status=307", line)
	}
	assertNoKey(t, "the log", logs.String())
}
