package heartbeat

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// benchServe measures ServeHTTP alone: one request and one reusable
// ResponseWriter, so every allocation reported is this package's.
func benchServe(b *testing.B, h *Handler, target string, header ...string) {
	r := httptest.NewRequest("GET", target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	w := newDiscardWriter()
	h.ServeHTTP(w, r) // the first run, outside the timing
	if w.code != http.StatusOK {
		b.Fatalf("status %d", w.code)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w.reset()
		h.ServeHTTP(w, r)
	}
}

func BenchmarkHeartbeat(b *testing.B) {
	vitals := WithVitals(
		VitalFunc("db", func(context.Context) error { return nil }),
		VitalFunc("cache", func(context.Context) error { return nil }),
	)
	b.Run("cached", func(b *testing.B) {
		h := mustNew(b, nil, vitals, WithCacheTTL(time.Hour))
		benchServe(b, h, "/heartbeat")
	})
	b.Run("cached-verbose", func(b *testing.B) {
		h := mustNew(b, nil, vitals, WithCacheTTL(time.Hour))
		benchServe(b, h, "/heartbeat", "Accept", "application/health+json")
	})
	b.Run("background", func(b *testing.B) {
		h := mustNew(b, nil, vitals, WithBackgroundInterval(time.Second))
		benchServe(b, h, "/heartbeat")
	})
	b.Run("livez", func(b *testing.B) {
		h := mustNew(b, nil, vitals)
		benchServe(b, h, "/livez")
	})
}

// BenchmarkLoopback is the whole trip through net/http on 127.0.0.1, for
// scale: what net/http itself costs next to the handler.
func BenchmarkLoopback(b *testing.B) {
	h := mustNew(b, nil, WithVitals(VitalFunc("db", func(context.Context) error { return nil })),
		WithCacheTTL(time.Hour))
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := srv.Client()
	b.ReportAllocs()
	for b.Loop() {
		res, err := client.Get(srv.URL + "/heartbeat")
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			b.Fatalf("status %d", res.StatusCode)
		}
	}
}
