package exporter

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/komachi-go/komachi/internal/plugintest"
)

// historyJSON is the history as a client reads it; values keep their text.
type historyJSON struct {
	Times  []int64                      `json:"times"`
	Series map[string][]json.RawMessage `json:"series"`
}

// readHistory decodes the exporter's history strictly: known fields only,
// nothing after it, the series keys sorted and unique, one value per time,
// and its gzip copy the same bytes.
func readHistory(t *testing.T, exp *Exporter) historyJSON {
	t.Helper()
	body, gz := exp.History()
	if len(body) == 0 || (len(gz) == 0) != (len(body) > historyGzipMax) {
		t.Fatalf("history of %d bytes, %d gzipped", len(body), len(gz))
	}
	if gz != nil && !bytes.Equal(gunzip(t, gz), body) {
		t.Fatal("the gzip copy is not the history")
	}
	var h historyJSON
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		t.Fatalf("invalid history JSON: %v\n%s", err, body)
	}
	if dec.More() {
		t.Fatalf("data after the history: %s", body)
	}
	if h.Times == nil || h.Series == nil {
		t.Fatalf("times or series missing: %s", body)
	}
	if keys := seriesKeys(t, body); !slices.IsSorted(keys) || len(slices.Compact(slices.Clone(keys))) != len(keys) {
		t.Errorf("series keys not sorted and unique: %q", keys)
	}
	for p, vs := range h.Series {
		if !plugintest.ValidName(p) {
			t.Errorf("series %q is not a Mackerel metric name", p)
		}
		if len(vs) != len(h.Times) {
			t.Errorf("series %q has %d values for %d times", p, len(vs), len(h.Times))
		}
	}
	return h
}

// seriesKeys returns the keys of "series" in the order the body gives them.
func seriesKeys(t *testing.T, body []byte) []string {
	t.Helper()
	var raw struct {
		Series json.RawMessage `json:"series"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw.Series))
	if _, err := dec.Token(); err != nil { // {
		t.Fatal(err)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// leafTexts returns the leaves of a /stats document with their values as
// the document writes them.
func leafTexts(t *testing.T, body []byte) map[string]string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				if path != "" {
					k = path + "." + k
				}
				walk(k, c)
			}
		case json.Number:
			out[path] = x.String()
		default:
			t.Fatalf("%s: %T in a /stats document", path, v)
		}
	}
	walk("", v)
	return out
}

// checkAgainstDocuments holds the history to the documents of the windows
// it holds (docs, oldest first, one per time): the same paths, and in each
// window the same value as that document, to the byte, or null when the
// document had no such leaf.
func checkAgainstDocuments(t *testing.T, h historyJSON, docs [][]byte) {
	t.Helper()
	if len(h.Times) != len(docs) {
		t.Fatalf("%d times for %d windows held", len(h.Times), len(docs))
	}
	paths := map[string]bool{}
	for w, doc := range docs {
		flat, err := plugintest.Flatten("", doc)
		if err != nil {
			t.Fatal(err)
		}
		texts := leafTexts(t, doc)
		if len(texts) != len(flat) {
			t.Fatalf("window %d: %d leaves read with their text, %d by the plugin's rules", w, len(texts), len(flat))
		}
		for p, want := range flat {
			paths[p] = true
			vs, ok := h.Series[p]
			if !ok {
				t.Errorf("window %d: leaf %s missing from the history", w, p)
				continue
			}
			var got float64
			if err := json.Unmarshal(vs[w], &got); err != nil || got != want || string(vs[w]) != texts[p] {
				t.Errorf("window %d: %s = %s in the history, %s (%v) in /stats", w, p, vs[w], texts[p], want)
			}
		}
		for p, vs := range h.Series {
			if _, ok := flat[p]; !ok && string(vs[w]) != "null" {
				t.Errorf("window %d: %s = %s in the history, absent from /stats", w, p, vs[w])
			}
		}
	}
	for p := range h.Series {
		if !paths[p] {
			t.Errorf("series %s is in none of the windows held", p)
		}
	}
}

func newExporter(t testing.TB, opts ...Option) *Exporter {
	t.Helper()
	exp, err := New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return exp
}

func export(t testing.TB, exp *Exporter, rm *metricdata.ResourceMetrics) {
	t.Helper()
	if err := exp.Export(context.Background(), rm); err != nil {
		t.Fatal(err)
	}
}

// TestHistoryExample is the contract's example, to the byte: times in Unix
// seconds, oldest first, keys sorted, null before a path's first window.
func TestHistoryExample(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		exp := newExporter(t, serveAll())
		start := time.Now().Unix()
		export(t, exp, rmOf(scope("app", gaugeI("go.goroutine.count", ptI(12, attrs())))))
		time.Sleep(time.Minute)
		export(t, exp, rmOf(scope("app",
			gaugeI("go.goroutine.count", ptI(13, attrs())),
			gaugeI("app.greetings", ptI(4, attrs("lang", "en"))))))
		body, _ := exp.History()
		want := fmt.Sprintf(`{"times":[%d,%d],"series":{"app.greetings.en":[null,4],"go.goroutine.count.count":[12,13]}}`, start, start+60)
		if string(body) != want {
			t.Errorf("history\n%s\nwant\n%s", body, want)
		}
		readHistory(t, exp)
	})
}

// TestHistoryMatchesDocuments drives a real MeterProvider through more
// windows than the history holds, with series that come and go, histograms,
// floats of every form and a leaf moved to _value, and holds each history
// to the documents of its windows.
func TestHistoryMatchesDocuments(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 4
		w := newWindow(t, serveAll(), WithHistory(n))
		m := w.mp.Meter("app")
		ctx := context.Background()
		depth, _ := m.Int64Gauge("app.queue.depth")
		temp, _ := m.Float64Gauge("app.temperature")
		tiny, _ := m.Float64Gauge("app.tiny")
		orders, _ := m.Int64Counter("app.orders")
		latency, _ := m.Float64Histogram("app.latency", metric.WithUnit("s"))
		parent, _ := m.Int64Gauge("app.tree") // its line "leaf" is the object of app.tree.leaf: moved to _value
		child, _ := m.Int64Gauge("app.tree.leaf")
		spaced, _ := m.Int64Gauge("app.a b") // sanitized onto app.a_b: renamed app.a_b_2
		underscored, _ := m.Int64Gauge("app.a_b")
		var docs [][]byte
		var times []int64
		for win := range 3 * n {
			for q := range 3 {
				if (win+q)%3 != 0 { // each queue vanishes one window in three
					depth.Record(ctx, int64(win*10+q), metric.WithAttributes(attribute.String("queue", "q"+strconv.Itoa(q))))
				}
			}
			temp.Record(ctx, 21.5+float64(win)/3)
			tiny.Record(ctx, 1.25e-7*float64(win+1))
			orders.Add(ctx, int64(win), metric.WithAttributes(attribute.String("status", "paid")))
			for i := range win + 1 {
				latency.Record(ctx, 0.001*float64(i+1))
			}
			if win%2 == 0 {
				parent.Record(ctx, 1, metric.WithAttributes(attribute.String("k", "leaf")))
				child.Record(ctx, 2)
			}
			spaced.Record(ctx, 3)
			if win%3 != 1 {
				underscored.Record(ctx, 4)
			}
			times = append(times, time.Now().Unix())
			w.close()
			body, _ := w.exp.Document()
			docs = append(docs, body)
			h := readHistory(t, w.exp)
			from := max(0, len(docs)-n)
			if !slices.Equal(h.Times, times[from:]) {
				t.Fatalf("window %d: times %v, want %v", win, h.Times, times[from:])
			}
			checkAgainstDocuments(t, h, docs[from:])
			if win == 0 {
				for _, p := range []string{"app.tree.leaf._value", "app.a_b.a_b_2"} {
					if _, ok := h.Series[p]; !ok {
						t.Errorf("no series %s: the test misses a collision; %s", p, body)
					}
				}
			}
			time.Sleep(time.Minute)
		}
	})
}

// TestHistoryWrapsAround: after more windows than it holds, the history
// holds the last n, oldest first.
func TestHistoryWrapsAround(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 3
		exp := newExporter(t, serveAll(), WithHistory(n))
		start := time.Now().Unix()
		for win := range 2*n + 2 {
			export(t, exp, rmOf(scope("app", gaugeF("app.level", ptF(float64(win)+0.5, attrs())))))
			time.Sleep(time.Minute)
		}
		body, _ := exp.History()
		want := fmt.Sprintf(`{"times":[%d,%d,%d],"series":{"app.level.level":[5.5,6.5,7.5]}}`, start+5*60, start+6*60, start+7*60)
		if string(body) != want {
			t.Errorf("history\n%s\nwant\n%s", body, want)
		}
	})
}

// TestHistoryForgetsAPath: a path seen in one window stays while that
// window is held, as null elsewhere, and is forgotten after.
func TestHistoryForgetsAPath(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 3
		exp := newExporter(t, serveAll(), WithHistory(n))
		steady := gaugeI("app.steady", ptI(1, attrs()))
		var got []string
		for win := range 6 {
			ms := []metricdata.Metrics{steady}
			if win == 1 {
				ms = append(ms, gaugeI("app.blip", ptI(7, attrs("k", "v"))))
			}
			export(t, exp, rmOf(scope("app", ms...)))
			h := readHistory(t, exp)
			vs, ok := h.Series["app.blip.v"]
			got = append(got, fmt.Sprintf("%s%v", bytes.Join(toBytes(vs), []byte(",")), ok))
			if want := 1; ok {
				want = 2
				if len(exp.hist.index) != want {
					t.Errorf("window %d: %d paths indexed, want %d", win, len(exp.hist.index), want)
				}
			} else if len(exp.hist.index) != want || len(exp.hist.cols) != want {
				t.Errorf("window %d: %d paths indexed, %d columns, want %d", win, len(exp.hist.index), len(exp.hist.cols), want)
			}
			time.Sleep(time.Minute)
		}
		want := []string{"false", "null,7true", "null,7,nulltrue", "7,null,nulltrue", "false", "false"}
		if !slices.Equal(got, want) {
			t.Errorf("app.blip.v by window: %q, want %q", got, want)
		}
	})
}

func toBytes(vs []json.RawMessage) [][]byte {
	out := make([][]byte, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}

// TestHistoryOff: WithHistory(0) keeps nothing and its handler says so with
// a 404; a negative length is refused, naming the option.
func TestHistoryOff(t *testing.T) {
	exp := newExporter(t, serveAll(), WithHistory(0))
	export(t, exp, rmOf(scope("app", gaugeI("app.x", ptI(1, attrs())))))
	if body, gz := exp.History(); body != nil || gz != nil {
		t.Errorf("History() = %q, %d gzip bytes with the history off", body, len(gz))
	}
	if doc, _ := exp.Document(); len(doc) == 0 {
		t.Error("no document with the history off")
	}
	for _, method := range []string{"GET", "HEAD"} {
		res := serveOnce(exp.HistoryHandler(), method, "/stats/history")
		if res.Code != http.StatusNotFound || res.Header().Get("Content-Type") != "text/plain; charset=utf-8" ||
			res.Header().Get("X-Content-Type-Options") != "nosniff" || res.Header().Get("Content-Length") != strconv.Itoa(len(bodyNoHistory.b)) {
			t.Errorf("%s: %d %v", method, res.Code, res.Header())
		}
		if method == "GET" && !strings.Contains(res.Body.String(), "WithHistory(0)") {
			t.Errorf("GET: body %q does not say why", res.Body)
		}
	}
	if _, err := New(WithHistory(MaxHistory + 1)); err == nil || !strings.Contains(err.Error(), "WithHistory") {
		t.Errorf("WithHistory(MaxHistory+1): error %v, want one naming WithHistory", err)
	}
	if _, err := New(WithHistory(-1)); err == nil || !strings.Contains(err.Error(), "WithHistory") {
		t.Errorf("WithHistory(-1): error %v, want one naming WithHistory", err)
	}
	if exp := newExporter(t); exp.cfg.history != DefaultHistory || DefaultHistory != 120 {
		t.Errorf("default history %d windows, want DefaultHistory = 120", exp.cfg.history)
	}
}

// TestHistoryHandler: the history is served as Handler serves /stats.
func TestHistoryHandler(t *testing.T) {
	exp := newExporter(t, serveAll())
	h := exp.HistoryHandler()
	if res := serveOnce(h, "GET", "/stats/history"); res.Code != 503 || res.Header().Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Fatalf("before the first export: %d %q, want 503", res.Code, res.Body)
	}
	exportGauge(t, exp, "a.b", 1)
	exportGauge(t, exp, "a.b", 2)
	body, gz := exp.History()
	for _, tc := range []struct {
		method, ae string
		code       int
		want       []byte
		encoding   string
	}{
		{"GET", "", 200, body, ""},
		{"GET", "gzip", 200, gz, "gzip"},
		{"HEAD", "gzip", 200, nil, "gzip"},
		{"POST", "", 405, bodyNotAllowed.b, ""},
	} {
		res := serveOnce(h, tc.method, "/stats/history", "Accept-Encoding", tc.ae)
		hdr := res.Header()
		if res.Code != tc.code || !bytes.Equal(res.Body.Bytes(), tc.want) || hdr.Get("Content-Encoding") != tc.encoding {
			t.Errorf("%s AE %q: %d %q %q, want %d %q %q", tc.method, tc.ae, res.Code, hdr.Get("Content-Encoding"), res.Body, tc.code, tc.encoding, tc.want)
		}
		if hdr.Get("Cache-Control") != "no-store" || hdr.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: headers %v", tc.method, hdr)
		}
		if tc.code == 200 {
			if hdr.Get("Content-Type") != "application/json" || hdr.Get("Vary") != "Accept-Encoding" {
				t.Errorf("%s: headers %v", tc.method, hdr)
			}
			n := len(body)
			if tc.encoding == "gzip" {
				n = len(gz)
			}
			if hdr.Get("Content-Length") != strconv.Itoa(n) {
				t.Errorf("%s: Content-Length %s, want %d", tc.method, hdr.Get("Content-Length"), n)
			}
		}
	}
	if !bytes.Contains(body, []byte(`"a.b.b":[1,2]`)) {
		t.Errorf("history %s", body)
	}
}

// TestHistoryLargeIsServedAsIs: above historyGzipMax the history has no
// gzip copy, and a client that accepts gzip gets the JSON as is.
func TestHistoryLargeIsServedAsIs(t *testing.T) {
	const n, series = 40, 2000
	exp := newExporter(t, serveAll(), WithHistory(n))
	for win := range n {
		export(t, exp, churn(0, series)) // the same series every window
		body, gz := exp.History()
		if len(body) > historyGzipMax && gz != nil {
			t.Fatalf("window %d: a history of %d bytes has a gzip copy", win, len(body))
		}
	}
	h := readHistory(t, exp)
	if len(h.Times) != n || len(h.Series) != series+1 {
		t.Fatalf("%d times, %d series", len(h.Times), len(h.Series))
	}
	body, gz := exp.History()
	if gz != nil || len(body) <= historyGzipMax {
		t.Fatalf("history of %d bytes, %d gzipped: the test wants one over %d bytes", len(body), len(gz), historyGzipMax)
	}
	res := serveOnce(exp.HistoryHandler(), "GET", "/stats/history", "Accept-Encoding", "gzip")
	if res.Code != 200 || res.Header().Get("Content-Encoding") != "" || !bytes.Equal(res.Body.Bytes(), body) {
		t.Errorf("%d, Content-Encoding %q, %d bytes; want 200 and the %d bytes as is", res.Code, res.Header().Get("Content-Encoding"), res.Body.Len(), len(body))
	}
}

// TestHistoryHandlerNoAllocs: serving the history costs no allocation.
// Counted, not timed; it runs without -race (the race detector allocates on
// its own).
func TestHistoryHandlerNoAllocs(t *testing.T) {
	if raceEnabled() {
		t.Skip("the race detector allocates; run without -race")
	}
	exp := newExporter(t)
	exportGauge(t, exp, "a.b", 1)
	exportGauge(t, exp, "a.b", 2)
	for _, tc := range []struct {
		name   string
		h      http.Handler
		method string
		header []string
	}{
		{"plain", exp.HistoryHandler(), "GET", nil},
		{"gzip", exp.HistoryHandler(), "GET", []string{"Accept-Encoding", "deflate, gzip;q=0.8, *;q=0.1"}},
		{"HEAD", exp.HistoryHandler(), "HEAD", []string{"Accept-Encoding", "gzip"}},
		{"503", newExporter(t).HistoryHandler(), "GET", nil},
		{"405", exp.HistoryHandler(), "POST", nil},
		{"404", newExporter(t, WithHistory(0)).HistoryHandler(), "GET", nil},
	} {
		r := httptest.NewRequest(tc.method, "/stats/history", nil)
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

// churn is a window of the memory tests: a steady gauge and perWindow
// series never seen before.
func churn(win, perWindow int) *metricdata.ResourceMetrics {
	pts := make([]metricdata.DataPoint[float64], perWindow)
	for i := range pts {
		pts[i] = ptF(float64(i)+0.25, attrs("id", fmt.Sprintf("w%03d-%04d", win, i)))
	}
	return rmOf(scope("app", gaugeI("app.steady", ptI(int64(win), attrs())), gaugeF("app.churn", pts...)))
}

// footprint counts what the history holds, in bytes: cols, what its
// columns hold (each, its index entry and its id's slot), rows, what its
// windows hold (their values' text and ends, and each layout once, by
// capacity), and rest, the buffers of the history itself.
func (h *history) footprint() (cols, rows, rest int) {
	const ptr = int(unsafe.Sizeof(uintptr(0)))
	for _, c := range h.cols {
		cols += int(unsafe.Sizeof(*c)) + len(c.key) + cap(c.head) + ptr
		cols += mapEntryBytes + len(c.key) // the index's entry, its key shared with the column
	}
	layouts := map[*layout]bool{}
	for i := range h.rows {
		w := &h.rows[i]
		rows += cap(w.vals) + 4*cap(w.ends)
		if !layouts[w.lay] {
			layouts[w.lay] = true
			rows += 4 * (cap(w.lay.ids) + cap(w.lay.leaves))
		}
	}
	rest = (cap(h.cols)+cap(h.absent)+cap(h.added)+cap(h.merged)+cap(h.vanish)+cap(h.order))*ptr + int(unsafe.Sizeof(layoutRun{}))*cap(h.runs) +
		(cap(h.byID)-len(h.cols))*ptr + 4*(cap(h.free)+cap(h.entries)+cap(h.lastEnds)) +
		int(unsafe.Sizeof(pendingID{}))*cap(h.pending) + cap(h.lastPaths) + cap(h.scr) +
		int(unsafe.Sizeof(row{}))*cap(h.rows)
	return cols, rows, rest
}

// lastSeen is the last window that had column c.
func (h *history) lastSeen(c *column) uint64 {
	if c.seen >= h.laySince {
		return h.gen
	}
	return c.seen
}

// mapEntryBytes is an upper bound on what one entry of a map[string]*column
// costs, its key's bytes aside: the key header and the pointer, a control
// byte, and a load factor of 7/8 at worst doubled by growth.
const mapEntryBytes = 2 * (16 + 8 + 1) * 8 / 7

// columnBound is the formula of the memory bound per path held: the column,
// its index entry, its id's slot and its head (the dotted path quoted and
// bracketed).
func columnBound(pathLen int) int {
	return int(unsafe.Sizeof(column{})) + mapEntryBytes + 8 + 2*pathLen + (pathLen + 4)
}

// rowBound is the formula of the memory bound of one window of entries
// values: each value's text (at most 25 bytes) and its end, in buffers at
// most twice what they hold and a margin (see row.fill), and a layout of its
// own: the column of each entry and its leaf.
func rowBound(entries int) int {
	return 2*entries*(25+4) + 64 + 4*16 + 2*4*entries
}

// TestHistoryMemoryBound: a thousand series never seen before every window,
// for 5n windows. The history holds the paths of the n windows held and no
// more (paths ≤ n × new series per window + steady ones), or with a lower
// WithMaxSeries, that many, the oldest forgotten first; the bytes it holds
// stay within paths × columnBound for the columns and rowBound for each
// window, and the heap stops growing once the history is full.
func TestHistoryMemoryBound(t *testing.T) {
	const n, perWindow = 10, 1000
	for _, tc := range []struct {
		name      string
		maxSeries int
		wantPaths int // once the history is full
	}{
		{"every window held", 1 << 20, n*perWindow + 1},
		{"WithMaxSeries", 2500, 2500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exp := newExporter(t, serveAll(), WithHistory(n), WithMaxSeries(tc.maxSeries))
			h := exp.hist
			var heapFull uint64
			for win := range 5 * n {
				export(t, exp, churn(win, perWindow))
				paths := len(h.cols)
				if want := min(tc.wantPaths, (win+1)*perWindow+1); paths != want || len(h.index) != paths {
					t.Fatalf("window %d: %d paths held, %d indexed, want %d", win, paths, len(h.index), want)
				}
				longest := len("app.churn.w000-0000")
				cols, rows, rest := h.footprint()
				if cols > paths*columnBound(longest) {
					t.Fatalf("window %d: columns hold %d bytes, over the bound %d", win, cols, paths*columnBound(longest))
				}
				if bound := h.held * rowBound(perWindow+1); rows > bound {
					t.Fatalf("window %d: windows hold %d bytes, over the bound %d", win, rows, bound)
				}
				// What is not per path or per value: the ids of columns
				// gone while windows held name them (at most one per value
				// held) and scratch of the size of one window.
				if bound := 8 * (h.held + 1) * (perWindow + 1) * 8; rest > bound {
					t.Fatalf("window %d: the rest holds %d bytes, over the bound %d", win, rest, bound)
				}
				// The latest window is always whole, and what was forgotten
				// first is the oldest.
				for _, c := range h.cols {
					if age := h.gen - h.lastSeen(c); age >= n {
						t.Fatalf("window %d: %s held, last seen %d windows ago", win, c.head, age)
					}
				}
				if win == 2*n-1 || win == 5*n-1 {
					heap := liveHeap()
					if heapFull == 0 {
						heapFull = heap
					} else if heap > heapFull+heapFull/5 {
						t.Errorf("live heap grew from %d to %d bytes between windows %d and %d", heapFull, heap, 2*n, 5*n)
					}
					body, gz := exp.History()
					t.Logf("window %d: %d paths, columns %d bytes (%.0f per path; bound %d), windows %d (%.1f per value), %d more, JSON %d bytes, gzip %d; live heap %d",
						win+1, paths, cols, float64(cols)/float64(paths), columnBound(longest), rows, float64(rows)/float64(h.held*(perWindow+1)), rest,
						len(body), len(gz), heap)
				}
			}
			body, _ := exp.History()
			var parsed historyJSON
			if err := json.Unmarshal(body, &parsed); err != nil || len(parsed.Series) != tc.wantPaths {
				t.Fatalf("history of %d series (%v), want %d", len(parsed.Series), err, tc.wantPaths)
			}
		})
	}
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// addPaths adds to h a window of the given paths, dotted, sorted as the
// builder sorts them, each with the text values[i] (or its index).
func addPaths(h *history, unix int64, paths []string, values ...string) {
	type pv struct{ path, value string }
	var pvs []pv
	for i, p := range paths {
		v := strconv.Itoa(i)
		if i < len(values) {
			v = values[i]
		}
		pvs = append(pvs, pv{strings.ReplaceAll(p, ".", "\x00"), v})
	}
	slices.SortFunc(pvs, func(x, y pv) int { return strings.Compare(x.path, y.path) })
	var arena, doc []byte
	var leaves []leaf
	var texts []span
	for _, x := range pvs {
		off := len(arena)
		arena = append(arena, x.path...)
		leaves = append(leaves, leaf{off: uint32(off), end: uint32(len(arena))})
		doc = append(doc, "x:"...) // something between the values, as a document has
		texts = append(texts, span{uint32(len(doc)), uint32(len(doc) + len(x.value))})
		doc = append(doc, x.value...)
	}
	h.add(arena, leaves, doc, texts, unix)
}

// TestHistoryEvictsTheOldestFirst: past the limit, the paths absent the
// longest go first, ties in path order, and every path of the latest window
// stays.
func TestHistoryEvictsTheOldestFirst(t *testing.T) {
	h := newHistory(5, 4)
	paths := func() []string {
		var out []string
		for _, c := range h.cols {
			out = append(out, string(c.head[1:len(c.head)-3]))
		}
		return out
	}
	addPaths(h, 0, []string{"a.x", "a.y"})
	addPaths(h, 0, []string{"b.x", "b.y"})
	addPaths(h, 0, []string{"c.x"})
	if got, want := paths(), []string{"a.y", "b.x", "b.y", "c.x"}; !slices.Equal(got, want) {
		t.Errorf("paths %q, want %q (a.x, the first of the oldest, forgotten)", got, want)
	}
	addPaths(h, 0, []string{"d.a", "d.b", "d.c", "d.d", "d.e"})
	if got, want := paths(), []string{"d.a", "d.b", "d.c", "d.d", "d.e"}; !slices.Equal(got, want) {
		t.Errorf("paths %q, want %q (a window over the limit kept whole)", got, want)
	}
	if body := h.render(); !json.Valid(body) || !bytes.Contains(body, []byte(`"d.a":[null,null,null,0]`)) {
		t.Errorf("render %s", body)
	}
}

// historyModel is the history's contract in its plainest form: per path,
// one value or null per window held, the oldest dropped once n are held; a
// path absent from every window held forgotten, and past the limit (at
// least the latest window's paths) those absent the longest, ties in
// dotted path order.
type historyModel struct {
	n, limit int
	gen      int
	times    []int64
	cols     map[string]*modelColumn // by dotted path
}

type modelColumn struct {
	vals []string
	seen int
}

func (m *historyModel) add(unix int64, paths, values []string) {
	m.gen++
	if len(m.times) == m.n {
		m.times = m.times[1:]
		for _, c := range m.cols {
			c.vals = c.vals[1:]
		}
	}
	m.times = append(m.times, unix)
	for i, p := range paths {
		c := m.cols[p]
		if c == nil {
			c = &modelColumn{}
			for range len(m.times) - 1 {
				c.vals = append(c.vals, "null")
			}
			m.cols[p] = c
		}
		c.vals = append(c.vals, values[i])
		c.seen = m.gen
	}
	var absent []string
	for p, c := range m.cols {
		switch {
		case c.seen == m.gen:
		case c.seen+m.n <= m.gen:
			delete(m.cols, p)
		default:
			c.vals = append(c.vals, "null")
			absent = append(absent, p)
		}
	}
	if limit := max(m.limit, len(paths)); len(m.cols) > limit {
		slices.SortFunc(absent, func(x, y string) int {
			if c := m.cols[x].seen - m.cols[y].seen; c != 0 {
				return c
			}
			return strings.Compare(x, y)
		})
		for _, p := range absent[:len(m.cols)-limit] {
			delete(m.cols, p)
		}
	}
}

func (m *historyModel) render() string {
	var sb strings.Builder
	sb.WriteString(`{"times":[`)
	for i, t := range m.times {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(strconv.FormatInt(t, 10))
	}
	sb.WriteString(`],"series":{`)
	paths := slices.Sorted(maps.Keys(m.cols))
	for i, p := range paths {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `"%s":[%s]`, p, strings.Join(m.cols[p].vals, ","))
	}
	sb.WriteString(`}}`)
	return sb.String()
}

// TestHistoryAgainstModel: windows of paths drawn at random from a few
// that sort differently dotted and as the builder writes them (a-b beside
// a.b), coming, going and coming back, over histories short and long, with
// limits that evict and limits that never do: each render is the model's,
// to the byte, in a slice of exactly its size.
func TestHistoryAgainstModel(t *testing.T) {
	universe := []string{"a", "a-b", "a.b", "a.b.c", "a.b-c", "a_b", "b.x", "b.x-1", "b.x.y", "c", "c.d.e", "z"}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 3, 5, 8} {
		for _, limit := range []int{1, 3, 6, 100} {
			h := newHistory(n, limit)
			m := &historyModel{n: n, limit: limit, cols: map[string]*modelColumn{}}
			var paths []string
			for win := range 60 {
				// Mostly the window before, as in the steady state; now and
				// then a few paths come or go.
				if win == 0 || rng.IntN(3) == 0 {
					paths = paths[:0]
					for _, p := range universe {
						if rng.IntN(2) == 0 {
							paths = append(paths, p)
						}
					}
				}
				values := make([]string, len(paths))
				for i := range values {
					values[i] = strconv.Itoa(rng.IntN(1000)) + strings.Repeat("5", rng.IntN(3))
				}
				addPaths(h, int64(win), paths, values...)
				m.add(int64(win), paths, values)
				body := h.render()
				if want := m.render(); string(body) != want {
					t.Fatalf("n=%d limit=%d window %d:\n got %s\nwant %s", n, limit, win, body, want)
				}
				if cap(body) != len(body) {
					t.Fatalf("n=%d limit=%d window %d: %d bytes in a slice of %d", n, limit, win, len(body), cap(body))
				}
			}
		}
	}
}
