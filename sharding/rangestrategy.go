package sharding

import (
	"context"
	"fmt"
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
// may be given in any order; they are sorted by From. Validate rejects an
// empty list, bounds Normalize refuses (or NULL-like bounds such as nil
// pointers), bounds of mixed kinds, a range whose From is not below its To,
// nil bounds other than the lowest From and the highest To, gaps and overlaps
// between consecutive ranges, and shard names the cluster lacks. Map finds
// the range by binary search; a key outside every range fails with
// ErrNoShardForKey, a key of another kind than the bounds with ErrKeyType.
// Adding a shard moves only the keys of the ranges you re-assign. The
// returned value is immutable and safe for concurrent use.
func Range(ranges ...KeyRange) Strategy {
	r := rangeStrategy{}
	r.ranges, r.kind, r.err = buildRanges(ranges)
	return r
}

type rangeStrategy struct {
	ranges []boundedRange // sorted, contiguous
	kind   Kind
	err    error // configuration problem, reported by Validate and Map
}

type boundedRange struct {
	from, to         Key
	noFrom, noTo     bool
	shard            string
	origFrom, origTo any
}

func (rangeStrategy) Name() string { return "range" }

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
	if kind == KindInvalid && len(rs) > 1 {
		return nil, kind, rangeProblem("ranges %s and %s are both unbounded: they overlap", rs[0].describe(), rs[1].describe())
	}
	sort.SliceStable(rs, func(a, b int) bool {
		if rs[a].noFrom != rs[b].noFrom {
			return rs[a].noFrom
		}
		return rs[a].from.Compare(rs[b].from) < 0
	})
	for i := 0; i+1 < len(rs); i++ {
		r, next := &rs[i], &rs[i+1]
		if next.noFrom {
			return nil, kind, rangeProblem("ranges %s and %s are both unbounded below: they overlap", r.describe(), next.describe())
		}
		if r.noTo {
			return nil, kind, rangeProblem("range %s is unbounded above but %s lies above it: they overlap", r.describe(), next.describe())
		}
		switch c := r.to.Compare(next.from); {
		case c < 0:
			return nil, kind, rangeProblem("gap between %s and %s: keys from %v to %v have no shard", r.describe(), next.describe(), r.origTo, next.origFrom)
		case c > 0:
			return nil, kind, rangeProblem("ranges %s and %s overlap", r.describe(), next.describe())
		}
	}
	return rs, kind, nil
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

func (r rangeStrategy) Validate(shards []string) error {
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

func (r rangeStrategy) Map(_ context.Context, shards []string, keys []Key) ([]string, error) {
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
		// The first range whose upper bound is above k; ranges are contiguous.
		j, hi := 0, len(r.ranges)
		for j < hi {
			m := int(uint(j+hi) >> 1)
			if r.ranges[m].noTo || k.Compare(r.ranges[m].to) < 0 {
				hi = m
			} else {
				j = m + 1
			}
		}
		if j == len(r.ranges) || (!r.ranges[j].noFrom && k.Compare(r.ranges[j].from) < 0) {
			return nil, keyError("range", k, fmt.Errorf("%w: the key is outside every range", ErrNoShardForKey))
		}
		s := r.ranges[j].shard
		if shardIndex(shards, s) < 0 {
			return nil, keyError("range", k, fmt.Errorf("%w: its range names shard %s, which the cluster lacks", ErrNoShardForKey, quote(s)))
		}
		out[i] = s
	}
	return out, nil
}
