package grant_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/testdb"
)

// Order lives in the sharded cluster "orders".
type Order struct {
	ID         uint   `gorm:"primaryKey"`
	CustomerID int64  `gorm:"index"`
	Note       string `gorm:"size:100"`
}

func (Order) ConnectsTo() grant.Connection { return grant.Cluster("orders") }

// shardFixture: a primary plus cluster "orders" with shard1 (writer and a
// replica stand-in seeded with one order) and shard2 (writer only).
type shardFixture struct {
	db                                     *gorm.DB
	primary, shard1, shard1Replica, shard2 *testdb.Database
}

func newShardFixture(t *testing.T, b *testdb.Backend) *shardFixture {
	t.Helper()
	f := &shardFixture{
		primary: b.CreateDatabase(t, "primary"), shard1: b.CreateDatabase(t, "shard1"),
		shard1Replica: b.CreateDatabase(t, "shard1_replica"), shard2: b.CreateDatabase(t, "shard2"),
	}
	require.NoError(t, f.primary.Open(t).AutoMigrate(&User{}))
	require.NoError(t, f.shard1Replica.Open(t).AutoMigrate(&Order{}))
	require.NoError(t, f.shard1Replica.Open(t).Create(&Order{CustomerID: 7, Note: "replica-order"}).Error)
	db, err := gorm.Open(f.primary.Dialector(), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err)
	require.NoError(t, db.Use(grant.New(grant.Config{Clusters: map[string]grant.ClusterConfig{
		"orders": {Shards: []grant.ShardConfig{
			{Name: "shard1", DatabaseConfig: grant.DatabaseConfig{Writer: &grant.NodeConfig{Dialector: f.shard1.Dialector()},
				Replicas: []grant.NodeConfig{{Dialector: f.shard1Replica.Dialector()}}}},
			{Name: "shard2", DatabaseConfig: grant.DatabaseConfig{Writer: &grant.NodeConfig{Dialector: f.shard2.Dialector()}}},
		}},
	}})))
	t.Cleanup(func() { exClose(db) })
	f.db = db
	require.NoError(t, grant.AutoMigrate(db, &Order{}))
	return f
}

func (f *shardFixture) orderCounts(t *testing.T) [3]int64 {
	return [3]int64{f.shard1.Count(t, "orders"), f.shard1Replica.Count(t, "orders"), f.shard2.Count(t, "orders")}
}

func TestExplicitShardRouting(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		f := newShardFixture(t, b)
		assert.Equal(t, [3]int64{0, 1, 0}, f.orderCounts(t), "AutoMigrate created orders on every shard writer, seeded replica untouched")
		assert.False(t, f.primary.Open(t).Migrator().HasTable(&Order{}), "no orders table on the unsharded primary")

		require.NoError(t, f.db.Scopes(grant.Shard("shard1")).Create(&Order{CustomerID: 1, Note: "a"}).Error)
		ctx2 := grant.ConnectedTo(context.Background(), grant.Connection{Shard: "shard2"})
		require.NoError(t, f.db.WithContext(ctx2).Create(&[]Order{{CustomerID: 2}, {CustomerID: 4}}).Error)
		assert.Equal(t, [3]int64{1, 1, 2}, f.orderCounts(t), "rows landed on the named shards' writers")

		var orders []Order
		require.NoError(t, f.db.Scopes(grant.Shard("shard1")).Find(&orders).Error)
		require.Len(t, orders, 1)
		assert.Equal(t, "replica-order", orders[0].Note, "reads on a shard use its replica")
		require.NoError(t, f.db.Scopes(grant.Shard("shard1"), grant.Role(grant.Writing)).Find(&orders).Error)
		assert.Equal(t, "a", orders[0].Note, "the writing role reads the shard's writer")
		var n int64
		require.NoError(t, f.db.WithContext(ctx2).Model(&Order{}).Count(&n).Error)
		assert.EqualValues(t, 2, n, "shard2 has no replica: reads go to its writer")

		require.NoError(t, f.db.WithContext(ctx2).Create(&User{Name: "unsharded"}).Error)
		assert.EqualValues(t, 1, f.primary.Count(t, "users"), "a shard in the context leaves unsharded models alone")
	})
}

func TestShardErrorsWriteNothing(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		f := newShardFixture(t, b)
		err := f.db.Create(&Order{CustomerID: 1}).Error
		require.ErrorIs(t, err, grant.ErrShardKeyMissing)
		assert.Contains(t, err.Error(), `model Order lives in cluster "orders" (shards: shard1, shard2)`)
		err = f.db.Find(&[]Order{}).Error
		require.ErrorIs(t, err, grant.ErrShardKeyMissing, "reads need a shard too")

		err = f.db.Scopes(grant.Shard("shard9")).Create(&Order{CustomerID: 1}).Error
		require.ErrorIs(t, err, grant.ErrUnknownShard)
		assert.Contains(t, err.Error(), `cluster "orders" has shards: shard1, shard2`)
		require.ErrorIs(t, f.db.Scopes(grant.Shard("")).Create(&Order{}).Error, grant.ErrUnknownShard)

		err = f.db.Transaction(func(tx *gorm.DB) error {
			require.NoError(t, tx.Scopes(grant.Shard("shard1")).Create(&Order{CustomerID: 1}).Error)
			return tx.Scopes(grant.Shard("shard2")).Create(&Order{CustomerID: 2}).Error
		})
		require.ErrorIs(t, err, grant.ErrCrossShardTransaction)
		assert.Contains(t, err.Error(), `the transaction is on shard "orders/shard1"`)

		err = f.db.Transaction(func(tx *gorm.DB) error {
			require.NoError(t, tx.Scopes(grant.Shard("shard1")).Create(&Order{CustomerID: 1}).Error)
			return tx.Create(&User{Name: "elsewhere"}).Error
		})
		require.ErrorIs(t, err, grant.ErrCrossDatabaseTransaction)
		assert.Equal(t, [3]int64{0, 1, 0}, f.orderCounts(t), "every refused or rolled-back row went nowhere")
		assert.Zero(t, f.primary.Count(t, "users"))
	})
}

func TestClusterConfigErrors(t *testing.T) {
	handle, err := gorm.Open(testdb.SQLite(t).CreateDatabase(t, "h").Dialector(), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err)
	w := &grant.NodeConfig{DSN: "postgres://u:s3cret@h/db", Adapter: "postgres"}
	cases := map[string]struct {
		clusters map[string]grant.ClusterConfig
		says     string
	}{
		"no shards":        {map[string]grant.ClusterConfig{"orders": {}}, "clusters.orders.shards: a cluster needs at least one shard"},
		"duplicate shard":  {map[string]grant.ClusterConfig{"orders": {Shards: []grant.ShardConfig{{Name: "s1", DatabaseConfig: grant.DatabaseConfig{Writer: w}}, {Name: "s1", DatabaseConfig: grant.DatabaseConfig{Writer: w}}}}}, `clusters.orders.shards[1].name: duplicate shard name "s1"`},
		"shard w/o writer": {map[string]grant.ClusterConfig{"orders": {Shards: []grant.ShardConfig{{Name: "s1"}}}}, `clusters.orders.shards[0].writer: missing`},
		"empty shard name": {map[string]grant.ClusterConfig{"orders": {Shards: []grant.ShardConfig{{DatabaseConfig: grant.DatabaseConfig{Writer: w}}}}}, "clusters.orders.shards[0].name: empty name"},
		"name clash":       {map[string]grant.ClusterConfig{"primary": {Shards: []grant.ShardConfig{{Name: "s1", DatabaseConfig: grant.DatabaseConfig{Writer: w}}}}}, `clusters.primary: "primary" is also a database name`},
		"overlapping ranges": {ranged(w, grant.KeyRange{From: 0, To: 20, Shard: "s1"}, grant.KeyRange{From: 10, To: 30, Shard: "s2"}),
			`clusters.orders.shard_keys.orders.strategy: grant: invalid range strategy: ranges [0, 20) → "s1" and [10, 30) → "s2" overlap`},
		"gapped ranges": {ranged(w, grant.KeyRange{From: 0, To: 10, Shard: "s1"}, grant.KeyRange{From: 20, To: 30, Shard: "s2"}),
			"keys from 10 to 20 have no shard"},
		"range on an unknown shard": {ranged(w, grant.KeyRange{From: 0, To: 10, Shard: "s9"}), `unknown shard "s9"`},
	}
	for name, tc := range cases {
		err := handle.Use(grant.New(grant.Config{Clusters: tc.clusters}))
		require.ErrorIs(t, err, grant.ErrInvalidConfig, name)
		assert.Contains(t, err.Error(), tc.says, name)
		assert.NotContains(t, err.Error(), "s3cret", name)
	}
}

// ranged is cluster "orders" (shards s1, s2) keyed by ranges on table orders.
func ranged(w *grant.NodeConfig, ranges ...grant.KeyRange) map[string]grant.ClusterConfig {
	return map[string]grant.ClusterConfig{"orders": {
		Shards:    []grant.ShardConfig{{Name: "s1", DatabaseConfig: grant.DatabaseConfig{Writer: w}}, {Name: "s2", DatabaseConfig: grant.DatabaseConfig{Writer: w}}},
		ShardKeys: map[string]grant.ShardKey{"orders": {Column: "customer_id", Strategy: grant.Range(ranges...)}},
	}}
}

// StrayOrder names a database the configuration lacks.
type StrayOrder struct{ ID uint }

func (StrayOrder) ConnectsTo() grant.Connection { return grant.Connection{Database: "archive"} }

// Config.Models moves a model's mistakes from its first statement to
// Initialize, and a refused Initialize leaves the handle as it was.
func TestModelsCheckedAtInitialize(t *testing.T) {
	db := testdb.SQLite(t).CreateDatabase(t, "h")
	w := &grant.NodeConfig{Dialector: testdb.SQLite(t).CreateDatabase(t, "s").Dialector()}
	clusters := func(shards ...string) map[string]grant.ClusterConfig {
		c := grant.ClusterConfig{}
		for _, name := range shards {
			c.Shards = append(c.Shards, grant.ShardConfig{Name: name, DatabaseConfig: grant.DatabaseConfig{Writer: w}})
		}
		return map[string]grant.ClusterConfig{"orders": c}
	}
	cases := map[string]struct {
		clusters map[string]grant.ClusterConfig
		model    any
		is       error
		says     string
	}{
		"key column missing":     {clusters("shard1", "shard2"), &MisKeyedOrder{}, grant.ErrInvalidConfig, `models[0] (*grant_test.MisKeyedOrder): grant: invalid configuration: table "orders": model MisKeyedOrder: shard key column "customer_idx" is not a column of the model`},
		"range on unknown shard": {clusters("shard1", "shard3"), &RangedOrder{}, grant.ErrInvalidConfig, `unknown shard "shard2"`},
		"unknown database":       {clusters("shard1"), &StrayOrder{}, grant.ErrUnknownDatabase, `"archive"`},
		"not a model":            {clusters("shard1"), 42, grant.ErrInvalidConfig, "models[0] (int)"},
	}
	for name, tc := range cases {
		handle, err := gorm.Open(db.Dialector(), &gorm.Config{Logger: logger.Discard})
		require.NoError(t, err)
		err = handle.Use(grant.New(grant.Config{Clusters: tc.clusters, Models: []any{tc.model}}))
		require.Error(t, err, name)
		assert.ErrorIs(t, err, tc.is, name)
		assert.ErrorIs(t, err, grant.ErrInvalidConfig, name)
		assert.Contains(t, err.Error(), tc.says, name)
		assert.Nil(t, handle.Callback().Query().Get(grant.PluginName+":route"), "%s: no callback installed", name)
		require.NoError(t, handle.Exec("SELECT 1").Error, "%s: the handle still works alone", name)
	}

	handle, err := gorm.Open(db.Dialector(), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err)
	require.NoError(t, handle.Use(grant.New(grant.Config{Clusters: clusters("shard1", "shard2"), Models: []any{&KeyedOrder{}, &RangedOrder{}, &User{}}})))
}

// LegacyOrder cannot have methods added: the configuration places it.
type LegacyOrder struct {
	ID         uint `gorm:"primaryKey"`
	CustomerID int64
}

func TestShardKeysByConfiguration(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		primary, s1, s2 := b.CreateDatabase(t, "primary"), b.CreateDatabase(t, "s1"), b.CreateDatabase(t, "s2")
		db, err := gorm.Open(primary.Dialector(), &gorm.Config{Logger: logger.Discard})
		require.NoError(t, err)
		require.NoError(t, db.Use(grant.New(grant.Config{
			Tables: map[string]string{"legacy_orders": "orders"},
			Clusters: map[string]grant.ClusterConfig{"orders": {
				Shards: []grant.ShardConfig{
					{Name: "s1", DatabaseConfig: grant.DatabaseConfig{Writer: &grant.NodeConfig{Dialector: s1.Dialector()}}},
					{Name: "s2", DatabaseConfig: grant.DatabaseConfig{Writer: &grant.NodeConfig{Dialector: s2.Dialector()}}},
				},
				ShardKeys: map[string]grant.ShardKey{"legacy_orders": {Column: "customer_id", Strategy: grant.Modulo()}},
			}},
		})))
		t.Cleanup(func() {
			if sqlDB, err := db.DB(); err == nil {
				_ = sqlDB.Close()
			}
		})
		require.NoError(t, grant.AutoMigrate(db, &LegacyOrder{}))
		require.NoError(t, db.Create(&[]LegacyOrder{{CustomerID: 1}, {CustomerID: 2}, {CustomerID: 4}}).Error)
		assert.EqualValues(t, 2, s1.Count(t, "legacy_orders"), "even customers on s1")
		assert.EqualValues(t, 1, s2.Count(t, "legacy_orders"))
		var got []LegacyOrder
		require.NoError(t, db.Where("customer_id = ?", 1).Find(&got).Error)
		assert.Len(t, got, 1)
		assert.False(t, primary.Open(t).Migrator().HasTable("legacy_orders"))
	})
}
