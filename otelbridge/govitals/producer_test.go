package govitals

import (
	"context"
	"math"
	"runtime"
	"slices"
	"testing"

	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

func pauseHistogram(t *testing.T, sms []metricdata.ScopeMetrics) metricdata.HistogramDataPoint[float64] {
	t.Helper()
	if len(sms) != 1 || sms[0].Scope.Name != ScopeName || sms[0].Scope.Version != Version {
		t.Fatalf("scopes %+v", sms)
	}
	ms := sms[0].Metrics
	if len(ms) != 1 {
		t.Fatalf("%d metrics, want 1", len(ms))
	}
	m := ms[0]
	if m.Name != "go.memory.gc.pause.duration" || m.Unit != "s" || m.Description == "" {
		t.Errorf("metric %q unit %q description %q", m.Name, m.Unit, m.Description)
	}
	h, ok := m.Data.(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("data is %T, want Histogram[float64]", m.Data)
	}
	if h.Temporality != metricdata.CumulativeTemporality || len(h.DataPoints) != 1 {
		t.Fatalf("temporality %v, %d data points", h.Temporality, len(h.DataPoints))
	}
	p := h.DataPoints[0]
	if p.Attributes.Len() != 0 {
		t.Errorf("attributes %v", p.Attributes.ToSlice())
	}
	if len(p.BucketCounts) != len(p.Bounds)+1 {
		t.Errorf("%d bucket counts for %d bounds", len(p.BucketCounts), len(p.Bounds))
	}
	for i := 1; i < len(p.Bounds); i++ {
		if !(p.Bounds[i] > p.Bounds[i-1]) || math.IsInf(p.Bounds[i], 0) {
			t.Fatalf("bounds not finite and increasing at %d: %v", i, p.Bounds[i-1:i+1])
		}
	}
	var n uint64
	for _, c := range p.BucketCounts {
		n += c
	}
	if n != p.Count {
		t.Errorf("buckets hold %d, Count is %d", n, p.Count)
	}
	if p.Sum < 0 || (p.Count > 0 && p.Sum > float64(p.Count)*p.Bounds[len(p.Bounds)-1]) {
		t.Errorf("sum %v for %d pauses", p.Sum, p.Count)
	}
	if !p.StartTime.Before(p.Time) {
		t.Errorf("start %v not before time %v", p.StartTime, p.Time)
	}
	return p
}

func TestProducerGCPauses(t *testing.T) {
	p := NewProducer()
	runtime.GC()
	sms, err := p.Produce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	first := pauseHistogram(t, sms)
	// A cycle stops the world twice: sweep termination and mark termination.
	if first.Count < 2 || first.Sum <= 0 {
		t.Errorf("count %d, sum %v after runtime.GC", first.Count, first.Sum)
	}
	kept := slices.Clone(first.BucketCounts)

	runtime.GC()
	sms, err = p.Produce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	second := pauseHistogram(t, sms)
	if second.Count < first.Count+2 {
		t.Errorf("count %d after another runtime.GC, was %d", second.Count, first.Count)
	}
	// The runtime overwrites its counts on every read: a data point handed
	// out before must not change under the exporter.
	if !slices.Equal(first.BucketCounts, kept) {
		t.Error("an earlier data point's bucket counts changed with a later Produce")
	}
}

func TestProducerThroughReader(t *testing.T) {
	_, reader := newReader(t, NewProducer())
	runtime.GC()
	var found []metricdata.ScopeMetrics
	for _, sm := range collect(t, reader).ScopeMetrics {
		if sm.Scope.Name == ScopeName {
			found = append(found, sm)
		}
	}
	pauseHistogram(t, found)
}

func TestOtelBounds(t *testing.T) {
	inf := math.Inf(1)
	f := func(runtimeBuckets, wantBounds []float64, wantCounts int, wantErr bool) {
		t.Helper()
		bounds, n, err := otelBounds(runtimeBuckets)
		if wantErr {
			if err == nil {
				t.Errorf("otelBounds(%v): no error", runtimeBuckets)
			}
			return
		}
		if err != nil || !slices.Equal(bounds, wantBounds) || n != wantCounts {
			t.Errorf("otelBounds(%v) = %v, %d, %v; want %v, %d", runtimeBuckets, bounds, n, err, wantBounds, wantCounts)
		}
	}
	f([]float64{-inf, 0, 1, inf}, []float64{0, 1}, 3, false) // runtime time histograms
	f([]float64{0, 1, 2}, []float64{1, 2}, 3, false)         // finite top: OTel's +Inf bucket stays empty
	f([]float64{0, inf}, []float64{}, 1, false)
	f([]float64{0}, nil, 0, true)
	f(nil, nil, 0, true)
}
