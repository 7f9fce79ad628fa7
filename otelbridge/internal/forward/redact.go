package forward

import (
	"errors"
	"net/url"
	"strings"

	"github.com/komachi-go/komachi/otelbridge/internal/mackerelkey"
)

// minRedactLen spares short header values ("1", "on") whose replacement
// would garble messages without protecting anything.
const minRedactLen = 4

// redactor scrubs the API key and header values out of error text. Errors
// from the exporters should not hold them, but an HTTP error quotes the
// response body, and a proxy or collector may echo request headers there.
type redactor struct {
	secrets []Secret // Secret, so that dumping a redactor prints nothing
}

func newRedactor(c Config) redactor {
	var r redactor
	add := func(s string) {
		if len(s) >= minRedactLen {
			r.secrets = append(r.secrets, Secret(s))
			if esc := url.QueryEscape(s); esc != s {
				r.secrets = append(r.secrets, Secret(esc))
			}
		}
	}
	add(string(c.apiKey))
	for _, v := range c.headers {
		add(string(v))
	}
	return r
}

func (r redactor) string(s string) string {
	for _, sec := range r.secrets {
		s = strings.ReplaceAll(s, string(sec), mackerelkey.Redacted)
	}
	return s
}

// error returns err unchanged when its text holds no secret, else an error
// with the redacted text. The original is deliberately not reachable through
// Unwrap (its text is the leak); errors.Is still sees through it, so that
// callers can test for context.DeadlineExceeded and the like.
func (r redactor) error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if red := r.string(msg); red != msg {
		return &redactedError{msg: red, orig: err}
	}
	return err
}

type redactedError struct {
	msg  string
	orig error
}

func (e *redactedError) Error() string { return e.msg }

func (e *redactedError) Is(target error) bool { return errors.Is(e.orig, target) }
