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
// The history keeps, for each window held, the text of its document's
// values, and for each leaf path, a column that finds its value in each
// window. A path absent from every window held is forgotten, and at most
// WithMaxSeries paths are held (or the latest document's leaves, if
// komachi's own take it over the bound): when the windows name more, the
// paths absent for the longest are forgotten first. So its memory follows
// what it shows: each value held takes its text and 4 bytes, each path
// about 300 bytes, and a window whose paths differ from the one before 4
// to 8 bytes per value of its own; about 1.6 times the history JSON,
// besides that JSON once a request has asked for it (with 120 windows of
// 10-byte values, 2.3 KB and 1.4 KB per path).
func WithHistory(n int) Option {
	return optionFunc(func(c config) config { c.history = n; return c })
}

// History returns the current history JSON, plain and gzip-compressed; both
// are nil before the first export and when the history is off. The slices are
// shared by every caller and must not be modified.
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
// An export only adds its window's values to the history, which costs about
// what copying their text does. The JSON is rendered on first need after
// each export, by the first call of History or the first request to
// HistoryHandler, and its gzip copy as the document's is (see Document):
// whoever comes first pays for it, under the lock that Export takes, so that
// it waits for an export under way (and may then get the history of that
// export); callers meanwhile wait for it, and every later one shares it.
// Past that first call, History takes no lock and allocates nothing. A
// history of more than 512 KiB has no gzip copy (gzipped is nil): its
// compression would cost that caller more than the rendering.
func (e *Exporter) History() (body, gzipped []byte) {
	d := e.histDoc.Load()
	if d == nil {
		return nil, nil
	}
	return d.plain(), d.gzipped()
}

// HistoryHandler returns an http.Handler serving the history JSON (see
// History) exactly as Handler serves the document: GET and HEAD, gzip when
// the client accepts it, 503 before the first export, 405 for any other
// method, the same headers. The JSON and its gzip copy are made once per
// export, by the first request that needs them (see History); nothing is
// rendered and nothing allocated per request after that. otelbridge mounts
// it at <mount>/stats/history. When the history is off (WithHistory(0)) it
// answers 404 with a plain-text reason.
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

// publishHistory adds the document the builder just rendered, body, to the
// history and publishes a history document that renders its JSON on first
// need. It runs under e.mu, once per export: the builder's leaves are final,
// sorted and unique, and their values' text is taken from body, as the
// document wrote it.
func (e *Exporter) publishHistory(body []byte, unix int64) {
	e.hist.add(e.b.arena, e.b.leaves, body, e.b.texts, unix)
	e.histDoc.Store(e.histGz.newDocument(nil, e.renderHistory))
}

// renderHistory renders the history JSON as the latest export left it; it
// takes e.mu, as an export mutates the history.
func (e *Exporter) renderHistory() []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.hist.render()
}

// historyGzipMax is the size of history JSON above which it has no gzip
// copy and is served as is. At the exporter's level, gzip costs 5 to 8 ms
// per MB of history when values repeat and up to 50 ms per MB when they
// vary in all their 17 digits (Huffman-only costs 5 ms per MB either way
// and loses the repeats), while rendering costs about 2 ms per MB (see
// BenchmarkHistoryRender). So the gzip copy costs the request that makes
// it at most about 25 ms, once per window. 512 KiB is about 350 series
// with 120 windows of 12-byte values: a budget-sized /stats stays far
// under it.
const historyGzipMax = 512 << 10

// history keeps the leaves of the last n documents in rows, one per window:
// the text of the window's values, in the order of their dotted paths, and
// a layout naming the column of each. An export copies its values' text and,
// when its paths are those of the export before (the steady state), shares
// that export's layout: it touches nothing per path. Only a window whose
// paths changed looks its paths up, one by one. A render walks the columns
// in order, each window's entries beside them, and copies each window's
// entry or writes null; it formats nothing. It is not safe for concurrent
// use: the exporter's mu guards it.
type history struct {
	n     int    // windows held at most
	limit int    // paths held at most, unless the latest document has more
	gen   uint64 // windows added so far; window g is rows[(g-1) % n]
	held  int    // windows held: min(gen, n)
	rows  []row

	index map[string]*column // the columns held, by path as the builder writes it (segments separated by sep)
	cols  []*column          // the columns held, by dotted path
	// By id, the column that a window held or the index names: one
	// forgotten (gone) stays while a window held names it.
	byID []*column
	free []int32 // ids to use again
	// Ids of gone columns that a window held still names, each free once
	// that window is gone; in that order.
	pending []pendingID
	// The columns held that the latest window lacks, by the last window
	// that had them (oldest first), then by dotted path: the order they
	// are forgotten in.
	absent []*column

	lay       *layout  // the latest window's
	laySince  uint64   // the first window of lay: a column it names has seen == laySince
	lastPaths []byte   // the paths of the latest window's leaves, one after the other
	lastEnds  []uint32 // where each ends in lastPaths

	added   []*column   // scratch: the columns new in this window
	merged  []*column   // scratch: cols and added merged
	vanish  []*column   // scratch: the columns of the window before that this one lacks
	entries []int32     // scratch: the leaf of each entry of a new layout
	order   []*row      // scratch of render: the windows held, oldest first
	runs    []layoutRun // scratch of render: the runs of windows that share a layout
	scr     []byte      // scratch of render: the times
}

// row is one window's values: the text of each, one after the other, in
// the order of its layout.
type row struct {
	unix int64
	lay  *layout
	vals []byte
	ends []uint32 // where each entry ends in vals
	// The entries (and their bytes) of columns gone while this window is
	// held: left out of a render.
	hidden, hiddenBytes int
}

// entry returns the text of entry i.
func (w *row) entry(i int) []byte {
	start := uint32(0)
	if i > 0 {
		start = w.ends[i-1]
	}
	return w.vals[start:w.ends[i]]
}

// layout names the column of each entry of the windows that share it, in
// a row whose paths are the same: entries go by dotted path, as columns do.
type layout struct {
	ids []int32 // the column of each entry
	// The leaf whose value each entry is, when that is not the entry's own
	// index: the builder orders leaves by path with sep, a render by dotted
	// path, and '-' sorts between the two.
	leaves []int32
}

// column is one leaf path held.
type column struct {
	key  string // the builder's form of the path: the index key
	head []byte // `"dotted.path":[`
	id   int32
	// The last window that had this path, once the latest lacks it; while
	// the latest window has it, laySince.
	seen uint64
	gone bool // forgotten; its id is still named by windows held
}

// pendingID is the id of a gone column that windows held still name, free
// once window until is added.
type pendingID struct {
	id    int32
	until uint64
}

func newHistory(n, limit int) *history {
	return &history{n: n, limit: limit, index: make(map[string]*column)}
}

// add records one document: its leaves, sorted and unique, with their paths
// in arena and the text of their values at texts in doc, exported at unix
// seconds. Once n windows are held the oldest makes room. A column absent
// from every window held is forgotten, and so are the columns absent the
// longest when more than the limit remain.
func (h *history) add(arena []byte, leaves []leaf, doc []byte, texts []span, unix int64) {
	h.gen++
	if h.held < h.n {
		h.held++
		h.rows = append(h.rows, row{})
	}
	w := &h.rows[(h.gen-1)%uint64(h.n)]
	if h.samePaths(arena, leaves) {
		h.forget()
	} else {
		h.relayout(arena, leaves)
	}
	w.fill(h.lay, doc, texts, unix)
}

// samePaths reports whether the leaves have the paths of the latest
// window's, in the same order. It compares lengths first, and the paths as
// one run of bytes when they lie one after the other in arena, as the
// builder emits them when no collision moved one.
func (h *history) samePaths(arena []byte, leaves []leaf) bool {
	if h.lay == nil || len(leaves) != len(h.lastEnds) {
		return false
	}
	if len(leaves) == 0 {
		return true
	}
	adjacent := true
	prev := uint32(0)
	for i := range leaves {
		l := &leaves[i]
		if l.end-l.off != h.lastEnds[i]-prev {
			return false
		}
		if i > 0 && l.off != leaves[i-1].end {
			adjacent = false
		}
		prev = h.lastEnds[i]
	}
	if adjacent {
		return bytes.Equal(arena[leaves[0].off:leaves[len(leaves)-1].end], h.lastPaths)
	}
	prev = 0
	for i := range leaves {
		l := &leaves[i]
		if !bytes.Equal(arena[l.off:l.end], h.lastPaths[prev:h.lastEnds[i]]) {
			return false
		}
		prev = h.lastEnds[i]
	}
	return true
}

// relayout makes the layout of a window whose paths differ from the latest
// one's: it looks each path up (a new one gets a column), marks the columns
// the window lacks absent, and forgets what is to be forgotten.
func (h *history) relayout(arena []byte, leaves []leaf) {
	since := h.gen
	h.lastPaths, h.lastEnds = h.lastPaths[:0], h.lastEnds[:0]
	for i := range leaves {
		l := &leaves[i]
		h.lastPaths = append(h.lastPaths, arena[l.off:l.end]...)
		h.lastEnds = append(h.lastEnds, uint32(len(h.lastPaths)))
	}
	// The entries go by dotted path: the leaf of each, usually in the
	// leaves' own order.
	lay := &layout{ids: make([]int32, 0, len(leaves))}
	entries := h.entries[:0]
	for i := range leaves {
		entries = append(entries, int32(i))
	}
	inOrder := slices.IsSortedFunc(leaves, func(x, y leaf) int {
		return compareDotted(arena[x.off:x.end], arena[y.off:y.end])
	})
	if !inOrder {
		slices.SortStableFunc(entries, func(x, y int32) int {
			a, b := &leaves[x], &leaves[y]
			return compareDotted(arena[a.off:a.end], arena[b.off:b.end])
		})
	}
	returned, kept := 0, entries[:0]
	for _, li := range entries {
		l := &leaves[li]
		key := arena[l.off:l.end]
		c := h.index[string(key)]
		switch {
		case c == nil:
			c = h.newColumn(key)
			h.added = append(h.added, c)
		case c.seen == since:
			continue // a path given twice (resolve makes none): the first wins
		case c.seen < h.laySince:
			returned++ // absent until now
		}
		c.seen = since
		lay.ids = append(lay.ids, c.id)
		kept = append(kept, li)
	}
	if !inOrder || len(kept) < len(leaves) {
		lay.leaves = slices.Clone(kept)
	}
	h.entries = kept[:0]
	// The columns of the window before that this one lacks were last seen
	// there; they come in path order, as that window's entries do.
	if h.lay != nil {
		for _, id := range h.lay.ids {
			if c := h.byID[id]; c.seen != since {
				c.seen = since - 1
				h.vanish = append(h.vanish, c)
			}
		}
	}
	if returned > 0 {
		h.absent = slices.DeleteFunc(h.absent, func(c *column) bool { return c.seen == since })
	}
	h.absent = append(h.absent, h.vanish...)
	clear(h.vanish)
	h.vanish = h.vanish[:0]
	h.lay, h.laySince = lay, since

	if len(h.added) > 0 {
		h.mergeAdded()
	}
	h.forget()
	if limit := max(h.limit, len(leaves)); len(h.cols) > limit {
		h.evict(len(h.cols) - limit)
	}
}

// forget lets go of the absent columns that no window held has any more,
// and frees the ids that no window held names.
func (h *history) forget() {
	for len(h.pending) > 0 && h.pending[0].until <= h.gen {
		id := h.pending[0].id
		h.byID[id] = nil
		h.free = append(h.free, id)
		h.pending = h.pending[1:]
	}
	k := 0
	for k < len(h.absent) && h.absent[k].seen+uint64(h.n) <= h.gen {
		c := h.absent[k]
		h.drop(c)
		h.byID[c.id] = nil
		h.free = append(h.free, c.id)
		k++
	}
	if k > 0 {
		clear(h.absent[:k])
		h.absent = h.absent[k:]
		h.compactCols()
	}
}

// evict forgets k columns absent from this window, those absent the longest
// first, and among those absent as long, the first in path order. The
// limit is at least this window's leaves, so there are k such columns. It
// runs only when the windows held name more paths than the limit. Their
// entries stay in the windows that have them, left out of every render,
// and their ids stay taken until those windows are gone.
func (h *history) evict(k int) {
	for _, c := range h.absent[:k] {
		h.drop(c)
		h.pending = append(h.pending, pendingID{id: c.id, until: c.seen + uint64(h.n)})
		for i := 1; i < h.held; i++ { // the windows before this one
			w := &h.rows[(h.gen-1-uint64(i))%uint64(h.n)]
			// Found by path, the entry may be that of a column of the same
			// path gone before.
			if e, ok := slices.BinarySearchFunc(w.lay.ids, c, h.compareEntry); ok && w.lay.ids[e] == c.id {
				w.hidden++
				w.hiddenBytes += len(w.entry(e))
			}
		}
	}
	clear(h.absent[:k])
	h.absent = h.absent[k:]
	h.compactCols()
}

// compareEntry orders the column of an entry's id against column c.
func (h *history) compareEntry(id int32, c *column) int { return byHead(h.byID[id], c) }

// drop takes column c out of the index; compactCols takes it out of cols.
func (h *history) drop(c *column) {
	delete(h.index, c.key)
	c.gone = true
}

func (h *history) compactCols() {
	h.cols = slices.DeleteFunc(h.cols, func(c *column) bool { return c.gone })
}

// newColumn makes the column of a path first seen in this window.
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
	if n := len(h.free); n > 0 {
		c.id = h.free[n-1]
		h.free = h.free[:n-1]
		h.byID[c.id] = c
	} else {
		c.id = int32(len(h.byID))
		h.byID = append(h.byID, c)
	}
	h.index[c.key] = c
	return c
}

// byHead orders columns by their dotted paths: '"' sorts below '.' and
// every byte of a segment, so heads compare as the paths do.
func byHead(x, y *column) int { return bytes.Compare(x.head, y.head) }

// compareDotted orders two paths as the builder writes them by their dotted
// forms, as byHead orders columns.
func compareDotted(a, b []byte) int {
	for {
		n := commonPrefix(a, b)
		if n == len(a) || n == len(b) {
			return cmp.Compare(len(a), len(b))
		}
		if x, y := dotted(a[n]), dotted(b[n]); x != y {
			return cmp.Compare(x, y)
		}
		a, b = a[n+1:], b[n+1:]
	}
}

func dotted(ch byte) byte {
	if ch == sep {
		return '.'
	}
	return ch
}

// mergeAdded sorts the columns new in this window into cols.
func (h *history) mergeAdded() {
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

// fill makes w the window of a document: the text of its values, copied in
// the order of lay. The buffers of the window it replaces are reused unless
// they are too small or more than twice the size needed.
func (w *row) fill(lay *layout, doc []byte, texts []span, unix int64) {
	entries, size := len(texts), 0
	if lay.leaves != nil {
		entries = len(lay.leaves)
	}
	for _, t := range texts {
		size += int(t.end - t.off)
	}
	if cap(w.vals) < size || cap(w.vals) > 2*size+64 {
		w.vals = make([]byte, 0, size+size/8) // room for the next windows' values to grow a little
	}
	if cap(w.ends) < entries || cap(w.ends) > 2*entries+16 {
		w.ends = make([]uint32, 0, entries)
	}
	vals, ends := w.vals[:0], w.ends[:0]
	if lay.leaves == nil {
		for _, t := range texts {
			vals = append(vals, doc[t.off:t.end]...)
			ends = append(ends, uint32(len(vals)))
		}
	} else {
		for _, li := range lay.leaves {
			t := texts[li]
			vals = append(vals, doc[t.off:t.end]...)
			ends = append(ends, uint32(len(vals)))
		}
	}
	*w = row{unix: unix, lay: lay, vals: vals, ends: ends}
}

// render writes the history JSON into a new slice of the exact size.
func (h *history) render() []byte {
	const open, mid, end = `{"times":[`, `],"series":{`, `}}`
	order := h.order[:0]
	for g := h.gen - uint64(h.held); g < h.gen; g++ {
		order = append(order, &h.rows[g%uint64(h.n)])
	}
	// Windows in a row that share a layout share where each column's entry
	// is: one cursor walks the entries of each such run.
	runs := h.runs[:0]
	for i, w := range order {
		if i == 0 || w.lay != order[i-1].lay {
			runs = append(runs, layoutRun{lay: w.lay, to: i + 1})
		} else {
			runs[len(runs)-1].to = i + 1
		}
	}
	times := h.scr[:0]
	for i, w := range order {
		if i > 0 {
			times = append(times, ',')
		}
		times = strconv.AppendInt(times, w.unix, 10)
	}

	// Each column: its head, one value or null per window, the commas
	// between them and the ']'; a comma between columns.
	size := len(open) + len(times) + len(mid) + len(end)
	for _, c := range h.cols {
		size += len(c.head) + len(order) + 1
	}
	if len(h.cols) > 0 {
		size--
	}
	for _, w := range order {
		shown := len(w.ends) - w.hidden
		size += len(w.vals) - w.hiddenBytes + (len(h.cols)-shown)*len("null")
	}

	out := make([]byte, 0, size)
	out = append(out, open...)
	out = append(out, times...)
	out = append(out, mid...)
	for i, c := range h.cols {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, c.head...)
		from := 0
		for r := range runs {
			run := &runs[r]
			// The entries come in the columns' order; those of gone
			// columns are passed over.
			ids, e := run.lay.ids, run.next
			for e < len(ids) && ids[e] != c.id && h.byID[ids[e]].gone {
				e++
			}
			found := e < len(ids) && ids[e] == c.id
			if found {
				run.next = e + 1
			} else {
				run.next = e
			}
			for _, w := range order[from:run.to] {
				if found {
					out = append(out, w.entry(e)...)
				} else {
					out = append(out, "null"...)
				}
				out = append(out, ',')
			}
			from = run.to
		}
		out[len(out)-1] = ']'
	}
	clear(order)
	clear(runs)
	h.order, h.runs, h.scr = order[:0], runs[:0], times[:0]
	return append(out, end...)
}

// layoutRun is a run of windows, order[..to], that share lay; next is the
// entry of lay a render is at.
type layoutRun struct {
	lay  *layout
	to   int
	next int
}
