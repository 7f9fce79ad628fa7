package forward_test

import (
	"context"
	"fmt"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/komachi-go/komachi/otelbridge/internal/forward"
)

// Only the key is set: metrics go to Mackerel over gRPC+TLS, and the key
// never shows in the printed settings.
func ExampleFromEnv() {
	env := map[string]string{
		"MACKEREL_APIKEY":             "my-secret-api-key",
		"OTEL_METRIC_EXPORT_INTERVAL": "30000",
	}
	cfg, enabled, err := forward.FromEnv(func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	fmt.Println(enabled, err)
	fmt.Println(cfg)
	// Output:
	// true <nil>
	// protocol=grpc endpoint=otlp.mackerelio.com:4317 insecure=false headers=[] api_key=[REDACTED] compression=gzip timeout=10s temporality=cumulative histogram=explicit_bucket_histogram interval=30s export_timeout=30s max_request_size=3500000
}

// The wiring: production passes os.LookupEnv; with nothing configured,
// forwarding stays off and the provider has no OTLP reader.
func ExampleNew() {
	env := map[string]string{} // os.LookupEnv in production
	cfg, enabled, err := forward.FromEnv(func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
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
		// f.RegisterMetrics(mp) reports komachi.otlp.* counters.
	}
	mp := sdkmetric.NewMeterProvider(opts...)
	defer mp.Shutdown(context.Background()) // flushes the forwarder too
	fmt.Println("forwarding:", enabled)
	// Output:
	// forwarding: false
}
