package heartbeat

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
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

// statsDocument builds a /stats-shaped document of at least size bytes.
func statsDocument(size int) []byte {
	var sb strings.Builder
	sb.WriteString(`{"app":{`)
	for i := 0; sb.Len() < size; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `"group%d":{"count":%d,"sum":%d.25,"p99":%d.5}`, i, i*7, i*13, i%97)
	}
	sb.WriteString("}}")
	return []byte(sb.String())
}

func BenchmarkStats(b *testing.B) {
	doc := statsDocument(100 << 10)
	src := &docSource{}
	src.set(doc, gzipBytes(b, doc))
	h := mustNew(b, nil, WithStats(src))
	b.Run("100KB-plain", func(b *testing.B) { benchServe(b, h, "/stats") })
	b.Run("100KB-gzip", func(b *testing.B) { benchServe(b, h, "/stats", "Accept-Encoding", "gzip") })
	b.Run("100KB-gzip-bearer", func(b *testing.B) {
		h := mustNew(b, nil, WithStats(src), WithStatsBearerToken("s3cret"))
		benchServe(b, h, "/stats", "Accept-Encoding", "gzip", "Authorization", "Bearer s3cret")
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
