package exporter_test

import (
	"context"
	"fmt"
	"log"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/komachi-go/komachi/exporter"
)

// A counter and a gauge over three windows, and the document
// mackerel-plugin-json reads at the end of each. In a service the reader is
// a PeriodicReader whose interval is the window; a ManualReader makes the
// example deterministic. Every group of sibling leaves is one instrument,
// which Mackerel draws as one graph: a series without attributes repeats
// the name's last segment (app.queue.depth.depth).
func Example() {
	exp, err := exporter.New()
	if err != nil {
		log.Fatal(err)
	}
	reader := sdkmetric.NewManualReader(sdkmetric.WithTemporalitySelector(exp.Temporality))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(context.Background()) }()

	meter := mp.Meter("example")
	requests, _ := meter.Int64Counter("app.requests")
	queue, _ := meter.Int64Gauge("app.queue.depth")

	ctx := context.Background()
	var rm metricdata.ResourceMetrics
	endWindow := func() {
		if err := reader.Collect(ctx, &rm); err != nil {
			log.Fatal(err)
		}
		if err := exp.Export(ctx, &rm); err != nil {
			log.Fatal(err)
		}
		body, _ := exp.Document()
		fmt.Println(string(body))
	}

	requests.Add(ctx, 1, metric.WithAttributes(attribute.String("http.route", "/")))
	queue.Record(ctx, 12)
	endWindow() // the first export starts the first window: counters show 0

	requests.Add(ctx, 3, metric.WithAttributes(attribute.String("http.route", "/users/{id}")))
	requests.Add(ctx, 1, metric.WithAttributes(attribute.String("http.route", "/")))
	endWindow() // the increases over the window

	endWindow() // a quiet window: 0, not a gap; the gauge keeps its level
	// Output:
	// {"app":{"queue":{"depth":{"depth":12}},"requests":{"_":0}}}
	// {"app":{"queue":{"depth":{"depth":12}},"requests":{"_":1,"_users__id_":3}}}
	// {"app":{"queue":{"depth":{"depth":12}},"requests":{"_":0,"_users__id_":0}}}
}

// Sanitize is the rule every part of a name goes through.
func ExampleSanitize() {
	fmt.Println(exporter.Sanitize("/users/{id}"), exporter.Sanitize("db.example.com"), exporter.Sanitize(""))
	// Output: _users__id_ db_example_com _
}
