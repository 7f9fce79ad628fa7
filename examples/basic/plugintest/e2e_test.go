package plugintest_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

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

	// The document of a window that saw the mixed traffic, then the
	// plugin's lines of it.
	ex.BasicTraffic()
	lines, doc := ex.RunPlugin(pluginBin, prefix)
	var printed strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&printed, "%s\t%s\n", l.Name, l.Value)
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
	byName := map[string]testutil.PluginLine{}
	for _, l := range lines {
		byName[l.Name] = l
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
		want, ok := leaves[l.Name]
		if !ok {
			t.Errorf("%s is printed but is no leaf of the document", l.Name)
			continue
		}
		if testutil.Truncated(l.Number, want) {
			t.Errorf("%s is printed as %s, the document says %v: off by more than 1 %%", l.Name, l.Value, want)
		}
	}
	if len(byName) != len(leaves) {
		t.Errorf("the plugin prints %d names for the document's %d leaves", len(byName), len(leaves))
	}
	for _, l := range lines {
		// (4) No doubled prefix.
		rest, ok := strings.CutPrefix(l.Name, prefix+".")
		if !ok {
			t.Errorf("%s does not start with %s.", l.Name, prefix)
			continue
		}
		if segs := strings.Split(rest, "."); segs[0] == prefix || len(segs) > 1 && segs[0] == segs[1] {
			t.Errorf("%s has a doubled prefix", l.Name)
		}
		// (5) A name mackerel-agent takes.
		if !agentName.MatchString(l.Name) || strings.Contains(l.Name, "..") {
			t.Errorf("%q is not a name mackerel-agent takes", l.Name)
		}
	}
}
