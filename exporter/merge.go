package exporter

import (
	"math"
	"slices"
)

// histWindow is one histogram point over the window, in the instrument's
// unit: what stats are computed from, or what is merged into a line.
type histWindow struct {
	count          uint64
	sum            float64
	min, max       float64
	hasMin, hasMax bool
	// clamped: min and max are not the window's but all time's (a
	// cumulative input); they bound the quantiles and are not served.
	clamped   bool
	noBuckets bool // the buckets could not be combined: no quantiles
	walk      bucketWalker
}

// lineAcc is the sum of a merged line's members over one export.
type lineAcc struct {
	gen  uint64
	kind stateKind // what the members are; stateSum for gauges too

	// sums and gauges
	vkind valueKind
	i     int64
	fs    []float64 // float members, summed in order at the end: the same bytes whatever order they came in
	ok    bool

	sums []float64 // histogram and summary members' sums, likewise

	// histograms and summaries
	hw        histWindow // walk unset; count, sum, extremes
	nonEmpty  int        // members with a count in the window
	bucketsOK bool       // the members' buckets could be combined
	bounds    []float64  // explicit
	counts    []uint64
	scale     int32 // exponential
	zero      uint64
	zt        float64
	posOff    int32
	negOff    int32
	pos, neg  []uint64
}

// maxMergedBuckets bounds the buckets of one side of a merged exponential
// histogram: the members are brought to a common scale low enough for
// their combined range to fit, as the SDK does for one series.
const maxMergedBuckets = 320

// accFor returns the accumulator of line l for this export, reset on its
// first contribution.
func (b *builder) accFor(mc *metricCache, l *seriesCache, kind stateKind) *lineAcc {
	a := l.acc
	if a.gen != b.gen {
		*a = lineAcc{
			gen: b.gen, kind: kind, bucketsOK: true,
			bounds: a.bounds[:0], counts: a.counts[:0], pos: a.pos[:0], neg: a.neg[:0],
			fs: a.fs[:0], sums: a.sums[:0],
		}
		mc.touched = append(mc.touched, l)
	}
	return a
}

// addScalar serves v as a point of series s, or adds it to s's line.
func (b *builder) addScalar(mc *metricCache, s *seriesCache, v value) {
	if s.line == s {
		vs := b.addPoint(mc, s, shapeSingle, 1)
		vs[0] = b.scaled(mc, v)
		return
	}
	a := b.accFor(mc, s.line, stateSum)
	if !v.ok {
		return
	}
	a.ok = true
	switch v.kind {
	case kindInt:
		a.vkind = kindInt
		a.i += int64(v.bits)
	case kindUint:
		a.vkind = kindInt
		a.i += int64(v.bits)
	default:
		a.vkind = kindFloat
		a.fs = append(a.fs, math.Float64frombits(v.bits))
	}
}

// sortedSum adds fs up in ascending order, so that a merged line is the same
// number whatever order the SDK handed its members over in (float addition
// is not associative). It sorts fs in place.
func sortedSum(fs []float64) float64 {
	slices.Sort(fs)
	var sum float64
	for _, f := range fs {
		sum += f
	}
	return sum
}

// scaled applies the instrument's unit to a scalar value.
func (b *builder) scaled(mc *metricCache, v value) value {
	if !v.ok || mc.unit.scale == 1 {
		return v
	}
	var f float64
	switch v.kind {
	case kindInt:
		f = float64(int64(v.bits))
	case kindUint:
		f = float64(v.bits)
	default:
		f = math.Float64frombits(v.bits)
	}
	return value{stat: v.stat, bits: math.Float64bits(f * mc.unit.scale), kind: kindFloat, ok: true}
}

// addHist serves hw as a point of series s, or merges it into s's line.
func (b *builder) addHist(mc *metricCache, s *seriesCache, hw *histWindow) {
	if s.line == s {
		b.histStats(mc, b.addPoint(mc, s, shapeHist, numHistStats), hw)
		return
	}
	a := b.accFor(mc, s.line, stateHistogram)
	a.hw.clamped = a.hw.clamped || hw.clamped
	if hw.count == 0 {
		return
	}
	a.hw.count += hw.count
	a.sums = append(a.sums, hw.sum)
	if a.nonEmpty == 0 {
		a.hw.min, a.hw.max, a.hw.hasMin, a.hw.hasMax = hw.min, hw.max, hw.hasMin, hw.hasMax
	} else {
		a.hw.hasMin = a.hw.hasMin && hw.hasMin
		a.hw.hasMax = a.hw.hasMax && hw.hasMax
		a.hw.min, a.hw.max = math.Min(a.hw.min, hw.min), math.Max(a.hw.max, hw.max)
	}
	a.nonEmpty++
	if !a.bucketsOK {
		return
	}
	w := &hw.walk
	switch {
	case a.nonEmpty == 1 && !w.exponential:
		a.bounds = append(a.bounds, w.bounds...)
		a.counts = append(a.counts, w.counts...)
	case a.nonEmpty == 1:
		a.hw.walk.exponential = true
		a.scale, a.zero, a.zt = w.scale, w.zeroCount, w.zeroThreshold
		a.posOff, a.negOff = w.posOffset, w.negOffset
		a.pos = append(a.pos, w.pos...)
		a.neg = append(a.neg, w.neg...)
	case w.exponential != a.hw.walk.exponential:
		a.bucketsOK = false
	case !w.exponential:
		if !slices.Equal(a.bounds, w.bounds) || len(a.counts) != len(w.counts) {
			a.bucketsOK = false // one instrument's buckets differ: no quantiles
			return
		}
		for i, c := range w.counts {
			a.counts[i] += c
		}
	default:
		b.mergeExp(a, w)
	}
}

// mergeExp adds the exponential buckets of w into a: both are brought to the
// lower scale, lowered further until the combined range of each side fits
// in maxMergedBuckets, and added bucket by bucket.
func (b *builder) mergeExp(a *lineAcc, w *bucketWalker) {
	scale := min(a.scale, w.scale)
	for scale > -10 && (!fits(a.posOff, len(a.pos), a.scale, w.posOffset, len(w.pos), w.scale, scale) ||
		!fits(a.negOff, len(a.neg), a.scale, w.negOffset, len(w.neg), w.scale, scale)) {
		scale--
	}
	a.pos, a.posOff = b.rebucket(a.pos, a.posOff, a.scale, w.pos, w.posOffset, w.scale, scale)
	a.neg, a.negOff = b.rebucket(a.neg, a.negOff, a.scale, w.neg, w.negOffset, w.scale, scale)
	a.scale = scale
	a.zero += w.zeroCount
	a.zt = math.Max(a.zt, w.zeroThreshold)
}

// indexRange is the range of bucket indices of counts at offset off and
// scale from, once brought down to scale to; ok is false when there are no
// buckets.
func indexRange(off int32, n int, from, to int32) (lo, hi int64, ok bool) {
	if n == 0 {
		return 0, 0, false
	}
	shift := from - to
	return int64(off) >> shift, (int64(off) + int64(n) - 1) >> shift, true
}

func fits(aOff int32, an int, aScale int32, wOff int32, wn int, wScale int32, scale int32) bool {
	lo, hi, ok := combinedRange(aOff, an, aScale, wOff, wn, wScale, scale)
	return !ok || hi-lo+1 <= maxMergedBuckets
}

func combinedRange(aOff int32, an int, aScale int32, wOff int32, wn int, wScale int32, scale int32) (lo, hi int64, ok bool) {
	alo, ahi, aok := indexRange(aOff, an, aScale, scale)
	wlo, whi, wok := indexRange(wOff, wn, wScale, scale)
	switch {
	case aok && wok:
		return min(alo, wlo), max(ahi, whi), true
	case aok:
		return alo, ahi, true
	case wok:
		return wlo, whi, true
	}
	return 0, 0, false
}

// rebucket returns the sum of two sides of exponential buckets at scale,
// reusing dst's storage.
func (b *builder) rebucket(dst []uint64, dOff int32, dScale int32, src []uint64, sOff int32, sScale int32, scale int32) ([]uint64, int32) {
	lo, hi, ok := combinedRange(dOff, len(dst), dScale, sOff, len(src), sScale, scale)
	if !ok {
		return dst[:0], 0
	}
	tmp := slices.Grow(b.mergeBuf[:0], int(hi-lo+1))[:hi-lo+1]
	clear(tmp)
	for i, c := range dst {
		tmp[((int64(dOff)+int64(i))>>(dScale-scale))-lo] += c
	}
	for i, c := range src {
		tmp[((int64(sOff)+int64(i))>>(sScale-scale))-lo] += c
	}
	b.mergeBuf = tmp
	return append(dst[:0], tmp...), int32(lo)
}

// addSummaryLine merges a summary's count and sum into s's line: quantiles
// cannot be combined, so a merged summary serves count and sum only.
func (b *builder) addSummaryLine(mc *metricCache, s *seriesCache, count uint64, sum float64) {
	a := b.accFor(mc, s.line, stateSummary)
	a.hw.count += count
	a.sums = append(a.sums, sum)
}

// finishLines turns the merged lines of this export into points.
func (b *builder) finishLines() {
	for _, mc := range b.active {
		for _, l := range mc.touched {
			a := l.acc
			a.hw.sum = sortedSum(a.sums)
			switch a.kind {
			case stateSum:
				b.addScalar(mc, l, value{bits: lineBits(a), kind: a.vkind, ok: a.ok})
			case stateSummary:
				vs := b.addPoint(mc, l, shapeList, 2)
				b.summaryStats(mc, vs, a.hw.count, a.hw.sum)
			default:
				hw := a.hw
				if a.bucketsOK && a.nonEmpty > 0 {
					if a.hw.walk.exponential {
						hw.walk = exponentialBuckets(a.scale, a.zero, a.zt, a.posOff, a.pos, a.negOff, a.neg)
					} else {
						hw.walk = explicitBuckets(a.bounds, a.counts)
					}
				} else if a.nonEmpty > 0 {
					hw.walk = bucketWalker{} // no quantiles
					hw.noBuckets = true
				}
				b.histStats(mc, b.addPoint(mc, l, shapeHist, numHistStats), &hw)
			}
		}
	}
}

func lineBits(a *lineAcc) uint64 {
	if a.vkind == kindFloat {
		return math.Float64bits(sortedSum(a.fs))
	}
	return uint64(a.i)
}
