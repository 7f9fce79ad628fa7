package forward

import (
	"context"
	"fmt"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// discard is an inner exporter that only counts, to measure the splitter.
type discard struct{ requests int }

func (d *discard) Temporality(k sdkmetric.InstrumentKind) metricdata.Temporality {
	return sdkmetric.DefaultTemporalitySelector(k)
}
func (d *discard) Aggregation(k sdkmetric.InstrumentKind) sdkmetric.Aggregation {
	return sdkmetric.DefaultAggregationSelector(k)
}
func (d *discard) Export(context.Context, *metricdata.ResourceMetrics) error {
	d.requests++
	return nil
}
func (d *discard) ForceFlush(context.Context) error { return nil }
func (d *discard) Shutdown(context.Context) error   { return nil }

func BenchmarkEstimateRequest(b *testing.B) {
	for _, n := range []int{100, 10_000, 60_000} {
		rm := sampleMetrics(n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				estimateRequest(rm)
			}
		})
	}
}

// BenchmarkSplitExport is the splitter's overhead on top of the real
// exporter's transform and marshal, which it does not replace.
func BenchmarkSplitExport(b *testing.B) {
	for _, n := range []int{100, 10_000, 60_000} {
		rm := sampleMetrics(n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			d := &discard{}
			e := &splitExporter{inner: d, limit: DefaultMaxRequestSize, timeout: DefaultTimeout, stats: new(counters)}
			b.ReportAllocs()
			for b.Loop() {
				if err := e.Export(context.Background(), rm); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(d.requests)/float64(b.N), "requests/op")
		})
	}
}
