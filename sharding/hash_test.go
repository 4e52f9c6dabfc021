package sharding

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// goldenKeys are extra keys (beyond the golden table) for cross-checks.
func goldenKeys() []Key {
	var ks []Key
	for _, i := range []int64{0, 1, -1, 2, 7, 42, 1000, -1000, 1 << 32, 123456789, math.MaxInt64, math.MinInt64} {
		ks = append(ks, IntKey(i))
	}
	for _, s := range []string{"", "a", "abc", "0", "42", "hello", "customer-1", "customer-2", "shard", "Ünïcödé", "550e8400-e29b-41d4-a716-446655440000", "The quick brown fox jumps over the lazy dog"} {
		ks = append(ks, StringKey(s))
	}
	for _, tm := range []time.Time{
		time.Unix(0, 0), time.Unix(0, 1), time.Unix(-1, 0),
		time.Date(1999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 2, 29, 12, 34, 56, 789000000, time.UTC),
		time.Date(2024, 6, 15, 0, 0, 0, 0, time.UTC),
		time.Date(2025, 12, 31, 23, 0, 0, 0, time.UTC),
		time.Date(2038, 1, 19, 3, 14, 7, 0, time.UTC),
		time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2262, 4, 11, 23, 47, 16, 854775807, time.UTC),
	} {
		ks = append(ks, TimeKey(tm))
	}
	return ks
}

func timeKey(s string) Key {
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return TimeKey(tm)
}

// golden pins the hash function, the key encodings and the jump hash: a
// failure here means keys would move between shards across releases.
var golden = []struct {
	key          Key
	hash         uint64
	mod4, mod7   uint64 // Hash: shard index with 4 and 7 shards
	jump4, jump7 int    // JumpHash: shard index with 4 and 7 shards
}{
	{IntKey(0), 0xa8c7f832281a39c5, 1, 5, 3, 3},
	{IntKey(1), 0xa8c7f732281a3812, 2, 2, 0, 0},
	{IntKey(-1), 0x8cf51a8bfca3883d, 1, 6, 0, 0},
	{IntKey(2), 0xa8c7f632281a365f, 3, 6, 1, 5},
	{IntKey(7), 0xa8c7f132281a2de0, 0, 5, 1, 1},
	{IntKey(42), 0xa8c7de32281a0d97, 3, 4, 0, 0},
	{IntKey(1000), 0xa8cbb632281db276, 2, 1, 3, 3},
	{IntKey(-1000), 0x8cffb58bfcace423, 3, 0, 1, 1},
	{IntKey(4294967296), 0x9c191507aacacf62, 2, 0, 3, 3},
	{IntKey(123456789), 0xa7d8201a3583d921, 1, 0, 3, 3},
	{IntKey(9223372036854775807), 0x2338a5f81f5ba4bd, 1, 0, 2, 2},
	{IntKey(-9223372036854775808), 0x262b7cb79fbf4a45, 1, 2, 1, 1},
	{StringKey(""), 0xcbf29ce484222325, 1, 2, 1, 1},
	{StringKey("a"), 0xaf63dc4c8601ec8c, 0, 5, 2, 2},
	{StringKey("abc"), 0xe71fa2190541574b, 3, 5, 3, 5},
	{StringKey("0"), 0xaf63ad4c86019caf, 3, 4, 0, 6},
	{StringKey("42"), 0x07ee7e07b4b19223, 3, 5, 1, 4},
	{StringKey("hello"), 0xa430d84680aabd0b, 3, 5, 2, 2},
	{StringKey("customer-1"), 0x66030aab83c70157, 3, 6, 0, 0},
	{StringKey("customer-2"), 0x66030bab83c7030a, 2, 2, 3, 3},
	{StringKey("shard"), 0x6e308f493acb8a0b, 3, 0, 3, 4},
	{StringKey("Ünïcödé"), 0x02ccbad8d957a6b2, 2, 0, 0, 4},
	{StringKey("550e8400-e29b-41d4-a716-446655440000"), 0xfbb0538ee83a5048, 0, 1, 3, 4},
	{StringKey("The quick brown fox jumps over the lazy dog"), 0xf3f9b7f5e7e47110, 0, 5, 2, 2},
	{timeKey("1970-01-01T00:00:00Z"), 0xa8c7f832281a39c5, 1, 5, 3, 3},
	{timeKey("1970-01-01T00:00:00.000000001Z"), 0xa8c7f732281a3812, 2, 2, 0, 0},
	{timeKey("1969-12-31T23:59:59Z"), 0xb678d4bdb5e8fac8, 0, 2, 2, 2},
	{timeKey("1999-12-31T23:59:59.999999999Z"), 0x10e7d84ad243d5ba, 2, 4, 1, 1},
	{timeKey("2000-01-01T00:00:00Z"), 0x1a89ac4ad7ff0cef, 3, 3, 1, 1},
	{timeKey("2024-01-01T00:00:00Z"), 0x27ef20927bfe3653, 3, 6, 1, 1},
	{timeKey("2024-02-29T12:34:56.789Z"), 0xff37d4b3adfa7325, 1, 4, 1, 4},
	{timeKey("2024-06-15T00:00:00Z"), 0x535f6c80f9af189d, 1, 5, 3, 4},
	{timeKey("2025-12-31T23:00:00Z"), 0x61b54e5541fb3bbb, 3, 4, 1, 4},
	{timeKey("2038-01-19T03:14:07Z"), 0x33adbf543c5a6a13, 3, 0, 3, 3},
	{timeKey("1900-01-01T00:00:00Z"), 0xc49ca9c9d01b51e3, 3, 4, 3, 3},
	{timeKey("2262-04-11T23:47:16.854775807Z"), 0x2338a5f81f5ba4bd, 1, 0, 2, 2},
}

func TestHashGolden(t *testing.T) {
	ctx := context.Background()
	four, seven := fuzzShards(3), fuzzShards(6)
	for _, g := range golden {
		t.Run(g.key.display(), func(t *testing.T) {
			require.Equal(t, g.hash, Hash64(g.key), "Hash64")
			h := fnv.New64a()
			h.Write(g.key.Bytes())
			require.Equal(t, g.hash, h.Sum64(), "hash/fnv over Key.Bytes")
			for _, c := range []struct {
				st     Strategy
				shards []string
				want   int
			}{
				{Hash(), four, int(g.mod4)}, {Hash(), seven, int(g.mod7)},
				{JumpHash(), four, g.jump4}, {JumpHash(), seven, g.jump7},
			} {
				got, err := c.st.Map(ctx, c.shards, []Key{g.key})
				require.NoError(t, err)
				assert.Equal(t, c.shards[c.want], got[0], "%s over %d shards", c.st.Name(), len(c.shards))
			}
		})
	}
}

func TestHash64MatchesFNV(t *testing.T) {
	keys := goldenKeys()
	for i := int64(-500); i < 500; i++ {
		keys = append(keys, IntKey(i*7919), StringKey(strings.Repeat("x", int(i+500)%37)+fmt.Sprint(i)),
			TimeKey(time.Unix(i*86400*365, i*1234567)))
	}
	for _, k := range keys {
		h := fnv.New64a()
		h.Write(k.Bytes())
		require.Equal(t, h.Sum64(), Hash64(k), "%v", k)
	}
}

func TestHashSameForUUIDValueAndString(t *testing.T) {
	u := [16]byte{0x55, 0x0e, 0x84, 0x00, 0xe2, 0x9b, 0x41, 0xd4, 0xa7, 0x16, 0x44, 0x66, 0x55, 0x44, 0x00, 0x00}
	a, err := Normalize(rawUUID(u))
	require.NoError(t, err)
	b, err := Normalize("550e8400-e29b-41d4-a716-446655440000")
	require.NoError(t, err)
	require.Equal(t, a, b)
	require.Equal(t, Hash64(a), Hash64(b))
}

func TestHashSpread(t *testing.T) {
	shards := fuzzShards(7)
	keys := make([]Key, 80000)
	for i := range keys {
		keys[i] = StringKey(fmt.Sprintf("customer-%d", i))
	}
	for _, st := range []Strategy{Hash(), JumpHash()} {
		out, err := st.Map(context.Background(), shards, keys)
		require.NoError(t, err)
		count := map[string]int{}
		for _, s := range out {
			count[s]++
		}
		for _, s := range shards {
			assert.InDelta(t, 10000, count[s], 500, "%s: shard %s", st.Name(), s)
		}
	}
}

// jumpMovement maps the keys 0..keys-1 (as Int keys) over n and n+1 shards
// and returns how many changed shard, and whether every change went to the
// new shard.
func jumpMovement(t testing.TB, n, keys int) (moved int, onlyToNew bool) {
	all := fuzzShards(uint8(n))
	ks := make([]Key, keys)
	for i := range ks {
		ks[i] = IntKey(int64(i))
	}
	before, err := JumpHash().Map(context.Background(), all[:n], ks)
	require.NoError(t, err)
	after, err := JumpHash().Map(context.Background(), all[:n+1], ks)
	require.NoError(t, err)
	onlyToNew = true
	for i := range ks {
		if before[i] != after[i] {
			moved++
			onlyToNew = onlyToNew && after[i] == all[n]
		}
	}
	return moved, onlyToNew
}

// TestJumpHashMovement measures the keys moved by growing N → N+1 shards;
// run with -v to print the table in docs/sharding-strategies.md:
//
//	go test -run '^TestJumpHashMovement$' -v ./sharding/
func TestJumpHashMovement(t *testing.T) {
	const keys = 100000
	t.Log("| N → N+1 | keys moved | moved fraction | expected 1/(N+1) | deviation |")
	t.Log("|---|---|---|---|---|")
	for n := 1; n <= 16; n++ {
		moved, onlyToNew := jumpMovement(t, n, keys)
		frac, want := float64(moved)/keys, 1/float64(n+1)
		dev := (frac - want) / want
		t.Logf("| %d → %d | %d | %.4f | %.4f | %+.2f%% |", n, n+1, moved, frac, want, dev*100)
		assert.InDelta(t, 0, dev, 0.10, "N=%d: moved %.4f, want %.4f ±10%%", n, frac, want)
		assert.True(t, onlyToNew, "N=%d: a key moved to an old shard", n)
	}
}

func TestModuloAndHashMoveMost(t *testing.T) {
	// the contrast that motivates JumpHash: growing 4 → 5 shards
	ks := make([]Key, 10000)
	for i := range ks {
		ks[i] = IntKey(int64(i))
	}
	for _, st := range []Strategy{Modulo(), Hash()} {
		a, err := st.Map(context.Background(), fuzzShards(3), ks)
		require.NoError(t, err)
		b, err := st.Map(context.Background(), fuzzShards(4), ks)
		require.NoError(t, err)
		moved := 0
		for i := range a {
			if a[i] != b[i] {
				moved++
			}
		}
		assert.InDelta(t, 0.8, float64(moved)/float64(len(ks)), 0.02, st.Name())
	}
}

func TestJump(t *testing.T) {
	for _, n := range []int{-1, 0, 1} {
		assert.Equal(t, 0, Jump(12345, n))
	}
	for i := uint64(0); i < 1000; i++ {
		for _, n := range []int{2, 3, 10, 1000, 1 << 20, 1 << 40} {
			b := Jump(i*0x9e3779b97f4a7c15, n)
			require.True(t, b >= 0 && b < n)
		}
	}
}

func fuzzHashing(f *testing.F, st Strategy) {
	for _, s := range []struct {
		i int64
		s string
		n uint8
	}{{0, "", 0}, {1, "a", 1}, {-1, "customer-1", 3}, {math.MaxInt64, "\xff", 63}, {math.MinInt64, "é", 255}} {
		f.Add(s.i, s.s, s.n)
	}
	f.Fuzz(func(t *testing.T, i int64, s string, n uint8) {
		shards := fuzzShards(n)
		keys := []Key{IntKey(i), StringKey(s), TimeKey(time.Unix(i, int64(n)))}
		a, err := st.Map(context.Background(), shards, keys)
		require.NoError(t, err)
		b, err := st.Map(context.Background(), shards, keys)
		require.NoError(t, err)
		require.Equal(t, a, b)
		for _, got := range a {
			require.Contains(t, shards, got)
		}
		if len(shards) > 1 && st.Name() == "jump" {
			// growing by one shard moves a key to the new shard or not at all
			c, err := st.Map(context.Background(), shards[:len(shards)-1], keys)
			require.NoError(t, err)
			for j := range keys {
				if c[j] != a[j] {
					require.Equal(t, shards[len(shards)-1], a[j])
				}
			}
		}
	})
}

func FuzzHash(f *testing.F)     { fuzzHashing(f, Hash()) }
func FuzzJumpHash(f *testing.F) { fuzzHashing(f, JumpHash()) }
