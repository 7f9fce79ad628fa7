package exporter

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// benchInput builds n series in metrics of ten attribute sets each, the
// shape of real instruments (a route or a state per series).
func benchInput(kind string, n int) *metricdata.ResourceMetrics {
	sm := metricdata.ScopeMetrics{}
	sm.Scope.Name = "bench"
	bounds := []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
	for m := 0; m*10 < n; m++ {
		name := fmt.Sprintf("app.component%d.operation.latency", m)
		per := min(10, n-m*10)
		sets := make([]attribute.Set, per)
		for i := range sets {
			sets[i] = attribute.NewSet(attribute.String("http.route", fmt.Sprintf("/api/v1/items/%d", i)), attribute.String("http.request.method", "GET"))
		}
		switch kind {
		case "gauge":
			pts := make([]metricdata.DataPoint[float64], per)
			for i := range pts {
				pts[i] = metricdata.DataPoint[float64]{Attributes: sets[i], StartTime: t0, Time: t1, Value: float64(m*10+i) + 0.5}
			}
			sm.Metrics = append(sm.Metrics, metricdata.Metrics{Name: name, Data: metricdata.Gauge[float64]{DataPoints: pts}})
		case "counter":
			pts := make([]metricdata.DataPoint[int64], per)
			for i := range pts {
				pts[i] = metricdata.DataPoint[int64]{Attributes: sets[i], StartTime: t0, Time: t1, Value: int64(m*10 + i)}
			}
			sm.Metrics = append(sm.Metrics, metricdata.Metrics{Name: name, Data: metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: true, DataPoints: pts}})
		case "histogram":
			pts := make([]metricdata.HistogramDataPoint[float64], per)
			for i := range pts {
				counts := make([]uint64, len(bounds)+1)
				for j := range counts {
					counts[j] = uint64(j + i)
				}
				pts[i] = metricdata.HistogramDataPoint[float64]{Attributes: sets[i], StartTime: t0, Time: t1, Count: uint64(len(counts)*(len(counts)-1)/2 + i*len(counts)), Sum: 123.4,
					Bounds: bounds, BucketCounts: counts, Min: metricdata.NewExtrema(0.001), Max: metricdata.NewExtrema(12.0)}
			}
			sm.Metrics = append(sm.Metrics, metricdata.Metrics{Name: name, Data: metricdata.Histogram[float64]{Temporality: metricdata.DeltaTemporality, DataPoints: pts}})
		}
	}
	return &metricdata.ResourceMetrics{ScopeMetrics: []metricdata.ScopeMetrics{sm}}
}

// BenchmarkExport measures export plus render (the JSON) per collection;
// ns/series and allocs/series divide by the number of series (data points).
// Every series and stat is served (AllRules), so the figures compare with
// those taken before /stats had a selection. The gzip copy is made later,
// by the first request that asks for it: the rows
// export+first-gzip-serve/<kind>/series=<n> add that request to each
// export, so that the difference is what the compression costs it.
func BenchmarkExport(b *testing.B) {
	for _, firstGzip := range []bool{false, true} {
		for _, kind := range []string{"gauge", "counter", "histogram"} {
			for _, n := range []int{10, 100, 1000, 10000} {
				name := fmt.Sprintf("%s/series=%d", kind, n)
				if firstGzip {
					name = "export+first-gzip-serve/" + name
				}
				b.Run(name, func(b *testing.B) { benchExport(b, kind, n, firstGzip) })
			}
		}
	}
}

func benchExport(b *testing.B, kind string, n int, firstGzip bool) {
	rm := benchInput(kind, n)
	exp, _ := New(serveAll(), WithMaxSeries(1<<30))
	ctx := context.Background()
	for range DefaultHistory { // the steady state: series known, the history full
		if err := exp.Export(ctx, rm); err != nil {
			b.Fatal(err)
		}
	}
	h, r, w := exp.Handler(), httptest.NewRequest("GET", "/stats", nil), newDiscardResponse()
	r.Header.Set("Accept-Encoding", "gzip")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := exp.Export(ctx, rm); err != nil {
			b.Fatal(err)
		}
		if firstGzip {
			w.reset()
			h.ServeHTTP(w, r)
		}
	}
	b.StopTimer()
	if firstGzip && w.header.Get("Content-Encoding") != "gzip" {
		b.Fatalf("served %v, not gzip", w.header)
	}
	body, gz := exp.Document()
	perOp := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(perOp/float64(n), "ns/series")
	b.ReportMetric(float64(len(body)), "doc-bytes")
	b.ReportMetric(float64(len(gz)), "gzip-bytes")
}

// BenchmarkExportMerged measures export plus render with the selection on:
// one histogram of 10 000 series (10 routes × 1000 users) merged on the
// route into 10 lines, each series windowed and its buckets added to its
// line's.
func BenchmarkExportMerged(b *testing.B) {
	const routes, users = 10, 1000
	bounds := []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
	pts := make([]metricdata.HistogramDataPoint[float64], 0, routes*users)
	for r := range routes {
		for u := range users {
			counts := make([]uint64, len(bounds)+1)
			for j := range counts {
				counts[j] = uint64(j + u%7)
			}
			var n uint64
			for _, c := range counts {
				n += c
			}
			pts = append(pts, metricdata.HistogramDataPoint[float64]{
				Attributes: attribute.NewSet(attribute.String("http.route", fmt.Sprintf("/api/v1/items/%d", r)), attribute.String("user", fmt.Sprintf("u%04d", u))),
				StartTime:  t0, Time: t1, Count: n, Sum: 123.4, Bounds: bounds, BucketCounts: counts,
				Min: metricdata.NewExtrema(0.001), Max: metricdata.NewExtrema(12.0),
			})
		}
	}
	rm := &metricdata.ResourceMetrics{ScopeMetrics: []metricdata.ScopeMetrics{{
		Metrics: []metricdata.Metrics{{Name: "app.operation.latency", Unit: "s", Data: metricdata.Histogram[float64]{Temporality: metricdata.DeltaTemporality, DataPoints: pts}}},
	}}}
	exp, _ := New(WithRules(Rule{Match: "app.operation.latency", Keys: []string{"http.route"}}), WithBudget(0))
	ctx := context.Background()
	if err := exp.Export(ctx, rm); err != nil { // the steady state: series known
		b.Fatal(err)
	}
	if body, _ := exp.Document(); !bytes.Contains(body, []byte(`"count":{"_api_v1_items_0":`)) {
		b.Fatalf("not merged into lines: %.200s", body)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := exp.Export(ctx, rm); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	body, gz := exp.Document()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(pts)), "ns/series")
	b.ReportMetric(float64(len(body)), "doc-bytes")
	b.ReportMetric(float64(len(gz)), "gzip-bytes")
}

// BenchmarkRenderOnly leaves gzip out, to show what the JSON costs alone.
func BenchmarkRenderOnly(b *testing.B) {
	rm := benchInput("counter", 10000)
	exp, _ := New(serveAll(), WithMaxSeries(1<<30))
	exp.b.build(rm)
	b.ReportAllocs()
	for b.Loop() {
		exp.b.build(rm)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10000, "ns/series")
}

// BenchmarkDocument measures what every /stats request pays to get the
// document: it must allocate nothing.
func BenchmarkDocument(b *testing.B) {
	exp, _ := New(serveAll())
	_ = exp.Export(context.Background(), benchInput("gauge", 1000))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			body, gz := exp.Document()
			if len(body) == 0 || len(gz) == 0 {
				b.Fatal("no document")
			}
		}
	})
}
