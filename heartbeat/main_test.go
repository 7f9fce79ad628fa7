package heartbeat

import (
	"flag"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeClock is a settable clock: TTL expiry without sleeping, and fixed
// times and durations in the golden files.
type fakeClock struct {
	base   time.Time
	offset atomic.Int64
}

func newFakeClock() *fakeClock {
	return &fakeClock{base: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) now() time.Time          { return c.base.Add(time.Duration(c.offset.Load())) }
func (c *fakeClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// discardWriter is the smallest reusable ResponseWriter: what a benchmark
// or an allocation test then measures is the handler alone.
type discardWriter struct {
	header http.Header
	code   int
	n      int
}

func newDiscardWriter() *discardWriter { return &discardWriter{header: make(http.Header, 8)} }

func (w *discardWriter) Header() http.Header  { return w.header }
func (w *discardWriter) WriteHeader(code int) { w.code = code }
func (w *discardWriter) Write(b []byte) (int, error) {
	w.n += len(b)
	return len(b), nil
}

func (w *discardWriter) reset() {
	clear(w.header)
	w.code, w.n = 0, 0
}
