package forward

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
)

// spy sits between the splitter and the real exporter and records what the
// splitter thought of each request it sent.
type spy struct {
	sdkmetric.Exporter
	mu        sync.Mutex
	estimates []int
	points    []int
}

func (s *spy) Export(ctx context.Context, rm *metricdata.ResourceMetrics) error {
	est, n := estimateRequest(rm)
	s.mu.Lock()
	s.estimates = append(s.estimates, est)
	s.points = append(s.points, n)
	s.mu.Unlock()
	return s.Exporter.Export(ctx, rm)
}

const uidKey = "uid"

// TestEstimateBoundsRealRequests generates varied collections (every
// aggregation, every attribute type, exemplars, odd sizes), sends them
// through the real gRPC exporter to a real receiver with small and large
// limits, and checks on what arrived that:
//   - the estimate of each request is >= its real proto.Size;
//   - each request is within the limit, unless it holds a single point;
//   - every data point arrived exactly once.
func TestEstimateBoundsRealRequests(t *testing.T) {
	c := startGRPCCollector(t, "127.0.0.1:0", nil)
	rng := rand.New(rand.NewPCG(1, 2))
	var totalEst, totalSize int
	for round := range 60 {
		limit := []int{300, 1000, 4000, 20000, DefaultMaxRequestSize}[round%5]
		cfg := Config{Endpoint: c.addr, Insecure: true, MaxRequestSize: limit, Timeout: 20 * time.Second}
		f, err := New(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		sp := &spy{Exporter: f.exp.inner}
		f.exp.inner = sp
		c.reset()

		uid := 0
		rm := randomMetrics(rng, &uid)
		if err := f.exp.Export(context.Background(), rm); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		_ = f.Shutdown(context.Background())

		reqs := c.all()
		if len(reqs) != len(sp.estimates) {
			t.Fatalf("round %d: sent %d, received %d", round, len(sp.estimates), len(reqs))
		}
		seen := make([]int, uid)
		for i, r := range reqs {
			totalEst += sp.estimates[i]
			totalSize += r.size
			if r.size > sp.estimates[i] {
				t.Errorf("round %d request %d: proto.Size %d > estimate %d", round, i, r.size, sp.estimates[i])
			}
			if r.size > limit && sp.points[i] > 1 {
				t.Errorf("round %d request %d: %d bytes > limit %d with %d points", round, i, r.size, limit, sp.points[i])
			}
			forEachPointAttrs(r, func(attrs []*commonpb.KeyValue) {
				for _, kv := range attrs {
					if kv.GetKey() == uidKey {
						seen[kv.GetValue().GetIntValue()]++
					}
				}
			})
		}
		for id, n := range seen {
			if n != 1 {
				t.Fatalf("round %d: point %d arrived %d times (limit %d, %d requests)", round, id, n, limit, len(reqs))
			}
		}
	}
	ratio := float64(totalEst) / float64(totalSize)
	t.Logf("estimate / actual over all requests: %.3f", ratio)
	if ratio > 1.3 {
		t.Errorf("estimate is %.2fx the real size: too loose, requests end up small", ratio)
	}
}

func forEachPointAttrs(r received, fn func([]*commonpb.KeyValue)) {
	for _, rm := range r.req.GetResourceMetrics() {
		for _, sm := range rm.GetScopeMetrics() {
			for _, m := range sm.GetMetrics() {
				for _, p := range m.GetGauge().GetDataPoints() {
					fn(p.GetAttributes())
				}
				for _, p := range m.GetSum().GetDataPoints() {
					fn(p.GetAttributes())
				}
				for _, p := range m.GetHistogram().GetDataPoints() {
					fn(p.GetAttributes())
				}
				for _, p := range m.GetExponentialHistogram().GetDataPoints() {
					fn(p.GetAttributes())
				}
				for _, p := range m.GetSummary().GetDataPoints() {
					fn(p.GetAttributes())
				}
			}
		}
	}
}

// randomMetrics builds a collection whose every data point carries a unique
// uid attribute. Strings are valid UTF-8: protobuf refuses anything else.
func randomMetrics(r *rand.Rand, uid *int) *metricdata.ResourceMetrics {
	rm := &metricdata.ResourceMetrics{
		Resource: resource.NewWithAttributes(randString(r, 30), randAttrs(r, 3)...),
	}
	for range 1 + r.IntN(4) {
		sm := metricdata.ScopeMetrics{Scope: instrumentation.Scope{
			Name: randString(r, 40), Version: randString(r, 10), SchemaURL: randString(r, 30),
			Attributes: attribute.NewSet(randAttrs(r, 2)...),
		}}
		for range 1 + r.IntN(6) {
			sm.Metrics = append(sm.Metrics, randomMetric(r, uid))
		}
		rm.ScopeMetrics = append(rm.ScopeMetrics, sm)
	}
	return rm
}

func randomMetric(r *rand.Rand, uid *int) metricdata.Metrics {
	m := metricdata.Metrics{Name: "m." + randString(r, 30), Description: randString(r, 60), Unit: randString(r, 5)}
	n := r.IntN(40)
	temp := []metricdata.Temporality{metricdata.CumulativeTemporality, metricdata.DeltaTemporality}[r.IntN(2)]
	attrs := func() attribute.Set {
		*uid++
		return attribute.NewSet(append(randAttrs(r, 4), attribute.Int(uidKey, *uid-1))...)
	}
	start, now := randTime(r), randTime(r)
	switch r.IntN(9) {
	case 0, 1:
		dps := make([]metricdata.DataPoint[int64], n)
		for i := range dps {
			dps[i] = metricdata.DataPoint[int64]{Attributes: attrs(), StartTime: start, Time: now, Value: r.Int64() - r.Int64(), Exemplars: randExemplars(r, func() int64 { return r.Int64N(1000) - 500 })}
		}
		if r.IntN(2) == 0 {
			m.Data = metricdata.Gauge[int64]{DataPoints: dps}
		} else {
			m.Data = metricdata.Sum[int64]{DataPoints: dps, Temporality: temp, IsMonotonic: r.IntN(2) == 0}
		}
	case 2, 3:
		dps := make([]metricdata.DataPoint[float64], n)
		for i := range dps {
			dps[i] = metricdata.DataPoint[float64]{Attributes: attrs(), StartTime: start, Time: now, Value: r.NormFloat64() * 1e6, Exemplars: randExemplars(r, r.Float64)}
		}
		if r.IntN(2) == 0 {
			m.Data = metricdata.Gauge[float64]{DataPoints: dps}
		} else {
			m.Data = metricdata.Sum[float64]{DataPoints: dps, Temporality: temp}
		}
	case 4:
		dps := make([]metricdata.HistogramDataPoint[float64], n)
		for i := range dps {
			b := r.IntN(20)
			dp := metricdata.HistogramDataPoint[float64]{Attributes: attrs(), StartTime: start, Time: now, Count: r.Uint64N(1e9), Sum: r.Float64(), Exemplars: randExemplars(r, r.Float64)}
			if b > 0 || r.IntN(2) == 0 {
				dp.Bounds = make([]float64, b)
				dp.BucketCounts = make([]uint64, b+1)
			}
			if r.IntN(2) == 0 {
				dp.Min, dp.Max = metricdata.NewExtrema(-1.5), metricdata.NewExtrema(99.0)
			}
			dps[i] = dp
		}
		m.Data = metricdata.Histogram[float64]{DataPoints: dps, Temporality: temp}
	case 5:
		dps := make([]metricdata.HistogramDataPoint[int64], n)
		for i := range dps {
			dps[i] = metricdata.HistogramDataPoint[int64]{Attributes: attrs(), StartTime: start, Time: now, Count: 3, Sum: 7, Bounds: []float64{1, 5, 10}, BucketCounts: []uint64{0, 1, 2, 0}}
			if r.IntN(2) == 0 {
				dps[i].Max = metricdata.NewExtrema[int64](9)
			}
		}
		m.Data = metricdata.Histogram[int64]{DataPoints: dps, Temporality: temp}
	case 6, 7:
		dps := make([]metricdata.ExponentialHistogramDataPoint[float64], n)
		for i := range dps {
			dp := metricdata.ExponentialHistogramDataPoint[float64]{
				Attributes: attrs(), StartTime: start, Time: now, Count: r.Uint64(), Sum: r.Float64(),
				Scale: int32(r.IntN(31) - 10), ZeroCount: r.Uint64N(3), ZeroThreshold: r.Float64() * float64(r.IntN(2)),
				PositiveBucket: randBucket(r), NegativeBucket: randBucket(r),
				Exemplars: randExemplars(r, r.Float64),
			}
			if r.IntN(2) == 0 {
				dp.Min = metricdata.NewExtrema(0.5)
			}
			dps[i] = dp
		}
		m.Data = metricdata.ExponentialHistogram[float64]{DataPoints: dps, Temporality: temp}
	default:
		dps := make([]metricdata.SummaryDataPoint, n)
		for i := range dps {
			dps[i] = metricdata.SummaryDataPoint{Attributes: attrs(), StartTime: start, Time: now, Count: r.Uint64N(100), Sum: r.Float64()}
			for range r.IntN(5) {
				dps[i].QuantileValues = append(dps[i].QuantileValues, metricdata.QuantileValue{Quantile: r.Float64(), Value: r.Float64()})
			}
		}
		m.Data = metricdata.Summary{DataPoints: dps}
	}
	return m
}

func randBucket(r *rand.Rand) metricdata.ExponentialBucket {
	b := metricdata.ExponentialBucket{Offset: int32(r.IntN(1<<20) - 1<<19)}
	for range r.IntN(50) {
		b.Counts = append(b.Counts, r.Uint64N(1<<uint(r.IntN(64))))
	}
	return b
}

func randTime(r *rand.Rand) time.Time {
	switch r.IntN(4) {
	case 0:
		return time.Time{} // encoded as 0 and omitted
	case 1:
		return time.Unix(0, 1)
	default:
		return time.Unix(1_700_000_000+r.Int64N(1e8), r.Int64N(1e9))
	}
}

func randExemplars[N int64 | float64](r *rand.Rand, val func() N) []metricdata.Exemplar[N] {
	var ex []metricdata.Exemplar[N]
	for range r.IntN(3) * r.IntN(2) {
		e := metricdata.Exemplar[N]{FilteredAttributes: randAttrs(r, 3), Time: randTime(r), Value: val()}
		if r.IntN(2) == 0 {
			e.SpanID, e.TraceID = make([]byte, 8), make([]byte, 16)
			e.SpanID[0], e.TraceID[0] = 1, 1
		}
		ex = append(ex, e)
	}
	return ex
}

func randAttrs(r *rand.Rand, maxN int) []attribute.KeyValue {
	n := r.IntN(maxN + 1)
	kvs := make([]attribute.KeyValue, 0, n)
	for i := range n {
		kvs = append(kvs, attribute.KeyValue{Key: attribute.Key(fmt.Sprintf("k%d.%s", i, randString(r, 12))), Value: randValue(r, 2)})
	}
	return kvs
}

func randValue(r *rand.Rand, depth int) attribute.Value {
	kinds := 10
	if depth > 0 {
		kinds = 12
	}
	switch r.IntN(kinds) {
	case 0:
		return attribute.BoolValue(r.IntN(2) == 0)
	case 1:
		return attribute.Int64Value(r.Int64() - r.Int64())
	case 2:
		return attribute.Float64Value(r.NormFloat64())
	case 3, 4:
		return attribute.StringValue(randString(r, 200))
	case 5:
		return attribute.BoolSliceValue(make([]bool, r.IntN(5)))
	case 6:
		xs := make([]int64, r.IntN(6))
		for i := range xs {
			xs[i] = r.Int64() >> uint(r.IntN(64))
			if r.IntN(3) == 0 {
				xs[i] = -xs[i]
			}
		}
		return attribute.Int64SliceValue(xs)
	case 7:
		return attribute.Float64SliceValue(make([]float64, r.IntN(5)))
	case 8:
		ss := make([]string, r.IntN(5))
		for i := range ss {
			ss[i] = randString(r, 30)
		}
		return attribute.StringSliceValue(ss)
	case 9:
		if r.IntN(3) == 0 {
			return attribute.Value{} // EMPTY
		}
		return attribute.ByteSliceValue([]byte(randString(r, 20)))
	case 10:
		vs := make([]attribute.Value, r.IntN(4))
		for i := range vs {
			vs[i] = randValue(r, depth-1)
		}
		return attribute.SliceValue(vs...)
	default:
		kvs := make([]attribute.KeyValue, r.IntN(4))
		for i := range kvs {
			kvs[i] = attribute.KeyValue{Key: attribute.Key(randString(r, 8)), Value: randValue(r, depth-1)}
		}
		return attribute.MapValue(kvs...)
	}
}

func randString(r *rand.Rand, maxLen int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./ "
	n := r.IntN(maxLen + 1)
	var b strings.Builder
	for range n {
		if r.IntN(20) == 0 {
			b.WriteRune([]rune("éあ🙂ß")[r.IntN(4)])
			continue
		}
		b.WriteByte(alphabet[r.IntN(len(alphabet))])
	}
	return b.String()
}

// TestSplitKeepsOrderAndNeverSplitsAPoint uses a limit smaller than one
// point: every point goes alone, in the original order, none dropped.
func TestSplitKeepsOrderAndNeverSplitsAPoint(t *testing.T) {
	c := startGRPCCollector(t, "127.0.0.1:0", nil)
	f, err := New(context.Background(), Config{Endpoint: c.addr, Insecure: true, MaxRequestSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Shutdown(context.Background())
	if err := f.exp.Export(context.Background(), sampleMetrics(25)); err != nil {
		t.Fatal(err)
	}
	reqs := c.all()
	if len(reqs) != 25 {
		t.Fatalf("%d requests, want one per point", len(reqs))
	}
	for i, r := range reqs {
		pts := sumPoints([]received{r}, "sample")
		if len(pts) != 1 || pts[0].GetAsInt() != int64(i) {
			t.Fatalf("request %d holds %v, want point %d alone", i, pts, i)
		}
	}
	if got := f.stats.dataPoints.Load(); got != 25 {
		t.Fatalf("data points counter %d, want 25", got)
	}
}

// TestSplitStopsOnFailure: when a request fails, the rest of the
// collection is not sent (the endpoint is likely down and the next
// collection carries the series again), and the error says so.
func TestSplitStopsOnFailure(t *testing.T) {
	c := startGRPCCollector(t, "127.0.0.1:0", nil)
	addr := c.addr
	c.srv.Stop()
	f, err := New(context.Background(), Config{Endpoint: addr, Insecure: true, MaxRequestSize: 2000, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Shutdown(context.Background())
	if err := f.exp.Export(context.Background(), sampleMetrics(200)); err == nil {
		t.Fatal("export to a closed port succeeded")
	}
	if got := f.stats.requests.Load(); got != 1 {
		t.Fatalf("%d requests attempted, want 1 (stop at the first failure)", got)
	}
}

func TestEstimateExactCases(t *testing.T) {
	// Zero-size strings are omitted, a string of length n costs 1+varint+n.
	if got := stringField(""); got != 0 {
		t.Errorf("stringField(\"\") = %d", got)
	}
	if got := stringField(strings.Repeat("x", 200)); got != 1+2+200 {
		t.Errorf("stringField(200) = %d", got)
	}
	// An int64 attribute of -1 is a 10-byte varint.
	if got := anyValueSize(attribute.Int64Value(-1)); got != 11 {
		t.Errorf("anyValueSize(-1) = %d, want 11", got)
	}
	if got := anyValueSize(attribute.Float64Value(math.Pi)); got != 9 {
		t.Errorf("anyValueSize(pi) = %d, want 9", got)
	}
}
