// Package page serves komachi's live page: one HTML document that draws,
// from /stats/graphs and /stats/history, the graphs Mackerel will draw from
// /stats, with the metric count against the budget and the heartbeat's
// verdict. Its script and styles are embedded in the binary and served next
// to it; the page fetches nothing from off the machine, and its
// Content-Security-Policy says so to the browser.
//
// Every URL the page uses is relative (page.js, stats/history), so it works
// below any mount point, read-only, behind whatever guard wraps /stats.
package page

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"strconv"
	"time"
)

//go:embed assets/index.html assets/page.js assets/page.css assets/favicon.svg
var assets embed.FS

// Config is what the page states that only the server knows.
type Config struct {
	// Window is the /stats window: the page polls once per window.
	Window time.Duration
	// Budget is the number of Mackerel metrics /stats should stay within
	// (the exporter's WithBudget); 0 for none.
	Budget int
	// Prefix is mackerel-plugin-json's -prefix, for display: Mackerel names
	// a graph custom.<Prefix>.<group>.
	Prefix string
}

// asset is one answer, rendered once at New.
type asset struct {
	ctype []string
	etag  []string
	// content reads the body where it lies: the embedded files in the
	// binary's read-only data, not copied to the heap the GC marks.
	content io.ReaderAt
	size    int64
}

// Handler serves the page and its assets, relative to the mount point: /,
// /page.js, /page.css and /favicon.svg.
type Handler struct {
	assets map[string]asset
}

// CSP is the Content-Security-Policy of every answer: scripts, styles,
// fetches and images from the page's own origin only (images also as data:
// URLs), nothing inline, no base or form target, no framing.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Pre-built header values; shared, never modified.
var (
	hdrCSP       = []string{CSP}
	hdrNosniff   = []string{"nosniff"}
	hdrNoCache   = []string{"no-cache"}
	hdrReferrer  = []string{"no-referrer"}
	hdrAllowGet  = []string{"GET, HEAD"}
	hdrPlainText = []string{"text/plain; charset=utf-8"}
)

// New renders the page for c once and returns the handler serving it.
func New(c Config) (*Handler, error) {
	if c.Window <= 0 {
		return nil, fmt.Errorf("page: window must be > 0, got %v", c.Window)
	}
	if c.Budget < 0 {
		return nil, fmt.Errorf("page: budget must be >= 0, got %d", c.Budget)
	}
	tmpl, err := template.ParseFS(assets, "assets/index.html")
	if err != nil {
		return nil, fmt.Errorf("page: index.html: %w", err)
	}
	seconds := strconv.FormatFloat(c.Window.Seconds(), 'f', -1, 64)
	var index bytes.Buffer
	err = tmpl.Execute(&index, struct {
		WindowSeconds string
		Budget        int
		Prefix        string
	}{seconds, c.Budget, c.Prefix})
	if err != nil {
		return nil, fmt.Errorf("page: index.html: %w", err)
	}
	h := &Handler{assets: map[string]asset{"/": newAsset("text/html; charset=utf-8", bytes.NewReader(index.Bytes()), int64(index.Len()))}}
	for path, ctype := range map[string]string{
		"/page.js":     "text/javascript; charset=utf-8",
		"/page.css":    "text/css; charset=utf-8",
		"/favicon.svg": "image/svg+xml",
	} {
		f, err := assets.Open("assets" + path)
		if err != nil {
			return nil, fmt.Errorf("page: %s: %w", path, err)
		}
		info, err := f.Stat()
		if err != nil {
			return nil, fmt.Errorf("page: %s: %w", path, err)
		}
		h.assets[path] = newAsset(ctype, f.(io.ReaderAt), info.Size()) // an embed.FS file reads at an offset, concurrently
	}
	return h, nil
}

func newAsset(ctype string, content io.ReaderAt, size int64) asset {
	sum := sha256.New()
	_, _ = io.Copy(sum, io.NewSectionReader(content, 0, size))
	return asset{ctype: []string{ctype}, etag: []string{`"` + hex.EncodeToString(sum.Sum(nil)[:12]) + `"`}, content: content, size: size}
}

// ServeHTTP answers GET and HEAD of Paths (with ETag, so that a reload
// revalidates in one round trip), 405 for any other method and 404 for any
// other path. Every answer carries the CSP, "X-Content-Type-Options:
// nosniff", "Cache-Control: no-cache" and "Referrer-Policy: no-referrer".
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr["Content-Security-Policy"] = hdrCSP
	hdr["X-Content-Type-Options"] = hdrNosniff
	hdr["Cache-Control"] = hdrNoCache
	hdr["Referrer-Policy"] = hdrReferrer
	a, ok := h.assets[r.URL.Path]
	if !ok {
		hdr["Content-Type"] = hdrPlainText
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("404 page not found: the page serves /, /page.js, /page.css and /favicon.svg below its mount point\n"))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != "" {
		hdr["Allow"] = hdrAllowGet
		hdr["Content-Type"] = hdrPlainText
		w.WriteHeader(http.StatusMethodNotAllowed)
		_, _ = w.Write([]byte("405 method not allowed: use GET or HEAD\n"))
		return
	}
	hdr["Content-Type"] = a.ctype
	hdr["Etag"] = a.etag
	http.ServeContent(w, r, "", time.Time{}, io.NewSectionReader(a.content, 0, a.size))
}
