package heartbeat

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

func TestAcceptsHealthJSON(t *testing.T) {
	f := func(want bool, values ...string) {
		t.Helper()
		if got := acceptsHealthJSON(values); got != want {
			t.Errorf("acceptsHealthJSON(%q) = %v, want %v", values, got, want)
		}
	}
	f(false)
	f(true, "application/health+json")
	f(true, "Application/Health+JSON; charset=utf-8")
	f(true, "text/html", "application/health+json;q=0.1")
	f(false, "application/health+json;q=0")
	f(false, "application/health+json;q=bad")
	f(false, "*/*")
	f(false, "application/*")
	f(false, "application/json")
}

func TestVerboseQuery(t *testing.T) {
	for raw, want := range map[string]bool{
		"":                  false,
		"verbose":           true,
		"verbose=":          true,
		"verbose=1":         true,
		"verbose=true":      true,
		"a=b&verbose":       true,
		"verbose=0":         false,
		"verbose=FALSE":     false,
		"verbosex":          false,
		"xverbose":          false,
		"a=verbose":         false,
		"verbose=0&verbose": false, // the first one counts
	} {
		if got := verboseQuery(raw); got != want {
			t.Errorf("verboseQuery(%q) = %v, want %v", raw, got, want)
		}
	}
}

// FuzzServeHTTP: whatever a client sends, the handler answers one of its
// documented statuses with a consistent Content-Length, and never panics.
func FuzzServeHTTP(f *testing.F) {
	f.Add("GET", "/heartbeat", "verbose", "application/health+json")
	f.Add("HEAD", "/livez", "", "*/*")
	f.Add("POST", "/livez", "verbose=0", "")
	f.Add("GET", "/heartbeat", "a=1&verbose=false", "application/health+json;q=0.001, text/plain")
	h, err := New(WithCacheTTL(0))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = h.Shutdown(context.Background()) })
	f.Fuzz(func(t *testing.T, method, path, query, accept string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Method = method
		r.URL.Path = path
		r.URL.RawQuery = query
		r.Header = http.Header{"Accept": {accept}}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		switch w.Code {
		case 200, 404, 405:
		default:
			t.Fatalf("status %d", w.Code)
		}
		if method != "HEAD" && w.Header().Get("Content-Length") != strconv.Itoa(w.Body.Len()) {
			t.Fatalf("Content-Length %q for %d bytes", w.Header().Get("Content-Length"), w.Body.Len())
		}
		if w.Header().Get("X-Content-Type-Options") != "nosniff" || w.Header().Get("Content-Type") == "" {
			t.Fatalf("headers %v", w.Header())
		}
	})
}
