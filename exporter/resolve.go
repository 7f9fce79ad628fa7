package exporter

import (
	"bytes"
	"cmp"
	"math"
	"slices"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
)

// maxPasses bounds the rounds of renaming. One pass resolves every collision
// real instruments make; later passes only exist for names built to collide
// with the renamed ones. What is left after the last pass is dropped and
// counted, never served twice.
const maxPasses = 8

// scalarChild is where a leaf moves when another series needs its path as an
// object: a.b beside a.b.c becomes a.b._value beside a.b.c.
const scalarChild = "_value"

// resolve makes every path of the sorted leaves unique, so that each series
// has a leaf of its own:
//
//   - Leaves on one path are ordered by their source (scope name and
//     version, instrument name, attributes, then value); the first keeps the
//     path, the others get the smallest free suffix _2, _3, … on their last
//     segment.
//   - A leaf whose path another leaf needs as an object (a.b beside a.b.c)
//     moves into that object as a.b._value.
//
// Each rename counts as one collision. The rules depend only on the set of
// series, never on the order the SDK hands them over, so the same input gives
// the same bytes.
//
// Renaming keeps the leaves sorted at little cost: the leaves a pass renames
// are taken out, sorted and merged back, and a name is known taken by a
// binary search of the pass's (sorted) paths, so a collision costs about the
// renamed leaves, not the whole document.
func (b *builder) resolve() {
	for pass := 0; pass <= maxPasses; pass++ {
		changed := false
		dropped := false
		b.moved = b.moved[:0]
		b.taken = b.taken[:0]
		n := len(b.leaves)
		for i := 0; i < n; {
			j := i + 1
			for j < n && bytes.Equal(b.key(j), b.key(i)) {
				j++
			}
			if j-i > 1 {
				changed = true
				if pass == maxPasses {
					for k := i + 1; k < j; k++ {
						b.leaves[k].end = b.leaves[k].off // marks it dropped
					}
					b.res.dropped[dropUnresolved] += j - i - 1
					dropped = true
				} else {
					slices.SortFunc(b.leaves[i:j], b.compareSources)
					for k := i + 1; k < j; k++ {
						b.renameWithSuffix(k)
					}
				}
			}
			if j < n && isDirPrefix(b.key(i), b.key(j)) {
				changed = true
				if pass == maxPasses {
					b.leaves[i].end = b.leaves[i].off
					b.res.dropped[dropUnresolved]++
					dropped = true
				} else {
					b.moveIntoObject(i)
				}
			}
			i = j
		}
		clear(b.keySet)
		if !changed {
			return
		}
		if dropped {
			// Only the last pass drops, and it renames nothing: what is
			// left is still in order.
			b.leaves = slices.DeleteFunc(b.leaves, func(l leaf) bool { return l.end == l.off })
			return
		}
		b.reinsertMoved()
	}
}

func (b *builder) key(i int) []byte {
	l := &b.leaves[i]
	return b.arena[l.off:l.end]
}

func (b *builder) compareLeaves(x, y *leaf) int {
	return bytes.Compare(b.arena[x.off:x.end], b.arena[y.off:y.end])
}

func (b *builder) sortLeaves(leaves []leaf) {
	slices.SortFunc(leaves, func(x, y leaf) int { return b.compareLeaves(&x, &y) })
}

// reinsertMoved restores the order of the leaves after a pass renamed those
// at the indices in b.moved: the others are still in order, so the renamed
// ones are sorted on their own and merged back in place, from the end.
func (b *builder) reinsertMoved() {
	slices.Sort(b.moved)
	moved := b.movedLeaves[:0]
	w := 0
	for i, m := 0, 0; i < len(b.leaves); i++ {
		if m < len(b.moved) && b.moved[m] == i {
			moved = append(moved, b.leaves[i])
			for m < len(b.moved) && b.moved[m] == i {
				m++
			}
			continue
		}
		b.leaves[w] = b.leaves[i]
		w++
	}
	b.sortLeaves(moved)
	i, j := w-1, len(moved)-1
	for k := len(b.leaves) - 1; j >= 0; k-- {
		if i >= 0 && b.compareLeaves(&b.leaves[i], &moved[j]) > 0 {
			b.leaves[k] = b.leaves[i]
			i--
		} else {
			b.leaves[k] = moved[j]
			j--
		}
	}
	b.movedLeaves = moved[:0]
}

// isDirPrefix reports whether leaf path a is a parent object of path b.
func isDirPrefix(a, b []byte) bool {
	return len(b) > len(a) && b[len(a)] == sep && bytes.HasPrefix(b, a)
}

// compareSources orders leaves that share a path by their source.
func (b *builder) compareSources(x, y leaf) int {
	sx, sy := b.srcs[x.series], b.srcs[y.series]
	kx, ky := &sx.m.key, &sy.m.key
	if c := cmp.Compare(kx.scopeName, ky.scopeName); c != 0 {
		return c
	}
	if c := cmp.Compare(kx.scopeVersion, ky.scopeVersion); c != 0 {
		return c
	}
	if c := cmp.Compare(kx.name, ky.name); c != 0 {
		return c
	}
	if c := compareSets(&sx.attrs, &sy.attrs); c != 0 {
		return c
	}
	if c := cmp.Compare(x.kind, y.kind); c != 0 {
		return c
	}
	if x.kind == kindFloat {
		return cmp.Compare(math.Float64frombits(x.bits), math.Float64frombits(y.bits))
	}
	return cmp.Compare(x.bits, y.bits)
}

func compareSets(a, b *attribute.Set) int {
	if a.Equals(b) {
		return 0
	}
	enc := attribute.DefaultEncoder()
	return cmp.Compare(a.Encoded(enc), b.Encoded(enc))
}

// isTaken reports whether path p is taken in this pass: by a leaf as the
// pass began (the leaves were sorted then; their paths, snapshot on first
// need, are searched) or by a rename of this pass.
func (b *builder) isTaken(p []byte) bool {
	b.snapshotPaths()
	if _, ok := b.keySet[string(p)]; ok {
		return true
	}
	_, found := slices.BinarySearchFunc(b.taken, p, func(s span, p []byte) int {
		return bytes.Compare(b.arena[s.off:s.end], p)
	})
	return found
}

// snapshotPaths records the paths of the leaves once per pass, before the
// pass renames any.
func (b *builder) snapshotPaths() {
	if len(b.taken) > 0 {
		return
	}
	for i := range b.leaves {
		l := &b.leaves[i]
		b.taken = append(b.taken, span{l.off, l.end})
	}
}

// take records that path p is taken from now on in this pass.
func (b *builder) take(p []byte) {
	if b.keySet == nil {
		b.keySet = make(map[string]struct{})
	}
	b.keySet[string(p)] = struct{}{}
}

// renameWithSuffix gives leaf i the smallest free name last_N, N >= 2.
func (b *builder) renameWithSuffix(i int) {
	key := b.key(i)
	for n := 2; ; n++ {
		off := len(b.arena)
		b.arena = append(b.arena, key...)
		b.arena = append(b.arena, '_')
		b.arena = strconv.AppendInt(b.arena, int64(n), 10)
		if b.isTaken(b.arena[off:]) {
			b.arena = b.arena[:off]
			key = b.key(i) // the arena may have moved
			continue
		}
		b.take(b.arena[off:])
		b.setKey(i, off)
		return
	}
}

// moveIntoObject moves leaf i under its own path, as the child scalarChild.
func (b *builder) moveIntoObject(i int) {
	b.snapshotPaths()
	off := len(b.arena)
	b.arena = append(b.arena, b.key(i)...)
	b.arena = append(b.arena, sep)
	b.arena = append(b.arena, scalarChild...)
	b.take(b.arena[off:])
	b.setKey(i, off)
}

func (b *builder) setKey(i, off int) {
	b.leaves[i].off, b.leaves[i].end = uint32(off), uint32(len(b.arena))
	b.moved = append(b.moved, i)
	b.res.collisions++
}
