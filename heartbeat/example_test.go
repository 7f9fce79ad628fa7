package heartbeat_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/komachi-go/komachi/heartbeat"
)

// get serves one GET through h and prints the answer.
func get(h http.Handler, target string, header ...string) {
	r := httptest.NewRequest("GET", target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	fmt.Println(target, w.Code, w.Body)
}

func ExampleNew() {
	db := heartbeat.VitalFunc("db", func(ctx context.Context) error {
		return nil // e.g. return sqlDB.PingContext(ctx)
	})
	h, err := heartbeat.New(heartbeat.WithVitals(db))
	if err != nil {
		log.Fatal(err)
	}
	defer h.Shutdown(context.Background())

	mux := http.NewServeMux()
	mux.Handle("/ops/", http.StripPrefix("/ops", h))

	get(mux, "/ops/heartbeat")
	get(mux, "/ops/livez")
	// Output:
	// /ops/heartbeat 200 heartbeat:ok
	// /ops/livez 200 livez:ok
}

func ExampleVitalFunc() {
	queue := heartbeat.VitalFunc("queue", func(ctx context.Context) error {
		return errors.New("broker unreachable")
	})
	h, err := heartbeat.New(heartbeat.WithVitals(queue))
	if err != nil {
		log.Fatal(err)
	}
	defer h.Shutdown(context.Background())

	get(h, "/heartbeat")
	get(h, "/livez") // liveness never runs vitals: no restart for a broker outage
	// Output:
	// /heartbeat 503 heartbeat:NG
	// /livez 200 livez:ok
}

// The verbose answer, in the shape of the IETF health check draft. Error
// text appears only with WithDetails.
func ExampleWithDetails() {
	h, err := heartbeat.New(
		heartbeat.WithDetails(true),
		heartbeat.WithVitals(
			heartbeat.VitalFunc("cache", func(context.Context) error { return nil }),
			heartbeat.VitalFunc("db", func(context.Context) error { return errors.New("too many connections") }),
		),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer h.Shutdown(context.Background())

	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/heartbeat?verbose", nil))
	var health struct {
		Status string `json:"status"`
		Checks map[string][]struct {
			Status       string `json:"status"`
			ObservedUnit string `json:"observedUnit"`
			Output       string `json:"output"`
		} `json:"checks"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &health); err != nil {
		log.Fatal(err)
	}
	fmt.Println(w.Code, w.Header().Get("Content-Type"), health.Status)
	for _, name := range []string{"cache", "db"} {
		c := health.Checks[name][0]
		fmt.Printf("%s: %s (duration in %s) %q\n", name, c.Status, c.ObservedUnit, c.Output)
	}
	// Output:
	// 503 application/health+json fail
	// cache: pass (duration in s) ""
	// db: fail (duration in s) "too many connections"
}

// At shutdown: drain first, so Kubernetes stops routing to the Pod while
// it still serves, then shut the server down.
func ExampleHandler_Drain() {
	h, err := heartbeat.New()
	if err != nil {
		log.Fatal(err)
	}
	defer h.Shutdown(context.Background())

	h.Drain()
	// ... wait at least one readiness probe period, then srv.Shutdown(ctx).
	get(h, "/heartbeat")
	get(h, "/livez")
	// Output:
	// /heartbeat 503 heartbeat:NG
	// /livez 200 livez:ok
}

func ExampleNew_badOption() {
	_, err := heartbeat.New(heartbeat.WithTimeout(-1e9))
	fmt.Println(err)
	fmt.Println(errors.Is(err, heartbeat.ErrInvalidOption))
	// Output:
	// heartbeat: WithTimeout: must be > 0, got -1s
	// true
}

// In background mode the vitals are checked every interval by the
// Handler's own goroutine; probes only read the last result.
func ExampleWithBackgroundInterval() {
	h, err := heartbeat.New(
		heartbeat.WithBackgroundInterval(5*time.Second),
		heartbeat.WithVitals(heartbeat.VitalFunc("db", func(context.Context) error { return nil })),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer h.Shutdown(context.Background()) // stops the goroutine

	get(h, "/heartbeat") // shares the first run; later probes never wait
	// Output:
	// /heartbeat 200 heartbeat:ok
}

// A vital known to be slower than the rest gets its own timeout.
func ExampleVitalWithTimeout() {
	search := heartbeat.VitalFunc("search", func(ctx context.Context) error {
		select {
		case <-time.After(20 * time.Millisecond): // a slow but healthy answer
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	h, err := heartbeat.New(
		heartbeat.WithTimeout(5*time.Millisecond),
		heartbeat.WithVitals(heartbeat.VitalWithTimeout(search, 800*time.Millisecond)),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer h.Shutdown(context.Background())

	get(h, "/heartbeat")
	// Output:
	// /heartbeat 200 heartbeat:ok
}

// The vitals' status and check duration are recorded through the
// MeterProvider given, as contrib instrumentations do; here a ManualReader
// shows what a collection reads.
func ExampleWithMeterProvider() {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())

	h, err := heartbeat.New(
		heartbeat.WithMeterProvider(mp),
		heartbeat.WithVitals(heartbeat.VitalFunc("db", func(context.Context) error { return nil })),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer h.Shutdown(context.Background()) // unregisters the metrics

	get(h, "/heartbeat") // a run, whose result the gauges read
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		log.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if g, ok := m.Data.(metricdata.Gauge[int64]); ok {
				name, _ := g.DataPoints[0].Attributes.Value(heartbeat.AttributeVitalName)
				fmt.Println(m.Name, name.AsString(), g.DataPoints[0].Value)
			}
		}
	}
	// Output:
	// /heartbeat 200 heartbeat:ok
	// komachi.heartbeat.vital.status db 1
}
