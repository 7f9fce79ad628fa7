package exporter

import (
	"compress/gzip"
	"sync"
	"sync/atomic"
)

// document is one published rendering: its JSON and a gzip copy of it, made
// the first time someone asks for the copy (see gzipped), so that an export
// pays nothing for a copy no client asks for. Neither slice is written after
// it is made.
type document struct {
	body []byte

	gzipOnce sync.Once
	compress func() // fills gz; made with the document, so that asking for the copy allocates nothing
	gz       []byte
}

// gzipped returns the gzip copy of the document, nil when it has none. The
// first call compresses it, and that caller pays for it; calls made
// meanwhile wait for it and share it.
func (d *document) gzipped() []byte {
	if d.compress != nil {
		d.gzipOnce.Do(d.compress)
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

// newDocument returns the document of body, its gzip copy still to make.
func (s gzipSource) newDocument(body []byte) *document {
	d := &document{body: body}
	if len(body) <= s.limit {
		d.compress = func() {
			d.gz = compress(s.pool, d.body, int(s.size.Load())+512)
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
