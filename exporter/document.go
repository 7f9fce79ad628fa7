package exporter

import (
	"compress/gzip"
	"sync"
	"sync/atomic"
)

// document is one published rendering: its JSON and a gzip copy of it, each
// made the first time someone asks for it (see plain and gzipped), so that
// an export pays nothing for what no client asks for. Neither slice is
// written after it is made.
type document struct {
	bodyOnce sync.Once
	makeBody func() // fills body; nil when the body came with the document
	body     []byte

	gzipOnce sync.Once
	makeGzip func() // fills gz
	gz       []byte
}

// The funcs are made with the document, so that asking for either copy
// passes no new func to a sync.Once and allocates nothing.

// plain returns the JSON of the document. When the document was published
// without it, the first call renders it, and that caller pays for it; calls
// made meanwhile wait for it and share it.
func (d *document) plain() []byte {
	if d.makeBody != nil {
		d.bodyOnce.Do(d.makeBody)
	}
	return d.body
}

// gzipped returns the gzip copy of the document, nil when it has none. The
// first call compresses it, as plain renders.
func (d *document) gzipped() []byte {
	if d.makeGzip != nil {
		d.gzipOnce.Do(d.makeGzip)
	}
	return d.gz
}

// gzipSource makes the gzip copies of one kind of document: those of at
// most limit bytes (larger ones have none), each by a writer of pool, into
// a slice sized by the copy it made last.
type gzipSource struct {
	pool  *sync.Pool    // of *gzip.Writer
	limit int           // bytes of JSON at most
	size  *atomic.Int64 // bytes of the last copy made
}

// newDocument returns the document of body, or when render is not nil, of
// what render returns on first need; its gzip copy is still to make.
func (s gzipSource) newDocument(body []byte, render func() []byte) *document {
	d := &document{body: body}
	if render != nil {
		d.makeBody = func() { d.body = render() }
	}
	d.makeGzip = func() {
		if body := d.plain(); len(body) <= s.limit {
			d.gz = compress(s.pool, body, int(s.size.Load())+512)
			s.size.Store(int64(len(d.gz)))
		}
	}
	return d
}

// newGzipPool returns a pool of gzip writers at level. A gzip writer holds
// about 800 KB of compressor state once it has written: kept between exports
// a minute apart, it was most of the live heap the bridge adds to an app. A
// pool keeps it across compressions that come fast and lets the GC take it
// back between windows.
func newGzipPool(level int) *sync.Pool {
	return &sync.Pool{New: func() any {
		w, _ := gzip.NewWriterLevel(nil, level) // the level was checked by newConfig
		return w
	}}
}

// compress returns body gzip-compressed by a writer of pool into a new slice
// of capacity hint (the previous copy's size and a margin). A gzip writer
// fails only when what it writes to fails, and a slice never does, so its
// errors are not looked at.
func compress(pool *sync.Pool, body []byte, hint int) []byte {
	zw := pool.Get().(*gzip.Writer)
	defer pool.Put(zw)
	out := &sliceWriter{b: make([]byte, 0, hint)}
	zw.Reset(out)
	_, _ = zw.Write(body)
	_ = zw.Close()
	zw.Reset(nil) // drop the reference to out
	return out.b
}

type sliceWriter struct{ b []byte }

func (w *sliceWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}
