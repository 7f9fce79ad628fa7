package heartbeat

import (
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestAcceptsGzip(t *testing.T) {
	f := func(want bool, values ...string) {
		t.Helper()
		if got := acceptsGzip(values); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", values, got, want)
		}
		if got := refAcceptsGzip(strings.Join(values, ",")); got != want {
			t.Errorf("reference(%q) = %v, want %v", values, got, want)
		}
	}
	f(false)
	f(false, "")
	f(true, "gzip")
	f(true, "GZip")
	f(true, "x-gzip")
	f(true, "gzip, deflate, br")
	f(true, "br;q=1.0, gzip;q=0.8, *;q=0.1")
	f(true, " \tgzip \t; q=0.5 ")
	f(true, "gzip;Q=1")
	f(true, "deflate", "gzip") // two field lines
	f(false, "gzip;q=0")
	f(false, "gzip;q=0.000")
	f(false, "gzip; q=0, identity")
	f(true, "*")
	f(false, "*;q=0")
	f(true, "*;q=0, gzip")
	f(false, "gzip;q=0, *")
	f(false, "identity")
	f(false, "deflate, br")
	f(false, "gzip;q=0.5, identity")
	f(true, "gzip;q=0.5, identity;q=0.5")
	f(true, "gzip, identity;q=0")
	f(false, "gzip;q=0.5, *") // * stands for identity at 1
	f(true, "gzip, *;q=0.5")
	f(false, "gzip;q=2")      // malformed weight drops the element
	f(false, "gzip;q=1.5")    // ditto
	f(false, "gzip;q=0.1234") // ditto
	f(false, "gzip;q=")
	f(false, "gzip;q=-1")
	f(true, "gzip;q=1.")
	f(true, "gzip;q=0.001")
	f(true, "gzip;level=9")
	f(false, "gzipx, xgzip, gzip2")
	f(true, ",,, gzip ,")
}

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

func TestBearerToken(t *testing.T) {
	f := func(want string, values ...string) {
		t.Helper()
		got, ok := bearerToken(values)
		if got != want || ok != (want != "") {
			t.Errorf("bearerToken(%q) = %q, %v; want %q", values, got, ok, want)
		}
	}
	f("")
	f("tok", "Bearer tok")
	f("tok", "bEaReR   tok ")
	f("", "Bearer ")
	f("", "Bearer")
	f("", "Basic dXNlcjpwYXNz")
	f("", "Bearer a", "Bearer b") // ambiguous: refused
}

// qvalueRE is RFC 9110's qvalue grammar, written the obvious way.
var qvalueRE = regexp.MustCompile(`^(0(\.[0-9]{0,3})?|1(\.0{0,3})?)$`)

// refAcceptsGzip is a second, plainly written (and allocating)
// implementation of the same rules; the fuzz target holds the fast one to it.
func refAcceptsGzip(field string) bool {
	weights := map[string]int{}
	for _, elem := range strings.Split(field, ",") {
		parts := strings.Split(elem, ";")
		coding := strings.ToLower(strings.Trim(parts[0], " \t"))
		if coding == "" {
			continue
		}
		if coding == "x-gzip" {
			coding = "gzip"
		}
		q, valid := 1000, true
		for _, p := range parts[1:] {
			name, value, _ := strings.Cut(p, "=")
			if strings.ToLower(strings.Trim(name, " \t")) != "q" {
				continue
			}
			value = strings.Trim(value, " \t")
			if !qvalueRE.MatchString(value) {
				valid = false
				break
			}
			if strings.HasSuffix(value, ".") {
				value += "0"
			}
			fl, err := strconv.ParseFloat(value, 64)
			if err != nil {
				panic(err)
			}
			q = int(math.Round(fl * 1000))
			break
		}
		if !valid {
			continue
		}
		if old, seen := weights[coding]; !seen || q > old {
			weights[coding] = q
		}
	}
	weightOf := func(coding string) int {
		if q, ok := weights[coding]; ok {
			return q
		}
		if q, ok := weights["*"]; ok {
			return q
		}
		return -1
	}
	gz, id := weightOf("gzip"), weightOf("identity")
	return gz > 0 && gz >= id
}

func FuzzAcceptEncoding(f *testing.F) {
	for _, seed := range [][2]string{
		{"gzip", ""},
		{"gzip;q=0", "*"},
		{"br;q=1.0, gzip;q=0.8, *;q=0.1", "identity;q=0.9"},
		{"x-gzip", "identity;q=0"},
		{" GZIP ; Q = 0.5 ", ""},
		{"gzip;q=1.", "gzip;q=0.0001"},
		{"*;q=0", "gzip;q=0.001"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if got, want := acceptsGzip([]string{a}), refAcceptsGzip(a); got != want {
			t.Errorf("acceptsGzip(%q) = %v, reference %v", a, got, want)
		}
		// Two field lines mean the same as one joined by a comma.
		if got, want := acceptsGzip([]string{a, b}), refAcceptsGzip(a+","+b); got != want {
			t.Errorf("acceptsGzip(%q, %q) = %v, reference %v", a, b, got, want)
		}
	})
}

// FuzzServeHTTP: whatever a client sends, the handler answers one of its
// documented statuses with a consistent Content-Length, and never panics.
func FuzzServeHTTP(f *testing.F) {
	f.Add("GET", "/heartbeat", "verbose", "application/health+json", "gzip", "Bearer t")
	f.Add("HEAD", "/stats", "", "*/*", "*;q=0", "bearer t")
	f.Add("POST", "/livez", "verbose=0", "", "identity", "")
	doc := []byte(`{"a":1}`)
	src := &docSource{}
	src.set(doc, gzipBytes(f, doc))
	h, err := New(WithStats(src), WithStatsBearerToken("t"), WithCacheTTL(0))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { h.Close() })
	f.Fuzz(func(t *testing.T, method, path, query, accept, acceptEncoding, auth string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Method = method
		r.URL.Path = path
		r.URL.RawQuery = query
		r.Header = http.Header{
			"Accept":          {accept},
			"Accept-Encoding": {acceptEncoding},
			"Authorization":   {auth},
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		switch w.Code {
		case 200, 401, 404, 405, 503:
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
