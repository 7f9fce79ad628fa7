package graphdefs

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestValidateAcceptsMackerelShapes(t *testing.T) {
	graphs := append(sampleGraphs(testPrefix),
		Graph{Name: testPrefix + ".a.*.b", Unit: "bytes/sec", Metrics: []Metric{{Name: "rx"}, {Name: "tx"}}},
		Graph{Name: testPrefix + ".x", Metrics: []Metric{{Name: "#"}}},
		Graph{Name: testPrefix + ".p", Unit: "percentage", Metrics: []Metric{{Name: "used-ratio_1"}}},
	)
	if err := Validate(testPrefix, graphs); err != nil {
		t.Error(err)
	}
	for _, u := range Units() {
		if err := Validate(testPrefix, []Graph{{Name: testPrefix + ".u", Unit: u, Metrics: []Metric{{Name: "v"}}}}); err != nil {
			t.Errorf("unit %s: %v", u, err)
		}
	}
}

func TestValidateRefuses(t *testing.T) {
	ok := []Metric{{Name: "v"}}
	f := func(g Graph, want string) {
		t.Helper()
		err := Validate(testPrefix, []Graph{g})
		if !errors.Is(err, ErrInvalidGraph) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), `"`+g.Name+`"`) {
			t.Errorf("%+v: %v, want ErrInvalidGraph naming the graph and %q", g, err, want)
		}
	}
	f(Graph{Name: "other.go", Metrics: ok}, "myapp.<group>")
	f(Graph{Name: "custom.myapp.go", Metrics: ok}, "myapp.<group>")
	f(Graph{Name: testPrefix, Metrics: ok}, "myapp.<group>")
	f(Graph{Name: testPrefix + ".", Metrics: ok}, "myapp.<group>")
	f(Graph{Name: testPrefix + "x.go", Metrics: ok}, "myapp.<group>")
	f(Graph{Name: testPrefix + ".go..x", Metrics: ok}, "element 2")
	f(Graph{Name: testPrefix + ".go.a b", Metrics: ok}, "element 2")
	f(Graph{Name: testPrefix + ".go.a*", Metrics: ok}, "element 2")
	f(Graph{Name: testPrefix + ".go", Unit: "cycles", Metrics: ok}, `unit "cycles"`)
	f(Graph{Name: testPrefix + ".go", Unit: "Bytes", Metrics: ok}, `unit "Bytes"`)
	f(Graph{Name: testPrefix + ".go"}, "no metrics")
	f(Graph{Name: testPrefix + ".go", Metrics: []Metric{{Name: "a.b"}}}, `metric "a.b"`)
	f(Graph{Name: testPrefix + ".go", Metrics: []Metric{{Name: ""}}}, `metric ""`)
	f(Graph{Name: testPrefix + ".#.#", Metrics: ok}, "more than one #")
	f(Graph{Name: testPrefix + ".#", Metrics: []Metric{{Name: "#"}}}, "more than one #")
	f(Graph{Name: testPrefix + ".go", Metrics: []Metric{{Name: "v"}, {Name: "v"}}}, "listed twice")

	g := Graph{Name: testPrefix + ".go", Metrics: ok}
	if err := Validate(testPrefix, []Graph{g, g}); !errors.Is(err, ErrInvalidGraph) || !strings.Contains(err.Error(), "defined twice") {
		t.Errorf("a name twice: %v", err)
	}
}

// The body is what the agent would make of a plugin's meta output: custom.
// before the graph name, full metric names, in name order, and an explicit
// unit; invalid graphs are left out and the rest kept.
func TestParams(t *testing.T) {
	graphs := []Graph{
		{Name: testPrefix + ".z", Label: "Z", Metrics: []Metric{{Name: "v", Label: "value", Stacked: true}}},
		{Name: testPrefix + ".bad", Unit: "cycles", Metrics: []Metric{{Name: "v"}}},
		{Name: testPrefix + ".a.#", Unit: "seconds", Metrics: []Metric{{Name: "p50"}, {Name: "*"}}},
	}
	defs, err := params(testPrefix, graphs)
	if !errors.Is(err, ErrInvalidGraph) || !strings.Contains(err.Error(), "myapp.bad") {
		t.Errorf("err %v, want the bad graph named", err)
	}
	var got []string
	for _, d := range defs {
		got = append(got, d.Name+" "+d.DisplayName+" "+d.Unit)
		for _, m := range d.Metrics {
			got = append(got, "  "+m.Name+" "+m.DisplayName+" "+map[bool]string{true: "stacked", false: "line"}[m.IsStacked])
		}
	}
	want := []string{
		"custom.myapp.a.#  seconds",
		"  custom.myapp.a.#.p50  line",
		"  custom.myapp.a.#.*  line",
		"custom.myapp.z Z float",
		"  custom.myapp.z.v value stacked",
	}
	if !slices.Equal(got, want) {
		t.Errorf("params:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, d := range defs {
		if p := checkDef(graphDef{Name: d.Name, Unit: d.Unit, Metrics: nil}, testPrefix); p != "no metrics" {
			t.Errorf("%s: the test's own check says %q", d.Name, p)
		}
	}
}

func TestUnitsIsACopy(t *testing.T) {
	u := Units()
	u[0] = "cycles"
	if Units()[0] != "float" || !slices.Equal(Units(), mackerelUnits) {
		t.Errorf("Units() = %v, want Mackerel's list", Units())
	}
}
