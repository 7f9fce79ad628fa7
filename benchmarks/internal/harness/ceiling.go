package harness

import (
	"net/http"
	"strconv"
	"strings"
)

// NewCeiling returns the ceiling: a handler answering /stats with fixed
// copies of body and gzipped (the latter when the request accepts gzip),
// with the headers komachi's /stats sends, doing nothing else. It is the
// fastest a handler serving those bytes can be, so /stats against it
// measures what komachi's handler costs on top of net/http.
func NewCeiling(body, gzipped []byte) http.Handler {
	return &ceiling{
		body:    append([]byte(nil), body...),
		gz:      append([]byte(nil), gzipped...),
		bodyLen: []string{strconv.Itoa(len(body))},
		gzLen:   []string{strconv.Itoa(len(gzipped))},
	}
}

type ceiling struct {
	body, gz       []byte
	bodyLen, gzLen []string
}

var (
	hdrJSON    = []string{"application/json"}
	hdrNoStore = []string{"no-store"}
	hdrNosniff = []string{"nosniff"}
	hdrVary    = []string{"Accept-Encoding"}
	hdrGzip    = []string{"gzip"}
)

func (c *ceiling) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/stats" {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h["Content-Type"] = hdrJSON
	h["Cache-Control"] = hdrNoStore
	h["X-Content-Type-Options"] = hdrNosniff
	h["Vary"] = hdrVary
	b, n := c.body, c.bodyLen
	if ae := r.Header["Accept-Encoding"]; len(ae) > 0 && strings.Contains(ae[0], "gzip") {
		h["Content-Encoding"] = hdrGzip
		b, n = c.gz, c.gzLen
	}
	h["Content-Length"] = n
	_, _ = w.Write(b)
}
