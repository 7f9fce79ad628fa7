package govitals

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// BenchmarkCollect is one full collection of everything this package emits,
// SDK aggregation included, as a PeriodicReader would run it once a minute.
func BenchmarkCollect(b *testing.B) {
	reader := sdkmetric.NewManualReader(sdkmetric.WithProducer(NewProducer()))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	reg, err := Start(WithMeterProvider(mp))
	if err != nil {
		b.Fatal(err)
	}
	defer reg.Unregister()
	var rm metricdata.ResourceMetrics
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := reader.Collect(ctx, &rm); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkObserve is the callback alone: one metrics.Read, the operating
// system's numbers and the observations, against a no-op Observer.
func BenchmarkObserve(b *testing.B) {
	mp := sdkmetric.NewMeterProvider()
	defer mp.Shutdown(context.Background())
	v, err := newVitals(mp.Meter("bench"))
	if err != nil {
		b.Fatal(err)
	}
	var o metric.Observer = discardObserver{} // boxed once, not per call
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := v.observe(ctx, o); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadOS is the platform part alone: gopsutil and getrusage, against
// a no-op Observer.
func BenchmarkReadOS(b *testing.B) {
	mp := sdkmetric.NewMeterProvider()
	defer mp.Shutdown(context.Background())
	v, err := newVitals(mp.Meter("bench"))
	if err != nil {
		b.Fatal(err)
	}
	var o metric.Observer = discardObserver{}
	b.ReportAllocs()
	for b.Loop() {
		v.observeProcess(o)
	}
}

func BenchmarkProduce(b *testing.B) {
	p := NewProducer()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Produce(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

type discardObserver struct{ metric.Observer }

func (discardObserver) ObserveFloat64(metric.Float64Observable, float64, ...metric.ObserveOption) {}
func (discardObserver) ObserveInt64(metric.Int64Observable, int64, ...metric.ObserveOption)       {}
