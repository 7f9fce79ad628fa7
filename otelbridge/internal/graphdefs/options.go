package graphdefs

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// DefaultInterval is how often the source is checked when [WithInterval] is
// not given: the /stats window's default, which is also how often
// mackerel-plugin-json runs.
const DefaultInterval = time.Minute

// MaxBackoff caps the wait between retries after failed posts (unless the
// interval is longer).
const MaxBackoff = time.Hour

// Option adjusts [New].
type Option interface {
	apply(*options)
}

type options struct {
	logger   *slog.Logger
	interval time.Duration
	client   *http.Client
	err      error
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// WithLogger sets where failures are logged; nil means slog.Default(),
// which is also the default.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(o *options) { o.logger = l })
}

// WithInterval sets how often the source is checked for a new version, and
// so the shortest time between two posts: give it the /stats window. It must
// be positive; the default is [DefaultInterval].
func WithInterval(d time.Duration) Option {
	return optionFunc(func(o *options) {
		if d <= 0 {
			o.err = fmt.Errorf("graphdefs: WithInterval(%s): must be positive", d)
			return
		}
		o.interval = d
	})
}

// WithHTTPClient sets the HTTP client the requests go through (a proxy, a
// test transport). The Poster works on a copy that refuses redirects, since
// Go would forward the X-Api-Key header to wherever a redirect points. nil
// means a client like mackerel-client-go's own, with a 30 s timeout.
func WithHTTPClient(c *http.Client) Option {
	return optionFunc(func(o *options) { o.client = c })
}

func newOptions(opts []Option) options {
	o := options{interval: DefaultInterval}
	for _, opt := range opts {
		if opt != nil {
			opt.apply(&o)
		}
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	return o
}
