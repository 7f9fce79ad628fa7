package forward

import (
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	"google.golang.org/protobuf/encoding/protowire"
)

// Upper bounds of the protobuf encoding of an ExportMetricsServiceRequest, as
// the official exporters build it from metricdata (their internal/transform),
// computed without building it.
//
// Why it is an upper bound, by structural induction over the messages: the
// size of a message is the sum over its present fields of tag + (length
// prefix) + payload. Here
//   - every tag is counted exactly: all field numbers involved are below 16,
//     so a tag is one byte;
//   - scalars are counted at their exact size when the value is known
//     (varints, zigzag) and at their full 8 bytes for fixed64 fields, which
//     proto3 may omit when zero: counting an omitted field only adds;
//   - a nested message whose content is bounded by c gets 1 + varint(c) + c,
//     and varint size grows with c, so it bounds 1 + varint(a) + a for the
//     actual content a <= c; containers that grow while a batch fills
//     (resource, scope, metric, data) get the widest prefix, 5 bytes, which
//     holds any length below 32 GiB;
//   - oneof members (AnyValue, the data point value) are always encoded by
//     the transform, and are counted so.
// Fields the transform never sets (flags, metadata, dropped counts, entity
// refs) count zero. A test checks estimate >= proto.Size on what the real
// exporter sends, for every aggregation and attribute type.

const (
	tag         = 1                   // field numbers below 16
	maxPrefix   = 5                   // length varint of anything below 32 GiB
	fixed64     = tag + 8             // a fixed64 / double field
	growingMsg  = tag + maxPrefix     // framing of a container that grows
	dataHeaders = 2 * (tag + 1)       // temporality enum + is_monotonic bool
	quantile    = tag + 1 + 2*fixed64 // a ValueAtQuantile entry
)

// lenField is the size of a length-delimited field with content size n.
func lenField(n int) int { return tag + protowire.SizeVarint(uint64(n)) + n }

// stringField is the size of an optional string field: proto3 omits "".
func stringField(s string) int {
	if s == "" {
		return 0
	}
	return lenField(len(s))
}

// anyValueSize bounds the content of an AnyValue built from v.
func anyValueSize(v attribute.Value) int {
	switch v.Type() {
	case attribute.BOOL:
		return tag + 1
	case attribute.INT64:
		return tag + protowire.SizeVarint(uint64(v.AsInt64()))
	case attribute.FLOAT64:
		return fixed64
	case attribute.STRING:
		return lenField(len(v.AsString()))
	case attribute.BYTESLICE:
		return lenField(len(v.AsByteSlice()))
	case attribute.EMPTY:
		return 0
	case attribute.BOOLSLICE:
		n := len(v.AsBoolSlice())
		return lenField(n * lenField(tag+1))
	case attribute.INT64SLICE:
		c := 0
		for _, x := range v.AsInt64Slice() {
			c += lenField(tag + protowire.SizeVarint(uint64(x)))
		}
		return lenField(c)
	case attribute.FLOAT64SLICE:
		return lenField(len(v.AsFloat64Slice()) * lenField(fixed64))
	case attribute.STRINGSLICE:
		c := 0
		for _, s := range v.AsStringSlice() {
			c += lenField(lenField(len(s)))
		}
		return lenField(c)
	case attribute.SLICE:
		c := 0
		for _, e := range v.AsSlice() {
			c += lenField(anyValueSize(e))
		}
		return lenField(c)
	case attribute.MAP:
		c := 0
		for _, kv := range v.AsMap() {
			c += lenField(keyValueSize(kv))
		}
		return lenField(c)
	default:
		return lenField(len("INVALID"))
	}
}

// keyValueSize bounds the content of a KeyValue; the value is always present.
func keyValueSize(kv attribute.KeyValue) int {
	return stringField(string(kv.Key)) + lenField(anyValueSize(kv.Value))
}

// attrsSize bounds a repeated KeyValue field holding the set.
func attrsSize(set *attribute.Set) int {
	n := 0
	for it := set.Iter(); it.Next(); {
		n += lenField(keyValueSize(it.Attribute()))
	}
	return n
}

func kvsSize(kvs []attribute.KeyValue) int {
	n := 0
	for _, kv := range kvs {
		n += lenField(keyValueSize(kv))
	}
	return n
}

func exemplarsSize[N int64 | float64](ex []metricdata.Exemplar[N]) int {
	n := 0
	for i := range ex {
		e := &ex[i]
		c := kvsSize(e.FilteredAttributes) + fixed64 /* time */ + fixed64 /* value */
		if len(e.SpanID) > 0 {
			c += lenField(len(e.SpanID))
		}
		if len(e.TraceID) > 0 {
			c += lenField(len(e.TraceID))
		}
		n += lenField(c)
	}
	return n
}

// The *PointSize functions bound one entry of a data_points field, framing
// included.

func numberPointSize[N int64 | float64](dp *metricdata.DataPoint[N]) int {
	c := attrsSize(&dp.Attributes) + 3*fixed64 /* start, time, value */ + exemplarsSize(dp.Exemplars)
	return lenField(c)
}

func histogramPointSize[N int64 | float64](dp *metricdata.HistogramDataPoint[N]) int {
	c := attrsSize(&dp.Attributes) + 4*fixed64 /* start, time, count, sum */ + exemplarsSize(dp.Exemplars)
	if n := len(dp.BucketCounts); n > 0 {
		c += lenField(8 * n)
	}
	if n := len(dp.Bounds); n > 0 {
		c += lenField(8 * n)
	}
	if _, ok := dp.Min.Value(); ok {
		c += fixed64
	}
	if _, ok := dp.Max.Value(); ok {
		c += fixed64
	}
	return lenField(c)
}

func bucketsSize(b *metricdata.ExponentialBucket) int {
	c := tag + protowire.SizeVarint(protowire.EncodeZigZag(int64(b.Offset)))
	if len(b.Counts) > 0 {
		n := 0
		for _, x := range b.Counts {
			n += protowire.SizeVarint(x)
		}
		c += lenField(n)
	}
	return lenField(c)
}

func expHistogramPointSize[N int64 | float64](dp *metricdata.ExponentialHistogramDataPoint[N]) int {
	c := attrsSize(&dp.Attributes) +
		5*fixed64 /* start, time, count, sum, zero_count */ + fixed64 /* zero_threshold */ +
		tag + protowire.SizeVarint(protowire.EncodeZigZag(int64(dp.Scale))) +
		bucketsSize(&dp.PositiveBucket) + bucketsSize(&dp.NegativeBucket) +
		exemplarsSize(dp.Exemplars)
	if _, ok := dp.Min.Value(); ok {
		c += fixed64
	}
	if _, ok := dp.Max.Value(); ok {
		c += fixed64
	}
	return lenField(c)
}

func summaryPointSize(dp *metricdata.SummaryDataPoint) int {
	c := attrsSize(&dp.Attributes) + 4*fixed64 /* start, time, count, sum */ +
		len(dp.QuantileValues)*quantile
	return lenField(c)
}

// requestBaseSize bounds a request holding the resource and no scope.
func requestBaseSize(res *resource.Resource) int {
	c := tag + maxPrefix // the Resource message, always present
	for it := res.Iter(); it.Next(); {
		c += lenField(keyValueSize(it.Attribute()))
	}
	c += stringField(res.SchemaURL())
	return growingMsg + c
}

// scopeHeaderSize bounds a ScopeMetrics entry without its metrics.
func scopeHeaderSize(s *instrumentation.Scope) int {
	c := stringField(s.Name) + stringField(s.Version) + attrsSize(&s.Attributes)
	return growingMsg + lenField(c) + stringField(s.SchemaURL)
}

// metricHeaderSize bounds a Metric entry without its data points.
func metricHeaderSize(m *metricdata.Metrics) int {
	return growingMsg + stringField(m.Name) + stringField(m.Description) + stringField(m.Unit) +
		growingMsg + dataHeaders
}

// pointsSize bounds the data points of m and counts them. ok is false for an
// aggregation the transform does not know (it drops such a metric).
func pointsSize(m *metricdata.Metrics) (size, points int, ok bool) {
	switch a := m.Data.(type) {
	case metricdata.Gauge[int64]:
		return sumSizes(a.DataPoints, numberPointSize[int64])
	case metricdata.Gauge[float64]:
		return sumSizes(a.DataPoints, numberPointSize[float64])
	case metricdata.Sum[int64]:
		return sumSizes(a.DataPoints, numberPointSize[int64])
	case metricdata.Sum[float64]:
		return sumSizes(a.DataPoints, numberPointSize[float64])
	case metricdata.Histogram[int64]:
		return sumSizes(a.DataPoints, histogramPointSize[int64])
	case metricdata.Histogram[float64]:
		return sumSizes(a.DataPoints, histogramPointSize[float64])
	case metricdata.ExponentialHistogram[int64]:
		return sumSizes(a.DataPoints, expHistogramPointSize[int64])
	case metricdata.ExponentialHistogram[float64]:
		return sumSizes(a.DataPoints, expHistogramPointSize[float64])
	case metricdata.Summary:
		return sumSizes(a.DataPoints, summaryPointSize)
	}
	return 0, 0, false
}

func sumSizes[T any](dps []T, size func(*T) int) (total, points int, ok bool) {
	for i := range dps {
		total += size(&dps[i])
	}
	return total, len(dps), true
}

// estimateRequest bounds the size of the whole request for rm and counts its
// data points.
func estimateRequest(rm *metricdata.ResourceMetrics) (size, points int) {
	size = requestBaseSize(rm.Resource)
	for i := range rm.ScopeMetrics {
		sm := &rm.ScopeMetrics[i]
		size += scopeHeaderSize(&sm.Scope)
		for j := range sm.Metrics {
			m := &sm.Metrics[j]
			s, n, _ := pointsSize(m)
			size += metricHeaderSize(m) + s
			points += n
		}
	}
	return size, points
}
