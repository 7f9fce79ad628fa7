package exporter

import "math"

// quantileRanks are the quantiles /stats estimates for every histogram, in
// ascending order, with the stat names they are served under. They match the
// suffixes Mackerel's OTLP ingest gives histograms, so one name means the same
// thing on both paths.
var quantileRanks = [...]struct {
	q    float64
	stat string
}{{0.50, "p50"}, {0.90, "p90"}, {0.95, "p95"}, {0.99, "p99"}}

// bucketWalker yields the buckets of a histogram in ascending order of value:
// lo and hi bound the bucket (either may be infinite), n is its count. It is
// a struct rather than a closure so that walking allocates nothing.
type bucketWalker struct {
	exponential bool

	bounds []float64 // explicit
	counts []uint64

	scale                int32 // exponential
	zeroCount            uint64
	zeroThreshold        float64
	posOffset, negOffset int32
	pos, neg             []uint64
}

// estimateQuantiles fills out with the quantileRanks estimated from the
// buckets: the rank is located in its bucket and interpolated linearly
// between the bucket's bounds, an infinite bound being replaced by the
// recorded extreme (or the other bound), and the result is clamped to the
// recorded min and max. It makes no allocation.
func estimateQuantiles(out *[len(quantileRanks)]float64, count uint64, min, max float64, hasMin, hasMax bool, walk *bucketWalker) {
	next := 0
	var cum float64
	total := float64(count)
	lastHi := math.NaN()
	walk.walk(func(lo, hi float64, n uint64) bool {
		if n == 0 {
			return true
		}
		if math.IsInf(lo, -1) {
			if hasMin {
				lo = min
			} else {
				lo = hi
			}
		}
		if math.IsInf(hi, 1) {
			if hasMax {
				hi = max
			} else {
				hi = lo
			}
		}
		lastHi = hi
		fn := float64(n)
		for next < len(quantileRanks) {
			rank := quantileRanks[next].q * total
			if rank > cum+fn {
				break
			}
			v := lo + (hi-lo)*((rank-cum)/fn)
			out[next] = clamp(v, min, max, hasMin, hasMax)
			next++
		}
		cum += fn
		return next < len(quantileRanks)
	})
	// Bucket counts that add up to less than count (malformed input) leave
	// the highest ranks unplaced: they sit at the top of the data.
	for ; next < len(quantileRanks); next++ {
		v := lastHi
		if hasMax {
			v = max
		}
		out[next] = clamp(v, min, max, hasMin, hasMax)
	}
}

func clamp(v, min, max float64, hasMin, hasMax bool) float64 {
	if hasMin && v < min {
		v = min
	}
	if hasMax && v > max {
		v = max
	}
	return v
}

// explicitBuckets walks an explicit-bucket histogram: bucket i holds the values
// in (bounds[i-1], bounds[i]], the first from -Inf and the last to +Inf.
func explicitBuckets(bounds []float64, counts []uint64) bucketWalker {
	return bucketWalker{bounds: bounds, counts: counts}
}

// exponentialBuckets walks a base-2 exponential histogram: positive bucket at
// index i holds (base^i, base^(i+1)] with base = 2^(2^-scale), negative
// buckets mirror it, and the zero bucket holds [-threshold, threshold].
func exponentialBuckets(scale int32, zeroCount uint64, zeroThreshold float64, posOffset int32, pos []uint64, negOffset int32, neg []uint64) bucketWalker {
	return bucketWalker{
		exponential: true, scale: scale, zeroCount: zeroCount, zeroThreshold: zeroThreshold,
		posOffset: posOffset, pos: pos, negOffset: negOffset, neg: neg,
	}
}

// walk calls yield for each bucket, in ascending order of value, until it
// returns false.
func (w *bucketWalker) walk(yield func(lo, hi float64, n uint64) bool) {
	if !w.exponential {
		bounds, counts := w.bounds, w.counts
		nb := len(counts)
		if nb > len(bounds)+1 {
			nb = len(bounds) + 1
		}
		for i := 0; i < nb; i++ {
			lo, hi := math.Inf(-1), math.Inf(1)
			if i > 0 {
				lo = bounds[i-1]
			}
			if i < len(bounds) {
				hi = bounds[i]
			}
			if !yield(lo, hi, counts[i]) {
				return
			}
		}
		return
	}
	scale, neg, pos := w.scale, w.neg, w.pos
	for i := len(neg) - 1; i >= 0; i-- {
		idx := int64(w.negOffset) + int64(i)
		if !yield(-expBound(scale, idx+1), -expBound(scale, idx), neg[i]) {
			return
		}
	}
	if !yield(-w.zeroThreshold, w.zeroThreshold, w.zeroCount) {
		return
	}
	for i := range pos {
		idx := int64(w.posOffset) + int64(i)
		if !yield(expBound(scale, idx), expBound(scale, idx+1), pos[i]) {
			return
		}
	}
}

// expBound is the lower bound base^index of an exponential bucket.
func expBound(scale int32, index int64) float64 {
	return math.Exp2(math.Ldexp(float64(index), -int(scale)))
}
