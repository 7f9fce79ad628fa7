package exporter

import (
	"strconv"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
)

// sep separates path segments inside the exporter's key arena. It sorts below
// every byte a sanitized segment can hold ([-0-9A-Z_a-z]), so a plain byte
// comparison of two keys orders them segment by segment, which is the order
// JSON objects are written in.
const sep = 0

// attrJoin joins the values of several attributes inside one segment.
const attrJoin = '-'

// validByte reports whether c may stand in a Mackerel metric name segment.
func validByte(c byte) bool {
	return c == '_' || c == '-' || ('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

// appendSanitized appends s with every character outside [A-Za-z0-9_-]
// replaced by '_': one '_' per rune, and one per byte of invalid UTF-8, so the
// length of the result says how many characters were replaced. It never
// appends the empty string's nothing: callers decide what an empty segment is.
func appendSanitized(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if !validByte(c) {
				c = '_'
			}
			dst = append(dst, c)
			i++
			continue
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		dst = append(dst, '_')
		i += size
	}
	return dst
}

// Sanitize turns s into one valid Mackerel metric-name segment: every
// character outside [A-Za-z0-9_-] becomes '_', and the empty string becomes
// "_". It is the rule /stats applies to every part of a name.
func Sanitize(s string) string {
	if s == "" {
		return "_"
	}
	clean := true
	for i := 0; i < len(s); i++ {
		if !validByte(s[i]) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	return string(appendSanitized(make([]byte, 0, len(s)), s))
}

// appendName appends the instrument name split on dots, each part sanitized
// and followed by sep. Empty parts (leading, trailing or doubled dots) are
// skipped; a name with no part at all becomes the single segment "_".
func appendName(dst []byte, name string) []byte {
	start := len(dst)
	from := 0
	for i := 0; i <= len(name); i++ {
		if i < len(name) && name[i] != '.' {
			continue
		}
		if i > from {
			dst = appendSanitized(dst, name[from:i])
			dst = append(dst, sep)
		}
		from = i + 1
	}
	if len(dst) == start {
		dst = append(dst, '_', sep)
	}
	return dst
}

// appendAttrSegment appends the attribute values of set, ordered by key (the
// order attribute.Set keeps), sanitized and joined by '-', as one segment.
// It appends nothing for an empty set: a point without attributes has no
// attribute segment.
func appendAttrSegment(dst []byte, set *attribute.Set) []byte {
	n := set.Len()
	if n == 0 {
		return dst
	}
	start := len(dst)
	for i := 0; i < n; i++ {
		kv, _ := set.Get(i)
		if i > 0 {
			dst = append(dst, attrJoin)
		}
		dst = appendAttrValue(dst, kv.Value)
	}
	if len(dst) == start {
		dst = append(dst, '_')
	}
	return dst
}

func appendAttrValue(dst []byte, v attribute.Value) []byte {
	switch v.Type() {
	case attribute.STRING:
		s := v.AsString()
		if s == "" {
			return append(dst, '_')
		}
		return appendSanitized(dst, s)
	case attribute.BOOL:
		return strconv.AppendBool(dst, v.AsBool())
	case attribute.INT64:
		return sanitizeTail(strconv.AppendInt(dst, v.AsInt64(), 10), len(dst))
	case attribute.FLOAT64:
		return sanitizeTail(strconv.AppendFloat(dst, v.AsFloat64(), 'g', -1, 64), len(dst))
	default:
		return appendSanitized(dst, v.String())
	}
}

// sanitizeTail sanitizes in place the ASCII bytes of b from index from on
// (a formatted number: its '.' and '+' become '_').
func sanitizeTail(b []byte, from int) []byte {
	for i := from; i < len(b); i++ {
		if !validByte(b[i]) {
			b[i] = '_'
		}
	}
	return b
}
