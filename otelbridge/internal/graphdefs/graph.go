package graphdefs

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/mackerelio/mackerel-client-go"

	"github.com/komachi-go/komachi/exporter"
)

// Graph is one graph definition in the relative form a mackerel-agent
// plugin prints after "# mackerel-agent-plugin": Name is "<prefix>.<group>"
// without "custom.", e.g. "myapp.go.goroutine.count"; it may hold the
// wildcards * and # (one element each, at most one #).
type Graph struct {
	Name    string
	Label   string
	Unit    string // one of [Units]; empty means float
	Metrics []Metric
}

// Metric is one line of a [Graph]: Name is one element or a wildcard, and
// the metric's full name is custom.<graph name>.<Name>.
type Metric struct {
	Name    string
	Label   string
	Stacked bool
}

// units are the units Mackerel accepts in a graph definition; one other
// unit fails the whole request.
var units = slices.Clone(exporter.MackerelUnits)

// Units returns the units Mackerel accepts in a graph definition, in the
// order of its documentation.
func Units() []string { return slices.Clone(units) }

// ErrInvalidGraph reports a graph definition Mackerel would refuse, or one
// outside the configured prefix.
var ErrInvalidGraph = errors.New("invalid graph definition")

// element is one element of a definition's name: a metric-name segment or a
// wildcard.
var element = regexp.MustCompile(`^([-a-zA-Z0-9_]+|[*#])$`)

// Validate checks graphs against Mackerel's rules for a definition, for
// names under prefix: every name is <prefix>.<one or more elements>, every
// element a segment of [-a-zA-Z0-9_] or a wildcard * or #, at most one # in a
// full metric name, a unit of [Units], at least one metric, and no name twice.
// The error joins one [ErrInvalidGraph] per graph at fault, each naming it.
func Validate(prefix string, graphs []Graph) error {
	_, err := params(prefix, graphs)
	return err
}

func validateGraph(prefix string, g Graph) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w %q: %s", ErrInvalidGraph, g.Name, fmt.Sprintf(format, args...))
	}
	rest, ok := strings.CutPrefix(g.Name, prefix+".")
	if !ok || rest == "" {
		return bad("name must be %s.<group>, the prefix mackerel-plugin-json is given", prefix)
	}
	for i, e := range strings.Split(rest, ".") {
		if !element.MatchString(e) {
			return bad("element %d after the prefix is not [-a-zA-Z0-9_]+, * or #", i+1)
		}
	}
	if g.Unit != "" && !slices.Contains(units, g.Unit) {
		return bad("unit %q is not one of %s", g.Unit, strings.Join(units, ", "))
	}
	if len(g.Metrics) == 0 {
		return bad("no metrics")
	}
	hashes := strings.Count(rest, "#")
	metrics := make(map[string]bool, len(g.Metrics))
	for _, m := range g.Metrics {
		if !element.MatchString(m.Name) {
			return bad("metric %q is not one element [-a-zA-Z0-9_]+, * or #", m.Name)
		}
		if hashes+strings.Count(m.Name, "#") > 1 {
			return bad("metric %q: more than one # in the full name", m.Name)
		}
		if metrics[m.Name] {
			return bad("metric %q listed twice", m.Name)
		}
		metrics[m.Name] = true
	}
	return nil
}

// params converts valid graphs into the request body, sorted by name, with
// custom. prepended as the agent does for a plugin's meta output. Invalid
// graphs are left out and reported in err; the rest are still returned.
func params(prefix string, graphs []Graph) (out []*mackerel.GraphDefsParam, err error) {
	var errs []error
	seen := make(map[string]bool, len(graphs))
	for _, g := range graphs {
		if e := validateGraph(prefix, g); e != nil {
			errs = append(errs, e)
			continue
		}
		if seen[g.Name] {
			errs = append(errs, fmt.Errorf("%w %q: defined twice", ErrInvalidGraph, g.Name))
			continue
		}
		seen[g.Name] = true
		name := "custom." + g.Name
		unit := g.Unit
		if unit == "" {
			unit = "float"
		}
		p := &mackerel.GraphDefsParam{Name: name, DisplayName: g.Label, Unit: unit}
		for _, m := range g.Metrics {
			p.Metrics = append(p.Metrics, &mackerel.GraphDefsMetric{
				Name:        name + "." + m.Name,
				DisplayName: m.Label,
				IsStacked:   m.Stacked,
			})
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *mackerel.GraphDefsParam) int { return strings.Compare(a.Name, b.Name) })
	return out, errors.Join(errs...)
}
