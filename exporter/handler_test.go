package exporter

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// fixedDocument is a document source that tests can swap, as an export does
// at the end of every window.
type fixedDocument struct {
	doc atomic.Pointer[document]
}

// set publishes plain with gzipped as its gzip copy (nil: it has none).
func (d *fixedDocument) set(plain, gzipped []byte) {
	doc := &document{body: plain}
	doc.makeGzip = func() { doc.gz = gzipped }
	d.doc.Store(doc)
}

func handlerOf(d *fixedDocument) *statsHandler { return &statsHandler{current: &d.doc} }

// serveOnce serves one request; header holds name, value pairs.
func serveOnce(h http.Handler, method, target string, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func gzipOf(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// exportGauge makes exp publish a document holding one gauge.
func exportGauge(t testing.TB, exp *Exporter, name string, v int64) {
	t.Helper()
	rm := &metricdata.ResourceMetrics{ScopeMetrics: []metricdata.ScopeMetrics{{
		Metrics: []metricdata.Metrics{{Name: name, Data: metricdata.Gauge[int64]{
			DataPoints: []metricdata.DataPoint[int64]{{Value: v}},
		}}},
	}}}
	if err := exp.Export(context.Background(), rm); err != nil {
		t.Fatal(err)
	}
}

// TestHandlerTable is the contract: every outcome × method.
func TestHandlerTable(t *testing.T) {
	doc := []byte(`{"go":{"goroutine":{"count":7}}}`)
	gz := gzipOf(t, doc)
	full, plainOnly, none := &fixedDocument{}, &fixedDocument{}, &fixedDocument{}
	full.set(doc, gz)
	plainOnly.set(doc, nil)
	handlers := map[string]http.Handler{
		"full":      handlerOf(full),
		"plainonly": handlerOf(plainOnly),
		"nodoc":     handlerOf(none),
	}

	type row struct {
		handler string
		target  string
		header  []string
		code    int
		ctype   string
		body    string
		headers map[string]string // "" means must be absent
	}
	plain := map[string]string{"Vary": "Accept-Encoding", "Content-Encoding": ""}
	gzipped := map[string]string{"Vary": "Accept-Encoding", "Content-Encoding": "gzip"}
	const ctJSON, ctText = "application/json", "text/plain; charset=utf-8"
	rows := []row{
		{handler: "full", target: "/stats", code: 200, ctype: ctJSON, body: string(doc), headers: plain},
		{handler: "full", target: "/stats", header: []string{"Accept-Encoding", "gzip"},
			code: 200, ctype: ctJSON, body: string(gz), headers: gzipped},
		{handler: "full", target: "/stats", header: []string{"Accept-Encoding", "br, GZIP;q=0.5"},
			code: 200, ctype: ctJSON, body: string(gz), headers: gzipped},
		{handler: "full", target: "/stats", header: []string{"Accept-Encoding", "gzip;q=0"},
			code: 200, ctype: ctJSON, body: string(doc), headers: plain},
		{handler: "full", target: "/stats", header: []string{"Accept-Encoding", "*"},
			code: 200, ctype: ctJSON, body: string(gz), headers: gzipped},
		{handler: "full", target: "/stats", header: []string{"Accept-Encoding", "identity"},
			code: 200, ctype: ctJSON, body: string(doc), headers: plain},
		// The path is the mount's business: whatever reaches the handler
		// is the document.
		{handler: "full", target: "/", code: 200, ctype: ctJSON, body: string(doc), headers: plain},
		{handler: "full", target: "/metrics.json?x=1", code: 200, ctype: ctJSON, body: string(doc), headers: plain},
		{handler: "plainonly", target: "/stats", header: []string{"Accept-Encoding", "gzip"},
			code: 200, ctype: ctJSON, body: string(doc), headers: plain},
		{handler: "nodoc", target: "/stats", code: 503, ctype: ctText, body: string(bodyNoDocument.b),
			headers: map[string]string{"Vary": "", "Content-Encoding": ""}},
	}
	for _, rw := range rows {
		for _, method := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"} {
			t.Run(fmt.Sprintf("%s %s %s %v", rw.handler, method, rw.target, rw.header), func(t *testing.T) {
				want, wantAllow := rw, ""
				if method != "GET" && method != "HEAD" {
					want = row{code: 405, ctype: ctText, body: string(bodyNotAllowed.b)}
					wantAllow = "GET, HEAD"
				}
				res := serveOnce(handlers[rw.handler], method, rw.target, rw.header...)
				if res.Code != want.code {
					t.Fatalf("status = %d, want %d; body %q", res.Code, want.code, res.Body)
				}
				hdr := res.Header()
				for name, value := range map[string]string{
					"Content-Type":           want.ctype,
					"Cache-Control":          "no-store",
					"X-Content-Type-Options": "nosniff",
					"Allow":                  wantAllow,
				} {
					if got := hdr.Get(name); got != value {
						t.Errorf("%s = %q, want %q", name, got, value)
					}
				}
				for name, value := range want.headers {
					if got := hdr.Get(name); got != value {
						t.Errorf("%s = %q, want %q", name, got, value)
					}
				}
				// HEAD answers GET's headers, Content-Length included, with no body.
				get := serveOnce(handlers[rw.handler], "GET", rw.target, rw.header...)
				if method == "GET" || method == "HEAD" {
					if got, want := hdr.Get("Content-Length"), strconv.Itoa(get.Body.Len()); got != want {
						t.Errorf("Content-Length = %s, want %s", got, want)
					}
				}
				if method == "HEAD" {
					if res.Body.Len() != 0 {
						t.Errorf("HEAD body = %q, want none", res.Body)
					}
					return
				}
				if got := res.Body.String(); got != want.body {
					t.Errorf("body = %q, want %q", got, want.body)
				}
			})
		}
	}
}

// TestHandlerServesTheExportersDocument: 503 until the first export, then
// exactly what Document returns, in both encodings.
func TestHandlerServesTheExportersDocument(t *testing.T) {
	exp, err := New()
	if err != nil {
		t.Fatal(err)
	}
	h := exp.Handler()
	if res := serveOnce(h, "GET", "/stats"); res.Code != 503 || res.Body.String() != string(bodyNoDocument.b) {
		t.Fatalf("before the first export: %d %q, want 503", res.Code, res.Body)
	}
	exportGauge(t, exp, "go.goroutine.count", 7)
	body, gz := exp.Document()
	if string(body) != `{"go":{"goroutine":{"count":{"count":7}}}}` {
		t.Fatalf("document %s", body)
	}
	if res := serveOnce(h, "GET", "/stats"); res.Code != 200 || !bytes.Equal(res.Body.Bytes(), body) {
		t.Errorf("plain: %d %q, want 200 %q", res.Code, res.Body, body)
	}
	if res := serveOnce(h, "GET", "/stats", "Accept-Encoding", "gzip"); res.Code != 200 || !bytes.Equal(res.Body.Bytes(), gz) {
		t.Errorf("gzip: %d, %d bytes, want 200 and the exporter's %d gzip bytes", res.Code, res.Body.Len(), len(gz))
	}
	// After Shutdown the last document stays, so /stats answers while an app drains.
	if err := exp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if res := serveOnce(h, "GET", "/stats"); res.Code != 200 {
		t.Errorf("after Shutdown: %d, want 200 with the last document", res.Code)
	}
}

// TestHandlerOverHTTP: Go's default transport (mackerel-plugin-json's) asks
// for gzip and gets the exporter's gzipped bytes, decompressed transparently.
func TestHandlerOverHTTP(t *testing.T) {
	exp, err := New()
	if err != nil {
		t.Fatal(err)
	}
	exportGauge(t, exp, "a", 1)
	doc, gz := exp.Document()
	srv := httptest.NewServer(exp.Handler())
	defer srv.Close()

	res, err := srv.Client().Get(srv.URL + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !res.Uncompressed || !bytes.Equal(body, doc) {
		t.Errorf("Uncompressed = %v, body %q; want transparent gzip of %q", res.Uncompressed, body, doc)
	}

	// Without transparent decompression the wire bytes are the exporter's own.
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("GET", srv.URL+"/stats", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	res, err = (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	wire, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.Header.Get("Content-Encoding") != "gzip" || !bytes.Equal(wire, gz) {
		t.Errorf("Content-Encoding %q, %d bytes; want gzip, the exporter's %d bytes",
			res.Header.Get("Content-Encoding"), len(wire), len(gz))
	}
}

// TestHandlerDocumentChanges: a new document is served at once with its
// own Content-Length.
func TestHandlerDocumentChanges(t *testing.T) {
	exp, err := New()
	if err != nil {
		t.Fatal(err)
	}
	h := exp.Handler()
	for _, v := range []int64{1, 22, 333, 4} {
		exportGauge(t, exp, "a", v)
		body, gz := exp.Document()
		for _, tc := range []struct {
			ae   string
			want []byte
		}{{"", body}, {"gzip", gz}} {
			res := serveOnce(h, "GET", "/stats", "Accept-Encoding", tc.ae)
			if res.Code != 200 || !bytes.Equal(res.Body.Bytes(), tc.want) {
				t.Errorf("a=%d AE %q: %d %q, want 200 %q", v, tc.ae, res.Code, res.Body, tc.want)
			}
			if cl := res.Header().Get("Content-Length"); cl != strconv.Itoa(len(tc.want)) {
				t.Errorf("a=%d AE %q: Content-Length %s for %d bytes", v, tc.ae, cl, len(tc.want))
			}
		}
	}
}

// raceEnabled reports a -race build, whose detector allocates on its own.
// It is read from the build settings so that the allocation test can live
// beside the handler's other tests, with no build-tagged file for a constant.
func raceEnabled() bool {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range info.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// discardResponse is the smallest reusable ResponseWriter: what a benchmark
// or an allocation test then measures is the handler alone.
type discardResponse struct {
	header http.Header
	code   int
	n      int
}

func newDiscardResponse() *discardResponse { return &discardResponse{header: make(http.Header, 8)} }

func (w *discardResponse) Header() http.Header  { return w.header }
func (w *discardResponse) WriteHeader(code int) { w.code = code }
func (w *discardResponse) Write(b []byte) (int, error) {
	w.n += len(b)
	return len(b), nil
}

func (w *discardResponse) reset() {
	clear(w.header)
	w.code, w.n = 0, 0
}

// TestHandlerNoAllocs: serving costs no allocation. Counted, not timed;
// it runs without -race (the race detector allocates on its own).
func TestHandlerNoAllocs(t *testing.T) {
	if raceEnabled() {
		t.Skip("the race detector allocates; run without -race")
	}
	exp, err := New()
	if err != nil {
		t.Fatal(err)
	}
	empty, err := New()
	if err != nil {
		t.Fatal(err)
	}
	exportGauge(t, exp, "a.b", 1)
	for _, tc := range []struct {
		name   string
		h      http.Handler
		method string
		header []string
	}{
		{"plain", exp.Handler(), "GET", nil},
		{"gzip", exp.Handler(), "GET", []string{"Accept-Encoding", "deflate, gzip;q=0.8, *;q=0.1"}},
		{"HEAD", exp.Handler(), "HEAD", []string{"Accept-Encoding", "gzip"}},
		{"503", empty.Handler(), "GET", nil},
		{"405", exp.Handler(), "POST", nil},
	} {
		r := httptest.NewRequest(tc.method, "/stats", nil)
		for i := 0; i+1 < len(tc.header); i += 2 {
			r.Header.Add(tc.header[i], tc.header[i+1])
		}
		w := newDiscardResponse()
		tc.h.ServeHTTP(w, r) // warm: the Content-Length cache
		if allocs := testing.AllocsPerRun(100, func() {
			w.reset()
			tc.h.ServeHTTP(w, r)
		}); allocs != 0 {
			t.Errorf("%s: %v allocs per request, want 0", tc.name, allocs)
		}
	}
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

// BenchmarkHandler measures ServeHTTP alone: one request and one reusable
// ResponseWriter, so every allocation reported is the handler's.
func BenchmarkHandler(b *testing.B) {
	doc := statsDocument(100 << 10)
	d := &fixedDocument{}
	d.set(doc, gzipOf(b, doc))
	h := handlerOf(d)
	for _, tc := range []struct {
		name   string
		header []string
	}{
		{"100KB-plain", nil},
		{"100KB-gzip", []string{"Accept-Encoding", "gzip"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", "/stats", nil)
			for i := 0; i+1 < len(tc.header); i += 2 {
				r.Header.Add(tc.header[i], tc.header[i+1])
			}
			w := newDiscardResponse()
			h.ServeHTTP(w, r)
			if w.code != http.StatusOK {
				b.Fatalf("status %d", w.code)
			}
			b.ReportAllocs()
			for b.Loop() {
				w.reset()
				h.ServeHTTP(w, r)
			}
		})
	}
}

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

// FuzzHandler: whatever a client sends, the handler answers one of its
// documented statuses with a consistent Content-Length and the right
// encoding, and never panics.
func FuzzHandler(f *testing.F) {
	f.Add("GET", "/stats", "gzip", true)
	f.Add("HEAD", "/stats", "*;q=0", true)
	f.Add("POST", "/", "identity", false)
	f.Add("", "/x", "gzip;q=0.5, identity", true)
	doc := []byte(`{"a":1}`)
	gz := gzipOf(f, doc)
	full, none := &fixedDocument{}, &fixedDocument{}
	full.set(doc, gz)
	f.Fuzz(func(t *testing.T, method, path, acceptEncoding string, ready bool) {
		h := handlerOf(none)
		if ready {
			h = handlerOf(full)
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.Method = method
		r.URL.Path = path
		r.Header = http.Header{"Accept-Encoding": {acceptEncoding}}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		switch w.Code {
		case 200, 405, 503:
		default:
			t.Fatalf("status %d", w.Code)
		}
		if method != "HEAD" && w.Header().Get("Content-Length") != strconv.Itoa(w.Body.Len()) {
			t.Fatalf("Content-Length %q for %d bytes", w.Header().Get("Content-Length"), w.Body.Len())
		}
		if w.Header().Get("X-Content-Type-Options") != "nosniff" || w.Header().Get("Content-Type") == "" ||
			w.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("headers %v", w.Header())
		}
		if w.Code == 200 && method != "HEAD" {
			want := doc
			if acceptsGzip([]string{acceptEncoding}) {
				want = gz
			}
			if !bytes.Equal(w.Body.Bytes(), want) {
				t.Fatalf("body %q, want %q", w.Body, want)
			}
		}
	})
}
