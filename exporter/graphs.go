package exporter

import (
	"bytes"
	"encoding/json"
	"hash/maphash"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Graph is one graph definition of the document: a group of sibling leaves,
// which Mackerel draws as one graph, with its unit and labels taken from the
// instrument's. Name is the group's path relative to the plugin's prefix
// (go.goroutine.count); a Metric's Name is "*", which covers every line of
// the group, whatever attribute values come and go.
type Graph struct {
	Name    string        `json:"-"`
	Label   string        `json:"label"`
	Unit    string        `json:"unit"`
	Metrics []GraphMetric `json:"metrics"`
}

// GraphMetric is a line, or with Name "*" every line, of a Graph. "%1" in
// a Label stands for what "*" matched.
type GraphMetric struct {
	Name    string `json:"name"`
	Label   string `json:"label"`
	Stacked bool   `json:"stacked"`
}

// graphSet is a published set of graph definitions.
type graphSet struct {
	graphs  []Graph
	version uint64
}

// Graphs returns the graph definitions of the current document, one per
// group of sibling leaves, sorted by name, and a version that changes
// whenever the set does (a new instrument, stat or line-less group), so a
// caller posting them to Mackerel can post again only then. The slice is
// shared and must not be modified. Both are zero before the first export.
func (e *Exporter) Graphs() ([]Graph, uint64) {
	g := e.graphs.Load()
	if g == nil {
		return nil, 0
	}
	return g.graphs, g.version
}

// WriteGraphs writes graphs as a mackerel-agent plugin prints its meta after
// "# mackerel-agent-plugin": {"graphs":{"<prefix>.<name>":{…}}}, names
// sorted. An empty prefix leaves the names as they are.
func WriteGraphs(w io.Writer, prefix string, graphs []Graph) error {
	out := make(map[string]Graph, len(graphs))
	for _, g := range graphs {
		name := g.Name
		if prefix != "" {
			name = prefix + "." + name
		}
		if g.Metrics == nil {
			g.Metrics = []GraphMetric{}
		}
		out[name] = g
	}
	return json.NewEncoder(w).Encode(struct {
		Graphs map[string]Graph `json:"graphs"`
	}{out})
}

// graphFingerprint hashes what the graph definitions of the rendered leaves
// depend on: each group's path, kind, unit, description and stacking, from
// the first leaf of each run of leaves in one object (b.groups, which render
// records). The leaves of a group are mostly adjacent in path order, so a
// group is hashed about once; one hashed twice still hashes alike for the
// same leaves.
func (b *builder) graphFingerprint() uint64 {
	var h maphash.Hash
	h.SetSeed(b.seed)
	for _, i := range b.groups {
		l := &b.leaves[i]
		parent := parentPath(b.arena[l.off:l.end])
		mc := b.srcs[l.series].m
		h.Write(parent)
		h.WriteByte(byte(l.group))
		h.WriteString(mc.unit.mackerel)
		h.WriteString(mc.desc)
		if mc.rule.Stacked {
			h.WriteByte(1)
		}
		h.WriteByte(sep)
	}
	return h.Sum64()
}

// parentPath is the path of the group a leaf is a line of.
func parentPath(key []byte) []byte {
	i := bytes.LastIndexByte(key, sep)
	if i < 0 {
		return nil
	}
	return key[:i]
}

// graphDefs builds the graph definitions of the laid-out leaves.
func (b *builder) graphDefs() []Graph {
	index := make(map[string]int)
	var graphs []Graph
	for i := range b.leaves {
		l := &b.leaves[i]
		parent := parentPath(b.arena[l.off:l.end])
		if len(parent) == 0 {
			continue
		}
		if _, ok := index[string(parent)]; ok {
			continue
		}
		name := strings.ReplaceAll(string(parent), string(rune(sep)), ".")
		index[string(parent)] = len(graphs)
		graphs = append(graphs, graphDef(b.srcs[l.series].m, l.group, name))
	}
	slices.SortFunc(graphs, func(x, y Graph) int { return strings.Compare(x.Name, y.Name) })
	return graphs
}

// graphDef is the definition of the group name of instrument mc.
func graphDef(mc *metricCache, group groupKind, name string) Graph {
	label := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(mc.desc), "."))
	if label == "" {
		label = strings.ToValidUTF8(strings.TrimSpace(mc.key.name), "\uFFFD")
	}
	if label == "" {
		label = strings.ReplaceAll(string(mc.name[:len(mc.name)-1]), string(rune(sep)), ".")
	}
	unit := mc.unit.mackerel
	stacked := mc.rule.Stacked
	switch group {
	case groupCount:
		label += " (count)"
		unit = UnitInteger
	case groupSum:
		label += " (sum)"
	case groupStat:
		label += " (" + name[strings.LastIndexByte(name, '.')+1:] + ")"
		stacked = false
	case groupDist:
		stacked = false
	}
	return Graph{Name: name, Label: label, Unit: unit, Metrics: []GraphMetric{{Name: "*", Label: "%1", Stacked: stacked}}}
}

// GraphsHandler returns an http.Handler serving the graph definitions of the
// current document (see Graphs and WriteGraphs) as JSON, named under the
// prefix of the query's "prefix" parameter, or under defaultPrefix without
// one: the prefix must be the one mackerel-plugin-json runs with
// (-prefix), since Mackerel names the metrics custom.<prefix>.…. It answers
// like Handler: GET and HEAD, 503 before the first export, 400 for a prefix
// that is not a metric name or starts with custom (the agent adds custom.
// itself), 405 otherwise; an empty prefix gives the bare group names. With
// "Cache-Control: no-store"
// and "X-Content-Type-Options: nosniff". It renders per request: it is for
// people and set-up scripts, not for every scrape.
func (e *Exporter) GraphsHandler(defaultPrefix string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != "" {
			w.Header()["Allow"] = hdrAllowGet
			writeError(w, r, http.StatusMethodNotAllowed, bodyNotAllowed)
			return
		}
		graphs, version := e.Graphs()
		if version == 0 {
			writeError(w, r, http.StatusServiceUnavailable, bodyNoDocument)
			return
		}
		prefix := defaultPrefix
		if p, ok := r.URL.Query()["prefix"]; ok && len(p) > 0 {
			prefix = p[0]
		}
		if prefix != "" && (!ValidPrefix(prefix) || prefix == "custom" || strings.HasPrefix(prefix, "custom.")) {
			writeError(w, r, http.StatusBadRequest, bodyBadPrefix)
			return
		}
		var buf bytes.Buffer
		if err := WriteGraphs(&buf, prefix, graphs); err != nil {
			writeError(w, r, http.StatusInternalServerError, bodyGraphsFailed)
			return
		}
		write(w, r, http.StatusOK, hdrJSON, buf.Bytes(), []string{strconv.Itoa(buf.Len())})
	})
}

var (
	bodyBadPrefix    = newFixedBody("400 bad prefix: want metric-name segments [-a-zA-Z0-9_]+ joined by dots, as mackerel-plugin-json's -prefix, not starting with custom (the agent adds custom. itself)\n")
	bodyGraphsFailed = newFixedBody("500 graph definitions could not be written\n")
)

// ValidPrefix reports whether p can stand before a Mackerel metric name:
// one or more segments of [-a-zA-Z0-9_]+ joined by dots.
func ValidPrefix(p string) bool {
	if p == "" {
		return false
	}
	for _, seg := range strings.Split(p, ".") {
		if seg == "" {
			return false
		}
		for i := 0; i < len(seg); i++ {
			if !validByte(seg[i]) {
				return false
			}
		}
	}
	return true
}
