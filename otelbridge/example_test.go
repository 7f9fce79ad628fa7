package otelbridge_test

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
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

// requireBearer answers 401 unless the request carries
// "Authorization: Bearer <token>"; digests keep the comparison
// constant-time in the token's length too.
func requireBearer(token string, next http.Handler) http.Handler {
	want := sha256.Sum256([]byte("Bearer " + token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := sha256.Sum256([]byte(r.Header.Get("Authorization")))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="stats"`)
			http.Error(w, "401 unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// A guard on /stats alone is ordinary middleware on the more specific
// patterns: /ops/stats and what lies under it (/ops/stats/graphs and
// /ops/stats/history, which the page at /ops/ reads); the probes under /ops
// stay open. mackerel-plugin-json sends the token with
// -header "Authorization: Bearer <token>".
func ExampleBridge_Handler_guardStats() {
	ctx := context.Background()
	bridge, err := otelbridge.Start(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = bridge.Shutdown(ctx) }()

	ops := http.StripPrefix("/ops", bridge.Handler())
	mux := http.NewServeMux()
	mux.Handle("/ops/", ops)
	mux.Handle("/ops/stats", requireBearer("s3cret", ops))
	mux.Handle("/ops/stats/", requireBearer("s3cret", ops))

	for _, tc := range []struct{ path, authorization string }{
		{"/ops/heartbeat", ""},
		{"/ops/stats", ""},
		{"/ops/stats/history", ""},
		{"/ops/stats%2Fhistory", ""}, // one segment to the mux, so unguarded: not served either
		{"/ops/stats", "Bearer s3cret"},
	} {
		r := httptest.NewRequest("GET", tc.path, nil)
		if tc.authorization != "" {
			r.Header.Set("Authorization", tc.authorization)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		fmt.Println(tc.path, w.Code, w.Header().Get("Content-Type"))
	}
	// Output:
	// /ops/heartbeat 200 text/plain; charset=utf-8
	// /ops/stats 401 text/plain; charset=utf-8
	// /ops/stats/history 401 text/plain; charset=utf-8
	// /ops/stats%2Fhistory 404 text/plain; charset=utf-8
	// /ops/stats 200 application/json
}
