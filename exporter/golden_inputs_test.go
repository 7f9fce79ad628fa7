package exporter

import (
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// withUnit gives m a unit and a description, as its instrument has them.
func withUnit(m metricdata.Metrics, unit, desc string) metricdata.Metrics {
	m.Unit, m.Description = unit, desc
	return m
}

func sumI(name string, monotonic bool, pts ...metricdata.DataPoint[int64]) metricdata.Metrics {
	return metricdata.Metrics{Name: name, Data: metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: monotonic, DataPoints: pts}}
}

func sumF(name string, monotonic bool, pts ...metricdata.DataPoint[float64]) metricdata.Metrics {
	return metricdata.Metrics{Name: name, Data: metricdata.Sum[float64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: monotonic, DataPoints: pts}}
}

func expHistF(name string, pts ...metricdata.ExponentialHistogramDataPoint[float64]) metricdata.Metrics {
	return metricdata.Metrics{Name: name, Data: metricdata.ExponentialHistogram[float64]{Temporality: metricdata.DeltaTemporality, DataPoints: pts}}
}

// histPt is a delta explicit-bucket point of the window [t0, t1].
func histPt(a attribute.Set, sum, lo, hi float64, bounds []float64, counts ...uint64) metricdata.HistogramDataPoint[float64] {
	var n uint64
	for _, c := range counts {
		n += c
	}
	return metricdata.HistogramDataPoint[float64]{
		Attributes: a, StartTime: t0, Time: t1, Count: n, Sum: sum, Bounds: bounds, BucketCounts: counts,
		Min: metricdata.NewExtrema(lo), Max: metricdata.NewExtrema(hi),
	}
}

// expPt is a delta exponential point with positive buckets only.
func expPt(a attribute.Set, sum, lo, hi float64, scale, offset int32, counts ...uint64) metricdata.ExponentialHistogramDataPoint[float64] {
	var n uint64
	for _, c := range counts {
		n += c
	}
	return metricdata.ExponentialHistogramDataPoint[float64]{
		Attributes: a, StartTime: t0, Time: t1, Count: n, Sum: sum, Scale: scale,
		PositiveBucket: metricdata.ExponentialBucket{Offset: offset, Counts: counts},
		Min:            metricdata.NewExtrema(lo), Max: metricdata.NewExtrema(hi),
	}
}

const (
	runtimeScope  = "go.opentelemetry.io/contrib/instrumentation/runtime"
	hostScope     = "go.opentelemetry.io/contrib/instrumentation/host"
	otelhttpScope = "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	exporterScope = "github.com/komachi-go/komachi/exporter"
)

// defaultRulesCase is what a service's /stats serves under DefaultRules:
// the instruments of contrib runtime and host, otelhttp, komachi's own and
// the app's, with their real units, over one window.
func defaultRulesCase() goldenCase {
	at := func(later bool) *metricdata.ResourceMetrics {
		v := func(before, after int64) int64 {
			if later {
				return after
			}
			return before
		}
		f := func(before, after float64) float64 {
			if later {
				return after
			}
			return before
		}
		none := attribute.NewSet()
		scheduled := metricdata.HistogramDataPoint[float64]{
			StartTime: t0, Time: t1, Bounds: []float64{1e-6, 1e-5, 1e-4, 1e-3},
			Min: metricdata.NewExtrema(2e-7), Max: metricdata.NewExtrema(0.0015),
		}
		if later {
			scheduled.Count, scheduled.Sum, scheduled.BucketCounts = 250, 0.0035, []uint64{150, 60, 30, 9, 1}
		} else {
			scheduled.Count, scheduled.Sum, scheduled.BucketCounts = 100, 0.0012, []uint64{50, 30, 15, 5, 0}
		}
		runtime := scope(runtimeScope,
			withUnit(sumI("go.goroutine.count", false, ptI(v(12, 14), none)), "{goroutine}", "Count of live goroutines."),
			withUnit(sumI("go.memory.used", false,
				ptI(v(524288, 655360), attrs("go.memory.type", "stack")),
				ptI(v(7340032, 8388608), attrs("go.memory.type", "other"))), "By", "Memory used by the Go runtime."),
			withUnit(sumI("go.memory.allocations", true, ptI(v(1000, 1600), none)), "{allocation}", "Count of allocations to the heap by the application."),
			withUnit(metricdata.Metrics{Name: "go.schedule.duration", Data: metricdata.Histogram[float64]{
				Temporality: metricdata.CumulativeTemporality, DataPoints: []metricdata.HistogramDataPoint[float64]{scheduled},
			}}, "s", "The time goroutines have spent in the scheduler in a runnable state before actually running."),
		)
		host := scope(hostScope,
			withUnit(sumF("system.cpu.time", true,
				ptF(f(100, 160), attrs("cpu.mode", "user")),
				ptF(f(20, 30), attrs("cpu.mode", "system")),
				ptF(f(1000, 1100), attrs("cpu.mode", "idle"))), "s", "Seconds each logical CPU spent on each mode."),
			withUnit(sumF("process.cpu.time", true,
				ptF(f(3, 3.5), attrs("cpu.mode", "user")),
				ptF(f(1, 1.25), attrs("cpu.mode", "system"))), "s", "Total CPU seconds broken down by different CPU modes."),
		)
		app := scope("shop",
			withUnit(sumI("app.orders", true,
				ptI(v(10, 25), attrs("status", "paid")),
				ptI(v(1, 3), attrs("status", "failed"))), "{order}", "Orders placed."),
		)
		own := scope(exporterScope,
			withUnit(gaugeI("komachi.exporter.metrics", ptI(12, none)), "{metric}", "Mackerel metrics (numeric leaves) in the last /stats document"),
			withUnit(sumI("komachi.exporter.exports", true, ptI(v(1, 2), none)), "{export}", "Exports rendered into the /stats document."),
			withUnit(sumI("komachi.exporter.dropped", true,
				ptI(0, attrs("komachi.reason", "nonfinite")),
				ptI(0, attrs("komachi.reason", "limit")),
				ptI(0, attrs("komachi.reason", "collision")),
				ptI(v(0, 2), attrs("komachi.reason", "overflow"))), "{value}", "Values left out of the /stats document."),
		)
		if !later {
			return rmOf(runtime, host, app, own)
		}
		// Delta histograms, first seen in this window.
		route := func(method, route string, status int) attribute.Set {
			return attribute.NewSet(
				attribute.String("http.request.method", method), attribute.String("http.route", route),
				attribute.Int("http.response.status_code", status), attribute.String("url.scheme", "http"))
		}
		http := scope(otelhttpScope,
			withUnit(expHistF("http.server.request.duration",
				expPt(route("GET", "/users/{id}", 200), 0.0448, 0.002, 0.0165, 2, -36, 3, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1),
				expPt(route("POST", "/users", 201), 0.06, 0.029, 0.031, 3, -41, 2),
				expPt(route("GET", "/users/{id}", 500), 0.25, 0.25, 0.25, 2, -9, 1),
			), "s", "Duration of HTTP server requests."),
			withUnit(expHistF("http.server.request.body.size",
				expPt(route("POST", "/users", 201), 512, 512, 512, 0, 8, 1),
			), "By", "Size of HTTP server request bodies."),
		)
		app.Metrics = append(app.Metrics, withUnit(histF("app.checkout.duration", metricdata.DeltaTemporality,
			histPt(attrs("payment", "card"), 1.6, 0.2, 0.9, []float64{0.1, 0.25, 0.5, 1}, 0, 1, 2, 1, 0)), "s", "Checkout duration."))
		return rmOf(runtime, host, http, app, own)
	}
	return goldenCase{name: "default_rules", defaults: true, before: at(false), rm: at(true)}
}

// unitsCase has one instrument per unit the exporter maps onto Mackerel's.
func unitsCase() goldenCase {
	none := attribute.NewSet()
	g := func(name, unit string, v float64) metricdata.Metrics {
		return withUnit(gaugeF("unit."+name, ptF(v, none)), unit, "A float gauge in "+unit+".")
	}
	gi := func(name, unit string, v int64) metricdata.Metrics {
		return withUnit(gaugeI("unit."+name, ptI(v, none)), unit, "An int gauge in "+unit+".")
	}
	return goldenCase{name: "units", rm: rmOf(scope("u",
		g("s", "s", 0.25),
		g("ms", "ms", 1.5),
		g("us", "us", 250),
		gi("ns", "ns", 1500),
		gi("s_int", "s", 2),
		g("min", "min", 1.5),
		gi("By", "By", 1048576),
		gi("KiBy", "KiBy", 3),
		g("By_per_s", "By/s", 2048),
		g("ratio", "1", 0.125),
		gi("ratio_int", "1", 3),
		g("percent", "%", 42.5),
		gi("request", "{request}", 7),
		withUnit(gaugeF("unit.request_float", ptF(7.5, none)), "{request}", "A float gauge of requests."),
		withUnit(gaugeI("unit.none", ptI(9, none)), "", "An int gauge without a unit."),
		withUnit(histF("unit.latency", metricdata.DeltaTemporality,
			histPt(none, 0.003, 0.001, 0.002, []float64{0.001, 0.002}, 1, 1, 0)), "s", "A histogram in seconds."),
		withUnit(histF("unit.latency_by_route", metricdata.DeltaTemporality,
			histPt(attrs("http.route", "/a"), 0.003, 0.001, 0.002, []float64{0.001, 0.002}, 1, 1, 0)), "s", "A histogram in seconds, with attributes."),
		withUnit(metricdata.Metrics{Name: "unit.summary", Data: metricdata.Summary{DataPoints: []metricdata.SummaryDataPoint{{
			StartTime: t0, Time: t1, Count: 4, Sum: 0.5,
			QuantileValues: []metricdata.QuantileValue{{Quantile: 0.5, Value: 0.1}, {Quantile: 1, Value: 0.2}},
		}}}}, "s", "A summary in seconds."),
	))}
}

// mergedCase has rules that drop attribute keys: series that differ only
// in the dropped keys are merged into one line, each windowed first.
func mergedCase() goldenCase {
	route := func(method, route string, status int) attribute.Set {
		return attribute.NewSet(attribute.String("http.request.method", method), attribute.String("http.route", route), attribute.Int("http.response.status_code", status))
	}
	bounds := []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}
	mid := t0.Add(30 * time.Second)
	jobs := func(pts ...metricdata.DataPoint[int64]) metricdata.Metrics {
		return withUnit(sumI("app.jobs", true, pts...), "{job}", "Jobs done.")
	}
	summary := func(count uint64, sum float64, op string) metricdata.SummaryDataPoint {
		return metricdata.SummaryDataPoint{Attributes: attrs("op", op), StartTime: t0, Time: t1, Count: count, Sum: sum,
			QuantileValues: []metricdata.QuantileValue{{Quantile: 0.5, Value: 0.1}}}
	}
	noExtrema := histPt(attrs("batch", "b"), 30, 0, 0, []float64{10, 50}, 0, 1, 0)
	noExtrema.Min, noExtrema.Max = metricdata.Extrema[float64]{}, metricdata.Extrema[float64]{}
	return goldenCase{
		name: "merged",
		opts: []Option{WithRules(
			Rule{Match: "http.server.request.duration", Keys: []string{"http.route"}},
			Rule{Match: "rpc.server.duration", Keys: []string{"rpc.method"}},
			Rule{Match: "app.jobs", Merge: true},
			Rule{Match: "app.queue.depth", Keys: []string{"queue=mail|sms"}},
			Rule{Match: "app.batch.size", Merge: true},
			Rule{Match: "legacy.latency", Merge: true},
		)},
		before: rmOf(scope("s",
			jobs(ptI(10, attrs("queue", "mail")), ptI(5, attrs("queue", "sms")), ptI(7, attrs("queue", "push"))),
			metricdata.Metrics{Name: "legacy.latency", Data: metricdata.Summary{DataPoints: []metricdata.SummaryDataPoint{
				summary(60, 7.5, "read"), summary(10, 2, "write"),
			}}},
		)),
		rm: rmOf(scope("s",
			withUnit(histF("http.server.request.duration", metricdata.DeltaTemporality,
				histPt(route("GET", "/users/{id}", 200), 1.25, 0.004, 0.8, bounds, 1, 1, 2, 2, 2, 1, 0, 1, 0),
				histPt(route("GET", "/users/{id}", 500), 0.5, 0.5, 0.5, bounds, 0, 0, 0, 0, 0, 0, 1, 0, 0),
				histPt(route("POST", "/users", 201), 0.03, 0.03, 0.03, bounds, 0, 0, 0, 1, 0, 0, 0, 0, 0),
			), "s", "Duration of HTTP server requests."),
			// Two services' Get at scales 1 and 3: merged at scale 1.
			withUnit(expHistF("rpc.server.duration",
				func() metricdata.ExponentialHistogramDataPoint[float64] {
					p := expPt(attrs("rpc.method", "Get", "rpc.service", "a"), 22.5, 0, 3.9, 1, 0, 2, 3, 3, 1)
					p.Count++
					p.ZeroCount = 1
					return p
				}(),
				expPt(attrs("rpc.method", "Get", "rpc.service", "b"), 6.5, 1.5, 1.9, 3, 4, 1, 1, 1, 1),
				expPt(attrs("rpc.method", "Put", "rpc.service", "b"), 1, 1, 1, 3, -1, 1),
			), "ms", "Duration of RPCs."),
			// mail +6, sms +0, fax new in the window +3; push vanished.
			jobs(ptI(16, attrs("queue", "mail")), ptI(5, attrs("queue", "sms")),
				metricdata.DataPoint[int64]{Attributes: attrs("queue", "fax"), StartTime: mid, Time: t1, Value: 3}),
			withUnit(gaugeF("app.queue.depth",
				ptF(2, attrs("queue", "mail", "region", "eu")),
				ptF(3, attrs("queue", "mail", "region", "us")),
				ptF(1, attrs("queue", "sms", "region", "eu")),
				ptF(9, attrs("queue", "push", "region", "eu")),
			), "{job}", "Jobs waiting."),
			// One member without min and max: the line serves neither.
			histF("app.batch.size", metricdata.DeltaTemporality,
				histPt(attrs("batch", "a"), 100, 5, 60, []float64{10, 50}, 1, 2, 1),
				noExtrema),
			metricdata.Metrics{Name: "legacy.latency", Data: metricdata.Summary{DataPoints: []metricdata.SummaryDataPoint{
				summary(100, 12.5, "read"), summary(14, 3, "write"),
			}}},
		)),
	}
}

// overflowCase has the SDK's overflow series on instruments of every
// shape and selection.
func overflowCase() goldenCase {
	ovf := attribute.NewSet(attribute.Bool(string(overflowKey), true))
	return goldenCase{
		name: "overflow",
		opts: []Option{WithRules(
			Rule{Match: "app.merged", Keys: []string{"k"}},
			Rule{Match: "app.filtered", Keys: []string{"k=b"}},
			Rule{Match: "app.total", Merge: true},
		)},
		rm: rmOf(scope("s",
			gaugeI("app.hits", ptI(1, attrs("path", "/a")), ptI(5, ovf)),
			histF("app.latency", metricdata.DeltaTemporality,
				histPt(attrs("route", "/a"), 0.5, 0.5, 0.5, []float64{1}, 1, 0),
				histPt(ovf, 3, 1, 2, []float64{1}, 1, 1)),
			gaugeI("app.merged", ptI(1, attrs("k", "a", "x", "1")), ptI(2, attrs("k", "a", "x", "2")), ptI(4, ovf)),
			gaugeI("app.filtered", ptI(1, attrs("k", "a")), ptI(6, ovf)),
			gaugeI("app.total", ptI(1, attrs("k", "a")), ptI(2, ovf)),
		)),
	}
}

// fairShareCase: a series bound of 40 shared by instruments of 1, 3, 20
// and 36 leaves (a histogram of 4 series) and komachi's own 2. The own
// count first (38 left); 1 and 3 are under the share, 20 and 36 are cut to
// 17: 17 series of c, one series (9 leaves) of h.
func fairShareCase() goldenCase {
	none := attribute.NewSet()
	seq := func(name string, n int) metricdata.Metrics {
		pts := make([]metricdata.DataPoint[int64], n)
		for i := range pts {
			pts[i] = ptI(int64(i), attrs("k", fmt.Sprintf("%02d", i)))
		}
		return gaugeI(name, pts...)
	}
	var h []metricdata.HistogramDataPoint[float64]
	for i := range 4 {
		h = append(h, histPt(attrs("k", fmt.Sprint(i)), 1.5, 0.5, 1, []float64{1}, 2, 0))
	}
	return goldenCase{
		name: "series_bound_fair_share",
		opts: []Option{WithMaxSeries(40)},
		rm: rmOf(
			scope("s", gaugeI("a", ptI(1, none)), seq("b", 3), seq("c", 20), histF("h", metricdata.DeltaTemporality, h...)),
			scope(exporterScope, seq("komachi.own", 2)),
		),
	}
}
