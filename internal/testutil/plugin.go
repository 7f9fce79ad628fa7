package testutil

import (
	"bytes"
	"math"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// PluginLine is one metric as the mackerel-plugin-json command prints it:
// name\tvalue\tepoch.
type PluginLine struct {
	Name   string
	Value  string  // as printed, with %f
	Number float64 // Value parsed
}

// RunPlugin runs the mackerel-plugin-json command bin (built with GoBuild)
// over the example's /ops/stats with -prefix=prefix, as the sidecar does,
// and returns the lines it prints, sorted by name, and the document it
// read. The plugin fetches the document itself, so RunPlugin reads it
// before and after, and runs the plugin again if a window closed in
// between.
func (e *Example) RunPlugin(bin, prefix string) ([]PluginLine, []byte) {
	e.t.Helper()
	for attempt := 0; ; attempt++ {
		before := e.Stats()
		lines := runPlugin(e.t, bin, e.Base+statsPath, prefix)
		if doc := e.Stats(); bytes.Equal(before, doc) {
			return lines, doc
		}
		if attempt == 3 {
			e.t.Fatal("the document changed during every plugin run")
		}
	}
}

// runPlugin runs the plugin command bin over url in CleanEnv and parses
// what it prints; the test fails if it prints nothing or anything but
// name\tvalue\tepoch lines.
func runPlugin(t testing.TB, bin, url, prefix string) []PluginLine {
	t.Helper()
	cmd := exec.Command(bin, "-url="+url, "-prefix="+prefix)
	cmd.Env = append(CleanEnv(), "MACKEREL_PLUGIN_WORKDIR="+t.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", bin, err, stderr.String())
	}
	var lines []PluginLine
	for _, text := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		f := strings.Split(text, "\t")
		if len(f) != 3 {
			t.Fatalf("the plugin printed %q, not name\\tvalue\\tepoch", text)
		}
		n, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			t.Fatalf("the plugin printed %q: %v", text, err)
		}
		lines = append(lines, PluginLine{Name: f[0], Value: f[1], Number: n})
	}
	if len(lines) == 0 {
		t.Fatalf("the plugin printed nothing; stderr:\n%s", stderr.String())
	}
	slices.SortFunc(lines, func(a, b PluginLine) int { return strings.Compare(a.Name, b.Name) })
	return lines
}

// Truncated reports whether a value printed as printed lost more than 1 % of
// exact, the value it stands for: what mackerel-plugin-json's %f (six
// decimals) does to values under about 5e-5, printing those under 5e-7 as 0.
func Truncated(printed, exact float64) bool {
	if exact == 0 {
		return printed != 0
	}
	return math.Abs(printed-exact) > 0.01*math.Abs(exact)
}
