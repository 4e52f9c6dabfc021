package sharding

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/glebarez/sqlite" // database/sql driver "sqlite"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// countingSource answers from a map and records every key it was asked.
type countingSource struct {
	mu    sync.Mutex
	dir   map[string]string
	calls int
	asked []string
}

func (c *countingSource) LookupShards(_ context.Context, keys []Key) (map[string]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	out := map[string]string{}
	for _, k := range keys {
		c.asked = append(c.asked, k.String())
		if s, ok := c.dir[k.String()]; ok {
			out[k.String()] = s
		}
	}
	return out, nil
}

func (c *countingSource) reset() ([]string, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, n := c.asked, c.calls
	c.asked, c.calls = nil, 0
	sort.Strings(a)
	return a, n
}

// cached reports how many entries the cache holds.
func (l *lookupStrategy) cached() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lru == nil {
		return 0
	}
	return l.lru.Len()
}

func TestLookupFetchesOnlyMisses(t *testing.T) {
	src := &countingSource{dir: map[string]string{"1": "s1", "2": "s2", "3": "s3", "alice": "s0", "bad": "nowhere"}}
	st := Lookup(LookupConfig{Source: src})
	assert.Equal(t, "lookup", st.Name())
	require.NoError(t, st.Validate(fourShards))
	ctx := context.Background()

	got, err := st.Map(ctx, fourShards, []Key{IntKey(1), IntKey(2), IntKey(1)})
	require.NoError(t, err)
	assert.Equal(t, []string{"s1", "s2", "s1"}, got)
	asked, calls := src.reset()
	assert.Equal(t, []string{"1", "2"}, asked, "duplicates asked once")
	assert.Equal(t, 1, calls)

	got, err = st.Map(ctx, fourShards, []Key{IntKey(2), IntKey(3), StringKey("alice"), IntKey(1)})
	require.NoError(t, err)
	assert.Equal(t, []string{"s2", "s3", "s0", "s1"}, got)
	asked, calls = src.reset()
	assert.Equal(t, []string{"3", "alice"}, asked, "only the keys the cache missed")
	assert.Equal(t, 1, calls)

	got, err = st.Map(ctx, fourShards, []Key{IntKey(3), IntKey(1)})
	require.NoError(t, err)
	assert.Equal(t, []string{"s3", "s1"}, got)
	_, calls = src.reset()
	assert.Zero(t, calls, "cache hits never call the source")

	// a miss names the key; misses are not cached
	_, err = st.Map(ctx, fourShards, []Key{IntKey(1), IntKey(99)})
	require.ErrorIs(t, err, ErrNoShardForKey)
	assert.EqualError(t, err, "grant: lookup: key 99: no shard for key: the lookup source has no entry for it")
	_, err = st.Map(ctx, fourShards, []Key{IntKey(99)})
	require.ErrorIs(t, err, ErrNoShardForKey)
	asked, _ = src.reset()
	assert.Equal(t, []string{"99", "99"}, asked)

	// a shard the cluster lacks is an error, not cached
	_, err = st.Map(ctx, fourShards, []Key{StringKey("bad")})
	require.ErrorIs(t, err, ErrNoShardForKey)
	assert.Contains(t, err.Error(), `key "bad"`)
	assert.Contains(t, err.Error(), `"nowhere", which the cluster lacks`)
	assert.Equal(t, 4, st.(*lookupStrategy).cached())

	// a cached shard missing from this call's shards is asked again
	src.reset()
	_, err = st.Map(ctx, []string{"s0", "s2"}, []Key{IntKey(1)})
	require.ErrorIs(t, err, ErrNoShardForKey)
	_, calls = src.reset()
	assert.Equal(t, 1, calls)

	_, err = st.Map(ctx, fourShards, []Key{{}})
	require.ErrorIs(t, err, ErrNullKey)
}

func TestLookupCacheBound(t *testing.T) {
	src := &countingSource{dir: map[string]string{}}
	for i := 0; i < 100; i++ {
		src.dir[strconv.Itoa(i)] = fourShards[i%4]
	}
	st := Lookup(LookupConfig{Source: src, CacheSize: 10}).(*lookupStrategy)
	ctx := context.Background()
	for i := 0; i < 100; i++ {
		_, err := st.Map(ctx, fourShards, []Key{IntKey(int64(i)), IntKey(int64(i / 2))})
		require.NoError(t, err)
		require.LessOrEqual(t, st.cached(), 10)
	}
	assert.Equal(t, 10, st.cached())
	// a batch larger than the cache is still answered in full
	keys := make([]Key, 50)
	for i := range keys {
		keys[i] = IntKey(int64(i))
	}
	got, err := st.Map(ctx, fourShards, keys)
	require.NoError(t, err)
	for i, s := range got {
		assert.Equal(t, fourShards[i%4], s)
	}
	assert.Equal(t, 10, st.cached())

	// LRU: the recently used key survives, the oldest goes
	src.reset()
	small := Lookup(LookupConfig{Source: src, CacheSize: 2})
	for _, k := range []int64{1, 2, 1, 3} { // 2 is least recently used when 3 arrives
		_, err := small.Map(ctx, fourShards, []Key{IntKey(k)})
		require.NoError(t, err)
	}
	src.reset()
	_, err = small.Map(ctx, fourShards, []Key{IntKey(1), IntKey(3)})
	require.NoError(t, err)
	asked, _ := src.reset()
	assert.Empty(t, asked)
	_, err = small.Map(ctx, fourShards, []Key{IntKey(2)})
	require.NoError(t, err)
	asked, _ = src.reset()
	assert.Equal(t, []string{"2"}, asked)

	// no cache
	none := Lookup(LookupConfig{Source: src, CacheSize: -1})
	for range 3 {
		_, err := none.Map(ctx, fourShards, []Key{IntKey(1)})
		require.NoError(t, err)
	}
	_, calls := src.reset()
	assert.Equal(t, 3, calls)
	assert.Equal(t, DefaultLookupCacheSize, Lookup(LookupConfig{Source: src}).(*lookupStrategy).size)
}

func TestLookupTTL(t *testing.T) {
	const ttl = 30 * time.Millisecond
	src := &countingSource{dir: map[string]string{"1": "s1"}}
	ctx := context.Background()
	// Two lookups within the TTL ask the source once. On a loaded machine
	// the second can come after the TTL: such a round proves nothing, and
	// another is made (a round that is in time and asks twice fails).
	var st Strategy
	for round := 0; ; round++ {
		st = Lookup(LookupConfig{Source: src, CacheTTL: ttl})
		start := time.Now()
		for range 2 {
			_, err := st.Map(ctx, fourShards, []Key{IntKey(1)})
			require.NoError(t, err)
		}
		inTime := time.Since(start) < ttl
		_, calls := src.reset()
		if inTime {
			assert.Equal(t, 1, calls)
			break
		}
		require.Less(t, round, 100, "100 rounds of two lookups, none within %s", ttl)
	}
	time.Sleep(ttl + 10*time.Millisecond)
	src.mu.Lock()
	src.dir["1"] = "s2" // the row moved
	src.mu.Unlock()
	got, err := st.Map(ctx, fourShards, []Key{IntKey(1)})
	require.NoError(t, err)
	assert.Equal(t, []string{"s2"}, got)
	_, calls := src.reset()
	assert.Equal(t, 1, calls)
}

func TestLookupConcurrent(t *testing.T) {
	src := &countingSource{dir: map[string]string{}}
	for i := 0; i < 200; i++ {
		src.dir[strconv.Itoa(i)] = fourShards[i%4]
	}
	st := Lookup(LookupConfig{Source: src, CacheSize: 50})
	var wg sync.WaitGroup
	var bad atomic.Int64
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				k := int64((i*7 + g*13) % 200)
				out, err := st.Map(context.Background(), fourShards, []Key{IntKey(k), IntKey((k + 1) % 200)})
				if err != nil || out[0] != fourShards[k%4] || out[1] != fourShards[(k+1)%200%4] {
					bad.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	assert.Zero(t, bad.Load())
	assert.LessOrEqual(t, st.(*lookupStrategy).cached(), 50)
}

func TestLookupErrors(t *testing.T) {
	boom := errors.New("directory down")
	st := Lookup(LookupConfig{Source: LookupFunc(func(context.Context, []Key) (map[string]string, error) { return nil, boom })})
	_, err := st.Map(context.Background(), fourShards, []Key{StringKey("k")})
	require.ErrorIs(t, err, boom)
	assert.Contains(t, err.Error(), `lookup of 1 keys (first "k")`)

	require.ErrorIs(t, Lookup(LookupConfig{}).Validate(fourShards), ErrInvalidStrategy)
	_, err = Lookup(LookupConfig{}).Map(context.Background(), fourShards, []Key{IntKey(1)})
	require.ErrorIs(t, err, ErrInvalidStrategy)
	require.ErrorIs(t, Lookup(LookupConfig{Source: st.(*lookupStrategy).src, CacheTTL: -1}).Validate(fourShards), ErrInvalidStrategy)
	for _, bad := range [][3]string{{"t;drop", "k", "s"}, {"t", "k k", "s"}, {"t", "k", `s"`}, {"", "k", "s"}} {
		err := Lookup(LookupConfig{Source: SQLTableSource(&sql.DB{}, bad[0], bad[1], bad[2], nil)}).Validate(fourShards)
		require.ErrorIs(t, err, ErrInvalidStrategy)
		assert.Contains(t, err.Error(), "must match [A-Za-z0-9_]+")
	}
	err = Lookup(LookupConfig{Source: SQLTableSource(nil, "t", "k", "s", nil)}).Validate(fourShards)
	assert.ErrorContains(t, err, "db is nil")
}

func openSQLite(t *testing.T) *sql.DB {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "dir.db"))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func TestSQLTableSource(t *testing.T) {
	db := openSQLite(t)
	ctx := context.Background()
	_, err := db.Exec(`CREATE TABLE customer_shards (customer_id INTEGER, shard TEXT);
		CREATE TABLE tenant_shards (tenant TEXT PRIMARY KEY, shard TEXT)`)
	require.NoError(t, err)
	_, err = db.Exec(`WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < 1199)
		INSERT INTO customer_shards SELECT i, 's' || (i % 4) FROM c`)
	require.NoError(t, err)
	_, err = db.Exec(`INSERT INTO customer_shards VALUES (5000, NULL), (6000, 's1'), (6000, 's2');
		INSERT INTO tenant_shards VALUES ('acme', 's3'), ('550e8400-e29b-41d4-a716-446655440000', 's2')`)
	require.NoError(t, err)

	st := Lookup(LookupConfig{Source: SQLTableSource(db, "customer_shards", "customer_id", "shard", nil)})
	require.NoError(t, st.Validate(fourShards))
	keys := make([]Key, 1100) // more than one batch of 500
	for i := range keys {
		keys[i] = IntKey(int64(i))
	}
	got, err := st.Map(ctx, fourShards, keys)
	require.NoError(t, err)
	for i, s := range got {
		require.Equal(t, fourShards[i%4], s, "key %d", i)
	}
	_, err = st.Map(ctx, fourShards, []Key{IntKey(1), IntKey(4242)})
	require.ErrorIs(t, err, ErrNoShardForKey)
	assert.Contains(t, err.Error(), "key 4242")
	_, err = st.Map(ctx, fourShards, []Key{IntKey(5000)})
	require.ErrorIs(t, err, ErrNoShardForKey, "NULL shard is a miss")
	_, err = st.Map(ctx, fourShards, []Key{IntKey(6000)})
	assert.ErrorContains(t, err, `key "6000" has two shards, "s1" and "s2"`)

	dollar := func(i int) string { return "$" + strconv.Itoa(i) } // SQLite accepts $N too
	tenants := Lookup(LookupConfig{Source: SQLTableSource(db, "tenant_shards", "tenant", "shard", dollar)})
	uuidKey, err := Normalize(rawUUID{0x55, 0x0e, 0x84, 0x00, 0xe2, 0x9b, 0x41, 0xd4, 0xa7, 0x16, 0x44, 0x66, 0x55, 0x44, 0x00, 0x00})
	require.NoError(t, err)
	got, err = tenants.Map(ctx, fourShards, []Key{StringKey("acme"), uuidKey})
	require.NoError(t, err)
	assert.Equal(t, []string{"s3", "s2"}, got)

	missing := Lookup(LookupConfig{Source: SQLTableSource(db, "no_such_table", "k", "s", nil)})
	_, err = missing.Map(ctx, fourShards, []Key{IntKey(1)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no_such_table")
	assert.NotErrorIs(t, err, ErrNoShardForKey)
}

// FuzzLookup: whatever the keys and whatever the directory answers (shard
// names the cluster has or lacks, missing entries), Map never panics, and
// either fails with ErrNoShardForKey or returns configured shards — the
// directory's own, also when answered from the cache.
func FuzzLookup(f *testing.F) {
	f.Add(int64(1), "a", "s0", "s1", uint8(3), 8)
	f.Add(int64(-5), "", "nowhere", "s0", uint8(0), 0)
	f.Add(int64(0), "é\x00", "", "s63", uint8(63), -1)
	f.Fuzz(func(t *testing.T, i int64, s, answerInt, answerString string, n uint8, cacheSize int) {
		shards := fuzzShards(n)
		directory := map[string]string{IntKey(i).String(): answerInt, StringKey(s).String(): answerString}
		st := Lookup(LookupConfig{CacheSize: cacheSize % 16, Source: LookupFunc(func(_ context.Context, keys []Key) (map[string]string, error) {
			out := map[string]string{}
			for _, k := range keys {
				if shard, ok := directory[k.String()]; ok && shard != "" {
					out[k.String()] = shard
				}
			}
			return out, nil
		})})
		require.NoError(t, st.Validate(shards))
		keys := []Key{IntKey(i), StringKey(s), IntKey(i)}
		for range 2 { // the second round may come from the cache
			got, err := st.Map(context.Background(), shards, keys)
			if err != nil {
				require.ErrorIs(t, err, ErrNoShardForKey)
				continue
			}
			require.Len(t, got, len(keys))
			for j, k := range keys {
				require.Contains(t, shards, got[j])
				require.Equal(t, directory[k.String()], got[j])
			}
		}
	})
}

func TestDirectoryTableBinding(t *testing.T) {
	src := DirectoryTable("primary", "customer_shards", "customer_id", "shard")
	_, err := src.LookupShards(context.Background(), []Key{IntKey(1)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "DirectoryTable primary.customer_shards is not bound")

	st := Lookup(LookupConfig{Source: src})
	binder, ok := st.(DatabaseBinder)
	require.True(t, ok, "the Lookup strategy forwards binding to its source")
	require.ErrorContains(t, binder.BindDatabases(func(name string) (Querier, string, error) {
		return nil, "", errors.New("no database " + name)
	}), "DirectoryTable primary.customer_shards: no database primary")

	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "dir.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	_, err = db.Exec("CREATE TABLE customer_shards (customer_id INTEGER PRIMARY KEY, shard TEXT); INSERT INTO customer_shards VALUES (7, 's1')")
	require.NoError(t, err)
	var asked string
	require.NoError(t, binder.BindDatabases(func(name string) (Querier, string, error) {
		asked = name
		return db, "sqlite", nil
	}))
	assert.Equal(t, "primary", asked)
	got, err := st.Map(context.Background(), []string{"s0", "s1"}, []Key{IntKey(7)})
	require.NoError(t, err)
	assert.Equal(t, []string{"s1"}, got)

	for _, bad := range []LookupSource{
		DirectoryTable("", "t", "k", "s"),
		DirectoryTable("primary", "t; DROP TABLE x", "k", "s"),
	} {
		err := Lookup(LookupConfig{Source: bad}).Validate([]string{"s0"})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "DirectoryTable")
	}
}
