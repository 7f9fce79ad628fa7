package graphdefs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/mackerelio/mackerel-client-go"

	"github.com/komachi-go/komachi/otelbridge/internal/mackerelkey"
)

// requestTimeout bounds one post, as mackerel-client-go's own client does;
// it also holds for a client given by WithHTTPClient without a timeout.
const requestTimeout = 30 * time.Second

// ErrShutdown is returned by Start and Shutdown after Shutdown.
var ErrShutdown = errors.New("graphdefs: poster is shut down")

// Poster posts graph definitions to Mackerel in the background; see the
// package documentation for when.
type Poster struct {
	client     *mackerel.Client
	source     func() ([]Graph, uint64)
	prefix     string
	logger     *slog.Logger
	interval   time.Duration
	maxBackoff time.Duration
	redact     *redactor // a pointer, so that printing a Poster shows no key

	mu      sync.Mutex
	started bool
	stopped bool
	cancel  context.CancelFunc
	done    chan struct{}
}

// New returns a Poster for cfg (zero APIBase and Prefix take the defaults)
// that reads the definitions from source. source returns the current
// definitions and a version that changes whenever they do; it is called from
// the Poster's goroutine, once per interval. Nothing runs before [Poster.Start].
func New(cfg Config, source func() (graphs []Graph, version uint64), opts ...Option) (*Poster, error) {
	if source == nil {
		return nil, errors.New("graphdefs: New: nil source")
	}
	cfg, err := cfg.withDefaults().validate()
	if err != nil {
		return nil, err
	}
	o := newOptions(opts)
	if o.err != nil {
		return nil, o.err
	}
	client, err := mackerel.NewClientWithOptions(string(cfg.APIKey), cfg.APIBase, false)
	if err != nil {
		// validate parsed the same URL; this is not expected.
		return nil, errors.New("graphdefs: Config.APIBase: not a valid URL")
	}
	// The client logs only when verbose (request dumps, key included); it is
	// not, and its logger goes nowhere in case that ever changes.
	client.Logger = log.New(io.Discard, "", 0)
	client.UserAgent = "komachi (" + client.UserAgent + ")"
	httpClient := &http.Client{Timeout: requestTimeout}
	if o.client != nil {
		c := *o.client
		httpClient = &c
	}
	httpClient.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	client.HTTPClient = httpClient

	return &Poster{
		client:     client,
		source:     source,
		prefix:     cfg.Prefix,
		logger:     o.logger,
		interval:   o.interval,
		maxBackoff: max(MaxBackoff, o.interval),
		redact:     newRedactor(string(cfg.APIKey)),
	}, nil
}

// Start starts the Poster's goroutine, which posts right away (when source
// has definitions) and then checks source once per interval. It does not
// wait for the first post. ctx's values reach the requests, its cancellation
// does not: the goroutine runs until [Poster.Shutdown]. A second call returns
// an error; a call after Shutdown, ErrShutdown.
func (p *Poster) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return ErrShutdown
	}
	if p.started {
		return errors.New("graphdefs: Start called twice")
	}
	p.started = true
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.cancel, p.done = cancel, make(chan struct{})
	go p.run(runCtx, p.done)
	return nil
}

// Shutdown stops the goroutine, cancelling a post in progress, and waits for
// it to end or for ctx to be done (then it returns ctx's error and the
// goroutine ends on its own as soon as the cancelled request returns). A
// second call returns ErrShutdown.
func (p *Poster) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return ErrShutdown
	}
	p.stopped = true
	cancel, done := p.cancel, p.done
	p.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("graphdefs: Shutdown: %w", context.Cause(ctx))
	}
}

// state is what the goroutine remembers between checks.
type state struct {
	posted        bool   // a version was handled: posted, or nothing in it was postable
	postedVersion uint64 // that version
	warned        bool   // invalid graphs were logged for warnedVersion
	warnedVersion uint64
}

// run is the goroutine: an attempt now, then one per interval, or after the
// backoff when the last attempt failed. The backoff starts at one interval
// and doubles up to maxBackoff, so posts are never closer than an interval.
func (p *Poster) run(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	var st state
	backoff := p.interval
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		n, err := p.attempt(ctx, &st)
		if err == nil {
			backoff = p.interval
			timer.Reset(p.interval)
			continue
		}
		if ctx.Err() != nil {
			return // Shutdown cancelled the request: not a failure to report.
		}
		p.logFailure(err, n, backoff)
		timer.Reset(backoff)
		backoff = min(2*backoff, p.maxBackoff)
	}
}

// attempt posts the source's definitions unless their version is the one
// last handled. It returns how many definitions it tried to post.
func (p *Poster) attempt(ctx context.Context, st *state) (n int, err error) {
	defer func() {
		// The source is the caller's code; a panic in it must not take the
		// app down with a background helper.
		if r := recover(); r != nil {
			err = fmt.Errorf("graphdefs: source panicked: %v", r)
		}
	}()
	graphs, version := p.source()
	if st.posted && version == st.postedVersion {
		return 0, nil
	}
	if len(graphs) == 0 {
		return 0, nil // nothing yet: look again next interval
	}
	defs, invalid := params(p.prefix, graphs)
	if invalid != nil && (!st.warned || st.warnedVersion != version) {
		st.warned, st.warnedVersion = true, version
		p.logger.Error("graphdefs: graph definitions left out", "left_out", len(graphs)-len(defs), "error", firstLine(invalid))
	}
	if len(defs) > 0 {
		rctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		if err := p.client.CreateGraphDefsContext(rctx, defs); err != nil {
			return len(defs), err
		}
		p.logger.Debug("graphdefs: posted graph definitions", "graphs", len(defs), "version", version)
	}
	st.posted, st.postedVersion = true, version
	return len(defs), nil
}

// logFailure writes one line: the HTTP status when Mackerel answered, and
// the error text with the key scrubbed out (an error body may echo it).
func (p *Poster) logFailure(err error, graphs int, retryIn time.Duration) {
	attrs := []any{"graphs", graphs, "retry_in", retryIn}
	if apiErr, ok := errors.AsType[*mackerel.APIError](err); ok {
		attrs = append(attrs, "status", apiErr.StatusCode)
	}
	attrs = append(attrs, "error", p.redact.string(shorten(err.Error())))
	p.logger.Warn("graphdefs: posting graph definitions to Mackerel failed", attrs...)
}

// firstLine keeps a joined error to one log line, with how many follow.
func firstLine(err error) string {
	lines := strings.Split(err.Error(), "\n")
	if len(lines) == 1 {
		return lines[0]
	}
	return fmt.Sprintf("%s (and %d more)", lines[0], len(lines)-1)
}

// shorten bounds an error text, which may quote a whole response body.
func shorten(s string) string {
	const limit = 512
	if len(s) > limit {
		return s[:limit] + "..."
	}
	return s
}

// redactor scrubs the key, as is and URL-escaped, out of text.
type redactor struct {
	forms []Secret
}

func newRedactor(key string) *redactor {
	r := &redactor{forms: []Secret{Secret(key)}}
	if esc := url.QueryEscape(key); esc != key {
		r.forms = append(r.forms, Secret(esc))
	}
	return r
}

func (r *redactor) string(s string) string {
	for _, f := range r.forms {
		s = strings.ReplaceAll(s, string(f), mackerelkey.Redacted)
	}
	return s
}
