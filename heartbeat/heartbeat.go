package heartbeat

import (
	"cmp"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"go.opentelemetry.io/otel/metric"
)

// Source supplies the /stats document. exporter.Exporter implements it;
// this package does not import the exporter, so any source will do.
type Source interface {
	// Document returns the current rendered JSON and the same JSON
	// gzip-compressed. Both are nil until the first document exists. The
	// slices are shared, immutable: never modify them.
	Document() (body, gzipped []byte)
}

// Handler answers /heartbeat, /livez and /stats relative to where it is
// mounted. Create it with New; it is safe for concurrent use.
type Handler struct {
	checker checker
	drained atomic.Bool

	source     Source
	statsGuard func(*http.Request) bool
	hasToken   bool
	tokenSum   [sha256.Size]byte
	plainLen   lengthCache
	gzipLen    lengthCache

	registration metric.Registration

	stop      chan struct{} // nil unless the background loop runs
	loopDone  chan struct{}
	closeOnce sync.Once
	closeErr  error
}

var _ http.Handler = (*Handler)(nil)

// New returns a Handler configured by opts. A bad option value is an error
// naming the option (wrapping ErrInvalidOption); a nil, unnamed or
// duplicate vital panics (see WithVitals).
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
		source:     cfg.source,
		statsGuard: cfg.statsGuard,
		hasToken:   cfg.hasToken,
	}
	if cfg.hasToken {
		// Comparing digests keeps the compare constant-time in the
		// token's length too.
		h.tokenSum = sha256.Sum256([]byte(cfg.bearerToken))
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
// so that slow runs never overlap.
func (h *Handler) loop(interval time.Duration) {
	defer close(h.loopDone)
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
// running vitals, while /livez and /stats keep serving. Call it when
// shutdown begins, then wait at least one probe period before closing
// the listener, so Kubernetes stops routing traffic before the process
// stops answering. Drain cannot be undone.
func (h *Handler) Drain() {
	h.drained.Store(true)
}

// Close stops the background mode goroutine, waiting for a run in flight
// (at most the largest vital timeout), and unregisters the metrics. The
// Handler keeps serving afterwards, checking on demand. Close is
// idempotent; later calls return the first call's result.
func (h *Handler) Close() error {
	h.closeOnce.Do(func() {
		if h.stop != nil {
			close(h.stop)
			<-h.loopDone
			h.checker.background.Store(false)
		}
		if h.registration != nil {
			if err := h.registration.Unregister(); err != nil {
				h.closeErr = fmt.Errorf("heartbeat: unregistering metrics: %w", err)
			}
		}
	})
	return h.closeErr
}

// Pre-built header values, assigned straight into the header map: unlike
// Header().Set this neither canonicalizes a key nor allocates a slice per
// request. They are shared, so they must never be modified.
var (
	ctText     = []string{"text/plain; charset=utf-8"}
	ctJSON     = []string{"application/json"}
	ctHealth   = []string{"application/health+json"}
	nosniff    = []string{"nosniff"}
	noCache    = []string{"no-cache"}
	noStore    = []string{"no-store"}
	varyAE     = []string{"Accept-Encoding"}
	ceGzip     = []string{"gzip"}
	allowGet   = []string{"GET, HEAD"}
	authBearer = []string{`Bearer realm="stats"`}
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

	bodyNotFound     = newBody("404 page not found: heartbeat serves /heartbeat, /livez and /stats below its mount point\n")
	bodyNotAllowed   = newBody("405 method not allowed: use GET or HEAD\n")
	bodyNoDocument   = newBody("503 stats not ready: no document has been collected yet\n")
	bodyUnauthorized = newBody("401 unauthorized: /stats needs Authorization: Bearer <token>\n")
	bodyForbidden    = newBody("403 forbidden\n")
)

// ServeHTTP answers, relative to the mount point (mount with
// http.StripPrefix):
//
//   - /heartbeat: readiness; 200 "heartbeat:ok" when every vital passes
//     and the Handler is not drained, else 503 "heartbeat:NG". With
//     ?verbose or "Accept: application/health+json", the health JSON.
//   - /livez: liveness; 200 "livez:ok" while the process serves.
//   - /stats: the Source's document; 404 without WithStats.
//
// Only GET and HEAD are allowed (405 otherwise); any other path is 404.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var serve func(*Handler, http.ResponseWriter, *http.Request)
	switch r.URL.Path {
	case "/heartbeat":
		serve = (*Handler).serveHeartbeat
	case "/livez":
		serve = (*Handler).serveLivez
	case "/stats":
		if h.source != nil {
			serve = (*Handler).serveStats
		}
	}
	if serve == nil {
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

func (h *Handler) serveStats(w http.ResponseWriter, r *http.Request) {
	if !h.statsAllowed(w, r) {
		return
	}
	plain, gzipped := h.source.Document()
	if len(plain) == 0 {
		// Never an empty 200: mackerel-plugin-json ignores the status, so
		// an unparsable body is what keeps it from posting anything.
		writeError(w, r, http.StatusServiceUnavailable, bodyNoDocument)
		return
	}
	hdr := w.Header()
	hdr["Vary"] = varyAE
	payload, length := plain, &h.plainLen
	if len(gzipped) > 0 && acceptsGzip(r.Header["Accept-Encoding"]) {
		hdr["Content-Encoding"] = ceGzip
		payload, length = gzipped, &h.gzipLen
	}
	write(w, r, http.StatusOK, ctJSON, noStore, payload, length.of(len(payload)))
}

// statsAllowed applies the /stats guards and answers the request itself
// when they refuse it.
func (h *Handler) statsAllowed(w http.ResponseWriter, r *http.Request) bool {
	if h.hasToken {
		tok, ok := bearerToken(r.Header["Authorization"])
		// A read-only view of tok: hashing must not allocate a copy.
		sum := sha256.Sum256(unsafe.Slice(unsafe.StringData(tok), len(tok)))
		if subtle.ConstantTimeCompare(sum[:], h.tokenSum[:]) != 1 || !ok {
			w.Header()["Www-Authenticate"] = authBearer
			writeError(w, r, http.StatusUnauthorized, bodyUnauthorized)
			return false
		}
	}
	if h.statsGuard != nil && !h.statsGuard(r) {
		writeError(w, r, http.StatusForbidden, bodyForbidden)
		return false
	}
	return true
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

// lengthCache keeps the Content-Length value of the last document served,
// so the string is built once per document, not once per request.
type lengthCache struct {
	last atomic.Pointer[lengthEntry]
}

type lengthEntry struct {
	n     int
	value []string
}

func (c *lengthCache) of(n int) []string {
	if e := c.last.Load(); e != nil && e.n == n {
		return e.value
	}
	e := &lengthEntry{n: n, value: []string{strconv.Itoa(n)}}
	c.last.Store(e)
	return e.value
}
