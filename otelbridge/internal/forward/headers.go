package forward

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Reasons a header list is refused. Messages name the entry by position and
// never quote it: an entry may hold a key or token.
var (
	errHeaderEmpty     = errors.New("empty entry (a stray comma?)")
	errHeaderMissingEq = errors.New("missing '=' (want key=value)")
	errHeaderKey       = errors.New("invalid header name (want an HTTP token such as x-api-key)")
	errHeaderEscape    = errors.New("invalid percent-encoding in value")
	errHeaderControl   = errors.New("control character in value")
	errHeaderNonASCII  = errors.New("non-ASCII byte in value (gRPC metadata takes printable ASCII)")
	errHeaderDuplicate = errors.New("duplicate header")
)

// parseHeaders reads OTEL_EXPORTER_OTLP_HEADERS: comma-separated key=value
// pairs in the W3C Baggage style, values percent-decoded (no ;properties).
// A blank entry, such as after a trailing comma, is refused: the exporter
// logs it. Names compare case-insensitively when looking for duplicates, as
// HTTP and gRPC do.
func parseHeaders(s string) (map[string]Secret, error) {
	headers := make(map[string]Secret)
	seen := make(map[string]struct{})
	i := 0
	for entry := range strings.SplitSeq(s, ",") {
		i++
		if strings.TrimSpace(entry) == "" {
			return nil, fmt.Errorf("entry %d: %w", i, errHeaderEmpty)
		}
		k, v, ok := strings.Cut(entry, "=")
		if !ok {
			return nil, fmt.Errorf("entry %d: %w", i, errHeaderMissingEq)
		}
		k = strings.TrimSpace(k)
		if !validHeaderKey(k) {
			return nil, fmt.Errorf("entry %d: %w", i, errHeaderKey)
		}
		dv, err := url.PathUnescape(v)
		if err != nil {
			return nil, fmt.Errorf("entry %d (%s): %w", i, k, errHeaderEscape)
		}
		dv = strings.TrimSpace(dv)
		if err := checkHeaderValue(dv); err != nil {
			return nil, fmt.Errorf("entry %d (%s): %w", i, k, err)
		}
		lk := strings.ToLower(k)
		if _, dup := seen[lk]; dup {
			return nil, fmt.Errorf("entry %d (%s): %w", i, k, errHeaderDuplicate)
		}
		seen[lk] = struct{}{}
		headers[k] = Secret(dv)
	}
	return headers, nil
}

// validHeaderKey reports whether k is an RFC 9110 token, which every HTTP
// header name and gRPC metadata key is.
func validHeaderKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// checkHeaderValue accepts printable ASCII and spaces: what gRPC allows in a
// text metadata value, and nothing that could split an HTTP header.
func checkHeaderValue(v string) error {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c < ' ' || c == 0x7f:
			return errHeaderControl
		case c >= 0x80:
			return errHeaderNonASCII
		}
	}
	return nil
}
