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
	defer h.Close()

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
	defer h.Close()

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
	defer h.Close()

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
	defer h.Close()

	h.Drain()
	// ... wait at least one readiness probe period, then srv.Shutdown(ctx).
	get(h, "/heartbeat")
	get(h, "/livez")
	// Output:
	// /heartbeat 503 heartbeat:NG
	// /livez 200 livez:ok
}

// document is a Source holding a fixed document; exporter.Exporter is the
// real one.
type document struct{ body, gzipped []byte }

func (d document) Document() ([]byte, []byte) { return d.body, d.gzipped }

func ExampleWithStats() {
	h, err := heartbeat.New(heartbeat.WithStats(document{body: []byte(`{"go":{"goroutine":{"count":7}}}`)}))
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()

	get(h, "/stats")
	// Output:
	// /stats 200 {"go":{"goroutine":{"count":7}}}
}

func ExampleWithStatsBearerToken() {
	h, err := heartbeat.New(
		heartbeat.WithStats(document{body: []byte(`{"a":1}`)}),
		heartbeat.WithStatsBearerToken("s3cret"),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()

	r := httptest.NewRequest("GET", "/stats", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"))

	// mackerel-plugin-json -header "Authorization: Bearer s3cret" ...
	get(h, "/stats", "Authorization", "Bearer s3cret")
	get(h, "/heartbeat") // probes need no token
	// Output:
	// 401 Bearer realm="stats"
	// /stats 200 {"a":1}
	// /heartbeat 200 heartbeat:ok
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
	defer h.Close() // stops the goroutine

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
	defer h.Close()

	get(h, "/heartbeat")
	// Output:
	// /heartbeat 200 heartbeat:ok
}
