package exporter

import (
	"bytes"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// metricKey names an instrument across exports. Instruments that differ only
// in kind, unit or description (duplicates the SDK warns about) share a key,
// and so share the state of their series.
type metricKey struct {
	scopeName, scopeVersion, name string
}

// metricCache is what the builder keeps of one instrument between exports, so
// that an export in the steady state neither sanitizes a name nor reads an
// attribute set again: reading a set's attributes goes through reflection
// (attribute.Set keeps its array in an interface), which would cost on every
// point of every export.
type metricCache struct {
	key  metricKey
	name []byte // the name's segments, each followed by sep
	last []byte // the name's last segment: the line of a series without attributes

	rule *compiledRule // what /stats serves of it
	unit unit          // how its values are served
	desc string        // its description, for graph definitions
	own  bool          // komachi's own: never cut by the series bound

	// lines holds the lines series are merged into, when the rule drops
	// attributes, by the hash of the attributes kept (chained like series).
	lines     map[attribute.Distinct]*seriesCache
	touched   []*seriesCache // the lines with a contribution in this export
	cap       int            // leaves it may serve in this export; -1: no bound
	leafCount int            // leaves its points make in this export

	// series holds the instrument's series by the hash the SDK itself keys
	// them by; sets whose hashes collide are chained through next.
	series map[attribute.Distinct]*seriesCache
	count  int // series held, chains included
	states int // series with a state

	// Bookkeeping of the export in progress (valid when gen is current):
	// which series it saw, so that the sweep can skip an instrument whose
	// series were all seen, and its points, in input order until emit sorts
	// them.
	gen        uint64
	seen       int
	statesSeen int
	pts        []point
}

// seriesCache is one series of an instrument: its attribute set (immutable,
// shared with the SDK), the attribute segment computed from it once, and
// the window state if the series needs one.
//
// When the instrument's rule drops attributes, a series contributes to a
// line: a seriesCache of its own, not in metricCache.series, whose attrs are
// the attributes kept, and which holds the sum of its members' windows.
// Otherwise a series is its own line.
type seriesCache struct {
	m     *metricCache
	attrs attribute.Set
	seg   []byte // the attribute segment; empty without attributes
	next  *seriesCache
	gen   uint64 // the last export whose input held the series
	state *seriesState

	line     *seriesCache // where its values go; nil when the rule excludes it
	overflow bool         // the SDK's overflow series
	members  int          // of a line: the series that contribute to it
	acc      *lineAcc     // of a merged line: this export's sum
}

// stateKind says what a seriesState remembers.
type stateKind uint8

const (
	stateSum stateKind = iota
	stateHistogram
	stateExpHistogram
	stateSummary
)

// seriesState is what the exporter remembers of one series between exports:
// the previous cumulative value, to serve the increase over the window, or
// that a delta series exists, to serve 0 for a window in which it got nothing
// (a line at zero in Mackerel, not a gap).
type seriesState struct {
	kind     stateKind
	gen      uint64 // the last export that saw the series
	fresh    bool   // not yet seen by any export
	zeroFill bool   // a delta series: serve zeros while it is absent
	start    int64  // StartTime of the previous point, to notice resets
	ival     int64
	fval     float64 // previous float value, or histogram/summary sum
	count    uint64

	bounds  []float64 // explicit histogram
	buckets []uint64

	scale          int32 // exponential histogram
	zero           uint64
	zt             float64
	posOff, negOff int32
	pos, neg       []uint64
}

// metricFor returns the cache of an instrument, creating it on first sight,
// and enrolls it in the export in progress.
// On first sight it also settles what /stats serves of the instrument (its
// rule) and how (its unit), once: a rule is a matter of its name.
func (b *builder) metricFor(sm *metricdata.ScopeMetrics, m *metricdata.Metrics) *metricCache {
	k := metricKey{scopeName: sm.Scope.Name, scopeVersion: sm.Scope.Version, name: m.Name}
	mc := b.metrics[k]
	if mc == nil {
		name := appendName(nil, m.Name)
		last := name[:len(name)-1]
		if i := bytes.LastIndexByte(last, sep); i >= 0 {
			last = last[i+1:]
		}
		mc = &metricCache{
			key: k, name: name, last: last,
			rule: b.sel.lookup(m.Name), unit: mackerelUnit(m.Unit, isIntegerData(m.Data)), desc: m.Description,
			own:    strings.HasPrefix(k.scopeName, ownScopePrefix),
			series: make(map[attribute.Distinct]*seriesCache),
		}
		b.metrics[k] = mc
	}
	b.activate(mc)
	return mc
}

// ownScopePrefix begins the instrumentation scope of komachi's own metrics.
const ownScopePrefix = "github.com/komachi-go/komachi/"

// isIntegerData reports whether an instrument's values are integers: its
// served values are, unless a unit scales them.
func isIntegerData(d metricdata.Aggregation) bool {
	switch d.(type) {
	case metricdata.Gauge[int64], metricdata.Sum[int64]:
		return true
	}
	return false
}

// activate enrolls mc in the export in progress, once.
func (b *builder) activate(mc *metricCache) {
	if mc.gen == b.gen {
		return
	}
	mc.gen = b.gen
	mc.seen, mc.statesSeen = 0, 0
	mc.pts = mc.pts[:0]
	clear(mc.touched)
	mc.touched = mc.touched[:0]
	b.active = append(b.active, mc)
}

// seriesFor returns the cache of the series of mc with attributes set,
// creating it on first sight, and marks it seen by this export. Equal
// hashes are confirmed with Equals, so two sets whose hashes collide stay two
// series, as they were when series were told apart by their raw attributes.
func (b *builder) seriesFor(mc *metricCache, set attribute.Set) *seriesCache {
	d := set.Equivalent()
	head := mc.series[d]
	s := head
	for s != nil && !s.attrs.Equals(&set) {
		s = s.next
	}
	if s == nil {
		s = &seriesCache{m: mc, attrs: set, next: head, overflow: isOverflow(&set)}
		if !mc.rule.merges() {
			s.line, s.seg = s, lineSegment(&set, s.overflow)
		} else if kept, ok := mc.rule.keep(&set); ok {
			s.line = b.lineFor(mc, kept)
			s.line.members++
		}
		mc.series[d] = s
		mc.count++
	}
	if s.gen != b.gen {
		s.gen = b.gen
		mc.seen++
		if s.overflow {
			b.res.dropped[dropOverflow]++
		}
	}
	return s
}

// lineSegment is the attribute segment of a line: the values of set, or a
// name that says what the SDK's overflow series is.
func lineSegment(set *attribute.Set, overflow bool) []byte {
	if overflow {
		return []byte(overflowSegment)
	}
	return appendAttrSegment(nil, set)
}

// lineFor returns the line of mc that keeps the attributes kept, creating it
// on first need.
func (b *builder) lineFor(mc *metricCache, kept attribute.Set) *seriesCache {
	if mc.lines == nil {
		mc.lines = make(map[attribute.Distinct]*seriesCache)
	}
	d := kept.Equivalent()
	head := mc.lines[d]
	l := head
	for l != nil && !l.attrs.Equals(&kept) {
		l = l.next
	}
	if l == nil {
		l = &seriesCache{m: mc, attrs: kept, seg: lineSegment(&kept, isOverflow(&kept)), next: head, acc: &lineAcc{}}
		l.line = l
		mc.lines[d] = l
	}
	return l
}

// dropMember forgets that series s contributes to its line, and the line
// once nothing does.
func (mc *metricCache) dropMember(s *seriesCache) {
	l := s.line
	if l == nil || l == s {
		return
	}
	if l.members--; l.members > 0 {
		return
	}
	d := l.attrs.Equivalent()
	var prev *seriesCache
	for x := mc.lines[d]; x != nil; prev, x = x, x.next {
		if x != l {
			continue
		}
		switch {
		case prev != nil:
			prev.next = x.next
		case x.next != nil:
			mc.lines[d] = x.next
		default:
			delete(mc.lines, d)
		}
		return
	}
}

// stateFor returns the state of series s, creating it on first sight (or
// when the series changed kind), and marks it seen by this export.
func (b *builder) stateFor(s *seriesCache, kind stateKind) *seriesState {
	st := s.state
	if st == nil || st.kind != kind {
		var gen uint64
		if st == nil {
			s.m.states++
		} else {
			gen = st.gen // seen or not, it is one state: count it once
		}
		st = &seriesState{kind: kind, fresh: true, gen: gen}
		s.state = st
	}
	if st.gen != b.gen {
		st.gen = b.gen
		s.m.statesSeen++
	}
	return st
}

// sweep serves zeros for the delta series this export did not see and
// forgets the series that are gone (a cumulative one after keepAbsent
// exports), so that memory follows the series that exist (and the
// zero-filled ones), not every series ever seen. Only the
// instruments with something unseen are walked.
func (b *builder) sweep() {
	for _, mc := range b.active {
		if mc.seen < mc.count || mc.statesSeen < mc.states {
			b.sweepMetric(mc)
		}
	}
	if len(b.active) == len(b.metrics) {
		return
	}
	for k, mc := range b.metrics {
		if mc.gen == b.gen {
			continue
		}
		b.sweepMetric(mc)
		if mc.count == 0 && !mc.rule.Off {
			delete(b.metrics, k)
		}
	}
}

// keepAbsent is how many exports the state of a cumulative series is kept
// while the series is absent. An observable callback that skips a series
// once (a read that failed) hands it back with the same start time, since
// the SDK's cumulative start time is the instrument's, not the series':
// forgotten, its whole total would count as one window's increase.
const keepAbsent = 10

func (b *builder) sweepMetric(mc *metricCache) {
	for d, head := range mc.series {
		var keep, last *seriesCache
		for s := head; s != nil; {
			next := s.next
			if st := s.state; st != nil && st.gen != b.gen {
				switch {
				case st.zeroFill:
					b.zeroFill(mc, s)
				case b.gen-st.gen > keepAbsent:
					s.state = nil
					mc.states--
				}
			}
			if s.gen != b.gen && s.state == nil {
				mc.count--
				mc.dropMember(s)
			} else {
				s.next = nil
				if last == nil {
					keep = s
				} else {
					last.next = s
				}
				last = s
			}
			s = next
		}
		switch {
		case keep == nil:
			delete(mc.series, d)
		case keep != head:
			mc.series[d] = keep
		}
	}
}

// zeroFill adds the point of a delta series that got nothing in this window.
func (b *builder) zeroFill(mc *metricCache, s *seriesCache) {
	b.activate(mc)
	if s.line == nil {
		return
	}
	if s.state.kind == stateSum {
		b.addScalar(mc, s, value{kind: kindInt, ok: true})
		return
	}
	b.addHist(mc, s, &histWindow{})
}
