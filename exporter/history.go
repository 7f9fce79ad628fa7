package exporter

import (
	"bytes"
	"cmp"
	"net/http"
	"slices"
	"strconv"
)

// DefaultHistory is the number of windows the exporter keeps unless
// WithHistory says otherwise: two hours of 60 s windows.
const DefaultHistory = 120

// MaxHistory bounds WithHistory, so that what the history holds stays a
// matter of the configuration: a week of one-minute windows.
const MaxHistory = 7 * 24 * 60

// WithHistory sets the number of documents, one per export, whose leaves
// HistoryHandler serves; 0 turns the history off. The default is
// DefaultHistory: two hours of 60 s windows.
//
// The history is kept per leaf path: for each path, the formatted value of
// each window held. A path absent from every window held is forgotten, and
// at most WithMaxSeries paths are held (or the latest document's leaves, if
// komachi's own take it over the bound): when the windows name more, the
// paths absent for the longest are forgotten first. So its memory follows
// what it shows: about 1.6 times the history JSON it publishes, besides
// that JSON (with 120 windows of 12-byte values, 2.3 KB and 1.4 KB per
// path).
func WithHistory(n int) Option {
	return optionFunc(func(c config) config { c.history = n; return c })
}

// History returns the current history JSON, plain and gzip-compressed; both
// are nil before the first export and when the history is off. The slices are
// shared by every caller and must not be modified. It takes no lock and
// allocates nothing.
//
// The JSON holds the Unix seconds of each export held, oldest first, and the
// values of every leaf path of those documents, dotted as
// mackerel-plugin-json names them without a prefix, keys sorted, one value
// per time and null where the leaf was absent:
//
//	{"times":[1795521600,1795521660],
//	 "series":{"app.greetings.en":[null,4],"go.goroutine.count.count":[12,13]}}
//
// Each value is written exactly as that window's /stats document wrote it.
//
// The gzip copy is made as the document's is (see Document): on first need
// after each export, by the first call of History or the first request to
// HistoryHandler that accepts gzip, which pays for it. A history of more
// than 512 KiB has none (gzipped is nil): its compression would cost that
// caller more than the export.
func (e *Exporter) History() (body, gzipped []byte) {
	d := e.histDoc.Load()
	if d == nil {
		return nil, nil
	}
	return d.body, d.gzipped()
}

// HistoryHandler returns an http.Handler serving the history JSON (see
// History) exactly as Handler serves the document: GET and HEAD, gzip when
// the client accepts it, 503 before the first export, 405 for any other
// method, the same headers, nothing rendered and nothing allocated per
// request. otelbridge mounts it at <mount>/stats/history. When the history
// is off (WithHistory(0)) it answers 404 with a plain-text reason.
func (e *Exporter) HistoryHandler() http.Handler {
	if e.hist == nil {
		return historyOff{}
	}
	return &statsHandler{current: &e.histDoc}
}

var bodyNoHistory = newFixedBody("404 no history: this exporter keeps none (exporter.WithHistory(0))\n")

// historyOff answers every request when the history is off.
type historyOff struct{}

func (historyOff) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	writeError(w, r, http.StatusNotFound, bodyNoHistory)
}

// publishHistory adds the document the builder just rendered to the history
// and publishes the new history JSON. It runs under e.mu, once per export:
// the builder's leaves are final, sorted and unique, and every value is
// formatted here once, by appendValue, as the document did.
func (e *Exporter) publishHistory(unix int64) {
	h := e.hist
	h.add(e.b.arena, e.b.leaves, unix)
	e.histDoc.Store(e.histGz.newDocument(h.render()))
}

// historyGzipMax is the size of history JSON above which it has no gzip
// copy and is served as is. At the exporter's level, gzip costs 5 to 8 ms
// per MB of history when values repeat and up to 50 ms per MB when they
// vary in all their 17 digits (Huffman-only costs 5 ms per MB either way
// and loses the repeats), while adding a window and rendering cost under
// 1 ms per MB (see BenchmarkHistoryRender). So the gzip copy costs the
// request that makes it at most about 25 ms, once per window. 512 KiB is about 350 series with 120 windows of
// 12-byte values: a budget-sized /stats stays far under it.
const historyGzipMax = 512 << 10

// maxEntry is room enough for one formatted value and its comma: the longest
// is a negative float in [1e-6, 1e-5), 25 bytes. It only sizes reservations;
// a longer entry would still be appended, with a reallocation.
const maxEntry = 32

// history keeps the leaves of the last n documents in columns, one per leaf
// path, each the JSON text of its values, so that a render copies bytes and
// formats nothing. Every column holds one entry per window held, a value or
// null. It is not safe for concurrent use: the exporter's mu guards it.
type history struct {
	n      int    // windows held at most
	limit  int    // paths held at most, unless the latest document has more
	gen    uint64 // windows added so far
	held   int    // windows held: min(gen, n)
	times  textRing
	index  map[string]*column // by path as the builder writes it (segments separated by sep)
	cols   []*column          // by dotted path
	added  []*column          // scratch: the columns new in this window, then those to evict
	merged []*column          // scratch: cols and added merged
}

// column is one leaf path's values.
type column struct {
	key  string   // the builder's form of the path: the index key
	head []byte   // `"dotted.path":[`
	vals textRing // one entry per window held
	seen uint64   // the last window (history.gen) that had this leaf
}

// textRing is a sequence of JSON values, each followed by a comma, in one
// buffer: appended at the end, dropped from the front (see reserve).
type textRing struct {
	buf   []byte
	start int
}

// live is the entries, the last one followed by its comma.
func (r *textRing) live() []byte { return r.buf[r.start:] }

// dropFirst removes the oldest entry. Values hold no comma.
func (r *textRing) dropFirst() {
	r.start += bytes.IndexByte(r.buf[r.start:], ',') + 1
}

// reserve makes room for k more bytes: the dead front is reused in place
// while the buffer is not oversized (at most twice what the live entries and
// k need, and half again), or the live entries move to a new buffer of one
// and a half times what they and k need. Entries are moved once every
// third of the buffer or so, and the buffer holds at most three times the
// live entries and k.
func (r *textRing) reserve(k int) {
	if len(r.buf)+k <= cap(r.buf) {
		return
	}
	live := len(r.buf) - r.start
	want := (live + k) * 3 / 2
	if live+k <= cap(r.buf) && cap(r.buf) <= 2*want {
		r.buf = r.buf[:copy(r.buf, r.buf[r.start:])]
		r.start = 0
		return
	}
	nb := make([]byte, live, max(want, 64))
	copy(nb, r.buf[r.start:])
	r.buf, r.start = nb, 0
}

func (r *textRing) appendValue(bits uint64, kind valueKind) {
	r.reserve(maxEntry)
	r.buf = append(appendValue(r.buf, bits, kind), ',')
}

func (r *textRing) appendNull() {
	r.reserve(len("null,"))
	r.buf = append(r.buf, "null,"...)
}

func newHistory(n, limit int) *history {
	return &history{n: n, limit: limit, index: make(map[string]*column)}
}

// add records one document: its leaves, sorted and unique, with their paths
// in arena, exported at unix seconds. Every column gets one entry, a value
// or null, and loses its oldest once n windows are held; a column absent
// from every window held is forgotten, and so are the columns absent the
// longest when more than the limit remain.
func (h *history) add(arena []byte, leaves []leaf, unix int64) {
	h.gen++
	full := h.held == h.n
	if full {
		h.times.dropFirst()
	} else {
		h.held++
	}
	h.times.reserve(maxEntry)
	h.times.buf = append(strconv.AppendInt(h.times.buf, unix, 10), ',')

	for i := range leaves {
		l := &leaves[i]
		key := arena[l.off:l.end]
		c := h.index[string(key)]
		switch {
		case c == nil:
			c = h.newColumn(key)
			h.index[c.key] = c
			h.added = append(h.added, c)
		case c.seen == h.gen:
			continue // a path given twice (resolve makes none): the first wins
		case full:
			c.vals.dropFirst()
		}
		c.seen = h.gen
		c.vals.appendValue(l.bits, l.kind)
	}

	kept := h.cols[:0]
	for _, c := range h.cols {
		if c.seen != h.gen {
			if c.seen+uint64(h.n) <= h.gen {
				delete(h.index, c.key)
				continue
			}
			if full {
				c.vals.dropFirst()
			}
			c.vals.appendNull()
		}
		kept = append(kept, c)
	}
	clear(h.cols[len(kept):])
	h.cols = kept

	if len(h.added) > 0 {
		h.mergeAdded()
	}
	if limit := max(h.limit, len(leaves)); len(h.cols) > limit {
		h.evict(len(h.cols) - limit)
	}
}

// newColumn makes the column of a path first seen in this window: null for
// the windows held before.
func (h *history) newColumn(key []byte) *column {
	c := &column{key: string(key)}
	c.head = make([]byte, 0, len(key)+4)
	c.head = append(c.head, '"')
	for _, ch := range key {
		if ch == sep {
			ch = '.'
		}
		c.head = append(c.head, ch)
	}
	c.head = append(c.head, '"', ':', '[')
	nulls := h.held - 1
	c.vals.buf = make([]byte, 0, nulls*len("null,")+maxEntry)
	for range nulls {
		c.vals.buf = append(c.vals.buf, "null,"...)
	}
	return c
}

// mergeAdded sorts the columns new in this window into cols. Heads compare
// as their dotted paths: '"' sorts below '.' and every byte of a segment.
func (h *history) mergeAdded() {
	byHead := func(x, y *column) int { return bytes.Compare(x.head, y.head) }
	slices.SortFunc(h.added, byHead)
	m := h.merged[:0]
	i, j := 0, 0
	for i < len(h.cols) && j < len(h.added) {
		if byHead(h.cols[i], h.added[j]) < 0 {
			m = append(m, h.cols[i])
			i++
		} else {
			m = append(m, h.added[j])
			j++
		}
	}
	m = append(m, h.cols[i:]...)
	m = append(m, h.added[j:]...)
	clear(h.cols)
	h.cols, h.merged = m, h.cols[:0]
	clear(h.added)
	h.added = h.added[:0]
}

// evict forgets k columns absent from this window, those absent the longest
// first, and among those absent as long, the first in path order. The
// limit is at least this window's leaves, so there are k such columns. It
// runs only when the windows held name more paths than the limit.
func (h *history) evict(k int) {
	absent := h.added[:0] // empty since mergeAdded
	for _, c := range h.cols {
		if c.seen != h.gen {
			absent = append(absent, c)
		}
	}
	slices.SortStableFunc(absent, func(x, y *column) int { return cmp.Compare(x.seen, y.seen) })
	for _, c := range absent[:k] {
		delete(h.index, c.key)
		c.seen = 0 // forgotten: every column held was seen in a window >= 1
	}
	clear(absent)
	h.added = absent[:0]
	kept := h.cols[:0]
	for _, c := range h.cols {
		if c.seen != 0 {
			kept = append(kept, c)
		}
	}
	clear(h.cols[len(kept):])
	h.cols = kept
}

// render writes the history JSON into a new slice of the exact size: every
// part is already text, so it only copies.
func (h *history) render() []byte {
	const open, mid, end = `{"times":[`, `],"series":{`, `}}`
	size := len(open) + len(h.times.live()) - 1 + len(mid) + len(end)
	for _, c := range h.cols {
		size += len(c.head) + len(c.vals.live()) + 1 // the last comma is the ']', then a comma between columns
	}
	if len(h.cols) > 0 {
		size--
	}
	out := make([]byte, 0, size)
	out = append(out, open...)
	out = append(out, h.times.live()...)
	out = append(out[:len(out)-1], mid...)
	for i, c := range h.cols {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, c.head...)
		out = append(out, c.vals.live()...)
		out[len(out)-1] = ']'
	}
	return append(out, end...)
}
