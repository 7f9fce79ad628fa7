package govitals

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime/metrics"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/goconv"
)

const gcPausesKey = "/sched/pauses/total/gc:seconds"

// processStart stands for the start of the cumulative GC pause histogram,
// which the runtime counts from program start. It is set once, when the
// package is loaded, and never changes.
var processStart = time.Now()

// errNoPauseHistogram is returned by Produce on a Go runtime that does not
// publish /sched/pauses/total/gc:seconds.
var errNoPauseHistogram = errors.New("govitals: runtime/metrics has no " + gcPausesKey)

// NewProducer returns a producer of go.memory.gc.pause.duration, the
// distribution of GC stop-the-world pauses. Register it on a reader with
// sdkmetric.WithProducer, next to contrib runtime's NewProducer, which gives
// go.schedule.duration.
//
// It is a Producer rather than an instrument of [Start] because the runtime
// already keeps the histogram: an observable instrument cannot be a
// histogram, and re-recording runtime buckets into a synchronous one would
// need the individual pauses, which the runtime does not give. The runtime's
// buckets become the OTel buckets as they are. The histogram is cumulative
// from program start whatever temporality the reader asks for. Its sum is
// estimated from the bucket lower bounds, as contrib runtime does for
// go.schedule.duration: the runtime gives no exact sum, and its buckets are
// narrow enough (a few percent) for the estimate to serve for a mean.
func NewProducer() sdkmetric.Producer {
	return &producer{samples: []metrics.Sample{{Name: gcPausesKey}}}
}

type producer struct {
	mu      sync.Mutex
	samples []metrics.Sample
	// bounds are the OTel upper bounds derived from the runtime buckets,
	// computed once and shared read-only by every data point handed out.
	bounds   []float64
	nCount   int // len(BucketCounts) that goes with bounds
	nRuntime int // len(Buckets) of the runtime histogram bounds came from
}

var _ sdkmetric.Producer = (*producer)(nil)

// Produce reads the runtime histogram and returns it as one cumulative
// histogram data point. The data point owns its counts: the SDK and exporters
// may keep reading it while a later collection reads the runtime again.
func (p *producer) Produce(context.Context) ([]metricdata.ScopeMetrics, error) {
	p.mu.Lock()
	metrics.Read(p.samples)
	now := time.Now()
	val := p.samples[0].Value
	if val.Kind() != metrics.KindFloat64Histogram {
		p.mu.Unlock()
		return nil, errNoPauseHistogram
	}
	h := val.Float64Histogram()
	if p.bounds == nil || len(h.Buckets) != p.nRuntime {
		var err error
		if p.bounds, p.nCount, err = otelBounds(h.Buckets); err != nil {
			p.mu.Unlock()
			return nil, err
		}
		p.nRuntime = len(h.Buckets)
	}
	counts := make([]uint64, p.nCount)
	copy(counts, h.Counts)
	bounds := p.bounds
	p.mu.Unlock()

	var count uint64
	var sum float64
	for i, c := range counts {
		count += c
		if i > 0 && c > 0 {
			sum += bounds[i-1] * float64(c) // lower bound of bucket i
		}
	}
	return []metricdata.ScopeMetrics{{
		Scope: instrumentation.Scope{Name: ScopeName, Version: Version, SchemaURL: semconv.SchemaURL},
		Metrics: []metricdata.Metrics{{
			Name:        goconv.MemoryGCPauseDuration{}.Name(),
			Description: goconv.MemoryGCPauseDuration{}.Description(),
			Unit:        goconv.MemoryGCPauseDuration{}.Unit(),
			Data: metricdata.Histogram[float64]{
				Temporality: metricdata.CumulativeTemporality,
				DataPoints: []metricdata.HistogramDataPoint[float64]{{
					Attributes:   *attribute.EmptySet(),
					StartTime:    processStart,
					Time:         now,
					Count:        count,
					Sum:          sum,
					Bounds:       bounds,
					BucketCounts: counts,
				}},
			},
		}},
	}}, nil
}

// otelBounds turns runtime buckets (every boundary, lower ones included) into
// OTel explicit bounds (upper bounds, +Inf implied), and says how many bucket
// counts go with them. The runtime's first boundary is the lower edge of its
// first bucket and is dropped; a final +Inf is implied in OTel and dropped;
// if the runtime's last boundary is finite, OTel still has an implicit +Inf
// bucket, which stays empty.
func otelBounds(buckets []float64) ([]float64, int, error) {
	if len(buckets) < 2 {
		return nil, 0, fmt.Errorf("govitals: %s: %d bucket boundaries, want at least 2", gcPausesKey, len(buckets))
	}
	b := buckets[1:]
	nCount := len(buckets) - 1
	if math.IsInf(b[len(b)-1], 1) {
		b = b[:len(b)-1]
	} else {
		nCount++
	}
	return append([]float64(nil), b...), nCount, nil
}
