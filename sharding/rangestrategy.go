package sharding

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// KeyRange assigns the keys in [From, To) to Shard. From and To are any
// values Normalize accepts (ints, strings, []byte, times, UUIDs); nil means
// unbounded, allowed only for the From of the lowest range and the To of the
// highest.
type KeyRange struct {
	From, To any
	Shard    string
}

// Range places each key on the shard of the range containing it. The ranges
// may be given in any order. A range may lie inside another one: it splits
// the outer range, and its keys go to its shard while that shard is in the
// list Map is given, else to the enclosing range's (so a range naming a
// pending shard moves its keys there when a reshard adds the shard; see
// docs/resharding.md). Validate rejects an empty list, bounds Normalize
// refuses (or NULL-like bounds such as nil pointers), bounds of mixed kinds,
// a range whose From is not below its To, two ranges that overlap without
// one lying inside the other or that cover the same keys, gaps between the
// outermost ranges, and shard names the cluster lacks. Map finds the range
// by binary search; a key outside every range fails with ErrNoShardForKey,
// a key of another kind than the bounds with ErrKeyType. Adding a shard
// moves only the keys of the ranges you re-assign. The returned value is
// immutable and safe for concurrent use.
func Range(ranges ...KeyRange) Strategy {
	r := &rangeStrategy{}
	r.ranges, r.kind, r.err = buildRanges(ranges)
	if r.err == nil {
		r.cells = buildCells(r.ranges)
	}
	return r
}

type rangeStrategy struct {
	ranges []boundedRange // sorted by From, each enclosing range before what it encloses
	cells  []rangeCell    // sorted, contiguous
	kind   Kind
	err    error // configuration problem, reported by Validate and Map
}

type boundedRange struct {
	from, to         Key
	noFrom, noTo     bool
	shard            string
	origFrom, origTo any
}

// rangeCell is a stretch of keys that every range covers whole or not at
// all: the ranges' bounds cut the key space into cells. shards are the
// covering ranges' shards, innermost first.
type rangeCell struct {
	to     Key
	noTo   bool
	from   Key
	noFrom bool
	shards []string
}

func (*rangeStrategy) Name() string { return "range" }

func rangeProblem(format string, args ...any) error {
	return &StrategyError{Strategy: "range", Problem: fmt.Sprintf(format, args...)}
}

func buildRanges(in []KeyRange) ([]boundedRange, Kind, error) {
	if len(in) == 0 {
		return nil, KindInvalid, rangeProblem("no ranges")
	}
	rs := make([]boundedRange, len(in))
	kind := KindInvalid
	bound := func(i int, name string, v any, k *Key, unbounded *bool) error {
		if v == nil {
			*unbounded = true
			return nil
		}
		nk, err := Normalize(v)
		if err != nil {
			return rangeProblem("range %d (shard %s): %s: %s", i, quote(in[i].Shard), name, strings.TrimPrefix(err.Error(), "grant: "))
		}
		if kind == KindInvalid {
			kind = nk.kind
		} else if nk.kind != kind {
			return rangeProblem("range %d (shard %s): %s %v is a %s bound, other bounds are %s: all bounds must be one kind",
				i, quote(in[i].Shard), name, v, nk.kind, kind)
		}
		*k = nk
		return nil
	}
	for i, kr := range in {
		r := &rs[i]
		r.shard, r.origFrom, r.origTo = kr.Shard, kr.From, kr.To
		if err := bound(i, "From", kr.From, &r.from, &r.noFrom); err != nil {
			return nil, kind, err
		}
		if err := bound(i, "To", kr.To, &r.to, &r.noTo); err != nil {
			return nil, kind, err
		}
		if !r.noFrom && !r.noTo && r.from.Compare(r.to) >= 0 {
			return nil, kind, rangeProblem("range %s is empty: From must be below To", r.describe())
		}
	}
	// By From, and at one From the wider range first: a range comes after
	// every range that encloses it.
	sort.SliceStable(rs, func(a, b int) bool {
		if c := compareFrom(&rs[a], &rs[b]); c != 0 {
			return c < 0
		}
		return compareTo(&rs[a], &rs[b]) > 0
	})
	// open holds the ranges enclosing the current one, outermost first;
	// outer is the last outermost range, which the next must adjoin.
	var open []*boundedRange
	var outer *boundedRange
	for i := range rs {
		r := &rs[i]
		for len(open) > 0 && endsBy(open[len(open)-1], r) {
			open = open[:len(open)-1]
		}
		if len(open) == 0 {
			// outer ended by r's From, or it would still be open.
			if outer != nil && outer.to.Compare(r.from) < 0 {
				return nil, kind, rangeProblem("gap between %s and %s: keys from %v to %v have no shard", outer.describe(), r.describe(), outer.origTo, r.origFrom)
			}
			outer = r
		} else if in := open[len(open)-1]; compareFrom(in, r) == 0 && compareTo(in, r) == 0 {
			return nil, kind, rangeProblem("ranges %s and %s overlap: they cover the same keys", in.describe(), r.describe())
		} else if compareTo(r, in) > 0 {
			return nil, kind, rangeProblem("ranges %s and %s overlap, and neither lies inside the other", in.describe(), r.describe())
		}
		open = append(open, r)
	}
	return rs, kind, nil
}

// compareFrom orders two ranges' lower bounds, unbounded lowest.
func compareFrom(a, b *boundedRange) int {
	switch {
	case a.noFrom || b.noFrom:
		return boolOrder(b.noFrom) - boolOrder(a.noFrom)
	default:
		return a.from.Compare(b.from)
	}
}

// compareTo orders two ranges' upper bounds, unbounded highest.
func compareTo(a, b *boundedRange) int {
	switch {
	case a.noTo || b.noTo:
		return boolOrder(a.noTo) - boolOrder(b.noTo)
	default:
		return a.to.Compare(b.to)
	}
}

func boolOrder(b bool) int {
	if b {
		return 1
	}
	return 0
}

// endsBy reports whether a ends at or before b begins.
func endsBy(a, b *boundedRange) bool {
	return !a.noTo && !b.noFrom && a.to.Compare(b.from) <= 0
}

// buildCells cuts the key space at every bound of rs (sorted and checked
// by buildRanges) and lists, for each cell, the shards of the ranges
// covering it, innermost first. Without nested ranges the cells are the
// ranges.
func buildCells(rs []boundedRange) []rangeCell {
	// Each bound as a range's From: ordered and compared as Froms are.
	var starts []boundedRange
	for i := range rs {
		starts = append(starts, boundedRange{from: rs[i].from, noFrom: rs[i].noFrom})
		if !rs[i].noTo {
			starts = append(starts, boundedRange{from: rs[i].to})
		}
	}
	slices.SortStableFunc(starts, func(a, b boundedRange) int { return compareFrom(&a, &b) })
	starts = slices.CompactFunc(starts, func(a, b boundedRange) bool { return compareFrom(&a, &b) == 0 })
	var cells []rangeCell
	var open []*boundedRange
	next := 0
	for i := range starts {
		at := &starts[i]
		for len(open) > 0 && endsBy(open[len(open)-1], at) {
			open = open[:len(open)-1]
		}
		for next < len(rs) && compareFrom(&rs[next], at) == 0 {
			open = append(open, &rs[next])
			next++
		}
		if len(open) == 0 {
			continue // above every range
		}
		c := rangeCell{from: at.from, noFrom: at.noFrom, noTo: i+1 == len(starts)}
		if !c.noTo {
			c.to = starts[i+1].from
		}
		for j := len(open) - 1; j >= 0; j-- {
			c.shards = append(c.shards, open[j].shard)
		}
		cells = append(cells, c)
	}
	return cells
}

// enclosing is the shard of the innermost of a cell's ranges (innermost
// first) whose shard is listed, when the innermost one's is not.
func enclosing(names, shards []string, k Key) (string, error) {
	for _, name := range names[1:] {
		if shardIndex(shards, name) >= 0 {
			return name, nil
		}
	}
	if len(names) == 1 {
		return "", keyError("range", k, fmt.Errorf("%w: its range names shard %s, which the cluster lacks", ErrNoShardForKey, quote(names[0])))
	}
	return "", keyError("range", k, fmt.Errorf("%w: its ranges name shards %s, which the cluster lacks", ErrNoShardForKey, strings.Join(quoteAll(names), ", ")))
}

func (r *boundedRange) describe() string {
	from, to := "unbounded", "unbounded"
	if !r.noFrom {
		from = fmt.Sprint(r.origFrom)
	}
	if !r.noTo {
		to = fmt.Sprint(r.origTo)
	}
	return fmt.Sprintf("[%s, %s) → %s", from, to, quote(r.shard))
}

func (r *rangeStrategy) Validate(shards []string) error {
	if r.err != nil {
		return r.err
	}
	if err := validateShards("range", shards); err != nil {
		return err
	}
	for i := range r.ranges {
		if shardIndex(shards, r.ranges[i].shard) < 0 {
			return unknownShard("range", r.ranges[i].shard, shards)
		}
	}
	return nil
}

func (r *rangeStrategy) Map(_ context.Context, shards []string, keys []Key) ([]string, error) {
	if r.err != nil {
		return nil, r.err
	}
	if len(shards) == 0 {
		return nil, noShards("range")
	}
	out := make([]string, len(keys))
	for i, k := range keys {
		if k.kind != r.kind && r.kind != KindInvalid {
			return nil, wrongKind("range", k, r.kind.String())
		}
		if k.kind == KindInvalid {
			return nil, keyError("range", k, ErrNullKey)
		}
		// The first cell whose upper bound is above k; cells are contiguous.
		j, hi := 0, len(r.cells)
		for j < hi {
			m := int(uint(j+hi) >> 1)
			if r.cells[m].noTo || k.Compare(r.cells[m].to) < 0 {
				hi = m
			} else {
				j = m + 1
			}
		}
		if j == len(r.cells) || (!r.cells[j].noFrom && k.Compare(r.cells[j].from) < 0) {
			return nil, keyError("range", k, fmt.Errorf("%w: the key is outside every range", ErrNoShardForKey))
		}
		s := r.cells[j].shards[0]
		if shardIndex(shards, s) < 0 {
			var err error
			if s, err = enclosing(r.cells[j].shards, shards, k); err != nil {
				return nil, err
			}
		}
		out[i] = s
	}
	return out, nil
}
