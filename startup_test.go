package grant_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/grant-go/grant"
)

// tenantsConfig is a cluster of n shards, a database per tenant, each
// given by DSN the way a generated grant.yml or a tenant registry would.
func tenantsConfig(n int) grant.Config {
	shards := make([]grant.ShardConfig, n)
	for i := range shards {
		shards[i] = grant.ShardConfig{Name: fmt.Sprintf("tenant%06d", i), DatabaseConfig: grant.DatabaseConfig{
			Writer: &grant.NodeConfig{DSN: fmt.Sprintf("host=10.1.%d.%d user=app dbname=tenant%06d sslmode=disable", i/250, i%250, i), Adapter: "postgres"}}}
	}
	return grant.Config{MaxOpenPools: 100, Clusters: map[string]grant.ClusterConfig{"tenants": {Shards: shards}}}
}

// unconnectedHandle is a PostgreSQL handle that has not connected (and
// will not: nothing here runs a statement).
func unconnectedHandle(tb testing.TB) *gorm.DB {
	db, err := gorm.Open(postgres.Open("host=127.0.0.1 port=1 user=nobody dbname=none sslmode=disable connect_timeout=1"),
		&gorm.Config{Logger: logger.Discard, DisableAutomaticPing: true})
	require.NoError(tb, err)
	return db
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestStartupCostPerShard: installing grant with 100,000 configured
// shards opens no connection and retains at most 300 bytes per shard
// beyond the configuration itself. (Its time is BenchmarkStartup's.)
func TestStartupCostPerShard(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 100,000-shard topology")
	}
	const shards = 100_000
	cfg := tenantsConfig(shards)
	db := unconnectedHandle(t)
	before := heapInUse()
	start := time.Now()
	plugin := grant.New(cfg)
	require.NoError(t, db.Use(plugin))
	took := time.Since(start)
	retained := float64(heapInUse()-before) / shards
	t.Logf("New+Use of %d shards: %v, %.0f bytes retained per shard", shards, took, retained)
	assert.LessOrEqual(t, retained, 300.0, "bytes retained per shard")
	assert.Zero(t, plugin.Stats()["primary/writing/writer"].OpenConnections, "the handle connected to nothing")
	assert.Len(t, plugin.Stats(), 1, "only the handle's own pool")
	assert.Zero(t, plugin.PoolCounts().Opened, "no pool opened")
	runtime.KeepAlive(cfg)
	runtime.KeepAlive(plugin)
}

// BenchmarkStartup measures New+Use with 100,000 configured shards.
func BenchmarkStartup(b *testing.B) {
	cfg := tenantsConfig(100_000)
	b.ReportAllocs()
	for b.Loop() {
		db := unconnectedHandle(b)
		if err := db.Use(grant.New(cfg)); err != nil {
			b.Fatal(err)
		}
	}
}
