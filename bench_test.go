package grant_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"
	"gorm.io/plugin/dbresolver"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/noopdriver"
)

// The benchmarks run GORM over a driver that answers instantly, so they
// measure only the CPU spent in GORM and in the routing plugin. Each
// benchmark has the same three variants in the same run: plain GORM, GORM
// with dbresolver, GORM with grant, each with one writer and one replica.

type benchUser struct {
	ID   uint
	Name string
	Age  int
}

func (benchUser) TableName() string { return "users" }

// benchOpen opens plain GORM over a fresh no-op database.
func benchOpen(b testing.TB) *gorm.DB {
	db, err := gorm.Open(noopdriver.Dialector(noopdriver.Open(noopdriver.Options{})), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		b.Fatal(err)
	}
	return db
}

func benchHandles(b testing.TB) map[string]*gorm.DB {
	b.Helper()
	open := func() *gorm.DB { return benchOpen(b) }
	plain := open()
	withResolver := open()
	if err := withResolver.Use(dbresolver.Register(dbresolver.Config{
		Replicas: []gorm.Dialector{noopdriver.Dialector(noopdriver.Open(noopdriver.Options{}))},
	})); err != nil {
		b.Fatal(err)
	}
	withGrant := open()
	if err := withGrant.Use(grant.New(grant.Config{Databases: map[string]grant.DatabaseConfig{
		"primary": {Replicas: []grant.NodeConfig{{Dialector: noopdriver.Dialector(noopdriver.Open(noopdriver.Options{}))}}},
	}})); err != nil {
		b.Fatal(err)
	}
	return map[string]*gorm.DB{"plain": plain, "dbresolver": withResolver, "grant": withGrant}
}

var benchVariants = []string{"plain", "dbresolver", "grant"}

// benchEach runs op as one sub-benchmark per variant.
func benchEach(b *testing.B, op func(db *gorm.DB) error) {
	benchVariantsOf(b, benchHandles(b), benchVariants, op)
}

func benchVariantsOf(b *testing.B, handles map[string]*gorm.DB, variants []string, op func(db *gorm.DB) error) {
	for _, name := range variants {
		db := handles[name]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := op(db); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFirst is a primary-key First: a read, routed to the replica.
func BenchmarkFirst(b *testing.B) {
	benchEach(b, func(db *gorm.DB) error {
		var u benchUser
		return db.First(&u, 1).Error
	})
}

// BenchmarkCreate is a single-row Create: a write, routed to the writer,
// inside GORM's default transaction.
func BenchmarkCreate(b *testing.B) {
	benchEach(b, func(db *gorm.DB) error {
		return db.Create(&benchUser{Name: "n", Age: 1}).Error
	})
}

// BenchmarkFirstParallel runs First from GOMAXPROCS goroutines at once: a
// lock or shared counter on the routing path would show as a gap to plain.
func BenchmarkFirstParallel(b *testing.B) {
	handles := benchHandles(b)
	for _, name := range benchVariants {
		db := handles[name]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					var u benchUser
					if err := db.First(&u, 1).Error; err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkRoleScope is First sent to the writer by a scope: the same call
// (db.Scopes(grant.Role(grant.Writing))) on plain GORM, where the scope only
// marks the statement, and under grant; dbresolver's Write clause beside.
func BenchmarkRoleScope(b *testing.B) {
	handles := benchHandles(b)
	role := func(db *gorm.DB) error {
		var u benchUser
		return db.Scopes(grant.Role(grant.Writing)).First(&u, 1).Error
	}
	ops := map[string]func(db *gorm.DB) error{
		"plain": role,
		"dbresolver": func(db *gorm.DB) error {
			var u benchUser
			return db.Clauses(dbresolver.Write).First(&u, 1).Error
		},
		"grant": role,
	}
	for _, name := range benchVariants {
		benchVariantsOf(b, handles, []string{name}, ops[name])
	}
}

// BenchmarkConnectedTo is First with a context that names the role
// (grant.ConnectedTo, made once outside the loop): the same call on plain
// GORM, which ignores the value, and under grant.
func BenchmarkConnectedTo(b *testing.B) {
	ctx := grant.ConnectedTo(context.Background(), grant.Connection{Role: grant.Writing})
	benchVariantsOf(b, benchHandles(b), []string{"plain", "grant"}, func(db *gorm.DB) error {
		var u benchUser
		return db.WithContext(ctx).First(&u, 1).Error
	})
}

type benchOrder struct {
	ID         uint
	CustomerID int64
	Name       string
}

func (benchOrder) TableName() string            { return "orders" }
func (benchOrder) ConnectsTo() grant.Connection { return grant.Cluster("orders") }
func (benchOrder) ShardKey() grant.ShardKey {
	return grant.ShardKey{Column: "customer_id", Strategy: grant.Modulo()}
}

// benchShardHandles: plain GORM on one database, and grant over a cluster of
// four shards routed by customer_id.
func benchShardHandles(b testing.TB) map[string]*gorm.DB { return benchShardHandlesOf(b, 4) }

func benchShardHandlesOf(b testing.TB, count int) map[string]*gorm.DB {
	b.Helper()
	open := func() *gorm.DB { return benchOpen(b) }
	cluster := func(pool grant.PoolConfig) grant.ClusterConfig {
		shards := make([]grant.ShardConfig, count)
		for i := range shards {
			shards[i] = grant.ShardConfig{Name: fmt.Sprintf("shard%d", i+1), DatabaseConfig: grant.DatabaseConfig{
				Writer: &grant.NodeConfig{Dialector: noopdriver.Dialector(noopdriver.Open(noopdriver.Options{}))},
			}}
		}
		return grant.ClusterConfig{Shards: shards, Pool: pool}
	}
	handles := map[string]*gorm.DB{"plain": open()}
	for name, cfg := range map[string]grant.Config{
		"grant": {Clusters: map[string]grant.ClusterConfig{"orders": cluster(grant.PoolConfig{})}},
		// Bounded pools (issue 12): a cap the benchmark's one shard
		// stays within, and a checkout timeout.
		"grant-capped":   {MaxOpenPools: 2, Clusters: map[string]grant.ClusterConfig{"orders": cluster(grant.PoolConfig{})}},
		"grant-checkout": {Clusters: map[string]grant.ClusterConfig{"orders": cluster(grant.PoolConfig{CheckoutTimeout: time.Second})}},
	} {
		db := open()
		if err := db.Use(grant.New(cfg)); err != nil {
			b.Fatal(err)
		}
		handles[name] = db
	}
	return handles
}

// BenchmarkShardedFirst is a point query by shard key: plain GORM on one
// database against grant routing it to one of four shards.
func BenchmarkShardedFirst(b *testing.B) {
	benchVariantsOf(b, benchShardHandles(b), []string{"plain", "grant", "grant-capped", "grant-checkout"}, func(db *gorm.DB) error {
		var o benchOrder
		return db.Where("customer_id = ?", 7).First(&o).Error
	})
}

// BenchmarkShardedFirstShards is the keyed point query over clusters of 4,
// 64 and 1,024 shards: routing by key must not cost more with more shards.
func BenchmarkShardedFirstShards(b *testing.B) {
	for _, count := range []int{4, 64, 1024} {
		b.Run(fmt.Sprintf("shards=%d", count), func(b *testing.B) {
			benchVariantsOf(b, benchShardHandlesOf(b, count), []string{"grant"}, func(db *gorm.DB) error {
				var o benchOrder
				return db.Where("customer_id = ?", 7).First(&o).Error
			})
		})
	}
}

// BenchmarkShardedCreate creates one row, routed by its key.
func BenchmarkShardedCreate(b *testing.B) {
	benchVariantsOf(b, benchShardHandles(b), []string{"plain", "grant", "grant-capped", "grant-checkout"}, func(db *gorm.DB) error {
		return db.Create(&benchOrder{CustomerID: 7, Name: "n"}).Error
	})
}
