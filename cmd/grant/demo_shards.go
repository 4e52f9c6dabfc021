package main

import (
	"errors"
	"fmt"
	"slices"

	"github.com/glebarez/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/grant-go/grant"
)

// Order lives in cluster "orders", on the shard its customer picks:
// customer_id mod 2 is the shard's position, so even customers go to shard1
// and odd ones to shard2.
type Order struct {
	ID         int64 `gorm:"primaryKey"`
	CustomerID int64
	Item       string `gorm:"size:100"`
}

func (Order) ConnectsTo() grant.Connection { return grant.Cluster("orders") }

func (Order) ShardKey() grant.ShardKey {
	return grant.ShardKey{Column: "customer_id", Strategy: grant.Modulo()}
}

// demoOrders are created in this order; items are listed by customer.
var demoOrders = []Order{
	{CustomerID: 1, Item: "book"},
	{CustomerID: 2, Item: "lamp"},
	{CustomerID: 3, Item: "mug"},
	{CustomerID: 4, Item: "pen"},
}

// ordersCluster is cluster "orders": two shards, each a writer of its own.
func ordersCluster(f demoFiles) map[string]grant.ClusterConfig {
	return map[string]grant.ClusterConfig{
		"orders": {Shards: []grant.ShardConfig{ // order matters: Modulo numbers shards by position
			{Name: "shard1", DatabaseConfig: grant.DatabaseConfig{Writer: &grant.NodeConfig{Dialector: sqlite.Open(f.shard1)}}},
			{Name: "shard2", DatabaseConfig: grant.DatabaseConfig{Writer: &grant.NodeConfig{Dialector: sqlite.Open(f.shard2)}}},
		}},
	}
}

// migrateOrders creates the orders table on every shard's writer, quietly:
// like seedDemo, it is setup, not part of the tour.
func migrateOrders(say tour, db *gorm.DB) error {
	if err := grant.AutoMigrate(db.Session(&gorm.Session{Logger: logger.Discard}), &Order{}); err != nil {
		return err
	}
	fmt.Fprintln(say.out, `grant.AutoMigrate(db, &Order{}) created table "orders" on the writer of each shard.`)
	return nil
}

// orderSteps route Orders by their shard key.
func orderSteps(say tour, db *gorm.DB, sqlOf sqlOf) []demoStep {
	items := func(orders []Order) []string {
		is := make([]string, len(orders))
		for i, o := range orders {
			is[i] = o.Item
		}
		return is
	}
	itemsWant := items(demoOrders)
	return []demoStep{
		{"Sharding: the shard key picks the shard", func() error {
			say.code("// Order's shard key is customer_id, with grant.Modulo(): even customers on shard1, odd on shard2")
			say.code("for _, o := range orders { db.Create(&o) }   // customers 1, 2, 3, 4")
			for _, o := range demoOrders {
				if err := db.Create(&o).Error; err != nil {
					return err
				}
			}
			var onShard1, onShard2 []Order
			say.code(`db.Scopes(grant.Shard("shard1")).Order("customer_id").Find(&onShard1)   // and the same for shard2`)
			if err := db.Scopes(grant.Shard("shard1")).Order("customer_id").Find(&onShard1).Error; err != nil {
				return err
			}
			if err := db.Scopes(grant.Shard("shard2")).Order("customer_id").Find(&onShard2).Error; err != nil {
				return err
			}
			say.result("grant.Shard(\"shard1\") holds %q (even customers), grant.Shard(\"shard2\") holds %q (odd customers)", items(onShard1), items(onShard2))
			say.result("the shards have no replicas, so their writers answer reads too")
			return expect(slices.Equal(items(onShard1), []string{"lamp", "pen"}) && slices.Equal(items(onShard2), []string{"book", "mug"}),
				"the orders did not land on the shards customer_id % 2 picks")
		}},
		{"A query on the shard key asks one shard", func() error {
			var orders []Order
			say.code(`db.Where("customer_id = ?", 3).Find(&orders)`)
			if err := db.Where("customer_id = ?", 3).Find(&orders).Error; err != nil {
				return err
			}
			say.result("customer 3 ordered %q: only shard2 was asked", items(orders))
			return expect(slices.Equal(items(orders), []string{"mug"}), "the point query did not find customer 3's order")
		}},
		{"Scatter-gather: grant.AllShards()", func() error {
			var orders []Order
			say.code(`db.Scopes(grant.AllShards()).Order("customer_id").Find(&orders)   // every shard in parallel`)
			if err := db.Scopes(grant.AllShards()).Order("customer_id").Find(&orders).Error; err != nil {
				return err
			}
			say.result("merged from both shards, ordered by customer_id: %q", items(orders))
			say.result("logged once, tagged with every shard: orders/*")
			return expect(slices.Equal(items(orders), itemsWant), "the scatter-gather read did not merge every shard in order")
		}},
		{"A write without the shard key is refused", func() error {
			deleteX := func(tx *gorm.DB) *gorm.DB { return tx.Where("item = ?", "x").Delete(&Order{}) }
			say.code(`err := db.Where("item = ?", "x").Delete(&Order{}).Error   // which shard? grant will not guess`)
			err := deleteX(db).Error
			if err != nil {
				say.refused(sqlOf(deleteX), err)
			}
			say.result("errors.Is(err, grant.ErrShardKeyMissing) = %t", errors.Is(err, grant.ErrShardKeyMissing))
			if !errors.Is(err, grant.ErrShardKeyMissing) {
				return fmt.Errorf("want an error matching grant.ErrShardKeyMissing, got %v", err)
			}
			var n int64
			say.code("db.Scopes(grant.AllShards()).Model(&Order{}).Count(&n)")
			if err := db.Scopes(grant.AllShards()).Model(&Order{}).Count(&n).Error; err != nil {
				return err
			}
			say.result("orders on all shards afterwards: %d", n)
			return expect(n == int64(len(demoOrders)), "the refused delete changed the orders")
		}},
	}
}
