package forward_test

import (
	"context"
	"fmt"
	"os"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/komachi-go/komachi/otelbridge/internal/forward"
)

// Only the key is set: metrics go to Mackerel over gRPC and TLS, and the
// key never shows in the printed settings.
func ExampleFromEnv() {
	os.Setenv("MACKEREL_APIKEY", "my-secret-api-key")
	os.Setenv("OTEL_METRIC_EXPORT_INTERVAL", "30000")
	defer os.Unsetenv("MACKEREL_APIKEY")
	defer os.Unsetenv("OTEL_METRIC_EXPORT_INTERVAL")

	cfg, enabled, err := forward.FromEnv()
	fmt.Println(enabled, err)
	fmt.Println(cfg)
	// Output:
	// true <nil>
	// protocol=grpc endpoint=otlp.mackerelio.com:4317 insecure=false headers=[] api_key=[REDACTED] compression=gzip timeout=10s temporality=cumulative histogram=explicit_bucket_histogram interval=30s export_timeout=30s
}

// The wiring: with nothing configured, forwarding stays off and the
// provider has no OTLP reader.
func ExampleNew() {
	cfg, enabled, err := forward.FromEnv()
	if err != nil {
		fmt.Println(err) // names the variable at fault
		return
	}
	opts := []sdkmetric.Option{}
	if enabled {
		f, err := forward.New(context.Background(), cfg)
		if err != nil {
			fmt.Println(err)
			return
		}
		opts = append(opts, sdkmetric.WithReader(f.Reader()))
		// f.RegisterMetrics(mp) reports the komachi.otlp.* counters.
	}
	mp := sdkmetric.NewMeterProvider(opts...)
	defer mp.Shutdown(context.Background()) // flushes the forwarder too
	fmt.Println("forwarding:", enabled)
	// Output:
	// forwarding: false
}
