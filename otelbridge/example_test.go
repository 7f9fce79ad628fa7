package otelbridge_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/komachi-go/komachi/heartbeat"
	"github.com/komachi-go/komachi/otelbridge"
)

// One call, and /ops/heartbeat and /ops/stats answer.
func Example() {
	ctx := context.Background()
	bridge, err := otelbridge.Start(ctx,
		otelbridge.WithVitals(heartbeat.VitalFunc("cache", func(context.Context) error { return nil })),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = bridge.Shutdown(ctx) }()

	mux := http.NewServeMux()
	mux.Handle("/ops/", http.StripPrefix("/ops", bridge.Handler()))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/ops/heartbeat")
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body))

	resp, err = http.Get(srv.URL + "/ops/stats")
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("Content-Type"))
	// Output:
	// 200 heartbeat:ok
	// 200 application/json
}

// An app that owns its MeterProvider adds komachi's reader to it.
func ExampleNewStats() {
	ctx := context.Background()
	stats, err := otelbridge.NewStats()
	if err != nil {
		log.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(stats.Reader()))
	// Deferred first, so it runs last: after the provider's last collection.
	defer func() { _ = stats.Shutdown(ctx) }()
	defer func() { _ = mp.Shutdown(ctx) }()
	if err := stats.Start(ctx, mp); err != nil {
		log.Fatal(err)
	}

	body, _ := stats.Exporter().Document()
	fmt.Println(len(body) > 0)
	// Output: true
}
