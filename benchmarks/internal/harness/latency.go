package harness

import (
	"math/bits"
	"time"
)

// subBuckets per power of two: a value is kept within 1/64 (1.6 %) of
// itself, like an HDR histogram with two significant digits.
const (
	subBits    = 6
	subBuckets = 1 << subBits
	// The largest 64-bit value lands in bucket (64-subBits)*32+63.
	latencyBuckets = (64 - subBits + 2) * subBuckets / 2
)

// Latency is a fixed-size log-linear histogram of durations. Recording
// allocates nothing and takes no lock: each load worker owns one, and they
// are merged at the end.
type Latency struct {
	counts [latencyBuckets]uint64
	n      uint64
	max    time.Duration
}

func bucketOf(v uint64) int {
	if v < subBuckets {
		return int(v)
	}
	e := bits.Len64(v) - subBits // v>>e is in [32, 64)
	return e*subBuckets/2 + int(v>>e)
}

// lowest returns the smallest value of bucket i, and the bucket's width.
func lowest(i int) (uint64, uint64) {
	if i < subBuckets {
		return uint64(i), 1
	}
	e := i/(subBuckets/2) - 1
	m := uint64(i%(subBuckets/2) + subBuckets/2)
	return m << e, 1 << e
}

// Record adds one duration.
func (l *Latency) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	l.counts[bucketOf(uint64(d))]++
	l.n++
	l.max = max(l.max, d)
}

// Merge adds o's durations to l.
func (l *Latency) Merge(o *Latency) {
	for i, c := range o.counts {
		l.counts[i] += c
	}
	l.n += o.n
	l.max = max(l.max, o.max)
}

// Count is the number of durations recorded.
func (l *Latency) Count() uint64 { return l.n }

// Quantile returns the q-quantile (0 < q ≤ 1), the middle of the bucket that
// holds it; 0 when nothing was recorded.
func (l *Latency) Quantile(q float64) time.Duration {
	if l.n == 0 {
		return 0
	}
	rank := uint64(q*float64(l.n) + 0.5)
	rank = min(max(rank, 1), l.n)
	var seen uint64
	for i, c := range l.counts {
		seen += c
		if seen >= rank {
			lo, w := lowest(i)
			return min(time.Duration(lo+w/2), l.max)
		}
	}
	return l.max
}

// Max is the largest duration recorded.
func (l *Latency) Max() time.Duration { return l.max }
