package heartbeat

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"
)

// Handler answers /heartbeat and /livez relative to where it is mounted.
// Create it with New; it is safe for concurrent use.
type Handler struct {
	checker checker
	drained atomic.Bool

	registration metric.Registration

	stop     chan struct{} // nil unless the background loop runs
	loopDone chan struct{}
	stopOnce sync.Once
	stopErr  error
}

var _ http.Handler = (*Handler)(nil)

// New returns a Handler configured by opts; a nil Option is skipped. A bad
// option value is an error naming the option (wrapping ErrInvalidOption); a
// nil, unnamed or duplicate vital panics (see WithVitals).
func New(opts ...Option) (*Handler, error) {
	return newHandler(time.Now, opts)
}

// newHandler lets tests fix the clock the vitals' durations, times and the
// cache's TTL are read from.
func newHandler(now func() time.Time, opts []Option) (*Handler, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	entries := make([]entry, 0, len(cfg.vitals))
	for _, v := range cfg.vitals {
		e := entry{vital: v, name: v.Name(), timeout: cfg.timeout}
		if t, ok := v.(timeouter); ok {
			e.timeout = t.Timeout()
		}
		entries = append(entries, e)
	}
	// Sorted once so the JSON and the metrics come out in one stable order.
	slices.SortFunc(entries, func(a, b entry) int { return cmp.Compare(a.name, b.name) })

	h := &Handler{
		checker: checker{
			entries: entries,
			ttl:     cfg.ttl,
			details: cfg.details,
			now:     now,
		},
	}
	if cfg.meter != nil && len(entries) > 0 {
		reg, err := registerMetrics(cfg.meter, &h.checker)
		if err != nil {
			return nil, fmt.Errorf("heartbeat: WithMeterProvider: %w", err)
		}
		h.registration = reg
	}
	if cfg.interval > 0 {
		h.stop = make(chan struct{})
		h.loopDone = make(chan struct{})
		h.checker.background.Store(true)
		go h.loop(cfg.interval)
	}
	return h, nil
}

// loop refreshes the report every interval, measured from the end of a run
// so that slow runs never overlap. Once it returns, requests check on
// demand again.
func (h *Handler) loop(interval time.Duration) {
	defer close(h.loopDone)
	defer h.checker.background.Store(false)
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		default:
		}
		h.checker.refresh()
		t.Reset(interval)
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
	}
}

// Drain makes readiness (/heartbeat) answer 503 from now on, without
// running vitals, while /livez keeps serving. Call it when shutdown begins,
// then wait at least one probe period before closing the listener, so
// Kubernetes stops routing traffic before the process stops answering.
// Drain cannot be undone.
func (h *Handler) Drain() {
	h.drained.Store(true)
}

// Shutdown stops the background checks (WithBackgroundInterval), waiting
// within ctx for a run in flight (at most the largest vital timeout), and
// unregisters the metrics (WithMeterProvider). The Handler keeps serving
// afterwards, checking on demand. When ctx ends before the run does,
// Shutdown returns ctx's error, wrapped; the loop still stops when the run
// ends. Calling it again waits again, within its own ctx, and returns nil
// once the loop has stopped.
func (h *Handler) Shutdown(ctx context.Context) error {
	first := false
	h.stopOnce.Do(func() {
		first = true
		if h.stop != nil {
			close(h.stop)
		}
		if h.registration != nil {
			if err := h.registration.Unregister(); err != nil {
				h.stopErr = fmt.Errorf("heartbeat: unregistering metrics: %w", err)
			}
		}
	})
	if h.loopDone != nil {
		select {
		case <-h.loopDone:
		case <-ctx.Done():
			return fmt.Errorf("heartbeat: Shutdown: waiting for the vitals' run in flight: %w", ctx.Err())
		}
	}
	if first {
		return h.stopErr
	}
	return nil
}

// Pre-built header values, assigned straight into the header map: unlike
// Header().Set this neither canonicalizes a key nor allocates a slice per
// request. They are shared, so they must never be modified.
var (
	ctText   = []string{"text/plain; charset=utf-8"}
	ctHealth = []string{"application/health+json"}
	nosniff  = []string{"nosniff"}
	noCache  = []string{"no-cache"}
	noStore  = []string{"no-store"}
	allowGet = []string{"GET, HEAD"}
)

// body is a fixed answer with its Content-Length ready.
type body struct {
	b []byte
	n []string
}

func newBody(s string) body { return body{b: []byte(s), n: []string{strconv.Itoa(len(s))}} }

// The plain bodies are the seed library's, so existing probes keep working.
var (
	bodyOK          = newBody("heartbeat:ok")
	bodyNG          = newBody("heartbeat:NG")
	bodyLivez       = newBody("livez:ok")
	bodyLivezJSON   = newBody("{\n  \"status\": \"pass\"\n}\n")
	bodyDrainedJSON = newBody("{\n  \"status\": \"fail\",\n  \"output\": \"draining\"\n}\n")
	bodyGoneJSON    = newBody("{\n  \"status\": \"fail\"\n}\n")

	bodyNotFound   = newBody("404 page not found: heartbeat serves /heartbeat and /livez below its mount point\n")
	bodyNotAllowed = newBody("405 method not allowed: use GET or HEAD\n")
)

// ServeHTTP answers, relative to the mount point (mount with
// http.StripPrefix):
//
//   - /heartbeat: readiness; 200 "heartbeat:ok" when every vital passes
//     and the Handler is not drained, else 503 "heartbeat:NG". With
//     ?verbose or "Accept: application/health+json", the health JSON.
//   - /livez: liveness; 200 "livez:ok" while the process serves.
//
// Only GET and HEAD are allowed (405 otherwise); any other path is 404.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var serve func(*Handler, http.ResponseWriter, *http.Request)
	switch r.URL.Path {
	case "/heartbeat":
		serve = (*Handler).serveHeartbeat
	case "/livez":
		serve = (*Handler).serveLivez
	default:
		writeError(w, r, http.StatusNotFound, bodyNotFound)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != "" {
		w.Header()["Allow"] = allowGet
		writeError(w, r, http.StatusMethodNotAllowed, bodyNotAllowed)
		return
	}
	serve(h, w, r)
}

func wantsJSON(r *http.Request) bool {
	return verboseQuery(r.URL.RawQuery) || acceptsHealthJSON(r.Header["Accept"])
}

func (h *Handler) serveHeartbeat(w http.ResponseWriter, r *http.Request) {
	asJSON := wantsJSON(r)
	if h.drained.Load() {
		if asJSON {
			write(w, r, http.StatusServiceUnavailable, ctHealth, noCache, bodyDrainedJSON.b, bodyDrainedJSON.n)
		} else {
			write(w, r, http.StatusServiceUnavailable, ctText, noCache, bodyNG.b, bodyNG.n)
		}
		return
	}
	rep := h.checker.get(r.Context())
	code := http.StatusOK
	if rep == nil || !rep.ok {
		code = http.StatusServiceUnavailable
	}
	switch {
	case asJSON && rep != nil:
		write(w, r, code, ctHealth, noCache, rep.verbose, rep.verboseLen)
	case asJSON:
		write(w, r, code, ctHealth, noCache, bodyGoneJSON.b, bodyGoneJSON.n)
	case code == http.StatusOK:
		write(w, r, code, ctText, noCache, bodyOK.b, bodyOK.n)
	default:
		write(w, r, code, ctText, noCache, bodyNG.b, bodyNG.n)
	}
}

func (h *Handler) serveLivez(w http.ResponseWriter, r *http.Request) {
	if wantsJSON(r) {
		write(w, r, http.StatusOK, ctHealth, noCache, bodyLivezJSON.b, bodyLivezJSON.n)
		return
	}
	write(w, r, http.StatusOK, ctText, noCache, bodyLivez.b, bodyLivez.n)
}

// writeError is the one way every error answer is written.
func writeError(w http.ResponseWriter, r *http.Request, code int, b body) {
	write(w, r, code, ctText, noStore, b.b, b.n)
}

func write(w http.ResponseWriter, r *http.Request, code int, contentType, cacheControl []string, b []byte, length []string) {
	hdr := w.Header()
	hdr["Content-Type"] = contentType
	hdr["Content-Length"] = length
	hdr["Cache-Control"] = cacheControl
	hdr["X-Content-Type-Options"] = nosniff
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		// A failed write means the client has gone; nothing is left to tell it.
		_, _ = w.Write(b)
	}
}
