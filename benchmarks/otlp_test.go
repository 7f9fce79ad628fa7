package benchmarks_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	"go.opentelemetry.io/otel/sdk/resource"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/proto"

	"github.com/komachi-go/komachi/internal/testutil/otlptest"
)

// fromOTLP turns the requests an OTLP collector received back into the
// metricdata an SDK reader hands its exporter, so that another exporter can
// read what the app forwarded: the resource, each scope with its metrics,
// gauges, sums, histograms and exponential histograms with every point.
// Exemplars are left out. OTLP does not say whether a histogram recorded
// integers, so histograms come back as float64 (the Prometheus exporter
// writes both alike). The requests must come from one MeterProvider, so
// one resource; the points of one metric split over several requests (the
// reader's batches) are joined again.
func fromOTLP(reqs []otlptest.Request) (*resource.Resource, []metricdata.ScopeMetrics, error) {
	var c converter
	var first *metricpb.ResourceMetrics
	var scopes []metricdata.ScopeMetrics
	scopeIndex := map[string]int{}  // scope key → index in scopes
	metricIndex := map[string]int{} // scope key, metric name → index in its scope's Metrics
	for _, req := range reqs {
		for _, rm := range req.Body.GetResourceMetrics() {
			if first == nil {
				first = rm
			} else if !proto.Equal(first.GetResource(), rm.GetResource()) || first.GetSchemaUrl() != rm.GetSchemaUrl() {
				return nil, nil, fmt.Errorf("two resources: %v and %v", first.GetResource(), rm.GetResource())
			}
			for _, sm := range rm.GetScopeMetrics() {
				scope := instrumentation.Scope{
					Name:      sm.GetScope().GetName(),
					Version:   sm.GetScope().GetVersion(),
					SchemaURL: sm.GetSchemaUrl(),
				}
				if kvs := sm.GetScope().GetAttributes(); len(kvs) > 0 {
					// The SDK leaves a scope without attributes the zero
					// Set, which compares unequal to an empty NewSet.
					scope.Attributes = c.set(kvs)
				}
				skey := fmt.Sprintf("%q %q %q %q", scope.Name, scope.Version, scope.SchemaURL,
					scope.Attributes.Encoded(attribute.DefaultEncoder()))
				si, ok := scopeIndex[skey]
				if !ok {
					si = len(scopes)
					scopeIndex[skey] = si
					scopes = append(scopes, metricdata.ScopeMetrics{Scope: scope})
				}
				for _, m := range sm.GetMetrics() {
					md, err := c.metric(m)
					if err != nil {
						return nil, nil, fmt.Errorf("%s: %w", m.GetName(), err)
					}
					mkey := skey + " " + m.GetName()
					mi, seen := metricIndex[mkey]
					if !seen {
						metricIndex[mkey] = len(scopes[si].Metrics)
						scopes[si].Metrics = append(scopes[si].Metrics, md)
						continue
					}
					joined, err := joinPoints(scopes[si].Metrics[mi].Data, md.Data)
					if err != nil {
						return nil, nil, fmt.Errorf("%s: %w", m.GetName(), err)
					}
					scopes[si].Metrics[mi].Data = joined
				}
			}
		}
	}
	if first == nil {
		return nil, nil, fmt.Errorf("no resource metrics in %d requests", len(reqs))
	}
	res := resource.NewWithAttributes(first.GetSchemaUrl(), c.attrs(first.GetResource().GetAttributes())...)
	if c.err != nil {
		return nil, nil, c.err
	}
	return res, scopes, nil
}

// converter converts OTLP data; err is the first attribute it could not
// convert.
type converter struct{ err error }

// metric converts one metric. A gauge or sum is int64 or float64
// as its first point is; a summary has no place in the SDK's Prometheus
// path and is an error, as is an empty or mixed metric.
func (c *converter) metric(m *metricpb.Metric) (metricdata.Metrics, error) {
	md := metricdata.Metrics{Name: m.GetName(), Description: m.GetDescription(), Unit: m.GetUnit()}
	switch d := m.GetData().(type) {
	case *metricpb.Metric_Gauge:
		pts := d.Gauge.GetDataPoints()
		if isInt(pts) {
			ps, err := numberPoints[int64](c, pts)
			md.Data = metricdata.Gauge[int64]{DataPoints: ps}
			return md, err
		}
		ps, err := numberPoints[float64](c, pts)
		md.Data = metricdata.Gauge[float64]{DataPoints: ps}
		return md, err
	case *metricpb.Metric_Sum:
		pts := d.Sum.GetDataPoints()
		tempo, mono := temporality(d.Sum.GetAggregationTemporality()), d.Sum.GetIsMonotonic()
		if isInt(pts) {
			ps, err := numberPoints[int64](c, pts)
			md.Data = metricdata.Sum[int64]{DataPoints: ps, Temporality: tempo, IsMonotonic: mono}
			return md, err
		}
		ps, err := numberPoints[float64](c, pts)
		md.Data = metricdata.Sum[float64]{DataPoints: ps, Temporality: tempo, IsMonotonic: mono}
		return md, err
	case *metricpb.Metric_Histogram:
		h := metricdata.Histogram[float64]{Temporality: temporality(d.Histogram.GetAggregationTemporality())}
		for _, p := range d.Histogram.GetDataPoints() {
			hp := metricdata.HistogramDataPoint[float64]{
				Attributes:   c.set(p.GetAttributes()),
				StartTime:    unixNano(p.GetStartTimeUnixNano()),
				Time:         unixNano(p.GetTimeUnixNano()),
				Count:        p.GetCount(),
				Bounds:       p.GetExplicitBounds(),
				BucketCounts: p.GetBucketCounts(),
				Sum:          p.GetSum(),
			}
			if p.Min != nil {
				hp.Min = metricdata.NewExtrema(p.GetMin())
			}
			if p.Max != nil {
				hp.Max = metricdata.NewExtrema(p.GetMax())
			}
			h.DataPoints = append(h.DataPoints, hp)
		}
		md.Data = h
		return md, nil
	case *metricpb.Metric_ExponentialHistogram:
		h := metricdata.ExponentialHistogram[float64]{Temporality: temporality(d.ExponentialHistogram.GetAggregationTemporality())}
		for _, p := range d.ExponentialHistogram.GetDataPoints() {
			hp := metricdata.ExponentialHistogramDataPoint[float64]{
				Attributes:    c.set(p.GetAttributes()),
				StartTime:     unixNano(p.GetStartTimeUnixNano()),
				Time:          unixNano(p.GetTimeUnixNano()),
				Count:         p.GetCount(),
				Sum:           p.GetSum(),
				Scale:         p.GetScale(),
				ZeroCount:     p.GetZeroCount(),
				ZeroThreshold: p.GetZeroThreshold(),
				PositiveBucket: metricdata.ExponentialBucket{
					Offset: p.GetPositive().GetOffset(), Counts: p.GetPositive().GetBucketCounts(),
				},
				NegativeBucket: metricdata.ExponentialBucket{
					Offset: p.GetNegative().GetOffset(), Counts: p.GetNegative().GetBucketCounts(),
				},
			}
			if p.Min != nil {
				hp.Min = metricdata.NewExtrema(p.GetMin())
			}
			if p.Max != nil {
				hp.Max = metricdata.NewExtrema(p.GetMax())
			}
			h.DataPoints = append(h.DataPoints, hp)
		}
		md.Data = h
		return md, nil
	}
	return md, fmt.Errorf("%T: not a gauge, sum or histogram", m.GetData())
}

// isInt reports whether the first point holds an integer.
func isInt(pts []*metricpb.NumberDataPoint) bool {
	if len(pts) == 0 {
		return false
	}
	_, ok := pts[0].GetValue().(*metricpb.NumberDataPoint_AsInt)
	return ok
}

func numberPoints[N int64 | float64](c *converter, pts []*metricpb.NumberDataPoint) ([]metricdata.DataPoint[N], error) {
	if len(pts) == 0 {
		return nil, fmt.Errorf("no points")
	}
	var out []metricdata.DataPoint[N]
	for _, p := range pts {
		var v N
		switch x := p.GetValue().(type) {
		case *metricpb.NumberDataPoint_AsInt:
			i, ok := any(&v).(*int64)
			if !ok {
				return nil, fmt.Errorf("an integer point among doubles")
			}
			*i = x.AsInt
		case *metricpb.NumberDataPoint_AsDouble:
			f, ok := any(&v).(*float64)
			if !ok {
				return nil, fmt.Errorf("a double point among integers")
			}
			*f = x.AsDouble
		default:
			return nil, fmt.Errorf("a point without a value")
		}
		out = append(out, metricdata.DataPoint[N]{
			Attributes: c.set(p.GetAttributes()),
			StartTime:  unixNano(p.GetStartTimeUnixNano()),
			Time:       unixNano(p.GetTimeUnixNano()),
			Value:      v,
		})
	}
	return out, nil
}

// joinPoints appends the points of b to a, two parts of one metric.
func joinPoints(a, b metricdata.Aggregation) (metricdata.Aggregation, error) {
	switch x := a.(type) {
	case metricdata.Gauge[int64]:
		if y, ok := b.(metricdata.Gauge[int64]); ok {
			x.DataPoints = append(x.DataPoints, y.DataPoints...)
			return x, nil
		}
	case metricdata.Gauge[float64]:
		if y, ok := b.(metricdata.Gauge[float64]); ok {
			x.DataPoints = append(x.DataPoints, y.DataPoints...)
			return x, nil
		}
	case metricdata.Sum[int64]:
		if y, ok := b.(metricdata.Sum[int64]); ok && x.Temporality == y.Temporality && x.IsMonotonic == y.IsMonotonic {
			x.DataPoints = append(x.DataPoints, y.DataPoints...)
			return x, nil
		}
	case metricdata.Sum[float64]:
		if y, ok := b.(metricdata.Sum[float64]); ok && x.Temporality == y.Temporality && x.IsMonotonic == y.IsMonotonic {
			x.DataPoints = append(x.DataPoints, y.DataPoints...)
			return x, nil
		}
	case metricdata.Histogram[float64]:
		if y, ok := b.(metricdata.Histogram[float64]); ok && x.Temporality == y.Temporality {
			x.DataPoints = append(x.DataPoints, y.DataPoints...)
			return x, nil
		}
	case metricdata.ExponentialHistogram[float64]:
		if y, ok := b.(metricdata.ExponentialHistogram[float64]); ok && x.Temporality == y.Temporality {
			x.DataPoints = append(x.DataPoints, y.DataPoints...)
			return x, nil
		}
	}
	return nil, fmt.Errorf("two parts of different kinds: %T and %T", a, b)
}

func temporality(t metricpb.AggregationTemporality) metricdata.Temporality {
	switch t {
	case metricpb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA:
		return metricdata.DeltaTemporality
	case metricpb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE:
		return metricdata.CumulativeTemporality
	}
	return metricdata.Temporality(0) // undefined: the Prometheus exporter treats it as cumulative
}

func unixNano(n uint64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(n))
}

// set converts OTLP key-values into an attribute set.
func (c *converter) set(kvs []*commonpb.KeyValue) attribute.Set {
	return attribute.NewSet(c.attrs(kvs)...)
}

// attrs converts OTLP key-values into attributes: strings, booleans,
// integers, doubles and homogeneous arrays of them, the types the SDK's
// attributes have. Any other value (bytes, a key-value list, a mixed array)
// is an error in c.err.
func (c *converter) attrs(kvs []*commonpb.KeyValue) []attribute.KeyValue {
	out := make([]attribute.KeyValue, 0, len(kvs))
	for _, kv := range kvs {
		a, ok := attr(kv.GetKey(), kv.GetValue())
		if !ok && c.err == nil {
			c.err = fmt.Errorf("attribute %s: %T is not an attribute type of the SDK", kv.GetKey(), kv.GetValue().GetValue())
		}
		out = append(out, a)
	}
	return out
}

func attr(key string, v *commonpb.AnyValue) (attribute.KeyValue, bool) {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return attribute.String(key, x.StringValue), true
	case *commonpb.AnyValue_BoolValue:
		return attribute.Bool(key, x.BoolValue), true
	case *commonpb.AnyValue_IntValue:
		return attribute.Int64(key, x.IntValue), true
	case *commonpb.AnyValue_DoubleValue:
		return attribute.Float64(key, x.DoubleValue), true
	case *commonpb.AnyValue_ArrayValue:
		return sliceAttr(key, x.ArrayValue.GetValues())
	}
	return attribute.KeyValue{}, false
}

// sliceAttr converts a homogeneous array; false for any other.
func sliceAttr(key string, vs []*commonpb.AnyValue) (attribute.KeyValue, bool) {
	if len(vs) == 0 {
		return attribute.StringSlice(key, nil), true
	}
	switch vs[0].GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return sliceOf(key, vs, (*commonpb.AnyValue).GetStringValue, attribute.StringSlice)
	case *commonpb.AnyValue_BoolValue:
		return sliceOf(key, vs, (*commonpb.AnyValue).GetBoolValue, attribute.BoolSlice)
	case *commonpb.AnyValue_IntValue:
		return sliceOf(key, vs, (*commonpb.AnyValue).GetIntValue, attribute.Int64Slice)
	case *commonpb.AnyValue_DoubleValue:
		return sliceOf(key, vs, (*commonpb.AnyValue).GetDoubleValue, attribute.Float64Slice)
	}
	return attribute.KeyValue{}, false
}

func sliceOf[T any](key string, vs []*commonpb.AnyValue, get func(*commonpb.AnyValue) T,
	build func(string, []T) attribute.KeyValue) (attribute.KeyValue, bool) {
	first := fmt.Sprintf("%T", vs[0].GetValue())
	out := make([]T, 0, len(vs))
	for _, v := range vs {
		if fmt.Sprintf("%T", v.GetValue()) != first {
			return attribute.KeyValue{}, false
		}
		out = append(out, get(v))
	}
	return build(key, out), true
}

// TestFromOTLP: what the SDK's own OTLP exporter sends comes back, through
// fromOTLP, as the metricdata a reader of the same MeterProvider collects:
// every kind, int and float, attributes of every type, the scope's and the
// resource's.
func TestFromOTLP(t *testing.T) {
	ctx := context.Background()
	collector := otlptest.StartHTTP(t, otlptest.Options{})
	exp, err := otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpoint(collector.Addr), otlpmetrichttp.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	// A batch of 3 points splits most metrics over two requests.
	forwarded := sdkmetric.NewPeriodicReader(exp, sdkmetric.WithMaxExportBatchSize(3))
	manual := sdkmetric.NewManualReader()
	res := resource.NewWithAttributes("https://opentelemetry.io/schemas/1.26.0",
		attribute.String("service.name", "conv"), attribute.StringSlice("process.command_args", []string{"a", "b"}),
		attribute.Int("n", 7), attribute.Bool("b", true), attribute.Float64("f", 0.5))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(forwarded), sdkmetric.WithReader(manual), sdkmetric.WithResource(res),
		sdkmetric.WithView(sdkmetric.NewView(sdkmetric.Instrument{Name: "exp.*"},
			sdkmetric.Stream{Aggregation: sdkmetric.AggregationBase2ExponentialHistogram{MaxSize: 160, MaxScale: 20}})))
	t.Cleanup(func() { _ = mp.Shutdown(ctx) })

	meter := mp.Meter("conv/scope", metric.WithInstrumentationVersion("v1.2.3"),
		metric.WithInstrumentationAttributes(attribute.String("lib", "x")))
	other := mp.Meter("conv/other")
	set := metric.WithAttributes(attribute.String("s", "v"), attribute.Int("i", 1), attribute.Bool("ok", true),
		attribute.Float64("x", 1.5), attribute.StringSlice("ss", []string{"p", "q"}), attribute.Int64Slice("is", []int64{1, 2}))
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	counter, err := meter.Int64Counter("c.int", metric.WithUnit("{request}"), metric.WithDescription("a counter"))
	must(err)
	updown, err := meter.Float64UpDownCounter("u.float", metric.WithUnit("By"))
	must(err)
	gaugeInt, err := other.Int64Gauge("g.int")
	must(err)
	gaugeFloat, err := other.Float64Gauge("g.float", metric.WithUnit("s"))
	must(err)
	hist, err := meter.Float64Histogram("h.float", metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(0.01, 0.1, 1))
	must(err)
	expHist, err := meter.Float64Histogram("exp.float", metric.WithUnit("ms"))
	must(err)
	for i := range 4 {
		counter.Add(ctx, int64(i+1), set, metric.WithAttributes(attribute.Int("k", i)))
		updown.Add(ctx, -0.25*float64(i), metric.WithAttributes(attribute.Int("k", i)))
		gaugeInt.Record(ctx, int64(10*i), metric.WithAttributes(attribute.Int("k", i)))
		gaugeFloat.Record(ctx, 1e-7*float64(i))
		hist.Record(ctx, 0.05*float64(i), set)
		expHist.Record(ctx, float64(i)-1.2)
		expHist.Record(ctx, 0)
	}

	var want metricdata.ResourceMetrics
	must(manual.Collect(ctx, &want))
	must(forwarded.ForceFlush(ctx))
	gotRes, got, err := fromOTLP(collector.Requests())
	must(err)
	if len(collector.Requests()) < 2 {
		t.Errorf("%d requests: the test means to join a metric split over batches", len(collector.Requests()))
	}
	if !gotRes.Equal(want.Resource) || gotRes.SchemaURL() != want.Resource.SchemaURL() {
		t.Errorf("resource %v (%s), want %v (%s)", gotRes, gotRes.SchemaURL(), want.Resource, want.Resource.SchemaURL())
	}
	if len(got) != len(want.ScopeMetrics) {
		t.Fatalf("%d scopes, want %d", len(got), len(want.ScopeMetrics))
	}
	for _, w := range want.ScopeMetrics {
		found := false
		for _, g := range got {
			if g.Scope.Name == w.Scope.Name {
				found = true
				metricdatatest.AssertEqual(t, w, g, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
			}
		}
		if !found {
			t.Errorf("scope %s is missing", w.Scope.Name)
		}
	}
}
