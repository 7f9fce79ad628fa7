package plugintest_test

import (
	"bytes"
	"fmt"
	"math"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/komachi-go/komachi/internal/plugintest"
	"github.com/komachi-go/komachi/internal/testutil"
)

// prefix is the plugin's -prefix in examples/kubernetes/mackerel.yaml: the
// example's service name. The agent stores every line under custom.
const prefix = "basic"

// maxLines is what /stats may cost a Pod: a micro host includes 30
// metrics, the agent's own and the check monitor take about 10.
const maxLines = 20

// seedVitals is every vital of ../shared/docs/go-vitals.md's seed list and
// the lines that answer it at the defaults. The seed's io.in, io.out and
// RSS are answered by the agent's own interface.*.rxBytes/txBytes and
// container.memory.*, not by /stats.
var seedVitals = []struct {
	seed  string
	names []string
}{
	{"process_count", []string{"basic.go.goroutine.count.count"}},
	{"run_queue", []string{"basic.go.schedule.duration.p99"}},
	{"reductions, scheduler_usage (with the agent's container.cpu.*)", []string{"basic.process.cpu.time.time"}},
	{"context_switches", []string{"basic.process.context_switches.context_switches"}},
	{"gc.count", []string{"basic.go.memory.gc.cycles.cycles"}},
	{"gc.words_reclaimed", []string{"basic.go.memory.allocated.allocated"}},
	{"GC pauses", []string{"basic.go.memory.gc.pause.duration.p99"}},
	{"memory.processes", []string{"basic.go.memory.used.stack", "basic.go.memory.used.other", "basic.go.memory.gc.goal.goal"}},
	{"memory.binary, .code, .ets, .atom", []string{"basic.komachi.go.memory.used.heap_objects"}},
	{"port_count", []string{"basic.process.unix.file_descriptor.count.count"}},
	{"threads", []string{"basic.process.thread.count.count"}},
	{"komachi's own", []string{"basic.komachi.exporter.metrics.metrics", "basic.komachi.exporter.dropped.dropped"}},
	{"the app", []string{
		"basic.http.server.request.duration.count.count", "basic.http.server.request.duration.p99",
		"basic.app.greetings.en", "basic.app.greetings.ja",
	}},
}

// agentName is mackerel-agent's rule for a plugin metric name.
var agentName = regexp.MustCompile(`^[-a-zA-Z0-9_.]+$`)

// TestWhatAPodPosts runs examples/basic under mixed traffic and the real
// mackerel-plugin-json command over its /ops/stats, as the sidecar in
// examples/kubernetes does, and checks what a Pod would post to Mackerel.
func TestWhatAPodPosts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the example and the plugin")
	}
	// The example builds in its module, the root's, with a 2 s window;
	// the plugin in this one.
	ex := testutil.StartExample(t, "..", []string{"-drain", "0s"},
		"KOMACHI_STATS_WINDOW=2s", "OTEL_SERVICE_NAME="+prefix, "KOMACHI_MACKEREL_PREFIX="+prefix)
	pluginBin := testutil.GoBuild(t, ".", "github.com/mackerelio/mackerel-plugin-json")

	stats := func() []byte {
		code, body := ex.Get("/ops/stats")
		if code != http.StatusOK {
			t.Fatalf("GET /ops/stats = %d %s", code, body)
		}
		return body
	}
	traffic := func() {
		for _, r := range []struct {
			method, path string
			code         int
		}{
			{http.MethodGet, "/hello?name=x", http.StatusOK},
			{http.MethodGet, "/hello?lang=ja", http.StatusOK},
			{http.MethodGet, "/nope/1", http.StatusNotFound},
			{http.MethodPost, "/hello", http.StatusMethodNotAllowed},
			{http.MethodGet, "/", http.StatusOK},
		} {
			if code, body := ex.Do(r.method, r.path); code != r.code {
				t.Fatalf("%s %s = %d %s, want %d", r.method, r.path, code, body, r.code)
			}
		}
	}
	// A document is rendered once a window: a new one means a window
	// closed. The second round of traffic falls wholly into the window
	// the last document covers.
	traffic()
	closed := nextDocument(t, stats(), stats)
	traffic()
	nextDocument(t, closed, stats)

	// The plugin fetches the document itself: read it before and after,
	// and try again if a window closed in between.
	var lines []line
	var doc []byte
	for attempt := 0; ; attempt++ {
		before := stats()
		lines = runPlugin(t, pluginBin, ex.Base+"/ops/stats")
		doc = stats()
		if bytes.Equal(before, doc) {
			break
		}
		if attempt == 3 {
			t.Fatal("the document changed during every plugin run")
		}
	}
	var printed strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&printed, "%s\t%s\n", l.name, l.value)
	}
	t.Logf("what a Pod posts (the agent adds custom.), %d lines:\n%s", len(lines), printed.String())

	if _, err := plugintest.Flatten(prefix, doc); err != nil {
		t.Errorf("plugintest.Flatten: %v", err)
	}
	d, err := readDocument(prefix, doc)
	if err != nil {
		t.Fatalf("reading /ops/stats: %v\n%s", err, doc)
	}
	leaves := map[string]float64{}
	for _, l := range d.leaves {
		f, ok := l.value.(float64)
		if !ok {
			t.Errorf("%s is %T, not a number: the plugin drops it", l.name, l.value)
		}
		leaves[l.name] = f
	}

	// (1) What the Pod pays for.
	if len(lines) > maxLines {
		t.Errorf("the plugin prints %d lines, more than the %d a Pod has room for", len(lines), maxLines)
	}
	// (2) Every seed vital is answered.
	byName := map[string]line{}
	for _, l := range lines {
		byName[l.name] = l
	}
	for _, v := range seedVitals {
		for _, name := range v.names {
			if _, ok := byName[name]; !ok {
				t.Errorf("seed vital %s: %s is not printed", v.seed, name)
			}
		}
	}
	// (3) Values survive the plugin's %f, and nothing is dropped.
	for _, l := range lines {
		want, ok := leaves[l.name]
		if !ok {
			t.Errorf("%s is printed but is no leaf of the document", l.name)
			continue
		}
		if want == 0 && l.number != 0 || want != 0 && math.Abs(l.number-want) > 0.01*math.Abs(want) {
			t.Errorf("%s is printed as %s, the document says %v: off by more than 1 %%", l.name, l.value, want)
		}
	}
	if len(byName) != len(leaves) {
		t.Errorf("the plugin prints %d names for the document's %d leaves", len(byName), len(leaves))
	}
	for _, l := range lines {
		// (4) No doubled prefix.
		rest, ok := strings.CutPrefix(l.name, prefix+".")
		if !ok {
			t.Errorf("%s does not start with %s.", l.name, prefix)
			continue
		}
		if segs := strings.Split(rest, "."); segs[0] == prefix || len(segs) > 1 && segs[0] == segs[1] {
			t.Errorf("%s has a doubled prefix", l.name)
		}
		// (5) A name mackerel-agent takes.
		if !agentName.MatchString(l.name) || strings.Contains(l.name, "..") {
			t.Errorf("%q is not a name mackerel-agent takes", l.name)
		}
	}
}

// line is one metric as the plugin prints it: name\tvalue\tepoch.
type line struct {
	name, value string
	number      float64
}

// runPlugin runs the plugin command over url and parses what it prints.
func runPlugin(t *testing.T, bin, url string) []line {
	t.Helper()
	cmd := exec.Command(bin, "-url="+url, "-prefix="+prefix)
	cmd.Env = append(testutil.CleanEnv(), "MACKEREL_PLUGIN_WORKDIR="+t.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", bin, err, stderr.String())
	}
	var lines []line
	for _, text := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		f := strings.Split(text, "\t")
		if len(f) != 3 {
			t.Fatalf("the plugin printed %q, not name\\tvalue\\tepoch", text)
		}
		n, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			t.Fatalf("the plugin printed %q: %v", text, err)
		}
		lines = append(lines, line{name: f[0], value: f[1], number: n})
	}
	if len(lines) == 0 {
		t.Fatalf("the plugin printed nothing; stderr:\n%s", stderr.String())
	}
	slices.SortFunc(lines, func(a, b line) int { return strings.Compare(a.name, b.name) })
	return lines
}

// nextDocument waits for a document other than prev.
func nextDocument(t *testing.T, prev []byte, stats func() []byte) []byte {
	t.Helper()
	var doc []byte
	testutil.Poll(t, 20*time.Second, "the next window's document", func() bool {
		doc = stats()
		return !bytes.Equal(doc, prev)
	})
	return doc
}
