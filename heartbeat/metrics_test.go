package heartbeat

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// collect returns the heartbeat scope's metrics by name, through the real
// SDK: the same path the exporter behind /stats reads.
func collect(t *testing.T, reader *sdkmetric.ManualReader) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != ScopeName {
			continue
		}
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// byVital maps a gauge's points by their vital name; a missing metric is
// an empty map.
func byVital[N int64 | float64](t *testing.T, metrics map[string]metricdata.Metrics, name string) map[string]N {
	t.Helper()
	out := map[string]N{}
	m, ok := metrics[name]
	if !ok {
		return out
	}
	g, ok := m.Data.(metricdata.Gauge[N])
	if !ok {
		t.Fatalf("%s: data %T, want a gauge", m.Name, m.Data)
	}
	for _, dp := range g.DataPoints {
		v, ok := dp.Attributes.Value(attribute.Key(AttributeVitalName))
		if !ok || dp.Attributes.Len() != 1 {
			t.Fatalf("%s: attributes %v, want only %s", m.Name, dp.Attributes.ToSlice(), AttributeVitalName)
		}
		out[v.AsString()] = dp.Value
	}
	return out
}

func TestMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())

	db := &countingVital{name: "db", delay: 20 * time.Millisecond}
	h := mustNew(t, nil, WithMeterProvider(mp), WithCacheTTL(time.Hour), WithVitals(
		db,
		VitalFunc("cache", func(context.Context) error { return errors.New("down") }),
	))

	// Nothing is reported before the first run, and collecting runs nothing.
	before := collect(t, reader)
	if s := byVital[int64](t, before, MetricVitalStatus); len(s) != 0 {
		t.Errorf("before any run: status %v, want none", s)
	}
	if db.calls.Load() != 0 {
		t.Fatal("collecting ran a vital")
	}

	do(h, "GET", "/heartbeat")
	got := collect(t, reader)
	if s := byVital[int64](t, got, MetricVitalStatus); len(s) != 2 || s["db"] != 1 || s["cache"] != 0 {
		t.Errorf("status = %v, want db:1 cache:0", s)
	}
	d := byVital[float64](t, got, MetricVitalDuration)
	if len(d) != 2 || d["db"] < 0.02 || d["cache"] < 0 {
		t.Errorf("duration = %v, want db >= 0.02 s and cache >= 0", d)
	}
	if u := got[MetricVitalDuration].Unit; u != "s" {
		t.Errorf("duration unit %q, want s", u)
	}
	if u := got[MetricVitalStatus].Unit; u != "1" {
		t.Errorf("status unit %q, want 1", u)
	}
	for range 3 {
		collect(t, reader)
	}
	if n := db.calls.Load(); n != 1 {
		t.Errorf("vital ran %d times, want 1: collecting must only read the last run", n)
	}

	// Shutdown unregisters: the instruments report nothing more.
	if err := h.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	after := collect(t, reader)
	if s := byVital[int64](t, after, MetricVitalStatus); len(s) != 0 {
		t.Errorf("after Shutdown: status %v, want none", s)
	}
}
