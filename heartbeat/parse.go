package heartbeat

import "strings"

// The parsers below read header values in place with strings.Cut and
// strings.EqualFold: nothing is split into new strings, so a request costs
// no allocation however its headers look.

// acceptsGzip reports whether Accept-Encoding field values (all lines of the
// field) let us answer with gzip, following RFC 9110 §12.5.3:
//   - codings match case-insensitively, "x-gzip" is "gzip";
//   - "q=0" refuses a coding; a malformed weight drops its element;
//   - "*" stands for gzip and identity when they are not listed themselves;
//   - gzip is chosen when its weight is > 0 and not below identity's
//     (identity counts only when listed, by name or by "*").
func acceptsGzip(values []string) bool {
	gzipQ, identityQ, starQ := -1, -1, -1
	for _, v := range values {
		for v != "" {
			var elem string
			elem, v, _ = strings.Cut(v, ",")
			coding, params, _ := strings.Cut(elem, ";")
			coding = trimOWS(coding)
			if coding == "" {
				continue
			}
			q, ok := weight(params)
			if !ok {
				continue
			}
			switch {
			case strings.EqualFold(coding, "gzip"), strings.EqualFold(coding, "x-gzip"):
				gzipQ = max(gzipQ, q)
			case strings.EqualFold(coding, "identity"):
				identityQ = max(identityQ, q)
			case coding == "*":
				starQ = max(starQ, q)
			}
		}
	}
	if gzipQ < 0 {
		gzipQ = starQ
	}
	if identityQ < 0 {
		identityQ = starQ
	}
	return gzipQ > 0 && gzipQ >= identityQ
}

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

// bearerToken extracts the token of an "Authorization: Bearer <token>"
// field; the scheme matches case-insensitively (RFC 9110 §11.1).
func bearerToken(values []string) (string, bool) {
	if len(values) != 1 {
		return "", false
	}
	v := values[0]
	const scheme = "Bearer "
	if len(v) < len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		return "", false
	}
	tok := trimOWS(v[len(scheme):])
	return tok, tok != ""
}

func trimOWS(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
