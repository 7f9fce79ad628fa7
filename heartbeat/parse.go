package heartbeat

import (
	"strings"

	"github.com/komachi-go/komachi/internal/httpaccept"
)

// The parsers below read header values (through httpaccept) and the query in
// place with strings.Cut and strings.EqualFold: nothing is split into new strings, so a
// request costs no allocation however its headers look.

// acceptsHealthJSON reports whether Accept field values name
// application/health+json with a weight above zero. Wildcards do not count:
// browsers send */* and expect the plain body.
func acceptsHealthJSON(values []string) bool {
	for mediaType, q := range httpaccept.Elements(values) {
		if q > 0 && strings.EqualFold(mediaType, "application/health+json") {
			return true
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
