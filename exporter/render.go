package exporter

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/bits"
	"slices"
	"strconv"
)

// emit turns the points of this export into leaves in path order without
// sorting them all: instruments in the order of their names, the points of
// each in the order of their attribute segments, and a histogram's leaves
// stat by stat (all its series' avg, then count, …).
//
// Every leaf of an instrument lies in the range of its name (the name itself,
// or the name followed by more segments), so two instruments can only
// interleave when one name starts with the other (a.b and a.b.c), or they
// are equal once sanitized. Such instruments are adjacent in name order; the
// leaves of each such cluster are sorted on their own. A final linear check
// guards the whole.
func (b *builder) emit() {
	slices.SortFunc(b.active, func(x, y *metricCache) int { return bytes.Compare(x.name, y.name) })
	var root []byte // the name of the first instrument of the current cluster
	start, members := 0, 0
	for _, mc := range b.active {
		pts := mc.pts
		if len(pts) == 0 {
			continue
		}
		if root == nil || !bytes.HasPrefix(mc.name, root) {
			b.sortCluster(start, members)
			root, start, members = mc.name, len(b.leaves), 0
		}
		members++
		slices.SortFunc(pts, func(x, y point) int { return bytes.Compare(x.s.seg, y.s.seg) })
		shape := pts[0].shape
		for i := 1; i < len(pts); i++ {
			if pts[i].shape != shape {
				shape = shapeList
				break
			}
		}
		switch shape {
		case shapeSingle:
			for i := range pts {
				b.emitValue(mc, &pts[i], 0)
			}
		case shapeHist:
			for k := range numHistStats {
				for i := range pts {
					b.emitValue(mc, &pts[i], k)
				}
			}
		default:
			// Summaries (any quantiles) and instruments whose points differ
			// in shape: few, and sorted on their own.
			from := len(b.leaves)
			for i := range pts {
				for k := range int(pts[i].n) {
					b.emitValue(mc, &pts[i], k)
				}
			}
			b.sortLeaves(b.leaves[from:])
		}
	}
	b.sortCluster(start, members)
	if !b.leavesSorted(b.leaves) {
		b.sorts++
		b.sortLeaves(b.leaves)
	}
}

// sortCluster sorts the leaves from start on, emitted by members
// instruments whose names start with the first one's, if they interleave.
func (b *builder) sortCluster(start, members int) {
	if members > 1 && !b.leavesSorted(b.leaves[start:]) {
		b.clusterSorts++
		b.sortLeaves(b.leaves[start:])
	}
}

// emitValue appends the leaf name[.stat][.attrs] of value k of point p, if
// the value is there.
func (b *builder) emitValue(mc *metricCache, p *point, k int) {
	v := &b.vals[int(p.off)+k]
	if !v.ok {
		return
	}
	off := len(b.arena)
	b.arena = append(b.arena, mc.name...)
	if v.stat != "" {
		b.arena = append(b.arena, v.stat...)
		b.arena = append(b.arena, sep)
	}
	if len(p.s.seg) > 0 {
		b.arena = append(b.arena, p.s.seg...)
	} else {
		b.arena = b.arena[:len(b.arena)-1] // drop the trailing sep
	}
	b.leaves = append(b.leaves, leaf{off: uint32(off), end: uint32(len(b.arena)), bits: v.bits, kind: v.kind, series: p.src})
}

func (b *builder) leavesSorted(leaves []leaf) bool {
	for i := 1; i < len(leaves); i++ {
		x, y := &leaves[i-1], &leaves[i]
		if bytes.Compare(b.arena[x.off:x.end], b.arena[y.off:y.end]) > 0 {
			return false
		}
	}
	return true
}

// render writes the sorted, collision-free leaves as nested JSON objects into
// a new slice of the exact size. It writes into a buffer kept from one export
// to the next and copies the result out: a copy costs about what zeroing a
// new buffer of the same size would, and the document is published without a
// guessed capacity (usually twice its size) behind it.
func (b *builder) render() []byte {
	out := append(b.out[:0], '{')
	var prev []byte          // path of the previous leaf's parent, with a trailing sep
	dirEnds := b.dirEnds[:0] // where each open object's segment ends in prev
	first := true
	for i := range b.leaves {
		l := &b.leaves[i]
		key := b.arena[l.off:l.end]
		lastSep := bytes.LastIndexByte(key, sep)
		parent := key[:lastSep+1] // "" or "a\x00b\x00"
		name := key[lastSep+1:]
		// Close the objects the previous leaf was in and this one is not:
		// those whose segment does not end inside the common prefix.
		common := commonPrefix(prev, parent)
		depth := len(dirEnds)
		for len(dirEnds) > 0 && dirEnds[len(dirEnds)-1] >= common {
			dirEnds = dirEnds[:len(dirEnds)-1]
		}
		for ; depth > len(dirEnds); depth-- {
			out = append(out, '}')
		}
		// Open the objects this leaf is in and the previous one was not.
		from := 0
		if len(dirEnds) > 0 {
			from = dirEnds[len(dirEnds)-1] + 1
		}
		for from < len(parent) {
			j := from + bytes.IndexByte(parent[from:], sep)
			if !first {
				out = append(out, ',')
			}
			out = append(out, '"')
			out = append(out, parent[from:j]...)
			out = append(out, '"', ':', '{')
			first = true
			dirEnds = append(dirEnds, j)
			from = j + 1
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		out = append(out, '"')
		out = append(out, name...)
		out = append(out, '"', ':')
		out = appendValue(out, l.bits, l.kind)
		prev = parent
	}
	for range dirEnds {
		out = append(out, '}')
	}
	b.dirEnds = dirEnds[:0]
	out = append(out, '}')
	b.out = out
	doc := make([]byte, len(out))
	copy(doc, out)
	return doc
}

// commonPrefix is the length of the longest common prefix of a and b.
func commonPrefix(a, b []byte) int {
	n := min(len(a), len(b))
	i := 0
	for ; i+8 <= n; i += 8 {
		if x := binary.LittleEndian.Uint64(a[i:]) ^ binary.LittleEndian.Uint64(b[i:]); x != 0 {
			return i + bits.TrailingZeros64(x)/8
		}
	}
	for i < n && a[i] == b[i] {
		i++
	}
	return i
}

// appendValue writes a number the way encoding/json does: integers as
// integers, floats in the shortest form that round-trips.
func appendValue(dst []byte, bits uint64, kind valueKind) []byte {
	switch kind {
	case kindInt:
		return strconv.AppendInt(dst, int64(bits), 10)
	case kindUint:
		return strconv.AppendUint(dst, bits, 10)
	}
	f := math.Float64frombits(bits)
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// Clean up e-09 to e-9, as encoding/json does.
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}
