// Package httpaccept reads the weighted lists of HTTP's content negotiation
// fields (Accept, Accept-Encoding, RFC 9110 §12.4.2) in place: it splits
// nothing into new strings, so that a handler that negotiates costs no
// allocation however the request's headers look. What a handler then
// chooses stays with the handler.
package httpaccept

import (
	"iter"
	"strings"
)

// Elements yields, over all lines of a field, each list element's token
// (the media range or the coding, optional whitespace trimmed, case kept)
// and its weight in thousandths, 1000 when it has none. Empty elements and
// elements with a malformed weight are skipped, as RFC 9110 lets a
// recipient drop what it cannot parse.
func Elements(values []string) iter.Seq2[string, int] {
	return func(yield func(token string, q int) bool) {
		for _, v := range values {
			for v != "" {
				var elem string
				elem, v, _ = strings.Cut(v, ",")
				token, params, _ := strings.Cut(elem, ";")
				token = TrimOWS(token)
				if token == "" {
					continue
				}
				q, ok := Weight(params)
				if !ok {
					continue
				}
				if !yield(token, q) {
					return
				}
			}
		}
	}
}

// Weight finds the "q" parameter among ";"-separated params and returns it
// in thousandths; 1000 when absent. ok is false when q is malformed.
func Weight(params string) (q int, ok bool) {
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		name, value, _ := strings.Cut(p, "=")
		if strings.EqualFold(TrimOWS(name), "q") {
			return QValue(TrimOWS(value))
		}
	}
	return 1000, true
}

// QValue parses RFC 9110's qvalue, ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "."
// 0*3("0") ] ), into thousandths. ok is false when s is not one.
func QValue(s string) (q int, ok bool) {
	if s == "" || (s[0] != '0' && s[0] != '1') {
		return 0, false
	}
	q = int(s[0]-'0') * 1000
	if len(s) == 1 {
		return q, true
	}
	frac := s[2:]
	if s[1] != '.' || len(frac) > 3 {
		return 0, false
	}
	scale := 100
	for i := 0; i < len(frac); i++ {
		d := frac[i]
		if d < '0' || d > '9' || (q == 1000 && d != '0') {
			return 0, false
		}
		q += int(d-'0') * scale
		scale /= 10
	}
	return q, true
}

// TrimOWS trims HTTP's optional whitespace (spaces and tabs).
func TrimOWS(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
