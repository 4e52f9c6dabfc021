package sharding

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fuzzShards returns 1..64 shard names, derived from n.
func fuzzShards(n uint8) []string {
	out := make([]string, int(n)%64+1)
	for i := range out {
		out[i] = "s" + strconv.Itoa(i)
	}
	return out
}

var t2024 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// everyStrategy returns one configured instance of each built-in strategy
// that accepts the given key kind, for shards s0..s3.
func everyStrategy() map[string]Strategy {
	dir := map[string]string{"1": "s1", "42": "s2", "a": "s3"}
	return map[string]Strategy{
		"modulo": Modulo(),
		"hash":   Hash(),
		"jump":   JumpHash(),
		"range":  Range(KeyRange{nil, 10, "s0"}, KeyRange{10, 100, "s1"}, KeyRange{100, nil, "s2"}),
		"time":   TimeInterval(TimeIntervalConfig{Start: t2024, Every: Monthly}),
		"lookup": Lookup(LookupConfig{Source: LookupFunc(func(_ context.Context, keys []Key) (map[string]string, error) {
			return dir, nil
		})}),
		"func": Func("", func(_ context.Context, k Key) (string, error) { return "s" + strconv.Itoa(int(uint64(k.Int())%4)), nil }),
	}
}

var fourShards = []string{"s0", "s1", "s2", "s3"}

func TestModulo(t *testing.T) {
	cases := []struct {
		key  Key
		want string
		err  error
		msg  string
	}{
		{IntKey(0), "s0", nil, ""},
		{IntKey(1), "s1", nil, ""},
		{IntKey(7), "s3", nil, ""},
		{IntKey(1 << 62), "s0", nil, ""},
		{IntKey(-3), "", ErrNoShardForKey, "negative key -3 has no shard under modulo"},
		{StringKey("7"), "", ErrKeyType, `modulo: key "7"`},
		{TimeKey(t2024), "", ErrKeyType, "modulo needs integer keys, got a time key"},
		{Key{}, "", ErrNullKey, "key NULL"},
	}
	for _, c := range cases {
		t.Run(c.key.display(), func(t *testing.T) {
			got, err := Modulo().Map(context.Background(), fourShards, []Key{c.key})
			if c.err != nil {
				require.ErrorIs(t, err, c.err)
				var ke *KeyError
				require.ErrorAs(t, err, &ke)
				assert.Equal(t, "modulo", ke.Strategy)
				assert.Contains(t, err.Error(), c.msg)
				assert.Nil(t, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, []string{c.want}, got)
		})
	}
	got, err := Modulo().Map(context.Background(), fourShards, []Key{IntKey(5), IntKey(2), IntKey(5)})
	require.NoError(t, err)
	assert.Equal(t, []string{"s1", "s2", "s1"}, got)
}

func TestFunc(t *testing.T) {
	boom := errors.New("boom")
	st := Func("by-region", func(_ context.Context, k Key) (string, error) {
		switch k.String() {
		case "eu":
			return "s0", nil
		case "us":
			return "s1", nil
		case "mars":
			return "s9", nil
		case "err":
			return "", boom
		}
		return "", fmt.Errorf("%w: unknown region", ErrNoShardForKey)
	})
	assert.Equal(t, "by-region", st.Name())
	assert.Equal(t, "func", Func("", nil).Name())
	require.NoError(t, st.Validate(fourShards))
	got, err := st.Map(context.Background(), fourShards, []Key{StringKey("us"), StringKey("eu")})
	require.NoError(t, err)
	assert.Equal(t, []string{"s1", "s0"}, got)

	_, err = st.Map(context.Background(), fourShards, []Key{StringKey("mars")})
	require.ErrorIs(t, err, ErrNoShardForKey)
	assert.Contains(t, err.Error(), `by-region: key "mars"`)
	assert.Contains(t, err.Error(), `"s9"`)
	_, err = st.Map(context.Background(), fourShards, []Key{StringKey("err")})
	require.ErrorIs(t, err, boom)
	_, err = st.Map(context.Background(), fourShards, []Key{StringKey("pluto")})
	require.ErrorIs(t, err, ErrNoShardForKey)
	_, err = st.Map(context.Background(), fourShards, []Key{{}})
	require.ErrorIs(t, err, ErrNullKey)

	require.ErrorIs(t, Func("f", nil).Validate(fourShards), ErrInvalidStrategy)
	_, err = Func("f", nil).Map(context.Background(), fourShards, []Key{IntKey(1)})
	require.ErrorIs(t, err, ErrInvalidStrategy)
}

func TestValidateClusterShards(t *testing.T) {
	for name, st := range everyStrategy() {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, st.Validate(fourShards))
			for _, bad := range [][]string{nil, {}, {"s0", ""}, {"s0", "s1", "s0"}} {
				err := st.Validate(bad)
				require.ErrorIs(t, err, ErrInvalidStrategy, "%q", bad)
				var se *StrategyError
				require.ErrorAs(t, err, &se)
				assert.Equal(t, st.Name(), se.Strategy)
			}
		})
	}
}

// Map never panics, and with no shards always fails.
func TestMapEdgeCases(t *testing.T) {
	keys := []Key{{}, IntKey(-1), IntKey(0), IntKey(42), StringKey(""), StringKey("a"), TimeKey(time.Time{}), TimeKey(t2024)}
	for name, st := range everyStrategy() {
		t.Run(name, func(t *testing.T) {
			for _, shards := range [][]string{nil, {}} {
				_, err := st.Map(context.Background(), shards, []Key{IntKey(1)})
				require.ErrorIs(t, err, ErrInvalidStrategy)
			}
			out, err := st.Map(context.Background(), fourShards, nil)
			require.NoError(t, err)
			assert.Empty(t, out)
			for _, k := range keys {
				out, err := st.Map(context.Background(), fourShards, []Key{k})
				if err != nil {
					var ke *KeyError
					require.ErrorAs(t, err, &ke, "%v", err)
					assert.Equal(t, st.Name(), ke.Strategy)
					assert.True(t, errors.Is(err, ErrNoShardForKey) || errors.Is(err, ErrKeyType) || errors.Is(err, ErrNullKey), "%v", err)
					continue
				}
				require.Len(t, out, 1)
				assert.Contains(t, fourShards, out[0])
			}
		})
	}
}

func TestErrorMessages(t *testing.T) {
	se := &StrategyError{Strategy: "range", Problem: "ranges overlap"}
	assert.Equal(t, "grant: invalid range strategy: ranges overlap", se.Error())
	assert.ErrorIs(t, se, ErrInvalidStrategy)
	ke := &KeyError{Strategy: "hash", Key: `"x"`, Err: ErrNullKey}
	assert.Equal(t, `grant: hash: key "x": shard key is NULL`, ke.Error())
	assert.ErrorIs(t, ke, ErrNullKey)
	assert.Equal(t, "grant: key 1.5 (Go type float64): shard key has an unusable type", (&KeyError{Key: "1.5 (Go type float64)", Err: ErrKeyType}).Error())
	assert.Equal(t, `""`, StringKey("").display())
	assert.Equal(t, `"`+strings.Repeat("x", 64)+`"...`, StringKey(strings.Repeat("x", 100)).display())
	err := Range(KeyRange{1, 5, "s9"}).Validate(fourShards)
	assert.EqualError(t, err, `grant: invalid range strategy: unknown shard "s9" (cluster shards: "s0", "s1", "s2", "s3")`)
}

func FuzzModulo(f *testing.F) {
	for _, i := range []int64{0, 1, -1, 63, 64, 1 << 62, -1 << 63, 1<<63 - 1} {
		f.Add(i, "", uint8(i))
	}
	f.Fuzz(func(t *testing.T, i int64, _ string, n uint8) {
		shards := fuzzShards(n)
		a, err := Modulo().Map(context.Background(), shards, []Key{IntKey(i)})
		if i < 0 {
			require.ErrorIs(t, err, ErrNoShardForKey)
			return
		}
		require.NoError(t, err)
		b, _ := Modulo().Map(context.Background(), shards, []Key{IntKey(i)})
		require.Equal(t, a, b)
		require.Equal(t, shards[i%int64(len(shards))], a[0])
	})
}

func BenchmarkMapOne(b *testing.B) {
	ctx := context.Background()
	shards := []string{"s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7"}
	ranges := make([]KeyRange, len(shards))
	for i, s := range shards {
		ranges[i] = KeyRange{From: i * 1000, To: (i + 1) * 1000, Shard: s}
	}
	ranges[0].From, ranges[len(ranges)-1].To = nil, nil
	dir := LookupFunc(func(_ context.Context, keys []Key) (map[string]string, error) {
		return map[string]string{keys[0].String(): "s3"}, nil
	})
	intKey := []Key{IntKey(4321)}
	timeKey := []Key{TimeKey(time.Date(2024, 5, 17, 10, 0, 0, 0, time.UTC))}
	cases := []struct {
		name string
		st   Strategy
		keys []Key
	}{
		{"modulo", Modulo(), intKey},
		{"hash", Hash(), intKey},
		{"jump", JumpHash(), intKey},
		{"range", Range(ranges...), intKey},
		{"range-split", Range(append(ranges, KeyRange{From: 4000, To: 4500, Shard: "s7"})...), intKey},
		{"time", TimeInterval(TimeIntervalConfig{Start: t2024, Every: Monthly, Wrap: true}), timeKey},
		{"time-every", TimeInterval(TimeIntervalConfig{Start: t2024, Every: Every(time.Hour), Wrap: true}), timeKey},
		{"lookup", Lookup(LookupConfig{Source: dir}), intKey},
		{"func", Func("", func(_ context.Context, k Key) (string, error) { return shards[k.Int()%8], nil }), intKey},
	}
	for _, c := range cases {
		if err := c.st.Validate(shards); err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.st.Map(ctx, shards, c.keys); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzFunc: a user function may return any string; Map never panics and
// either returns a configured shard or fails with an error naming the
// strategy.
func FuzzFunc(f *testing.F) {
	f.Add(int64(1), "s0", uint8(3), false)
	f.Add(int64(-1), "elsewhere", uint8(0), false)
	f.Add(int64(7), "", uint8(63), true)
	f.Fuzz(func(t *testing.T, i int64, answer string, n uint8, fail bool) {
		shards := fuzzShards(n)
		st := Func("fuzzed", func(_ context.Context, k Key) (string, error) {
			if fail {
				return "", errors.New("directory down")
			}
			return answer, nil
		})
		require.NoError(t, st.Validate(shards))
		got, err := st.Map(context.Background(), shards, []Key{IntKey(i), StringKey(answer)})
		if err != nil {
			require.Contains(t, err.Error(), "fuzzed")
			return
		}
		for _, s := range got {
			require.Contains(t, shards, s)
		}
	})
}

// MapKeyIndex is MapKey by position: the same shard for every key, every
// shard count, every strategy that has it.
func TestMapKeyIndexAgreesWithMap(t *testing.T) {
	ctx := context.Background()
	keys := []Key{IntKey(0), IntKey(7), IntKey(1 << 40), StringKey("a"), StringKey("customer-42"), TimeKey(time.Unix(1700000000, 5))}
	for _, s := range []Strategy{Modulo(), Hash(), JumpHash()} {
		im := s.(IndexMapper)
		for _, n := range []int{1, 2, 3, 4, 7, 64, 1024} {
			shards := make([]string, n)
			for i := range shards {
				shards[i] = fmt.Sprintf("s%d", i)
			}
			for _, k := range keys {
				names, mapErr := s.Map(ctx, shards, []Key{k})
				i, err := im.MapKeyIndex(ctx, n, k)
				if mapErr != nil {
					require.Error(t, err, "%s %v", s.Name(), k)
					continue
				}
				require.NoError(t, err)
				require.Equal(t, names[0], shards[i], "%s, %d shards, key %v", s.Name(), n, k)
			}
		}
	}
}
