package exporter

import (
	"go.opentelemetry.io/otel/attribute"
)

// metricKey names an instrument across exports. Instruments that differ only
// in kind, unit or description (duplicates the SDK warns about) share a key,
// and so share the state of their series, as they always have.
type metricKey struct {
	scopeName, scopeVersion, name string
}

// metricCache is what the builder keeps of one instrument between exports, so
// that an export in the steady state neither sanitizes a name nor reads an
// attribute set again: reading a set's attributes goes through reflection
// (attribute.Set keeps its array in an interface), and it used to be done for
// every point of every export.
type metricCache struct {
	key  metricKey
	name []byte // the name's segments, each followed by sep

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
type seriesCache struct {
	m     *metricCache
	attrs attribute.Set
	seg   []byte // the attribute segment; empty without attributes
	next  *seriesCache
	gen   uint64 // the last export whose input held the series
	state *seriesState
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
func (b *builder) metricFor(scopeName, scopeVersion, name string) *metricCache {
	k := metricKey{scopeName: scopeName, scopeVersion: scopeVersion, name: name}
	mc := b.metrics[k]
	if mc == nil {
		mc = &metricCache{key: k, name: appendName(nil, name), series: make(map[attribute.Distinct]*seriesCache)}
		b.metrics[k] = mc
	}
	b.activate(mc)
	return mc
}

// activate enrolls mc in the export in progress, once.
func (b *builder) activate(mc *metricCache) {
	if mc.gen == b.gen {
		return
	}
	mc.gen = b.gen
	mc.seen, mc.statesSeen = 0, 0
	mc.pts = mc.pts[:0]
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
		s = &seriesCache{m: mc, attrs: set, seg: appendAttrSegment(nil, &set), next: head}
		mc.series[d] = s
		mc.count++
	}
	if s.gen != b.gen {
		s.gen = b.gen
		mc.seen++
	}
	return s
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
// forgets the series that are gone, so that memory follows the series that
// exist (and the zero-filled ones), not every series ever seen. Only the
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
		if mc.count == 0 {
			delete(b.metrics, k)
		}
	}
}

func (b *builder) sweepMetric(mc *metricCache) {
	for d, head := range mc.series {
		var keep, last *seriesCache
		for s := head; s != nil; {
			next := s.next
			if st := s.state; st != nil && st.gen != b.gen {
				if st.zeroFill {
					b.zeroFill(mc, s)
				} else {
					s.state = nil
					mc.states--
				}
			}
			if s.gen != b.gen && s.state == nil {
				mc.count--
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
	if s.state.kind == stateSum {
		vs := b.addPoint(mc, s, shapeSingle, 1)
		vs[0] = value{bits: 0, kind: kindInt, ok: true}
		return
	}
	vs := b.addPoint(mc, s, shapeHist, numHistStats)
	vs[statCount] = value{stat: histStatNames[statCount], kind: kindUint, ok: true}
	vs[statSum] = value{stat: histStatNames[statSum], kind: kindUint, ok: true}
}
