package exporter

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
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

// TestHistoryIsRenderedOnFirstNeed: an export adds its window to the
// history and renders no JSON; the first reader renders it, the others
// share it.
func TestHistoryIsRenderedOnFirstNeed(t *testing.T) {
	exp := newExporter(t, serveAll())
	exportGauge(t, exp, "a.b", 1)
	exportGauge(t, exp, "a.b", 2)
	d := exp.histDoc.Load()
	if d.body != nil {
		t.Fatal("the export rendered the history JSON: no one asked for it")
	}
	body, _ := exp.History()
	if !bytes.Contains(body, []byte(`"a.b.b":[1,2]`)) || unsafe.SliceData(d.body) != unsafe.SliceData(body) {
		t.Errorf("History() = %s, not the document's own", body)
	}
	res := serveOnce(exp.HistoryHandler(), "GET", "/stats/history")
	if !bytes.Equal(res.Body.Bytes(), body) {
		t.Errorf("served %s, want %s", res.Body, body)
	}
}

// TestHistoryRequestsDuringExports: requests for the history, plain and
// gzip, while exports run (run with -race) each get a whole, valid
// history.
func TestHistoryRequestsDuringExports(t *testing.T) {
	const n = 4
	exp := newExporter(t, serveAll(), WithHistory(n))
	h := exp.HistoryHandler()
	exportGauge(t, exp, "a.b", 0)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				r := httptest.NewRequest("GET", "/stats/history", nil)
				if i%2 == 1 {
					r.Header.Set("Accept-Encoding", "gzip")
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				body := w.Body.Bytes()
				if w.Header().Get("Content-Encoding") == "gzip" {
					zr, err := gzip.NewReader(bytes.NewReader(body))
					if err == nil {
						body, err = io.ReadAll(zr)
					}
					if err != nil {
						t.Errorf("gzip answer: %v", err)
						return
					}
				}
				var parsed historyJSON
				if err := json.Unmarshal(body, &parsed); err != nil || len(parsed.Times) < 1 || len(parsed.Times) > n || len(parsed.Series["a.b.b"]) != len(parsed.Times) {
					t.Errorf("history %s (%v)", body, err)
					return
				}
			}
		})
	}
	for v := range int64(50) {
		exportGauge(t, exp, "a.b", v)
	}
	close(stop)
	wg.Wait()
}
