package exporter

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.opentelemetry.io/otel/attribute"
)

// Rule chooses what /stats serves of the instruments whose names it matches.
// Rules are tried in order and the first that matches an instrument decides
// for it; the rules given with WithRules come before DefaultRules. The
// selection is the exporter's alone: other readers of the same
// MeterProvider, such as OTLP forwarding, keep every series and stat.
//
// The zero Rule with a Match serves the instrument whole: every series,
// every stat.
type Rule struct {
	// Match is an instrument name, or a pattern in which * stands for any
	// run of characters ("http.server.*", "*").
	Match string
	// Off leaves the instruments out of /stats.
	Off bool
	// Stats are the histogram and summary stats served, from count, sum,
	// avg, min, max, p50, p90, p95 and p99. Empty serves all of them.
	Stats []string
	// Keys are the attribute keys kept, each "key" or "key=v1|v2"; with
	// values, only the series whose attribute has one of them are served
	// (compared as the attribute's string form). Series that differ only in
	// keys not kept are merged into one line: sums and gauges add up,
	// histograms combine their buckets, summaries keep count and sum. Empty
	// keeps every key, unless Merge is set.
	Keys []string
	// Merge keeps no attribute: every series of the instrument is merged
	// into one line. Keys must be empty.
	Merge bool
	// Stacked draws the instrument's lines stacked in its graph definition,
	// for parts of a whole (memory by type, CPU time by state).
	Stacked bool
}

// String gives the rule in the syntax of ParseRules (without Stacked, which
// that syntax does not carry).
func (r Rule) String() string {
	var b strings.Builder
	if r.Off {
		b.WriteByte('-')
	}
	b.WriteString(r.Match)
	if len(r.Stats) > 0 {
		b.WriteByte(':')
		b.WriteString(strings.Join(r.Stats, ","))
	}
	if r.Merge || len(r.Keys) > 0 {
		b.WriteByte('@')
		b.WriteString(strings.Join(r.Keys, ","))
	}
	return b.String()
}

// DefaultRules is the selection /stats applies after the rules of
// WithRules: about twenty numbers that answer every vital of the seed
// library (see the README's table), komachi's own count of metrics and of
// values dropped, and the HTTP server's request count and p99 latency. The
// container's CPU, memory and network are left to mackerel-container-agent,
// which posts them anyway. Every other instrument of the runtime, host,
// HTTP and komachi scopes is off; an app's own instruments are served with
// all their attributes and, for histograms, count and p99.
//
// It returns a new slice each time.
func DefaultRules() []Rule {
	return []Rule{
		{Match: "go.goroutine.count"},
		{Match: "go.schedule.duration", Stats: []string{"p99"}},
		// The process's CPU time, user and system together: runtime/metrics
		// refreshes go.cpu.time only at the end of a GC cycle, so a window
		// without one would read 0.
		{Match: "process.cpu.time", Merge: true},
		{Match: "process.context_switches", Merge: true},
		{Match: "go.memory.gc.cycles"},
		{Match: "go.memory.allocated"},
		{Match: "go.memory.gc.pause.duration", Stats: []string{"p99"}},
		{Match: "go.memory.used", Stacked: true},
		{Match: "go.memory.gc.goal"},
		{Match: "komachi.go.memory.used", Keys: []string{"go.memory.detailed_type=heap/objects"}},
		{Match: "process.unix.file_descriptor.count"},
		{Match: "process.thread.count"},
		{Match: "komachi.exporter.metrics"},
		{Match: "komachi.exporter.dropped", Merge: true},
		{Match: "komachi.otlp.failures"}, // only there when forwarding is on
		{Match: "http.server.request.duration", Stats: []string{"count", "p99"}, Merge: true},
		{Match: "http.client.request.duration", Stats: []string{"count", "p99"}, Merge: true},
		{Match: "go.*", Off: true},
		{Match: "process.*", Off: true},
		{Match: "system.*", Off: true},
		{Match: "komachi.*", Off: true},
		{Match: "http.*", Off: true},
		{Match: "*", Stats: []string{"count", "p99"}},
	}
}

// AllRules serves everything, whole: every instrument, series and stat, as
// /stats did before it had a selection. Pass it to WithRules to see what
// there is to choose from (and what it would cost).
func AllRules() []Rule { return []Rule{{Match: "*"}} }

// ParseRules reads rules from their text form, the syntax of the
// KOMACHI_STATS_SELECT environment variable: rules separated by ';', each
//
//	[-]match[:stat,stat…][@key,key=v1|v2…]
//
// where a leading '-' turns the instruments off, ':' lists the stats served
// and '@' the attribute keys kept; '@' with nothing after it merges every
// series into one line. White space around a rule is ignored. For example
//
//	http.server.request.duration:count,p99@http.route=/users|/orders;-app.debug.*
//
// serves the request count and p99 latency of two routes and turns off the
// app.debug instruments. Everything after '@' belongs to the keys, so values
// may hold ':' and '/', but not ',', '|' or ';'.
func ParseRules(s string) ([]Rule, error) {
	var rules []Rule
	for i, text := range strings.Split(s, ";") {
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		r, err := parseRule(text)
		if err != nil {
			return nil, fmt.Errorf("rule %d: %w", i+1, err)
		}
		rules = append(rules, r)
	}
	return rules, nil
}

func parseRule(text string) (Rule, error) {
	var r Rule
	if rest, ok := strings.CutPrefix(text, "-"); ok {
		r.Off, text = true, rest
	}
	text, keys, hasKeys := strings.Cut(text, "@")
	text, stats, hasStats := strings.Cut(text, ":")
	r.Match = strings.TrimSpace(text)
	if hasStats {
		for _, st := range strings.Split(stats, ",") {
			r.Stats = append(r.Stats, strings.TrimSpace(st))
		}
	}
	if hasKeys {
		if strings.TrimSpace(keys) == "" {
			r.Merge = true
		} else {
			for _, k := range strings.Split(keys, ",") {
				r.Keys = append(r.Keys, strings.TrimSpace(k))
			}
		}
	}
	if _, err := compileRule(r); err != nil {
		return Rule{}, err
	}
	return r, nil
}

// statNames are the stats a Rule may name, in the order of histStatNames.
var statNames = histStatNames[:]

// statMask is a set of histogram stats, one bit per index of histStatNames.
type statMask uint16

const allStats statMask = 1<<numHistStats - 1

func (m statMask) has(k int) bool { return m&(1<<k) != 0 }

// hasName reports whether the mask holds the stat named name; a summary's
// other quantiles (p99_9) are served only when every stat is.
func (m statMask) hasName(name string) bool {
	if i := slices.Index(statNames, name); i >= 0 {
		return m.has(i)
	}
	return m == allStats
}

// keyFilter keeps one attribute key, and with values only the series whose
// value is among them.
type keyFilter struct {
	key    attribute.Key
	values []string // nil: any value
}

// compiledRule is a Rule ready to match and apply.
type compiledRule struct {
	Rule
	parts   []string // Match split at '*'; one part means no wildcard
	stats   statMask
	keys    []keyFilter // nil: every key kept (unless merge)
	filters bool        // some key has values
}

func compileRule(r Rule) (*compiledRule, error) {
	if r.Match == "" {
		return nil, errors.New("empty instrument name or pattern")
	}
	if strings.ContainsAny(r.Match, ":@;, \t\n|=") {
		return nil, fmt.Errorf("%q: an instrument pattern holds no white space nor any of : @ ; , | =", r.Match)
	}
	c := &compiledRule{Rule: r, parts: strings.Split(r.Match, "*"), stats: allStats}
	if len(r.Stats) > 0 {
		c.stats = 0
		for _, st := range r.Stats {
			i := slices.Index(statNames, st)
			if i < 0 {
				return nil, fmt.Errorf("%s: unknown stat %q (want one of %s)", r.Match, st, strings.Join(statNames, " "))
			}
			c.stats |= 1 << i
		}
	}
	if r.Merge && len(r.Keys) > 0 {
		return nil, fmt.Errorf("%s: Merge keeps no key, but Keys lists %d", r.Match, len(r.Keys))
	}
	if r.Merge {
		c.keys = []keyFilter{}
	}
	for _, k := range r.Keys {
		key, values, hasValues := strings.Cut(k, "=")
		key = strings.TrimSpace(key)
		switch {
		case key == "":
			return nil, fmt.Errorf("%s: empty attribute key", r.Match)
		case strings.ContainsAny(key, "@:;|, \t\n"):
			return nil, fmt.Errorf("%s: attribute key %q holds white space or one of @ : ; | ,", r.Match, key)
		case slices.ContainsFunc(c.keys, func(f keyFilter) bool { return f.key == attribute.Key(key) }):
			return nil, fmt.Errorf("%s: attribute key %q given twice", r.Match, key)
		}
		f := keyFilter{key: attribute.Key(key)}
		if hasValues {
			f.values = strings.Split(values, "|")
			if slices.Contains(f.values, "") {
				return nil, fmt.Errorf("%s: attribute key %q: an empty value in its list", r.Match, key)
			}
			c.filters = true
		}
		c.keys = append(c.keys, f)
	}
	return c, nil
}

// matches reports whether name matches the rule's pattern: the parts in
// order, the first at the start and the last at the end.
func (c *compiledRule) matches(name string) bool {
	if len(c.parts) == 1 {
		return name == c.parts[0]
	}
	first, last := c.parts[0], c.parts[len(c.parts)-1]
	if len(name) < len(first)+len(last) || !strings.HasPrefix(name, first) || !strings.HasSuffix(name, last) {
		return false
	}
	rest := name[len(first) : len(name)-len(last)]
	for _, p := range c.parts[1 : len(c.parts)-1] {
		i := strings.Index(rest, p)
		if i < 0 {
			return false
		}
		rest = rest[i+len(p):]
	}
	return true
}

// merges reports whether the rule drops any attribute, so that series are
// merged into lines.
func (c *compiledRule) merges() bool { return c.keys != nil }

// overflowKey is the attribute the SDK puts on the one series into which it
// folds the measurements over an instrument's cardinality limit.
const overflowKey = attribute.Key("otel.metric.overflow")

// overflowSegment is that series' line: a self-explaining name rather than
// the attribute's value, "true".
const overflowSegment = "otel_metric_overflow"

// isOverflow reports whether set is the SDK's overflow series.
func isOverflow(set *attribute.Set) bool {
	v, ok := set.Value(overflowKey)
	return ok && v.Type() == attribute.BOOL && v.AsBool()
}

// keep returns the attributes of set that the rule keeps, and false when a
// value filter excludes the series. The SDK's overflow series passes every
// filter and keeps its marker, so that it stays a line of its own (it holds
// measurements of many series, some of which the filter would keep), unless
// the rule merges everything, where it belongs in the total.
func (c *compiledRule) keep(set *attribute.Set) (attribute.Set, bool) {
	overflow := isOverflow(set)
	if overflow && len(c.keys) > 0 {
		return attribute.NewSet(attribute.Bool(string(overflowKey), true)), true
	}
	if !overflow && c.filters {
		for _, f := range c.keys {
			if f.values == nil {
				continue
			}
			v, ok := set.Value(f.key)
			if !ok || !slices.Contains(f.values, v.String()) {
				return attribute.Set{}, false
			}
		}
	}
	kept, _ := set.Filter(func(kv attribute.KeyValue) bool {
		return slices.ContainsFunc(c.keys, func(f keyFilter) bool { return f.key == kv.Key })
	})
	return kept, true
}

// selection is the compiled rules, the user's first.
type selection []*compiledRule

func newSelection(user []Rule) (selection, error) {
	var s selection
	for i, r := range append(slices.Clip(user), DefaultRules()...) {
		c, err := compileRule(r)
		if err != nil {
			return nil, fmt.Errorf("rule %d: %w", i+1, err)
		}
		s = append(s, c)
	}
	return s, nil
}

// lookup returns the first rule that matches name; the last default rule
// matches every name.
func (s selection) lookup(name string) *compiledRule {
	for _, c := range s {
		if c.matches(name) {
			return c
		}
	}
	return nil
}
