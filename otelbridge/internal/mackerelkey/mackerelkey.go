// Package mackerelkey holds the one set of rules for the Mackerel API key
// that both the OTLP forwarder (otelbridge/internal/forward) and the graph
// definition poster (otelbridge/internal/graphdefs) read, so that one key
// setting means the same to both: which variables name it, when both may be
// set, what a key may contain, and that it never prints itself.
package mackerelkey

import (
	"errors"
	"fmt"
	"log/slog"
)

// The variables that hold the key, as the Mackerel agents and
// mackerel-client-go name them.
const (
	EnvName    = "MACKEREL_APIKEY"
	EnvNameAlt = "MACKEREL_API_KEY"
)

// Redacted replaces a [Secret] wherever it would be printed.
const Redacted = "[REDACTED]"

// Secret is a string that never prints itself: fmt, slog, JSON and logr all
// see [Redacted]. Convert with string(s) at the one place that sends it.
type Secret string

// String returns [Redacted].
func (Secret) String() string { return Redacted }

// GoString returns [Redacted] so that %#v does not leak either.
func (Secret) GoString() string { return Redacted }

// LogValue returns [Redacted].
func (Secret) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalText returns [Redacted], which covers encoding/json too.
func (Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// ErrInvalid reports an API key that cannot be sent as a header value.
var ErrInvalid = errors.New("the API key must be printable ASCII without spaces")

// Check rejects a key that cannot be a header value or looks like a
// copy-paste accident (a trailing newline from a Kubernetes Secret file).
// The error wraps [ErrInvalid] and tells the position, never the key.
func Check(key string) error {
	for i := 0; i < len(key); i++ {
		if c := key[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("%w (bad byte at position %d of %d)", ErrInvalid, i+1, len(key))
		}
	}
	return nil
}

// FromEnv reads the key through lookup (os.LookupEnv in production); an
// empty value counts as unset. Either variable may hold it, both only if
// they are equal. name is the variable the key came from ([EnvName] when
// both hold it), "" with an empty key when neither is set. Every error names
// the variable at fault and never holds its value; callers add their
// package's prefix.
func FromEnv(lookup func(string) (string, bool)) (key Secret, name string, err error) {
	k1, _ := lookup(EnvName)
	k2, _ := lookup(EnvNameAlt)
	if k1 != "" && k2 != "" && k1 != k2 {
		return "", "", fmt.Errorf("%s and %s are both set and differ; set one", EnvName, EnvNameAlt)
	}
	v, name := k1, EnvName
	if v == "" {
		v, name = k2, EnvNameAlt
	}
	if v == "" {
		return "", "", nil
	}
	if err := Check(v); err != nil {
		return "", "", fmt.Errorf("%s: %w", name, err)
	}
	return Secret(v), name, nil
}
