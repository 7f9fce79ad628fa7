package harness

import (
	"math"
	"testing"
)

// Every value lands in the bucket whose range holds it, and the bucket is
// narrower than 1/32 of the value: quantiles are off by at most 1.6 %.
func TestBucketsHoldTheirValues(t *testing.T) {
	check := func(v uint64) {
		i := bucketOf(v)
		if i < 0 || i >= latencyBuckets {
			t.Fatalf("bucketOf(%d) = %d, outside [0, %d)", v, i, latencyBuckets)
		}
		lo, w := lowest(i)
		if v < lo || v-lo >= w {
			t.Fatalf("%d in bucket %d = [%d, %d+%d)", v, i, lo, lo, w)
		}
		if w > 1 && float64(w) > float64(v)/32 {
			t.Fatalf("%d in a bucket %d wide: more than 1/32", v, w)
		}
	}
	for v := range uint64(100000) {
		check(v)
	}
	for e := range 64 {
		p := uint64(1) << e
		check(p)
		check(p - 1)
		check(p + 1)
	}
	check(math.MaxUint64)
	check(math.MaxInt64)
}
