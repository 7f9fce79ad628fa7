package exporter

import (
	"hash/maphash"
	"math"
	"slices"
	"strconv"

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
// (segments separated by sep), its value, and the series it came from (an
// index into builder.srcs).
type leaf struct {
	off, end uint32
	bits     uint64
	kind     valueKind
	group    groupKind
	series   int32
}

// groupKind says which graph of its instrument a leaf is a line of.
type groupKind uint8

const (
	groupValue groupKind = iota // a gauge's or sum's lines
	groupCount                  // a histogram's or summary's count
	groupSum                    // a histogram's or summary's sum
	groupStat                   // one distribution stat of a histogram with attributes, a line per series
	groupDist                   // the distribution stats of a histogram without attributes, a line per stat
)

// span is a path in the builder's arena.
type span struct{ off, end uint32 }

// value is one number of a point, computed while the input is read and
// turned into a leaf once the points are in order.
type value struct {
	stat string // "" for the point's only value
	bits uint64
	kind valueKind
	ok   bool // false: absent, or non-finite (counted when it was set)
}

// pointShape says how a point's values are laid out in builder.vals.
type pointShape uint8

const (
	shapeSingle pointShape = iota // one value, no stat
	shapeHist                     // numHistStats values, one per stat, in stat order
	shapeList                     // any values, each with its own stat
)

// The stats of a histogram, in the byte order of their names, which is the
// order their leaves take in the document: a histogram's leaves are emitted
// stat by stat so that they come out sorted.
const (
	statAvg = iota
	statCount
	statMax
	statMin
	statP50 // then one per quantileRanks
	statSum = statP50 + len(quantileRanks)

	numHistStats = statSum + 1
)

var histStatNames = [numHistStats]string{"avg", "count", "max", "min", "p50", "p90", "p95", "p99", "sum"}

// point is one series' contribution to the export in progress.
type point struct {
	s     *seriesCache
	src   int32  // index into builder.srcs, what its leaves name as series
	off   uint32 // its first value in builder.vals
	n     uint32
	shape pointShape
}

// builder turns collections into documents. It owns every buffer it uses and
// reuses them from one export to the next, so a steady state allocates only
// the documents it publishes. It is not safe for concurrent use.
type builder struct {
	mode Mode
	max  int
	sel  selection

	arena  []byte
	leaves []leaf
	srcs   []*seriesCache // the source of each point, to order colliding leaves
	vals   []value
	res    buildResult

	gen      uint64
	baseline bool // the first export: cumulative series only set their start
	metrics  map[metricKey]*metricCache
	active   []*metricCache // the instruments with points in this export

	deltaBuf     []uint64 // window buckets of a cumulative explicit histogram
	posBuf       []uint64 // window buckets of a cumulative exponential histogram
	negBuf       []uint64
	mergeBuf     []uint64 // buckets of a merged exponential histogram
	seed         maphash.Seed
	graphFP      uint64 // fingerprint of the graph definitions last built
	shares       []int  // leaves per instrument, to share the series bound
	quant        [len(quantileRanks)]float64
	keySet       map[string]struct{} // paths renamed to in a pass of resolve
	taken        []span              // paths as a pass of resolve began
	moved        []int               // leaves renamed in a pass of resolve
	movedLeaves  []leaf
	dirEnds      []int   // only while rendering
	out          []byte  // the document, before it is copied out
	texts        []span  // where each leaf's value is in the document
	groups       []int32 // the leaves that begin a run of leaves in one object
	sorts        int     // sorts of all the leaves, for tests
	clusterSorts int     // sorts of the leaves of a cluster of instruments, for tests
}

// dropReason names why a value did not reach the document.
type dropReason int

const (
	dropNonFinite  dropReason = iota // NaN or ±Inf
	dropLimit                        // past WithMaxSeries
	dropUnresolved                   // a collision still unresolved after maxPasses
	dropOverflow                     // the SDK's overflow series: series over its cardinality limit
	numDropReasons
)

var dropReasonNames = [numDropReasons]string{"nonfinite", "limit", "collision", "overflow"}

// buildResult is what one export adds to the exporter's own counters.
type buildResult struct {
	series     int
	collisions int
	dropped    [numDropReasons]int
	graphs     []Graph // the graph definitions, when they changed
}

func newBuilder(c config) *builder {
	return &builder{mode: c.mode, max: c.maxSeries, sel: c.selection, seed: maphash.MakeSeed(), metrics: make(map[metricKey]*metricCache)}
}

// build renders rm into a new JSON document. It never keeps rm's slices:
// what outlives the export (in the caches) is the SDK's immutable strings
// and attribute sets, and copies.
//
// It runs in stages, each over the previous one's output:
//
//   - select and window: the input is read once, in its own order; each
//     instrument's rule (settled on first sight) says whether it is served,
//     and each series' window is applied;
//   - merge: a series whose rule drops attributes adds its window to its
//     line, and the lines become points once every series is read (sweep,
//     finishLines);
//   - lay out: the points are emitted as leaves, each instrument within its
//     share of the series bound, already in path order in the common case
//     (checked, and sorted only when needed), and collisions are resolved;
//   - write: the leaves are rendered as nested JSON, and the graph
//     definitions made again if their groups changed.
func (b *builder) build(rm *metricdata.ResourceMetrics) ([]byte, buildResult) {
	b.arena = b.arena[:0]
	b.leaves = b.leaves[:0]
	b.vals = b.vals[:0]
	clear(b.active) // drop references to instruments forgotten since
	b.active = b.active[:0]
	b.res = buildResult{}
	b.gen++
	b.baseline = b.gen == 1

	for i := range rm.ScopeMetrics {
		sm := &rm.ScopeMetrics[i]
		for j := range sm.Metrics {
			b.addMetric(sm, &sm.Metrics[j])
		}
	}
	b.sweep()
	b.finishLines()
	b.share()
	b.emit()
	b.resolve()
	b.res.series = len(b.leaves)
	doc := b.render()
	if fp := b.graphFingerprint(); fp != b.graphFP || b.gen == 1 {
		b.graphFP = fp
		b.res.graphs = b.graphDefs()
		if b.res.graphs == nil {
			b.res.graphs = []Graph{}
		}
	}
	clear(b.srcs) // drop references to series forgotten by the sweep
	b.srcs = b.srcs[:0]
	return doc, b.res
}

func (b *builder) addMetric(sm *metricdata.ScopeMetrics, m *metricdata.Metrics) {
	mc := b.metricFor(sm, m)
	if mc.rule.Off {
		return
	}
	switch d := m.Data.(type) {
	case metricdata.Gauge[int64]:
		addPoints(b, mc, d.DataPoints)
	case metricdata.Gauge[float64]:
		addPoints(b, mc, d.DataPoints)
	case metricdata.Sum[int64]:
		addSum(b, mc, d)
	case metricdata.Sum[float64]:
		addSum(b, mc, d)
	case metricdata.Histogram[int64]:
		addHistogram(b, mc, d)
	case metricdata.Histogram[float64]:
		addHistogram(b, mc, d)
	case metricdata.ExponentialHistogram[int64]:
		addExpHistogram(b, mc, d)
	case metricdata.ExponentialHistogram[float64]:
		addExpHistogram(b, mc, d)
	case metricdata.Summary:
		addSummary(b, mc, d)
	}
}

// addPoint appends a point of series s with n values, all absent, and
// returns the values to fill in (valid until the next addPoint).
func (b *builder) addPoint(mc *metricCache, s *seriesCache, shape pointShape, n int) []value {
	off := len(b.vals)
	b.vals = slices.Grow(b.vals, n)[:off+n]
	vs := b.vals[off:]
	clear(vs)
	b.srcs = append(b.srcs, s)
	mc.pts = append(mc.pts, point{s: s, src: int32(len(b.srcs) - 1), off: uint32(off), n: uint32(n), shape: shape})
	return vs
}

// set fills v in. A non-finite float is counted and left absent.
func (b *builder) set(v *value, stat string, bits uint64, kind valueKind) {
	if kind == kindFloat {
		if f := math.Float64frombits(bits); math.IsNaN(f) || math.IsInf(f, 0) {
			b.res.dropped[dropNonFinite]++
			return
		}
	}
	*v = value{stat: stat, bits: bits, kind: kind, ok: true}
}

func (b *builder) setFloat(v *value, stat string, f float64) {
	b.set(v, stat, math.Float64bits(f), kindFloat)
}

func (b *builder) setUint(v *value, stat string, u uint64) {
	b.set(v, stat, u, kindUint)
}

// isInt reports whether N is int64; conversions through it keep integers
// exact instead of passing them through float64.
func isInt[N int64 | float64]() bool {
	var zero N
	_, ok := any(zero).(int64)
	return ok
}

// number is v0 as a value; a non-finite float is counted and left absent.
func number[N int64 | float64](b *builder, v0 N) value {
	var v value
	if isInt[N]() {
		b.set(&v, "", uint64(int64(v0)), kindInt)
	} else {
		b.setFloat(&v, "", float64(v0))
	}
	return v
}

func addPoints[N int64 | float64](b *builder, mc *metricCache, dps []metricdata.DataPoint[N]) {
	for i := range dps {
		s := b.seriesFor(mc, dps[i].Attributes)
		if s.line == nil {
			continue
		}
		b.addScalar(mc, s, number(b, dps[i].Value))
	}
}

func addSum[N int64 | float64](b *builder, mc *metricCache, d metricdata.Sum[N]) {
	if !d.IsMonotonic {
		addPoints(b, mc, d.DataPoints)
		return
	}
	for i := range d.DataPoints {
		dp := &d.DataPoints[i]
		s := b.seriesFor(mc, dp.Attributes)
		if s.line == nil {
			continue
		}
		v := dp.Value
		switch {
		case b.mode == Windowed && d.Temporality == metricdata.CumulativeTemporality:
			st := b.stateFor(s, stateSum)
			v = windowSum(st, dp.StartTime.UnixNano(), v, b.baseline)
		case b.mode == Windowed:
			b.stateFor(s, stateSum).zeroFill = true
		case d.Temporality == metricdata.DeltaTemporality:
			st := b.stateFor(s, stateSum)
			v = runningSum(st, v)
		}
		b.addScalar(mc, s, number(b, v))
	}
}

// windowSum returns the increase of a cumulative sum since the previous
// export. On the exporter's first export (the baseline) it is 0: a total
// handed over then may count from long before (contrib host's counters count
// from boot), and serving it would draw a spike at every start. A series
// first seen later counts from its start time, which lies inside the window
// (a new attribute set on a counter). A value that went down or a new start
// time means the source was reset, and the new value is the increase since.
func windowSum[N int64 | float64](st *seriesState, start int64, v N, baseline bool) N {
	fresh, reset := st.fresh, st.start != start
	st.start, st.fresh = start, false
	if isInt[N]() {
		prev := st.ival
		st.ival = int64(v)
		if fresh && baseline {
			return 0
		}
		if fresh || reset || int64(v) < prev {
			return v
		}
		return N(int64(v) - prev)
	}
	prev := st.fval
	st.fval = float64(v)
	if fresh && baseline {
		return 0
	}
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

// histStats fills in the stats of one histogram point that the
// instrument's rule serves, in the instrument's unit. A window with no
// count serves 0 for every stat, so that a line in Mackerel drops to zero
// rather than breaking off, and the number of metrics stays put.
func (b *builder) histStats(mc *metricCache, vs []value, hw *histWindow) {
	mask, scale := mc.rule.stats, mc.unit.scale
	if mask.has(statCount) {
		b.setUint(&vs[statCount], histStatNames[statCount], hw.count)
	}
	if mask.has(statSum) {
		b.setFloat(&vs[statSum], histStatNames[statSum], hw.sum*scale)
	}
	if hw.clamped {
		mask &^= 1<<statMin | 1<<statMax
	}
	if hw.count == 0 {
		for k := range numHistStats {
			if mask.has(k) && k != statCount && k != statSum {
				vs[k] = value{stat: histStatNames[k], kind: kindUint, ok: true}
			}
		}
		return
	}
	if mask.has(statAvg) {
		b.setFloat(&vs[statAvg], histStatNames[statAvg], hw.sum/float64(hw.count)*scale)
	}
	if hw.hasMin && mask.has(statMin) {
		b.setFloat(&vs[statMin], histStatNames[statMin], hw.min*scale)
	}
	if hw.hasMax && mask.has(statMax) {
		b.setFloat(&vs[statMax], histStatNames[statMax], hw.max*scale)
	}
	if mask&quantileStats == 0 || hw.noBuckets {
		return
	}
	// A non-finite extreme (a NaN or an infinity recorded) bounds nothing,
	// so it counts as not recorded.
	hasMin := hw.hasMin && !math.IsNaN(hw.min) && !math.IsInf(hw.min, 0)
	hasMax := hw.hasMax && !math.IsNaN(hw.max) && !math.IsInf(hw.max, 0)
	estimateQuantiles(&b.quant, hw.count, hw.min, hw.max, hasMin, hasMax, &hw.walk)
	for i, qr := range quantileRanks {
		if mask.has(statP50 + i) {
			b.setFloat(&vs[statP50+i], qr.stat, b.quant[i]*scale)
		}
	}
}

// quantileStats are the stats estimated from the buckets.
const quantileStats statMask = 1<<statP50 | 1<<(statP50+1) | 1<<(statP50+2) | 1<<(statP50+3)

// histSum converts a histogram's sum; an integral float renders as an integer.
func histSum[N int64 | float64](v N) float64 { return float64(v) }

func addHistogram[N int64 | float64](b *builder, mc *metricCache, d metricdata.Histogram[N]) {
	for i := range d.DataPoints {
		dp := &d.DataPoints[i]
		s := b.seriesFor(mc, dp.Attributes)
		if s.line == nil {
			continue
		}
		minV, hasMin := dp.Min.Value()
		maxV, hasMax := dp.Max.Value()
		hw := histWindow{
			count: dp.Count, sum: histSum(dp.Sum),
			min: float64(minV), max: float64(maxV), hasMin: hasMin, hasMax: hasMax,
			walk: explicitBuckets(dp.Bounds, dp.BucketCounts),
		}
		if b.mode == Windowed {
			st := b.stateFor(s, stateHistogram)
			if d.Temporality == metricdata.DeltaTemporality {
				st.zeroFill = true
			} else {
				count, sum, counts, first := b.windowHistogram(st, dp.StartTime.UnixNano(), dp.Count, hw.sum, dp.Bounds, dp.BucketCounts)
				hw.count, hw.sum, hw.walk = count, sum, explicitBuckets(dp.Bounds, counts)
				// The window's extremes are unknown; the all-time ones
				// still bound its quantiles.
				hw.clamped = !first
			}
		}
		b.addHist(mc, s, &hw)
	}
}

// windowHistogram turns a cumulative explicit-bucket histogram into its
// increase since the previous export, as windowSum does for sums. first is
// true when the point is its own window (first seen or reset).
func (b *builder) windowHistogram(st *seriesState, start int64, count uint64, sum float64, bounds []float64, counts []uint64) (uint64, float64, []uint64, bool) {
	if st.fresh && b.baseline {
		// The baseline, as in windowSum: an empty window.
		st.fresh, st.start, st.count, st.fval = false, start, count, sum
		st.bounds = append(st.bounds[:0], bounds...)
		st.buckets = append(st.buckets[:0], counts...)
		return 0, 0, nil, false
	}
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

func addExpHistogram[N int64 | float64](b *builder, mc *metricCache, d metricdata.ExponentialHistogram[N]) {
	for i := range d.DataPoints {
		dp := &d.DataPoints[i]
		s := b.seriesFor(mc, dp.Attributes)
		if s.line == nil {
			continue
		}
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
		b.addHist(mc, s, &histWindow{
			count: w.count, sum: w.sum,
			min: float64(minV), max: float64(maxV), hasMin: hasMin, hasMax: hasMax, clamped: !extremes,
			walk: exponentialBuckets(w.scale, w.zero, w.zt, w.posOff, w.pos, w.negOff, w.neg),
		})
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
	baseline := st.fresh && b.baseline
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
	if baseline {
		// The baseline, as in windowSum: an empty window.
		w.count, w.sum, w.zero, w.pos, w.neg = 0, 0, 0, nil, nil
		return false
	}
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

func addSummary(b *builder, mc *metricCache, d metricdata.Summary) {
	for i := range d.DataPoints {
		dp := &d.DataPoints[i]
		s := b.seriesFor(mc, dp.Attributes)
		if s.line == nil {
			continue
		}
		count, sum := dp.Count, dp.Sum
		if b.mode == Windowed {
			// A summary's count and sum are cumulative by definition.
			st := b.stateFor(s, stateSummary)
			start := dp.StartTime.UnixNano()
			switch {
			case st.fresh && b.baseline:
				count, sum = 0, 0 // the baseline, as in windowSum
				st.fresh, st.start, st.count, st.fval = false, start, dp.Count, dp.Sum
			case !st.fresh && st.start == start && count >= st.count && sum >= st.fval:
				count, sum = count-st.count, sum-st.fval
				st.count, st.fval = dp.Count, dp.Sum
			default:
				st.fresh, st.start, st.count, st.fval = false, start, dp.Count, dp.Sum
			}
		}
		if s.line != s {
			b.addSummaryLine(mc, s, count, sum)
			continue
		}
		vs := b.addPoint(mc, s, shapeList, 2+len(dp.QuantileValues))
		b.summaryStats(mc, vs, count, sum)
		for j, qv := range dp.QuantileValues {
			stat := quantileStat(qv.Quantile)
			switch {
			case !mc.rule.stats.hasName(stat):
			case b.mode == Windowed && (qv.Quantile == 0 || qv.Quantile == 1):
				// The source's extremes are all time's, not the window's:
				// as for a cumulative histogram, not served.
			case b.mode == Windowed && count == 0:
				vs[2+j] = value{stat: stat, kind: kindUint, ok: true} // an empty window: 0
			default:
				b.setFloat(&vs[2+j], stat, qv.Value*mc.unit.scale)
			}
		}
	}
}

// summaryStats fills in a summary's count and sum, as the rule serves them.
func (b *builder) summaryStats(mc *metricCache, vs []value, count uint64, sum float64) {
	if mc.rule.stats.has(statCount) {
		b.setUint(&vs[0], "count", count)
	}
	if mc.rule.stats.has(statSum) {
		b.setFloat(&vs[1], "sum", sum*mc.unit.scale)
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
