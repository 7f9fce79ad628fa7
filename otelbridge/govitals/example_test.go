package govitals_test

import (
	"context"
	"fmt"
	"log"
	"runtime"

	contribruntime "go.opentelemetry.io/contrib/instrumentation/runtime"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/komachi-go/komachi/otelbridge/govitals"
)

// Start records alongside contrib runtime; the producers go on the reader.
func Example() {
	reader := sdkmetric.NewManualReader(
		sdkmetric.WithProducer(contribruntime.NewProducer()), // go.schedule.duration
		sdkmetric.WithProducer(govitals.NewProducer()),       // go.memory.gc.pause.duration
	)
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())

	if err := contribruntime.Start(contribruntime.WithMeterProvider(mp)); err != nil {
		log.Fatal(err)
	}
	reg, err := govitals.Start(govitals.WithMeterProvider(mp))
	if err != nil {
		log.Fatal(err)
	}
	defer reg.Unregister()

	runtime.GC()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		log.Fatal(err)
	}
	found := make(map[string]bool)
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			found[m.Name] = true
		}
	}
	for _, name := range []string{
		"go.goroutine.count",          // contrib runtime
		"go.schedule.duration",        // contrib runtime producer
		"go.cpu.time",                 // govitals
		"go.memory.gc.cycles",         // govitals
		"go.memory.gc.pause.duration", // govitals producer
		"komachi.go.memory.used",      // govitals
	} {
		fmt.Println(name, found[name])
	}
	// Output:
	// go.goroutine.count true
	// go.schedule.duration true
	// go.cpu.time true
	// go.memory.gc.cycles true
	// go.memory.gc.pause.duration true
	// komachi.go.memory.used true
}
