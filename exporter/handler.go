package exporter

import (
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/komachi-go/komachi/internal/httpaccept"
)

// Handler returns an http.Handler serving the current document, as
// promhttp.HandlerFor and expvar.Handler serve theirs: mount it where the
// document should answer (otelbridge mounts it at <prefix>/stats); it answers
// every request routed to it, whatever the path.
//
//   - GET and HEAD: 200 with the document as "application/json" and
//     "Vary: Accept-Encoding". When the client accepts gzip (Go's default
//     transport, used by mackerel-plugin-json, does) the answer is the
//     gzip-compressed copy, with "Content-Encoding: gzip". The copy is made
//     once per export, by the first request that accepts gzip (see
//     Document): that request pays for it, those meanwhile wait for it,
//     and the others are served it as it is.
//   - Before the first export: 503 with a plain-text reason, never an empty
//     200, since mackerel-plugin-json ignores the status and only an
//     unparsable body keeps it from posting.
//   - Any other method: 405 with "Allow: GET, HEAD".
//
// Every answer carries Content-Type, Content-Length,
// "Cache-Control: no-store" and "X-Content-Type-Options: nosniff". Serving
// allocates nothing but the gzip copy, once per export: the document is
// shared, the headers are pre-built and Accept-Encoding is read in place.
//
// A guard (a bearer token, an address allow-list) is ordinary middleware
// wrapped around the handler; see the example.
func (e *Exporter) Handler() http.Handler {
	return &statsHandler{current: &e.doc}
}

// statsHandler serves the document current holds; a pointer rather than the
// Exporter itself, so that the history is served by the same code and the
// tests can serve documents an export never makes (one without its gzip
// copy).
type statsHandler struct {
	current  *atomic.Pointer[document]
	plainLen lengthCache
	gzipLen  lengthCache
}

// Pre-built header values, assigned straight into the header map: unlike
// Header().Set this neither canonicalizes a key nor allocates a slice per
// request. They are shared, so they must never be modified.
var (
	hdrText     = []string{"text/plain; charset=utf-8"}
	hdrJSON     = []string{"application/json"}
	hdrNosniff  = []string{"nosniff"}
	hdrNoStore  = []string{"no-store"}
	hdrVaryAE   = []string{"Accept-Encoding"}
	hdrGzip     = []string{"gzip"}
	hdrAllowGet = []string{"GET, HEAD"}
)

// fixedBody is an error answer with its Content-Length ready.
type fixedBody struct {
	b []byte
	n []string
}

func newFixedBody(s string) fixedBody {
	return fixedBody{b: []byte(s), n: []string{strconv.Itoa(len(s))}}
}

var (
	bodyNotAllowed = newFixedBody("405 method not allowed: use GET or HEAD\n")
	bodyNoDocument = newFixedBody("503 stats not ready: no document has been collected yet\n")
)

func (h *statsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != "" {
		w.Header()["Allow"] = hdrAllowGet
		writeError(w, r, http.StatusMethodNotAllowed, bodyNotAllowed)
		return
	}
	d := h.current.Load()
	if d == nil || len(d.plain()) == 0 {
		writeError(w, r, http.StatusServiceUnavailable, bodyNoDocument)
		return
	}
	hdr := w.Header()
	hdr["Vary"] = hdrVaryAE
	payload, length := d.plain(), &h.plainLen
	if acceptsGzip(r.Header["Accept-Encoding"]) {
		if gz := d.gzipped(); len(gz) > 0 {
			hdr["Content-Encoding"] = hdrGzip
			payload, length = gz, &h.gzipLen
		}
	}
	write(w, r, http.StatusOK, hdrJSON, payload, length.of(len(payload)))
}

// writeError is the one way every error answer is written.
func writeError(w http.ResponseWriter, r *http.Request, code int, b fixedBody) {
	write(w, r, code, hdrText, b.b, b.n)
}

func write(w http.ResponseWriter, r *http.Request, code int, contentType []string, b []byte, length []string) {
	hdr := w.Header()
	hdr["Content-Type"] = contentType
	hdr["Content-Length"] = length
	hdr["Cache-Control"] = hdrNoStore
	hdr["X-Content-Type-Options"] = hdrNosniff
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		// A failed write means the client has gone; nothing is left to tell it.
		_, _ = w.Write(b)
	}
}

// lengthCache keeps the Content-Length value of the last document served,
// so the string is built once per document, not once per request.
type lengthCache struct {
	last atomic.Pointer[lengthEntry]
}

type lengthEntry struct {
	n     int
	value []string
}

func (c *lengthCache) of(n int) []string {
	if e := c.last.Load(); e != nil && e.n == n {
		return e.value
	}
	e := &lengthEntry{n: n, value: []string{strconv.Itoa(n)}}
	c.last.Store(e)
	return e.value
}

// acceptsGzip reports whether Accept-Encoding field values (all lines of the
// field) let us answer with gzip, following RFC 9110 §12.5.3:
//   - codings match case-insensitively, "x-gzip" is "gzip";
//   - "q=0" refuses a coding; a malformed weight drops its element;
//   - "*" stands for gzip and identity when they are not listed themselves;
//   - gzip is chosen when its weight is > 0 and not below identity's
//     (identity counts only when listed, by name or by "*").
//
// It reads the values in place through httpaccept, so that no header costs
// an allocation.
func acceptsGzip(values []string) bool {
	gzipQ, identityQ, starQ := -1, -1, -1
	for coding, q := range httpaccept.Elements(values) {
		switch {
		case strings.EqualFold(coding, "gzip"), strings.EqualFold(coding, "x-gzip"):
			gzipQ = max(gzipQ, q)
		case strings.EqualFold(coding, "identity"):
			identityQ = max(identityQ, q)
		case coding == "*":
			starQ = max(starQ, q)
		}
	}
	if gzipQ < 0 {
		gzipQ = starQ
	}
	if identityQ < 0 {
		identityQ = starQ
	}
	return gzipQ > 0 && gzipQ >= identityQ
}
