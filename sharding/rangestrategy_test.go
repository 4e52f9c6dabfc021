package sharding

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRangeMap(t *testing.T) {
	d := func(m time.Month) time.Time { return time.Date(2024, m, 1, 0, 0, 0, 0, time.UTC) }
	cases := []struct {
		name   string
		ranges []KeyRange
		keys   []Key
		want   []string
	}{
		{"ints unsorted, unbounded ends",
			[]KeyRange{{100, nil, "s2"}, {nil, 10, "s0"}, {int8(10), uint16(100), "s1"}},
			[]Key{IntKey(math.MinInt64), IntKey(9), IntKey(10), IntKey(99), IntKey(100), IntKey(math.MaxInt64)},
			[]string{"s0", "s0", "s1", "s1", "s2", "s2"}},
		{"bounded ints", []KeyRange{{0, 10, "s0"}, {10, 20, "s1"}},
			[]Key{IntKey(0), IntKey(19)}, []string{"s0", "s1"}},
		{"strings", []KeyRange{{"", "h", "s0"}, {"h", "q", "s1"}, {"q", nil, "s2"}},
			[]Key{StringKey(""), StringKey("apple"), StringKey("h"), StringKey("pzzz"), StringKey("q"), StringKey("zebra")},
			[]string{"s0", "s0", "s1", "s1", "s2", "s2"}},
		{"times", []KeyRange{{nil, d(3), "s0"}, {d(3), d(6), "s1"}, {d(6), nil, "s3"}},
			[]Key{TimeKey(d(3).Add(-time.Nanosecond)), TimeKey(d(3)), TimeKey(d(6)), TimeKey(d(6).In(time.FixedZone("E", 3600)))},
			[]string{"s0", "s1", "s3", "s3"}},
		{"single unbounded range takes any kind", []KeyRange{{nil, nil, "s2"}},
			[]Key{IntKey(1), StringKey("x"), TimeKey(d(1))}, []string{"s2", "s2", "s2"}},
		{"same shard twice", []KeyRange{{0, 10, "s1"}, {10, 20, "s2"}, {20, 30, "s1"}},
			[]Key{IntKey(5), IntKey(15), IntKey(25)}, []string{"s1", "s2", "s1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := Range(c.ranges...)
			assert.Equal(t, "range", st.Name())
			require.NoError(t, st.Validate(fourShards))
			got, err := st.Map(context.Background(), fourShards, c.keys)
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
		})
	}
}

func TestRangeMapErrors(t *testing.T) {
	st := Range(KeyRange{10, 20, "s0"}, KeyRange{20, 30, "s1"})
	cases := []struct {
		key Key
		err error
		msg string
	}{
		{IntKey(9), ErrNoShardForKey, "range: key 9: no shard for key: the key is outside every range"},
		{IntKey(30), ErrNoShardForKey, "key 30"},
		{IntKey(math.MinInt64), ErrNoShardForKey, "outside every range"},
		{StringKey("15"), ErrKeyType, "range needs int keys, got a string key"},
		{Key{}, ErrNullKey, "NULL"},
	}
	for _, c := range cases {
		_, err := st.Map(context.Background(), fourShards, []Key{IntKey(15), c.key})
		require.ErrorIs(t, err, c.err)
		assert.Contains(t, err.Error(), c.msg)
	}
	// a shard missing from the cluster passed to Map
	_, err := st.Map(context.Background(), []string{"s1"}, []Key{IntKey(15)})
	require.ErrorIs(t, err, ErrNoShardForKey)
	assert.Contains(t, err.Error(), `"s0"`)
}

func TestRangeValidate(t *testing.T) {
	t1 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var nilPtr *int
	cases := []struct {
		name   string
		ranges []KeyRange
		msg    string
	}{
		{"empty", nil, "no ranges"},
		{"overlap", []KeyRange{{0, 20, "s0"}, {10, 30, "s1"}}, `ranges [0, 20) → "s0" and [10, 30) → "s1" overlap`},
		{"gap", []KeyRange{{0, 10, "s0"}, {20, 30, "s1"}}, `gap between [0, 10) → "s0" and [20, 30) → "s1": keys from 10 to 20 have no shard`},
		{"duplicate", []KeyRange{{0, 10, "s0"}, {0, 10, "s1"}}, "overlap"},
		{"mixed kinds", []KeyRange{{0, 10, "s0"}, {"10", "20", "s1"}}, "all bounds must be one kind"},
		{"mixed with time", []KeyRange{{nil, t1, "s0"}, {t1, 5, "s1"}}, "all bounds must be one kind"},
		{"empty range", []KeyRange{{10, 10, "s0"}}, "is empty"},
		{"reversed range", []KeyRange{{"b", "a", "s0"}}, "From must be below To"},
		{"nil From inside", []KeyRange{{0, 10, "s0"}, {nil, 5, "s1"}}, "neither lies inside the other"},
		{"nested overlap", []KeyRange{{0, 100, "s0"}, {10, 50, "s1"}, {40, 60, "s2"}}, `ranges [10, 50) → "s1" and [40, 60) → "s2" overlap, and neither`},
		{"nested twice the same", []KeyRange{{0, 100, "s0"}, {10, 50, "s1"}, {10, 50, "s2"}}, "they cover the same keys"},
		{"gap beside a nest", []KeyRange{{0, 100, "s0"}, {10, 50, "s1"}, {110, 120, "s2"}}, `gap between [0, 100) → "s0" and [110, 120) → "s2"`},
		{"nested unknown shard", []KeyRange{{0, 100, "s0"}, {10, 50, "s9"}}, `unknown shard "s9"`},
		{"two fully unbounded", []KeyRange{{nil, nil, "s0"}, {nil, nil, "s1"}}, "overlap"},
		{"float bound", []KeyRange{{0.5, 10, "s0"}}, "float64"},
		{"nil pointer bound", []KeyRange{{nilPtr, 10, "s0"}}, "NULL"},
		{"unknown shard", []KeyRange{{0, 10, "s0"}, {10, 20, "s9"}}, `unknown shard "s9"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := Range(c.ranges...)
			err := st.Validate(fourShards)
			require.ErrorIs(t, err, ErrInvalidStrategy)
			var se *StrategyError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, "range", se.Strategy)
			assert.Contains(t, err.Error(), c.msg)
			if !strings.Contains(c.name, "unknown shard") {
				_, err = st.Map(context.Background(), fourShards, []Key{IntKey(5)})
				require.ErrorIs(t, err, ErrInvalidStrategy, "Map of an invalid strategy fails")
			}
		})
	}
}

// A range inside another splits it: its keys go to its shard while the
// list Map is given has that shard, else to the enclosing range's.
func TestRangeNested(t *testing.T) {
	keys := func(ns ...int64) []Key {
		out := make([]Key, len(ns))
		for i, n := range ns {
			out[i] = IntKey(n)
		}
		return out
	}
	cases := []struct {
		name   string
		ranges []KeyRange
		shards []string
		keys   []Key
		want   []string
	}{
		{"a split, its shard pending", []KeyRange{{nil, 100, "s0"}, {100, nil, "s1"}, {150, 200, "s2"}},
			[]string{"s0", "s1"}, keys(99, 100, 150, 199, 200), []string{"s0", "s1", "s1", "s1", "s1"}},
		{"a split, its shard added", []KeyRange{{nil, 100, "s0"}, {100, nil, "s1"}, {150, 200, "s2"}},
			[]string{"s0", "s1", "s2"}, keys(99, 100, 149, 150, 199, 200), []string{"s0", "s1", "s1", "s2", "s2", "s1"}},
		{"nested three deep, listed in any order", []KeyRange{{20, 30, "s3"}, {0, 100, "s0"}, {10, 50, "s1"}},
			fourShards, keys(0, 10, 19, 20, 29, 30, 50, 99), []string{"s0", "s1", "s1", "s3", "s3", "s1", "s0", "s0"}},
		{"the middle level left out", []KeyRange{{20, 30, "s3"}, {0, 100, "s0"}, {10, 50, "s1"}},
			[]string{"s0", "s3"}, keys(15, 25, 35), []string{"s0", "s3", "s0"}},
		{"nested at an edge", []KeyRange{{0, 100, "s0"}, {0, 10, "s1"}, {90, 100, "s2"}},
			fourShards, keys(0, 9, 10, 89, 90, 99), []string{"s1", "s1", "s0", "s0", "s2", "s2"}},
		{"inside an unbounded range", []KeyRange{{0, nil, "s0"}, {10, 20, "s1"}},
			fourShards, keys(0, 10, 20, math.MaxInt64), []string{"s0", "s1", "s0", "s0"}},
		{"two unbounded below", []KeyRange{{nil, 10, "s0"}, {nil, 5, "s1"}},
			fourShards, keys(math.MinInt64, 4, 5, 9), []string{"s1", "s1", "s0", "s0"}},
		{"inside a whole-line range", []KeyRange{{nil, nil, "s0"}, {nil, 0, "s1"}, {5, 6, "s2"}},
			fourShards, keys(-1, 0, 5, 6), []string{"s1", "s0", "s2", "s0"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := Range(c.ranges...)
			require.NoError(t, st.Validate(fourShards))
			got, err := st.Map(context.Background(), c.shards, c.keys)
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
		})
	}
	st := Range(KeyRange{0, 100, "s0"}, KeyRange{10, 20, "s1"})
	_, err := st.Map(context.Background(), []string{"s2"}, keys(15))
	require.ErrorIs(t, err, ErrNoShardForKey)
	assert.Contains(t, err.Error(), `its ranges name shards "s1", "s0", which the cluster lacks`)
}

// Range copies its configuration: changing the caller's slice later does not
// change routing.
func TestRangeIsImmutable(t *testing.T) {
	rs := []KeyRange{{nil, 10, "s0"}, {10, nil, "s1"}}
	st := Range(rs...)
	rs[0].Shard = "s3"
	got, err := st.Map(context.Background(), fourShards, []Key{IntKey(1)})
	require.NoError(t, err)
	assert.Equal(t, []string{"s0"}, got)
}

func FuzzRange(f *testing.F) {
	for _, s := range []struct {
		i int64
		s string
		n uint8
	}{{0, "", 0}, {-1, "m", 1}, {999, "zz", 7}, {math.MaxInt64, "\x00", 63}, {math.MinInt64, "é", 200}} {
		f.Add(s.i, s.s, s.n)
	}
	f.Fuzz(func(t *testing.T, i int64, s string, n uint8) {
		shards := fuzzShards(n)
		// one range per shard, boundaries every 1000 from -1000*len/2, ends unbounded
		ints := make([]KeyRange, len(shards))
		strs := make([]KeyRange, len(shards))
		lo := -1000 * int64(len(shards)/2)
		for j, sh := range shards {
			ints[j] = KeyRange{lo + int64(j)*1000, lo + int64(j+1)*1000, sh}
			strs[j] = KeyRange{string(rune('A' + j)), string(rune('A' + j + 1)), sh}
		}
		ints[0].From, ints[len(ints)-1].To = nil, nil
		strs[len(strs)-1].To = nil
		for _, c := range []struct {
			st  Strategy
			key Key
		}{{Range(ints...), IntKey(i)}, {Range(strs...), StringKey(s)}} {
			require.NoError(t, c.st.Validate(shards))
			a, errA := c.st.Map(context.Background(), shards, []Key{c.key})
			b, errB := c.st.Map(context.Background(), shards, []Key{c.key})
			require.Equal(t, errA, errB)
			require.Equal(t, a, b)
			if errA != nil {
				require.ErrorIs(t, errA, ErrNoShardForKey)
				require.Equal(t, KindString, c.key.Kind(), "int ranges cover everything")
				require.Less(t, c.key.Compare(StringKey("A")), 0)
				continue
			}
			require.Contains(t, shards, a[0])
			// the chosen range really contains the key
			j := shardIndex(shards, a[0])
			r := ints[j]
			if c.key.Kind() == KindString {
				r = strs[j]
			}
			if r.From != nil {
				from, _ := Normalize(r.From)
				require.GreaterOrEqual(t, c.key.Compare(from), 0)
			}
			if r.To != nil {
				to, _ := Normalize(r.To)
				require.Less(t, c.key.Compare(to), 0)
			}
		}
	})
}

// Random ranges, overlapping or not, against a brute-force reading of the
// rules: valid exactly when every two ranges are disjoint or one lies
// strictly inside the other and the outermost ones leave no gap; a key
// goes to the innermost range containing it whose shard is listed.
func TestRangeAgainstBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 14))
	type span struct {
		from, to int64 // -1 and 31: unbounded
		shard    string
	}
	contains := func(a span, k int64) bool { return (a.from < 0 || k >= a.from) && (a.to > 30 || k < a.to) }
	inside := func(a, b span) bool { // a within b, not equal
		lo := b.from < 0 || (a.from >= 0 && a.from >= b.from)
		hi := b.to > 30 || (a.to <= 30 && a.to <= b.to)
		return lo && hi && a != span{b.from, b.to, a.shard}
	}
	var valid, invalid, wrong int
	for range 20000 {
		n := 1 + rng.IntN(5)
		spans := make([]span, n)
		ranges := make([]KeyRange, n)
		for i := range spans {
			a, b := int64(rng.IntN(32))-1, int64(rng.IntN(32))-1
			if a > b {
				a, b = b, a
			}
			if b < 0 { // both unbounded below: a whole line
				b = 31
			}
			if a == b || (a >= 0 && b >= 0 && b <= 30 && a >= b) {
				b = a + 1 + int64(rng.IntN(3))
			}
			spans[i] = span{a, b, fourShards[rng.IntN(4)]}
			ranges[i].Shard = spans[i].shard
			if a >= 0 {
				ranges[i].From = a
			}
			if b <= 30 {
				ranges[i].To = b
			}
		}
		ok := true
		for i := range spans {
			for j := range i {
				a, b := spans[i], spans[j]
				disjoint := (a.to <= 30 && b.from >= 0 && a.to <= b.from) || (b.to <= 30 && a.from >= 0 && b.to <= a.from)
				if !disjoint && !inside(a, b) && !inside(b, a) {
					ok = false
				}
			}
		}
		for k := int64(-5); ok && k < 36; k++ { // no gap inside the covered stretch
			if !slices.ContainsFunc(spans, func(s span) bool { return contains(s, k) }) &&
				slices.ContainsFunc(spans, func(s span) bool { return s.to <= 30 && s.to <= k }) &&
				slices.ContainsFunc(spans, func(s span) bool { return s.from > k }) {
				ok = false
			}
		}
		st := Range(ranges...)
		if err := st.Validate(fourShards); (err == nil) != ok {
			wrong++
			t.Logf("%v: valid %v, Validate says %v", ranges, ok, err)
			continue
		}
		if !ok {
			invalid++
			continue
		}
		valid++
		listed := fourShards[:1+rng.IntN(4)]
		for k := int64(-5); k < 36; k++ {
			want := ""
			width := int64(math.MaxInt64)
			for _, s := range spans {
				lo, hi := max(s.from, -100), s.to
				if s.to > 30 {
					hi = 100
				}
				if contains(s, k) && slices.Contains(listed, s.shard) && hi-lo < width {
					want, width = s.shard, hi-lo
				}
			}
			got, err := st.Map(context.Background(), listed, []Key{IntKey(k)})
			if want == "" {
				if err == nil {
					wrong++
					t.Logf("%v over %v: key %d maps to %v, expected no shard", ranges, listed, k, got)
				}
			} else if err != nil || got[0] != want {
				wrong++
				t.Logf("%v over %v: key %d maps to %v (%v), expected %s", ranges, listed, k, got, err, want)
			}
		}
	}
	t.Logf("%d valid and %d invalid sets of ranges, %d wrong answers", valid, invalid, wrong)
	assert.Zero(t, wrong)
	assert.Greater(t, valid, 1000)
	assert.Greater(t, invalid, 1000)
}
