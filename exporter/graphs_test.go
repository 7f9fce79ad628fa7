package exporter

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// graphNameRule is Mackerel's rule for the full name of a graph definition.
var graphNameRule = regexp.MustCompile(`^custom(\.([-a-zA-Z0-9_]+|[*#]))+$`)

// segmentRule is what '*' and '#' match: one segment of a metric name.
var segmentRule = regexp.MustCompile(`^[-a-zA-Z0-9_]+$`)

// pluginMeta is what a plugin prints after "# mackerel-agent-plugin".
type pluginMeta struct {
	Graphs map[string]struct {
		Label   *string `json:"label"`
		Unit    *string `json:"unit"`
		Metrics []struct {
			Name    *string `json:"name"`
			Label   *string `json:"label"`
			Stacked *bool   `json:"stacked"`
		} `json:"metrics"`
	} `json:"graphs"`
}

// defMatches reports whether the metric full (custom.…) is the line metric
// of the graph def: def's segments, each matched by itself or by a
// wildcard, then metric, one segment.
func defMatches(def, metric, full string) bool {
	ds, fs := strings.Split(def, "."), strings.Split(full, ".")
	if len(fs) != len(ds)+1 {
		return false
	}
	for i, d := range append(ds, metric) {
		if d == "*" || d == "#" {
			if !segmentRule.MatchString(fs[i]) {
				return false
			}
		} else if d != fs[i] {
			return false
		}
	}
	return true
}

// checkGraphs checks graph definitions, as WriteGraphs prints them for
// -prefix=prefix, against Mackerel's documented rules and against the
// metrics the plugin prints of the document (flat, read with the same
// prefix): every name valid, at most one '#', every unit one Mackerel
// takes, every metric matched by exactly one definition, and the
// definitions exactly the groups Mackerel makes by prefix.
func checkGraphs(t testing.TB, prefix string, graphs []Graph, flat map[string]float64) {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteGraphs(&buf, prefix, graphs); err != nil {
		t.Fatal(err)
	}
	var meta pluginMeta
	dec := json.NewDecoder(&buf)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&meta); err != nil {
		t.Fatalf("plugin meta: %v", err)
	}
	if meta.Graphs == nil {
		t.Fatal(`no "graphs" object`)
	}
	if len(meta.Graphs) != len(graphs) {
		t.Errorf("%d graphs written, %d given: names collide", len(meta.Graphs), len(graphs))
	}
	defs := map[string][]string{} // full name → metric names
	for name, g := range meta.Graphs {
		full := "custom." + name
		if !graphNameRule.MatchString(full) {
			t.Errorf("graph %q: not a valid graph name", full)
		}
		if strings.Count(full, "#") > 1 {
			t.Errorf("graph %q: more than one #", full)
		}
		if g.Label == nil || g.Unit == nil || g.Metrics == nil {
			t.Errorf("graph %q: label, unit or metrics missing", full)
			continue
		}
		if !slices.Contains(MackerelUnits, *g.Unit) {
			t.Errorf("graph %q: unit %q is not one of Mackerel's %v", full, *g.Unit, MackerelUnits)
		}
		for _, m := range g.Metrics {
			if m.Name == nil || m.Label == nil || m.Stacked == nil {
				t.Errorf("graph %q: a metric without name, label or stacked", full)
				continue
			}
			if *m.Name != "*" && *m.Name != "#" && !segmentRule.MatchString(*m.Name) {
				t.Errorf("graph %q: metric name %q is not one segment or a wildcard", full, *m.Name)
			}
			defs[full] = append(defs[full], *m.Name)
		}
	}
	parents := map[string]bool{}
	for name := range flat {
		full := "custom." + name
		parents[full[:strings.LastIndexByte(full, '.')]] = true
		n := 0
		for def, metrics := range defs {
			for _, m := range metrics {
				if defMatches(def, m, full) {
					n++
				}
			}
		}
		if n != 1 {
			t.Errorf("metric %s matched by %d definitions, want 1", full, n)
		}
	}
	for def := range defs {
		if !parents[def] {
			t.Errorf("graph %s is not a group of the metrics printed", def)
		}
	}
	for p := range parents {
		if _, ok := defs[p]; !ok {
			t.Errorf("group %s has no graph definition", p)
		}
	}
	if !slices.IsSortedFunc(graphs, func(x, y Graph) int { return strings.Compare(x.Name, y.Name) }) {
		t.Errorf("graphs not sorted by name")
	}
}

// The graph definitions of every golden case follow Mackerel's rules and
// cover exactly what the plugin prints.
func TestGraphsOfEveryGoldenCase(t *testing.T) {
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			exp := tc.export(t)
			body, _ := exp.Document()
			for _, prefix := range []string{"app", "my-service.prod"} {
				flat, err := pluginFlatten(prefix, body)
				if err != nil {
					t.Fatal(err)
				}
				graphs, version := exp.Graphs()
				if version == 0 || graphs == nil {
					t.Fatalf("no graphs after an export: %v, version %d", graphs, version)
				}
				checkGraphs(t, prefix, graphs, flat)
			}
		})
	}
}

// errorsOf records what a check reports instead of failing the test.
type errorsOf struct {
	testing.TB
	errs []string
}

func (e *errorsOf) Helper() {}
func (e *errorsOf) Errorf(format string, args ...any) {
	e.errs = append(e.errs, fmt.Sprintf(format, args...))
}
func (e *errorsOf) Fatal(args ...any) { e.errs = append(e.errs, fmt.Sprint(args...)) }
func (e *errorsOf) Fatalf(format string, args ...any) {
	e.errs = append(e.errs, fmt.Sprintf(format, args...))
}

// checkGraphs catches each of the mistakes it looks for.
func TestCheckGraphsCatchesMistakes(t *testing.T) {
	star := []GraphMetric{{Name: "*", Label: "%1"}}
	flat := map[string]float64{"app.a.x": 1, "app.a.y": 2, "app.b.b": 3}
	good := []Graph{{Name: "a", Unit: UnitFloat, Metrics: star}, {Name: "b", Unit: UnitInteger, Metrics: star}}
	for _, tc := range []struct {
		what   string
		graphs []Graph
		want   string
	}{
		{"a group without a definition", good[:1], "has no graph definition"},
		{"a definition of no group", append(slices.Clone(good), Graph{Name: "c", Unit: UnitFloat, Metrics: star}), "not a group"},
		{"a bad unit", []Graph{good[0], {Name: "b", Unit: "count", Metrics: star}}, "not one of Mackerel's"},
		{"a bad name", append(slices.Clone(good), Graph{Name: "a b", Unit: UnitFloat, Metrics: star}), "not a valid graph name"},
		{"two #", append(slices.Clone(good), Graph{Name: "#.#", Unit: UnitFloat, Metrics: star}), "more than one #"},
		{"a metric matched twice", append(slices.Clone(good), Graph{Name: "*", Unit: UnitFloat, Metrics: star}), "matched by 2 definitions"},
		{"not sorted", []Graph{good[1], good[0]}, "not sorted"},
	} {
		e := &errorsOf{TB: t}
		checkGraphs(e, "app", tc.graphs, flat)
		if !slices.ContainsFunc(e.errs, func(s string) bool { return strings.Contains(s, tc.want) }) {
			t.Errorf("%s: not caught (%q): %v", tc.what, tc.want, e.errs)
		}
	}
	e := &errorsOf{TB: t}
	checkGraphs(e, "app", good, flat)
	if len(e.errs) > 0 {
		t.Errorf("good definitions refused: %v", e.errs)
	}
}

// Graph units and stacking follow the instrument and its rule.
func TestGraphUnitsAndStacking(t *testing.T) {
	exp, _ := New(WithRules(Rule{Match: "mem", Stacked: true}, Rule{Match: "lat", Stacked: true}), serveAll())
	rm := rmOf(scope("s",
		withUnit(gaugeI("mem", ptI(1, attrs("type", "stack")), ptI(2, attrs("type", "heap"))), "By", "Memory."),
		withUnit(histF("lat", metricdata.DeltaTemporality, histPt(attrs("r", "/a"), 1, 1, 1, []float64{1}, 1, 0)), "s", "Latency."),
		withUnit(histF("solo", metricdata.DeltaTemporality, histPt(attribute.NewSet(), 1, 1, 1, []float64{1}, 1, 0)), "s", "Latency."),
	))
	if err := exp.Export(context.Background(), rm); err != nil {
		t.Fatal(err)
	}
	graphs, _ := exp.Graphs()
	got := map[string]string{}
	for _, g := range graphs {
		s := g.Unit
		if g.Metrics[0].Stacked {
			s += " stacked"
		}
		got[g.Name+" "+g.Label] = s
	}
	want := map[string]string{
		"mem Memory":                 "bytes stacked",
		"lat.count Latency (count)":  "integer stacked",
		"lat.sum Latency (sum)":      "milliseconds stacked",
		"lat.avg Latency (avg)":      "milliseconds",
		"lat.min Latency (min)":      "milliseconds",
		"lat.max Latency (max)":      "milliseconds",
		"lat.p50 Latency (p50)":      "milliseconds",
		"lat.p90 Latency (p90)":      "milliseconds",
		"lat.p95 Latency (p95)":      "milliseconds",
		"lat.p99 Latency (p99)":      "milliseconds",
		"solo Latency":               "milliseconds",
		"solo.count Latency (count)": "integer",
		"solo.sum Latency (sum)":     "milliseconds",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("graphs %v, want %v", got, want)
	}
}

// The version changes when the set of graphs does, and only then: a new
// instrument, a new group, a group gone; not new values or new lines of a
// graph, which its wildcard covers.
func TestGraphsVersion(t *testing.T) {
	exp, _ := New(serveAll())
	if g, v := exp.Graphs(); g != nil || v != 0 {
		t.Fatalf("before the first export: %v, %d", g, v)
	}
	ctx := context.Background()
	version := func(rm *metricdata.ResourceMetrics) uint64 {
		t.Helper()
		if err := exp.Export(ctx, rm); err != nil {
			t.Fatal(err)
		}
		_, v := exp.Graphs()
		return v
	}
	g := func(v int64, keys ...string) metricdata.Metrics {
		var pts []metricdata.DataPoint[int64]
		for _, k := range keys {
			pts = append(pts, ptI(v, attrs("k", k)))
		}
		return gaugeI("g", pts...)
	}
	h := func(sum float64) metricdata.Metrics {
		return histF("h", metricdata.DeltaTemporality, histPt(attribute.NewSet(), sum, 1, 1, []float64{1}, 1, 0))
	}
	v1 := version(rmOf(scope("s", g(1, "a"))))
	if v1 == 0 {
		t.Fatal("version 0 after an export")
	}
	steps := []struct {
		what   string
		rm     *metricdata.ResourceMetrics
		change bool
	}{
		{"the same", rmOf(scope("s", g(1, "a"))), false},
		{"new values", rmOf(scope("s", g(7, "a"))), false},
		{"a new line of the graph", rmOf(scope("s", g(7, "a", "b"))), false},
		{"a new instrument", rmOf(scope("s", g(7, "a", "b"), h(1))), true},
		{"its values change", rmOf(scope("s", g(8, "a", "b"), h(2))), false},
		{"a stat goes (a NaN sum)", rmOf(scope("s", g(8, "a", "b"), h(math.NaN()))), true},
		{"and comes back", rmOf(scope("s", g(8, "a", "b"), h(2))), true},
		{"an instrument goes", rmOf(scope("s", h(2))), true},
		{"nothing changes", rmOf(scope("s", h(3))), false},
	}
	prev := v1
	for _, st := range steps {
		v := version(st.rm)
		if changed := v != prev; changed != st.change {
			t.Errorf("%s: version %d after %d, want a change: %v", st.what, v, prev, st.change)
		}
		prev = v
	}
}

// WriteGraphs names the graphs under the prefix, or as they are without
// one, and writes an empty set as an empty object.
func TestWriteGraphs(t *testing.T) {
	g := []Graph{{Name: "go.goroutine.count", Label: "Goroutines", Unit: UnitInteger, Metrics: []GraphMetric{{Name: "*", Label: "%1"}}}, {Name: "x", Unit: UnitFloat}}
	for _, tc := range []struct {
		prefix string
		graphs []Graph
		want   string
	}{
		{"app", g, `{"graphs":{"app.go.goroutine.count":{"label":"Goroutines","unit":"integer","metrics":[{"name":"*","label":"%1","stacked":false}]},"app.x":{"label":"","unit":"float","metrics":[]}}}` + "\n"},
		{"", g[:1], `{"graphs":{"go.goroutine.count":{"label":"Goroutines","unit":"integer","metrics":[{"name":"*","label":"%1","stacked":false}]}}}` + "\n"},
		{"app", nil, `{"graphs":{}}` + "\n"},
	} {
		var buf bytes.Buffer
		if err := WriteGraphs(&buf, tc.prefix, tc.graphs); err != nil {
			t.Fatal(err)
		}
		if buf.String() != tc.want {
			t.Errorf("WriteGraphs(%q) = %s, want %s", tc.prefix, buf.String(), tc.want)
		}
	}
}

// GraphsHandler serves the definitions as a plugin prints them, under the
// query's prefix or the default one; like Handler it answers GET and HEAD,
// 503 before the first export.
func TestGraphsHandler(t *testing.T) {
	exp, _ := New(serveAll())
	h := exp.GraphsHandler("app")
	if res := serveOnce(h, "GET", "/stats/graphs"); res.Code != 503 {
		t.Errorf("before the first export: %d, want 503", res.Code)
	}
	exportGauge(t, exp, "go.goroutine.count", 7)
	for _, tc := range []struct {
		method, target string
		code           int
		want           string // a part of the body
	}{
		{"GET", "/stats/graphs", 200, `{"graphs":{"app.go.goroutine.count":{"label":"go.goroutine.count","unit":"integer","metrics":[{"name":"*","label":"%1","stacked":false}]}}}`},
		{"GET", "/stats/graphs?prefix=my-svc.prod", 200, `"my-svc.prod.go.goroutine.count"`},
		{"GET", "/stats/graphs?prefix=a..b", 400, "400 bad prefix"},
		{"GET", "/stats/graphs?prefix=a%20b", 400, "400 bad prefix"},
		{"GET", "/stats/graphs?prefix=custom.x%0A", 400, "400 bad prefix"},
		// The agent adds custom. itself: custom.custom.… would name nothing.
		{"GET", "/stats/graphs?prefix=custom", 400, "400 bad prefix"},
		{"GET", "/stats/graphs?prefix=custom.app", 400, "400 bad prefix"},
		{"GET", "/stats/graphs?prefix=customer", 200, `"customer.go.goroutine.count"`},
		{"HEAD", "/stats/graphs", 200, ""},
		{"POST", "/stats/graphs", 405, "405"},
	} {
		res := serveOnce(h, tc.method, tc.target)
		if res.Code != tc.code || !strings.Contains(res.Body.String(), tc.want) {
			t.Errorf("%s %s: %d %q, want %d with %q", tc.method, tc.target, res.Code, res.Body, tc.code, tc.want)
		}
		hdr := res.Header()
		if hdr.Get("Cache-Control") != "no-store" || hdr.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s %s: headers %v", tc.method, tc.target, hdr)
		}
		if tc.code == 200 && hdr.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: Content-Type %q", tc.method, tc.target, hdr.Get("Content-Type"))
		}
		if tc.method == "HEAD" && res.Body.Len() != 0 {
			t.Errorf("HEAD answered a body")
		}
		if tc.code == 405 && hdr.Get("Allow") != "GET, HEAD" {
			t.Errorf("405 without Allow: %v", hdr)
		}
	}
}

func TestValidPrefix(t *testing.T) {
	for p, want := range map[string]bool{
		"app": true, "my-svc.prod": true, "a_b.c-d.0": true,
		"": false, ".app": false, "app.": false, "a..b": false, "a b": false, "a/b": false, "ユニ": false, "custom.*": false,
	} {
		if ValidPrefix(p) != want {
			t.Errorf("ValidPrefix(%q) = %v", p, !want)
		}
	}
}
