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
		if mc.cap >= 0 {
			// A share can be smaller than one series, or nothing when
			// komachi's own fill the bound.
			if pts = b.cut(mc, pts); len(pts) == 0 {
				continue
			}
		}
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

// emitValue appends the leaf of value k of point p, if the value is there.
// Its parent is the graph it is a line of, which holds one instrument and
// one unit:
//
//	name.line             a gauge's or sum's series
//	name.stat.line        a histogram's count or sum, or another stat with attributes
//	name.stat             a histogram's other stats without attributes: one graph
//
// where line is the attribute segment, or for a series without attributes
// the last segment of its parent (go.goroutine.count.count).
func (b *builder) emitValue(mc *metricCache, p *point, k int) {
	v := &b.vals[int(p.off)+k]
	if !v.ok {
		return
	}
	off := len(b.arena)
	b.arena = append(b.arena, mc.name...)
	seg := p.s.seg
	group := groupValue
	switch {
	case v.stat != "":
		b.arena = append(b.arena, v.stat...)
		switch {
		case v.stat == "count":
			group = groupCount
		case v.stat == "sum":
			group = groupSum
		case len(seg) > 0:
			group = groupStat
		default:
			group = groupDist
		}
		if len(seg) > 0 {
			b.arena = append(b.arena, sep)
			b.arena = append(b.arena, seg...)
		} else if group != groupDist {
			b.arena = append(b.arena, sep)
			b.arena = append(b.arena, v.stat...)
		}
	case len(seg) > 0:
		b.arena = append(b.arena, seg...)
	default:
		b.arena = append(b.arena, mc.last...)
	}
	b.leaves = append(b.leaves, leaf{off: uint32(off), end: uint32(len(b.arena)), bits: v.bits, kind: v.kind, group: group, series: p.src})
}

// okValues is the number of leaves point p makes.
func (b *builder) okValues(p *point) int {
	n := 0
	for _, v := range b.vals[p.off : p.off+p.n] {
		if v.ok {
			n++
		}
	}
	return n
}

// share settles each instrument's share of the series bound for this
// export, when the instruments would serve more leaves than the bound: the
// largest share that keeps the total within it (max-min fairness). Those
// under it keep every leaf; the others are cut to it. komachi's own
// instruments are never cut and count against the bound first.
func (b *builder) share() {
	total, own := 0, 0
	b.shares = b.shares[:0]
	for _, mc := range b.active {
		mc.cap, mc.leafCount = -1, 0
		for i := range mc.pts {
			mc.leafCount += b.okValues(&mc.pts[i])
		}
		total += mc.leafCount
		if mc.own {
			own += mc.leafCount
		} else if mc.leafCount > 0 {
			b.shares = append(b.shares, mc.leafCount)
		}
	}
	if total <= b.max {
		return
	}
	budget, rest := max(b.max-own, 0), len(b.shares)
	slices.Sort(b.shares)
	limit := 0
	for _, n := range b.shares {
		if n > budget/rest {
			limit = budget / rest
			break
		}
		budget -= n
		rest--
	}
	for _, mc := range b.active {
		if !mc.own && mc.leafCount > limit {
			mc.cap = limit
		}
	}
}

// cut keeps the first points, in order, whose leaves fit in mc's share, and
// counts the leaves of the others as dropped.
func (b *builder) cut(mc *metricCache, pts []point) []point {
	used := 0
	for i := range pts {
		n := b.okValues(&pts[i])
		if used+n > mc.cap {
			b.res.dropped[dropLimit] += mc.leafCount - used
			return pts[:i]
		}
		used += n
	}
	return pts
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
// a new slice, and records where each leaf's value is written in it
// (b.texts, for the history) and which leaves begin a group (b.groups, for
// the graph definitions). It writes into a buffer kept from one export to
// the next and copies the result out: a copy costs about what zeroing a new
// buffer of the same size would, and the document is published without a
// guessed capacity (usually twice its size) behind it.
func (b *builder) render() []byte {
	out := append(b.out[:0], '{')
	var prev []byte          // path of the previous leaf's parent, with a trailing sep
	dirEnds := b.dirEnds[:0] // where each open object's segment ends in prev
	texts, groups := b.texts[:0], b.groups[:0]
	first := true
	for i := range b.leaves {
		l := &b.leaves[i]
		key := b.arena[l.off:l.end]
		// Most leaves are in the previous one's object: its path is a
		// prefix of theirs, and no sep follows.
		n := commonPrefix(prev, key)
		var parent, name []byte // parent is "" or "a\x00b\x00"
		if i > 0 && n == len(prev) && bytes.IndexByte(key[n:], sep) < 0 {
			parent, name = prev, key[n:]
		} else {
			lastSep := bytes.LastIndexByte(key, sep)
			parent, name = key[:lastSep+1], key[lastSep+1:]
			groups = append(groups, int32(i))
		}
		// Close the objects the previous leaf was in and this one is not:
		// those whose segment does not end inside the common prefix.
		common := min(n, len(parent))
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
		start := len(out)
		out = appendValue(out, l.bits, l.kind)
		texts = append(texts, span{uint32(start), uint32(len(out))})
		prev = parent
	}
	for range dirEnds {
		out = append(out, '}')
	}
	b.dirEnds = dirEnds[:0]
	b.texts, b.groups = texts, groups
	out = append(out, '}')
	b.out = out
	return bytes.Clone(out) // unlike make and copy, it does not zero what it copies over
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
	// A whole number below 2^53 in magnitude (other than -0, which
	// encoding/json writes "-0") is written with its integer digits by the
	// shortest form too: every integer there is a float, so no shorter
	// decimal rounds to it. A count or a byte size in a float takes this
	// path, for a fraction of what a float costs.
	if i := int64(f); float64(i) == f && i > -1<<53 && i < 1<<53 && (i != 0 || bits == 0) {
		return strconv.AppendInt(dst, i, 10)
	}
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
