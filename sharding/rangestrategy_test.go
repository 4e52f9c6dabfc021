package sharding

import (
	"context"
	"math"
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
		{"nil From inside", []KeyRange{{0, 10, "s0"}, {nil, 5, "s1"}}, "overlap"},
		{"two unbounded below", []KeyRange{{nil, 10, "s0"}, {nil, 5, "s1"}}, "unbounded below"},
		{"nil To inside", []KeyRange{{0, nil, "s0"}, {10, 20, "s1"}}, "unbounded above"},
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
			if c.name != "unknown shard" {
				_, err = st.Map(context.Background(), fourShards, []Key{IntKey(5)})
				require.ErrorIs(t, err, ErrInvalidStrategy, "Map of an invalid strategy fails")
			}
		})
	}
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
