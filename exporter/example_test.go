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

// A counter and a gauge, one window, and the document mackerel-plugin-json
// reads. In a service the reader is a PeriodicReader whose interval is the
// window; a ManualReader makes the example deterministic.
func Example() {
	exp, err := exporter.New()
	if err != nil {
		log.Fatal(err)
	}
	reader := sdkmetric.NewManualReader(sdkmetric.WithTemporalitySelector(exp.Temporality))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(context.Background()) }()

	meter := mp.Meter("example")
	requests, _ := meter.Int64Counter("http.server.requests")
	queue, _ := meter.Int64Gauge("app.queue.depth")

	ctx := context.Background()
	requests.Add(ctx, 3, metric.WithAttributes(attribute.String("http.route", "/users/{id}")))
	requests.Add(ctx, 1, metric.WithAttributes(attribute.String("http.route", "/")))
	queue.Record(ctx, 12)

	// One window: collect, export.
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		log.Fatal(err)
	}
	if err := exp.Export(ctx, &rm); err != nil {
		log.Fatal(err)
	}
	body, _ := exp.Document()
	fmt.Println(string(body))
	// Output:
	// {"app":{"queue":{"depth":12}},"http":{"server":{"requests":{"_":1,"_users__id_":3}}}}
}

// Sanitize is the rule every part of a name goes through.
func ExampleSanitize() {
	fmt.Println(exporter.Sanitize("/users/{id}"), exporter.Sanitize("db.example.com"), exporter.Sanitize(""))
	// Output: _users__id_ db_example_com _
}
