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

// resolve sorts the leaves by path and makes every path unique, so that each
// series has a leaf of its own:
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
func (b *builder) resolve() {
	b.sortLeaves()
	for pass := 0; pass <= maxPasses; pass++ {
		changed := false
		dropped := false
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
			b.leaves = slices.DeleteFunc(b.leaves, func(l leaf) bool { return l.end == l.off })
		}
		b.sortLeaves()
	}
}

func (b *builder) key(i int) []byte {
	l := &b.leaves[i]
	return b.arena[l.off:l.end]
}

func (b *builder) sortLeaves() {
	arena := b.arena
	slices.SortFunc(b.leaves, func(x, y leaf) int {
		return bytes.Compare(arena[x.off:x.end], arena[y.off:y.end])
	})
}

// isDirPrefix reports whether leaf path a is a parent object of path b.
func isDirPrefix(a, b []byte) bool {
	return len(b) > len(a) && b[len(a)] == sep && bytes.HasPrefix(b, a)
}

// compareSources orders leaves that share a path by their source.
func (b *builder) compareSources(x, y leaf) int {
	rx, ry := &b.refs[x.series], &b.refs[y.series]
	if c := cmp.Compare(rx.scopeName, ry.scopeName); c != 0 {
		return c
	}
	if c := cmp.Compare(rx.scopeVersion, ry.scopeVersion); c != 0 {
		return c
	}
	if c := cmp.Compare(rx.metric, ry.metric); c != 0 {
		return c
	}
	if c := compareSets(&rx.attrs, &ry.attrs); c != 0 {
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

// ensureKeySet fills keySet with every current path, once per pass that needs it.
func (b *builder) ensureKeySet() {
	if b.keySet == nil {
		b.keySet = make(map[string]struct{})
	}
	if len(b.keySet) > 0 {
		return
	}
	for i := range b.leaves {
		b.keySet[string(b.key(i))] = struct{}{}
	}
}

// renameWithSuffix gives leaf i the smallest free name last_N, N >= 2.
func (b *builder) renameWithSuffix(i int) {
	b.ensureKeySet()
	key := b.key(i)
	for n := 2; ; n++ {
		off := len(b.arena)
		b.arena = append(b.arena, key...)
		b.arena = append(b.arena, '_')
		b.arena = strconv.AppendInt(b.arena, int64(n), 10)
		cand := b.arena[off:]
		if _, taken := b.keySet[string(cand)]; taken {
			b.arena = b.arena[:off]
			key = b.key(i) // the arena may have moved
			continue
		}
		b.keySet[string(cand)] = struct{}{}
		b.setKey(i, off)
		return
	}
}

// moveIntoObject moves leaf i under its own path, as the child scalarChild.
func (b *builder) moveIntoObject(i int) {
	b.ensureKeySet()
	off := len(b.arena)
	b.arena = append(b.arena, b.key(i)...)
	b.arena = append(b.arena, sep)
	b.arena = append(b.arena, scalarChild...)
	b.keySet[string(b.arena[off:])] = struct{}{}
	b.setKey(i, off)
}

func (b *builder) setKey(i, off int) {
	b.leaves[i].off, b.leaves[i].end = uint32(off), uint32(len(b.arena))
	b.res.collisions++
}
