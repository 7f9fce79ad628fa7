package exporter

import (
	"bytes"
	"math"
	"slices"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// valueKind says how a leaf's bits are written.
type valueKind uint8

const (
	kindInt valueKind = iota
	kindUint
	kindFloat
)

// leaf is one number of the document: its path in the builder's arena
// (segments separated by sep), its value, and the series it came from.
type leaf struct {
	off, end uint32
	bits     uint64
	kind     valueKind
	series   int32
}

// seriesRef names the source of a leaf, to order the leaves that land on one
// path. Its strings and set are the SDK's immutable values, held only for the
// length of one export (or, for state, one series' life).
type seriesRef struct {
	scopeName, scopeVersion, metric string
	attrs                           attribute.Set
}

// dropReason names why a value did not reach the document.
type dropReason int

const (
	dropNonFinite  dropReason = iota // NaN or ±Inf
	dropLimit                        // past WithMaxSeries
	dropUnresolved                   // a collision still unresolved after maxPasses
	numDropReasons
)

var dropReasonNames = [numDropReasons]string{"nonfinite", "limit", "collision"}

// buildResult is what one export adds to the exporter's own counters.
type buildResult struct {
	series     int
	collisions int
	dropped    [numDropReasons]int
}

// builder turns collections into documents. It owns every buffer it uses and
// reuses them from one export to the next, so a steady state allocates only
// the documents it publishes. It is not safe for concurrent use.
type builder struct {
	mode Mode
	max  int

	arena  []byte
	leaves []leaf
	refs   []seriesRef
	name   []byte // the current metric's name segments
	attrs  []byte // the current point's attribute segment
	ident  []byte // the current point's state key
	res    buildResult

	gen   uint64
	state map[string]*seriesState

	deltaBuf []uint64 // window buckets of a cumulative explicit histogram
	posBuf   []uint64 // window buckets of a cumulative exponential histogram
	negBuf   []uint64
	quant    [len(quantileRanks)]float64
	keySet   map[string]struct{} // only while resolving collisions
}

func newBuilder(c config) *builder {
	return &builder{mode: c.mode, max: c.maxSeries, state: make(map[string]*seriesState)}
}

// build renders rm into a new JSON document. It never keeps rm or anything
// that aliases its slices.
func (b *builder) build(rm *metricdata.ResourceMetrics) ([]byte, buildResult) {
	b.arena = b.arena[:0]
	b.leaves = b.leaves[:0]
	clear(b.refs) // drop references to the previous collection's strings
	b.refs = b.refs[:0]
	b.res = buildResult{}
	b.gen++

	for i := range rm.ScopeMetrics {
		sm := &rm.ScopeMetrics[i]
		for j := range sm.Metrics {
			b.addMetric(sm, &sm.Metrics[j])
		}
	}
	b.sweepState()
	b.resolve()
	if len(b.leaves) > b.max {
		b.res.dropped[dropLimit] += len(b.leaves) - b.max
		b.leaves = b.leaves[:b.max]
	}
	b.res.series = len(b.leaves)
	doc := b.render()
	clear(b.refs)
	return doc, b.res
}

func (b *builder) addMetric(sm *metricdata.ScopeMetrics, m *metricdata.Metrics) {
	b.name = appendName(b.name[:0], m.Name)
	ref := seriesRef{scopeName: sm.Scope.Name, scopeVersion: sm.Scope.Version, metric: m.Name}
	switch d := m.Data.(type) {
	case metricdata.Gauge[int64]:
		addPoints(b, ref, d.DataPoints)
	case metricdata.Gauge[float64]:
		addPoints(b, ref, d.DataPoints)
	case metricdata.Sum[int64]:
		addSum(b, ref, d)
	case metricdata.Sum[float64]:
		addSum(b, ref, d)
	case metricdata.Histogram[int64]:
		addHistogram(b, ref, d)
	case metricdata.Histogram[float64]:
		addHistogram(b, ref, d)
	case metricdata.ExponentialHistogram[int64]:
		addExpHistogram(b, ref, d)
	case metricdata.ExponentialHistogram[float64]:
		addExpHistogram(b, ref, d)
	case metricdata.Summary:
		addSummary(b, ref, d)
	}
}

// newRef records the source of the leaves about to be added.
func (b *builder) newRef(ref seriesRef, attrs attribute.Set) int32 {
	ref.attrs = attrs
	b.refs = append(b.refs, ref)
	b.attrs = appendAttrSegment(b.attrs[:0], &attrs)
	return int32(len(b.refs) - 1)
}

// addLeaf appends the leaf name[.stat][.attrs] of the current point. A
// non-finite float is counted and left out.
func (b *builder) addLeaf(series int32, stat string, bits uint64, kind valueKind) {
	if kind == kindFloat {
		if f := math.Float64frombits(bits); math.IsNaN(f) || math.IsInf(f, 0) {
			b.res.dropped[dropNonFinite]++
			return
		}
	}
	off := len(b.arena)
	b.arena = append(b.arena, b.name...)
	if stat != "" {
		b.arena = append(b.arena, stat...)
		b.arena = append(b.arena, sep)
	}
	if len(b.attrs) > 0 {
		b.arena = append(b.arena, b.attrs...)
	} else {
		b.arena = b.arena[:len(b.arena)-1] // drop the trailing sep
	}
	b.leaves = append(b.leaves, leaf{off: uint32(off), end: uint32(len(b.arena)), bits: bits, kind: kind, series: series})
}

func (b *builder) addFloat(series int32, stat string, f float64) {
	b.addLeaf(series, stat, math.Float64bits(f), kindFloat)
}

func (b *builder) addUint(series int32, stat string, u uint64) {
	b.addLeaf(series, stat, u, kindUint)
}

// isInt reports whether N is int64; conversions through it keep integers
// exact instead of passing them through float64.
func isInt[N int64 | float64]() bool {
	var zero N
	_, ok := any(zero).(int64)
	return ok
}

func addNumber[N int64 | float64](b *builder, series int32, stat string, v N) {
	if isInt[N]() {
		b.addLeaf(series, stat, uint64(int64(v)), kindInt)
		return
	}
	b.addFloat(series, stat, float64(v))
}

func addPoints[N int64 | float64](b *builder, ref seriesRef, dps []metricdata.DataPoint[N]) {
	for i := range dps {
		s := b.newRef(ref, dps[i].Attributes)
		addNumber(b, s, "", dps[i].Value)
	}
}

func addSum[N int64 | float64](b *builder, ref seriesRef, d metricdata.Sum[N]) {
	if !d.IsMonotonic {
		addPoints(b, ref, d.DataPoints)
		return
	}
	for i := range d.DataPoints {
		dp := &d.DataPoints[i]
		s := b.newRef(ref, dp.Attributes)
		v := dp.Value
		switch {
		case b.mode == Windowed && d.Temporality == metricdata.CumulativeTemporality:
			st := b.stateFor(s, stateSum)
			v = windowSum(st, dp.StartTime.UnixNano(), v)
		case b.mode == Windowed:
			b.stateFor(s, stateSum).zeroFill = true
		case d.Temporality == metricdata.DeltaTemporality:
			st := b.stateFor(s, stateSum)
			v = runningSum(st, v)
		}
		addNumber(b, s, "", v)
	}
}

// windowSum returns the increase of a cumulative sum since the previous
// export. A series seen for the first time counts from its start time; a
// value that went down or a new start time means the source was reset, and the
// new value is the increase since the reset.
func windowSum[N int64 | float64](st *seriesState, start int64, v N) N {
	fresh, reset := st.fresh, st.start != start
	st.start, st.fresh = start, false
	if isInt[N]() {
		prev := st.ival
		st.ival = int64(v)
		if fresh || reset || int64(v) < prev {
			return v
		}
		return N(int64(v) - prev)
	}
	prev := st.fval
	st.fval = float64(v)
	if fresh || reset || float64(v) < prev {
		return v
	}
	return N(float64(v) - prev)
}

// runningSum adds a delta to the series' running total.
func runningSum[N int64 | float64](st *seriesState, v N) N {
	st.fresh = false
	if isInt[N]() {
		st.ival += int64(v)
		return N(st.ival)
	}
	st.fval += float64(v)
	return N(st.fval)
}

// histStats appends the leaves of one histogram point.
func (b *builder) histStats(s int32, count uint64, sum float64, min, max float64, hasMin, hasMax bool, walk bucketWalker) {
	b.addUint(s, "count", count)
	b.addFloat(s, "sum", sum)
	if count == 0 {
		return
	}
	b.addFloat(s, "avg", sum/float64(count))
	if hasMin {
		b.addFloat(s, "min", min)
	}
	if hasMax {
		b.addFloat(s, "max", max)
	}
	b.addQuantiles(s, count, min, max, hasMin, hasMax, walk)
}

// histSum converts a histogram's sum; an integral float renders as an integer.
func histSum[N int64 | float64](v N) float64 { return float64(v) }

func addHistogram[N int64 | float64](b *builder, ref seriesRef, d metricdata.Histogram[N]) {
	for i := range d.DataPoints {
		dp := &d.DataPoints[i]
		s := b.newRef(ref, dp.Attributes)
		minV, hasMin := dp.Min.Value()
		maxV, hasMax := dp.Max.Value()
		count, sum, counts := dp.Count, histSum(dp.Sum), dp.BucketCounts
		if b.mode == Windowed {
			st := b.stateFor(s, stateHistogram)
			if d.Temporality == metricdata.DeltaTemporality {
				st.zeroFill = true
			} else {
				var first bool
				count, sum, counts, first = b.windowHistogram(st, dp.StartTime.UnixNano(), dp.Count, sum, dp.Bounds, dp.BucketCounts)
				if !first {
					// The window's extremes are unknown; the all-time
					// ones still bound its quantiles.
					b.histStatsClamped(s, count, sum, float64(minV), float64(maxV), hasMin, hasMax, explicitBuckets(dp.Bounds, counts))
					continue
				}
			}
		}
		b.histStats(s, count, sum, float64(minV), float64(maxV), hasMin, hasMax, explicitBuckets(dp.Bounds, counts))
	}
}

// addQuantiles appends the estimated quantiles. A non-finite extreme (a NaN
// or an infinity recorded) bounds nothing, so it counts as not recorded.
func (b *builder) addQuantiles(s int32, count uint64, min, max float64, hasMin, hasMax bool, walk bucketWalker) {
	hasMin = hasMin && !math.IsNaN(min) && !math.IsInf(min, 0)
	hasMax = hasMax && !math.IsNaN(max) && !math.IsInf(max, 0)
	estimateQuantiles(&b.quant, count, min, max, hasMin, hasMax, walk)
	for i, qr := range quantileRanks {
		b.addFloat(s, qr.stat, b.quant[i])
	}
}

// histStatsClamped is histStats without the min and max leaves.
func (b *builder) histStatsClamped(s int32, count uint64, sum float64, min, max float64, hasMin, hasMax bool, walk bucketWalker) {
	b.addUint(s, "count", count)
	b.addFloat(s, "sum", sum)
	if count == 0 {
		return
	}
	b.addFloat(s, "avg", sum/float64(count))
	b.addQuantiles(s, count, min, max, hasMin, hasMax, walk)
}

// windowHistogram turns a cumulative explicit-bucket histogram into its
// increase since the previous export, as windowSum does for sums. first is
// true when the point is its own window (first seen or reset).
func (b *builder) windowHistogram(st *seriesState, start int64, count uint64, sum float64, bounds []float64, counts []uint64) (uint64, float64, []uint64, bool) {
	first := st.fresh || st.start != start || count < st.count || !slices.Equal(bounds, st.bounds) || len(counts) != len(st.buckets)
	if !first {
		for i, c := range counts {
			if c < st.buckets[i] {
				first = true
				break
			}
		}
	}
	wCount, wSum, wCounts := count, sum, counts
	if !first {
		b.deltaBuf = append(b.deltaBuf[:0], counts...)
		for i := range b.deltaBuf {
			b.deltaBuf[i] -= st.buckets[i]
		}
		wCount, wSum, wCounts = count-st.count, sum-st.fval, b.deltaBuf
	}
	st.fresh, st.start, st.count, st.fval = false, start, count, sum
	st.bounds = append(st.bounds[:0], bounds...)
	st.buckets = append(st.buckets[:0], counts...)
	return wCount, wSum, wCounts, first
}

func addExpHistogram[N int64 | float64](b *builder, ref seriesRef, d metricdata.ExponentialHistogram[N]) {
	for i := range d.DataPoints {
		dp := &d.DataPoints[i]
		s := b.newRef(ref, dp.Attributes)
		minV, hasMin := dp.Min.Value()
		maxV, hasMax := dp.Max.Value()
		w := expWindow{
			count: dp.Count, sum: histSum(dp.Sum), scale: dp.Scale, zero: dp.ZeroCount, zt: dp.ZeroThreshold,
			posOff: dp.PositiveBucket.Offset, pos: dp.PositiveBucket.Counts,
			negOff: dp.NegativeBucket.Offset, neg: dp.NegativeBucket.Counts,
		}
		extremes := true
		if b.mode == Windowed {
			st := b.stateFor(s, stateExpHistogram)
			if d.Temporality == metricdata.DeltaTemporality {
				st.zeroFill = true
			} else {
				extremes = b.windowExpHistogram(st, dp.StartTime.UnixNano(), &w)
			}
		}
		walk := exponentialBuckets(w.scale, w.zero, w.zt, w.posOff, w.pos, w.negOff, w.neg)
		if extremes {
			b.histStats(s, w.count, w.sum, float64(minV), float64(maxV), hasMin, hasMax, walk)
		} else {
			b.histStatsClamped(s, w.count, w.sum, float64(minV), float64(maxV), hasMin, hasMax, walk)
		}
	}
}

// expWindow is one exponential histogram point, as served.
type expWindow struct {
	count, zero    uint64
	sum, zt        float64
	scale          int32
	posOff, negOff int32
	pos, neg       []uint64
}

// windowExpHistogram replaces w with its increase since the previous export
// and reports whether w is its own window (first seen or reset). The SDK only
// ever lowers a cumulative point's scale, so the previous buckets are
// downscaled to w's scale before they are subtracted.
func (b *builder) windowExpHistogram(st *seriesState, start int64, w *expWindow) bool {
	first := st.fresh || st.start != start || w.count < st.count || w.zero < st.zero || w.zt != st.zt || w.scale > st.scale
	if !first {
		var ok1, ok2 bool
		b.posBuf, ok1 = subtractBuckets(b.posBuf, w.posOff, w.pos, st.posOff, st.pos, st.scale-w.scale)
		b.negBuf, ok2 = subtractBuckets(b.negBuf, w.negOff, w.neg, st.negOff, st.neg, st.scale-w.scale)
		first = !ok1 || !ok2
	}
	prevCount, prevSum, prevZero := st.count, st.fval, st.zero
	st.fresh, st.start, st.count, st.fval = false, start, w.count, w.sum
	st.zero, st.zt, st.scale = w.zero, w.zt, w.scale
	st.posOff, st.negOff = w.posOff, w.negOff
	st.pos = append(st.pos[:0], w.pos...)
	st.neg = append(st.neg[:0], w.neg...)
	if first {
		return true
	}
	w.count, w.sum, w.zero = w.count-prevCount, w.sum-prevSum, w.zero-prevZero
	w.pos, w.neg = b.posBuf, b.negBuf
	return false
}

// subtractBuckets writes cur minus prev (prev first downscaled by shift) into
// dst, indexed like cur. ok is false when a bucket would go negative, which
// means the source was reset.
func subtractBuckets(dst []uint64, curOff int32, cur []uint64, prevOff int32, prev []uint64, shift int32) ([]uint64, bool) {
	dst = append(dst[:0], cur...)
	for i, c := range prev {
		if c == 0 {
			continue
		}
		idx := (int64(prevOff) + int64(i)) >> shift
		j := idx - int64(curOff)
		if j < 0 || j >= int64(len(dst)) || dst[j] < c {
			return dst, false
		}
		dst[j] -= c
	}
	return dst, true
}

func addSummary(b *builder, ref seriesRef, d metricdata.Summary) {
	for i := range d.DataPoints {
		dp := &d.DataPoints[i]
		s := b.newRef(ref, dp.Attributes)
		count, sum := dp.Count, dp.Sum
		if b.mode == Windowed {
			// A summary's count and sum are cumulative by definition.
			st := b.stateFor(s, stateSummary)
			start := dp.StartTime.UnixNano()
			if !st.fresh && st.start == start && count >= st.count && sum >= st.fval {
				count, sum = count-st.count, sum-st.fval
				st.count, st.fval = dp.Count, dp.Sum
			} else {
				st.fresh, st.start, st.count, st.fval = false, start, dp.Count, dp.Sum
			}
		}
		b.addUint(s, "count", count)
		b.addFloat(s, "sum", sum)
		for _, qv := range dp.QuantileValues {
			b.addFloat(s, quantileStat(qv.Quantile), qv.Value)
		}
	}
}

// quantileStat names a summary quantile: 0.5 is p50, 0.999 is p99_9, 0 is
// min and 1 is max.
func quantileStat(q float64) string {
	switch {
	case q == 0:
		return "min"
	case q == 1:
		return "max"
	case q == 0.5:
		return "p50"
	case q == 0.9:
		return "p90"
	case q == 0.95:
		return "p95"
	case q == 0.99:
		return "p99"
	}
	return string(sanitizeTail(strconv.AppendFloat([]byte{'p'}, q*100, 'f', -1, 64), 1))
}

// render writes the sorted, collision-free leaves as nested JSON objects into
// a new slice sized from the arena.
func (b *builder) render() []byte {
	out := make([]byte, 0, len(b.arena)+len(b.leaves)*24+2)
	out = append(out, '{')
	var prev []byte // path of the previous leaf's parent, with a trailing sep
	depth := 0
	first := true
	for i := range b.leaves {
		l := &b.leaves[i]
		key := b.arena[l.off:l.end]
		lastSep := bytes.LastIndexByte(key, sep)
		parent := key[:lastSep+1] // "" or "a\x00b\x00"
		name := key[lastSep+1:]
		// Close the objects the previous leaf was in and this one is not.
		common := commonDirs(prev, parent)
		for ; depth > common; depth-- {
			out = append(out, '}')
		}
		// Open the objects this leaf is in and the previous one was not.
		rest := parent[dirsLen(parent, common):]
		for len(rest) > 0 {
			j := bytes.IndexByte(rest, sep)
			if !first {
				out = append(out, ',')
			}
			out = append(out, '"')
			out = append(out, rest[:j]...)
			out = append(out, '"', ':', '{')
			first = true
			depth++
			rest = rest[j+1:]
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		out = append(out, '"')
		out = append(out, name...)
		out = append(out, '"', ':')
		out = appendValue(out, l.bits, l.kind)
		prev = parent
	}
	for ; depth > 0; depth-- {
		out = append(out, '}')
	}
	return append(out, '}')
}

// commonDirs counts the whole leading segments two parent paths share.
func commonDirs(a, b []byte) int {
	n := 0
	for i := 0; i < len(a) && i < len(b) && a[i] == b[i]; i++ {
		if a[i] == sep {
			n++
		}
	}
	return n
}

// dirsLen is the byte length of the first n segments of a parent path.
func dirsLen(p []byte, n int) int {
	if n == 0 {
		return 0
	}
	for i := range p {
		if p[i] == sep {
			n--
			if n == 0 {
				return i + 1
			}
		}
	}
	return len(p)
}

// appendValue writes a number the way encoding/json does: integers as
// integers, floats in the shortest form that round-trips.
func appendValue(dst []byte, bits uint64, kind valueKind) []byte {
	switch kind {
	case kindInt:
		return strconv.AppendInt(dst, int64(bits), 10)
	case kindUint:
		return strconv.AppendUint(dst, bits, 10)
	}
	f := math.Float64frombits(bits)
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// Clean up e-09 to e-9, as encoding/json does.
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}
