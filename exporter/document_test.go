package exporter

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"unsafe"
)

// gzipRequest is a GET that accepts gzip, as mackerel-plugin-json's.
func gzipRequest(target string) *http.Request {
	r := httptest.NewRequest("GET", target, nil)
	r.Header.Set("Accept-Encoding", "gzip")
	return r
}

// TestGzipCopyIsMadeOnFirstNeed: an export compresses nothing; the first
// request for gzip makes the copy, and every other one is served it. Many
// first requests at once (run with -race) get the same bytes, made once,
// which decompress to the document.
func TestGzipCopyIsMadeOnFirstNeed(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler func(*Exporter) http.Handler
		current func(*Exporter) *document
		target  string
	}{
		{"stats", (*Exporter).Handler, func(e *Exporter) *document { return e.doc.Load() }, "/stats"},
		{"history", (*Exporter).HistoryHandler, func(e *Exporter) *document { return e.histDoc.Load() }, "/stats/history"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exp := newExporter(t, serveAll())
			h := tc.handler(exp)
			exportGauge(t, exp, "a.b", 1)
			d := tc.current(exp)
			if d.gz != nil {
				t.Fatal("the export made a gzip copy: no request asked for one")
			}
			res := serveOnce(h, "GET", tc.target)
			if res.Header().Get("Content-Encoding") != "" || d.gz != nil {
				t.Fatal("a request that did not ask for gzip made the gzip copy")
			}

			const requests = 8
			bodies := make([][]byte, requests)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range bodies {
				wg.Go(func() {
					<-start
					w := httptest.NewRecorder()
					h.ServeHTTP(w, gzipRequest(tc.target))
					if w.Code != 200 || w.Header().Get("Content-Encoding") != "gzip" {
						t.Errorf("request %d: %d, Content-Encoding %q", i, w.Code, w.Header().Get("Content-Encoding"))
					}
					bodies[i] = w.Body.Bytes()
				})
			}
			close(start)
			wg.Wait()
			made := d.gzipped()
			for i, b := range bodies {
				if !bytes.Equal(b, made) {
					t.Fatalf("request %d got %d bytes, not the %d of the copy", i, len(b), len(made))
				}
			}
			if got := gunzip(t, made); !bytes.Equal(got, d.body) {
				t.Errorf("the copy decompresses to %q, want %q", got, d.body)
			}
			body, gz := exp.Document()
			if tc.name == "history" {
				body, gz = exp.History()
			}
			if !bytes.Equal(body, d.body) || unsafe.SliceData(gz) != unsafe.SliceData(made) {
				t.Error("the exporter hands out another body or another copy than it serves")
			}
		})
	}
}

// TestGzipCopyFollowsTheExport: a new export has a copy of its own, made
// from its own document, whatever copy the one before had.
func TestGzipCopyFollowsTheExport(t *testing.T) {
	exp := newExporter(t, serveAll())
	h := exp.Handler()
	var last []byte
	for _, v := range []int64{1, 22, 333} {
		exportGauge(t, exp, "a.b", v)
		body, _ := exp.Document()
		res := httptest.NewRecorder()
		h.ServeHTTP(res, gzipRequest("/stats"))
		got := gunzip(t, res.Body.Bytes())
		if !bytes.Equal(got, body) || bytes.Equal(got, last) {
			t.Errorf("a.b=%d: gzip answer decompresses to %s, want %s", v, got, body)
		}
		last = got
	}
}

// TestGzipCopyAllocs: the first gzip request after an export makes the
// copy; every later one allocates nothing. Counted, not timed; it runs
// without -race (the race detector allocates on its own).
func TestGzipCopyAllocs(t *testing.T) {
	if raceEnabled() {
		t.Skip("the race detector allocates; run without -race")
	}
	for _, tc := range []struct {
		name    string
		handler func(*Exporter) http.Handler
		current func(*Exporter) *document
	}{
		{"stats", (*Exporter).Handler, func(e *Exporter) *document { return e.doc.Load() }},
		{"history", (*Exporter).HistoryHandler, func(e *Exporter) *document { return e.histDoc.Load() }},
	} {
		exp := newExporter(t, serveAll())
		h := tc.handler(exp)
		r := gzipRequest("/")
		w := newDiscardResponse()
		for v := range int64(3) {
			exportGauge(t, exp, "a.b", v)
			d := tc.current(exp)
			// AllocsPerRun's warm-up call is the window's first request.
			if allocs := testing.AllocsPerRun(100, func() {
				w.reset()
				h.ServeHTTP(w, r)
			}); allocs != 0 {
				t.Errorf("%s, window %d: %v allocs per gzip request after the first, want 0", tc.name, v, allocs)
			}
			if d.gz == nil || w.header.Get("Content-Encoding") != "gzip" || w.n != len(d.gz) {
				t.Errorf("%s, window %d: %d bytes served, Content-Encoding %q; want the %d of the copy", tc.name, v, w.n, w.header.Get("Content-Encoding"), len(d.gz))
			}
		}
	}
}
