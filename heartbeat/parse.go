package heartbeat

import "strings"

// The parsers below read header values and the query in place with
// strings.Cut and strings.EqualFold: nothing is split into new strings, so a
// request costs no allocation however its headers look.

// acceptsHealthJSON reports whether Accept field values name
// application/health+json with a weight above zero. Wildcards do not count:
// browsers send */* and expect the plain body.
func acceptsHealthJSON(values []string) bool {
	for _, v := range values {
		for v != "" {
			var elem string
			elem, v, _ = strings.Cut(v, ",")
			mediaType, params, _ := strings.Cut(elem, ";")
			if !strings.EqualFold(trimOWS(mediaType), "application/health+json") {
				continue
			}
			if q, ok := weight(params); ok && q > 0 {
				return true
			}
		}
	}
	return false
}

// verboseQuery reports whether a raw query string asks for the verbose
// answer: a "verbose" key, with no value or any value but "0" and "false".
func verboseQuery(raw string) bool {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		key, value, _ := strings.Cut(pair, "=")
		if key == "verbose" {
			return value != "0" && !strings.EqualFold(value, "false")
		}
	}
	return false
}

// weight finds the "q" parameter among ";"-separated params and returns it
// in thousandths; 1000 when absent. ok is false when q is malformed.
func weight(params string) (q int, ok bool) {
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		name, value, _ := strings.Cut(p, "=")
		if strings.EqualFold(trimOWS(name), "q") {
			return qvalue(trimOWS(value))
		}
	}
	return 1000, true
}

// qvalue parses RFC 9110's qvalue: ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ).
func qvalue(s string) (int, bool) {
	if s == "" || (s[0] != '0' && s[0] != '1') {
		return 0, false
	}
	q := int(s[0]-'0') * 1000
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

// trimOWS trims HTTP's optional whitespace (spaces and tabs).
func trimOWS(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
