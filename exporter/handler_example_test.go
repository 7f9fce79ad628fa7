package exporter_test

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/komachi-go/komachi/exporter"
)

// get serves one GET through h and prints the status and the body.
func get(h http.Handler, target string, header ...string) {
	r := httptest.NewRequest("GET", target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	fmt.Println(w.Code, w.Header().Get("Content-Type"), strings.TrimSpace(w.Body.String()))
}

// exportOneGauge stands in for the reader's export at the end of a window.
func exportOneGauge(exp *exporter.Exporter) {
	rm := &metricdata.ResourceMetrics{ScopeMetrics: []metricdata.ScopeMetrics{{
		Metrics: []metricdata.Metrics{{Name: "go.goroutine.count", Data: metricdata.Gauge[int64]{
			DataPoints: []metricdata.DataPoint[int64]{{Value: 7}},
		}}},
	}}}
	if err := exp.Export(context.Background(), rm); err != nil {
		log.Fatal(err)
	}
}

// The handler serves the document wherever it is mounted: 503 until the
// first export, then the document.
func ExampleExporter_Handler() {
	exp, err := exporter.New()
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/stats", exp.Handler())

	get(mux, "/stats")
	exportOneGauge(exp)
	get(mux, "/stats")
	// Output:
	// 503 text/plain; charset=utf-8 503 stats not ready: no document has been collected yet
	// 200 application/json {"go":{"goroutine":{"count":{"count":7}}}}
}

// requireBearer is a guard as ordinary middleware: next answers only the
// requests carrying "Authorization: Bearer <token>"; the others get 401.
// Comparing digests keeps the comparison constant-time in the token's
// length too.
func requireBearer(token string, next http.Handler) http.Handler {
	want := sha256.Sum256([]byte("Bearer " + token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := sha256.Sum256([]byte(r.Header.Get("Authorization")))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="stats"`)
			http.Error(w, "401 unauthorized: /stats needs Authorization: Bearer <token>", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// A guard on /stats is middleware wrapped around the handler; nothing in
// the exporter knows of it. mackerel-plugin-json sends the token with
// -header "Authorization: Bearer <token>".
func ExampleExporter_Handler_bearerToken() {
	exp, err := exporter.New()
	if err != nil {
		log.Fatal(err)
	}
	exportOneGauge(exp)
	mux := http.NewServeMux()
	mux.Handle("/stats", requireBearer("s3cret", exp.Handler()))

	get(mux, "/stats")
	get(mux, "/stats", "Authorization", "Bearer wrong")
	get(mux, "/stats", "Authorization", "Bearer s3cret")
	// Output:
	// 401 text/plain; charset=utf-8 401 unauthorized: /stats needs Authorization: Bearer <token>
	// 401 text/plain; charset=utf-8 401 unauthorized: /stats needs Authorization: Bearer <token>
	// 200 application/json {"go":{"goroutine":{"count":{"count":7}}}}
}
