package graphdefs

import "log/slog"

// redactedText replaces the key wherever it would be printed.
const redactedText = "[REDACTED]"

// Secret is a string that never prints itself: fmt, slog, JSON and logr all
// see [REDACTED]. Convert with string(s) at the one place that sends it. (It
// mirrors forward.Secret; this package does not import the OTLP forwarder for
// one type.)
type Secret string

// String returns [REDACTED].
func (Secret) String() string { return redactedText }

// GoString returns [REDACTED] so that %#v does not leak either.
func (Secret) GoString() string { return redactedText }

// LogValue returns [REDACTED].
func (Secret) LogValue() slog.Value { return slog.StringValue(redactedText) }

// MarshalText returns [REDACTED], which covers encoding/json too.
func (Secret) MarshalText() ([]byte, error) { return []byte(redactedText), nil }
