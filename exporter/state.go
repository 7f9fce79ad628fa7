package exporter

import (
	"encoding/binary"
	"math"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
)

// stateKind says what a seriesState remembers.
type stateKind uint8

const (
	stateSum stateKind = iota
	stateHistogram
	stateExpHistogram
	stateSummary
)

// seriesState is what the exporter remembers of one series between exports:
// the previous cumulative value, to serve the increase over the window, or
// that a delta series exists, to serve 0 for a window in which it got nothing
// (a line at zero in Mackerel, not a gap).
type seriesState struct {
	kind     stateKind
	gen      uint64 // the last export that saw the series
	fresh    bool   // not yet seen by any export
	zeroFill bool   // a delta series: serve zeros while it is absent
	start    int64  // StartTime of the previous point, to notice resets
	ival     int64
	fval     float64 // previous float value, or histogram/summary sum
	count    uint64

	bounds  []float64 // explicit histogram
	buckets []uint64

	scale          int32 // exponential histogram
	zero           uint64
	zt             float64
	posOff, negOff int32
	pos, neg       []uint64

	ref   seriesRef // to order zero-filled leaves among colliding ones
	name  []byte    // the series' name segments and attribute segment,
	attrs []byte    // to serve zeros without the point
}

// stateFor returns the state of the current point's series, creating it on
// first sight, and marks it seen by this export.
func (b *builder) stateFor(s int32, kind stateKind) *seriesState {
	ref := &b.refs[s]
	b.ident = appendIdent(b.ident[:0], ref)
	st := b.state[string(b.ident)]
	if st == nil || st.kind != kind {
		st = &seriesState{
			kind: kind, fresh: true, ref: *ref,
			name: append([]byte(nil), b.name...), attrs: append([]byte(nil), b.attrs...),
		}
		b.state[string(b.ident)] = st
	}
	st.gen = b.gen
	return st
}

// sweepState serves zeros for the delta series this export did not see and
// forgets the cumulative series that are gone.
func (b *builder) sweepState() {
	for k, st := range b.state {
		if st.gen == b.gen {
			continue
		}
		if !st.zeroFill {
			delete(b.state, k)
			continue
		}
		b.refs = append(b.refs, st.ref)
		s := int32(len(b.refs) - 1)
		b.name = append(b.name[:0], st.name...)
		b.attrs = append(b.attrs[:0], st.attrs...)
		if st.kind == stateSum {
			b.addLeaf(s, "", 0, kindInt)
			continue
		}
		b.addUint(s, "count", 0)
		b.addUint(s, "sum", 0)
	}
}

// appendIdent appends a key that tells series apart exactly: scope, name and
// raw attributes, each length-prefixed so no two series share a key.
func appendIdent(dst []byte, ref *seriesRef) []byte {
	dst = appendLenString(dst, ref.scopeName)
	dst = appendLenString(dst, ref.scopeVersion)
	dst = appendLenString(dst, ref.metric)
	for i := 0; i < ref.attrs.Len(); i++ {
		kv, _ := ref.attrs.Get(i)
		dst = appendLenString(dst, string(kv.Key))
		dst = append(dst, byte(kv.Value.Type()))
		switch kv.Value.Type() {
		case attribute.STRING:
			dst = appendLenString(dst, kv.Value.AsString())
		case attribute.BOOL:
			dst = strconv.AppendBool(dst, kv.Value.AsBool())
		case attribute.INT64:
			dst = binary.AppendVarint(dst, kv.Value.AsInt64())
		case attribute.FLOAT64:
			dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(kv.Value.AsFloat64()))
		default:
			dst = appendLenString(dst, kv.Value.Emit())
		}
	}
	return dst
}

func appendLenString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}
