package grant_test

import (
	"database/sql/driver"
	"fmt"
	"runtime/metrics"
	"strings"
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/noopdriver"
)

// Scatter-gather benchmarks over shards that answer instantly: what grant
// spends planning, fanning out and merging a query, against the same query
// on one database with plain GORM.

// noopCatalog answers the MariaDB catalog query for table orders (id,
// customer_id, name) as the server would.
func noopCatalog() noopdriver.Answer {
	settings := []driver.Value{"utf8mb4_general_ci", "utf8mb4", int64(4)}
	col := func(name, typ, data string, text bool) []driver.Value {
		row := append(append([]driver.Value{}, settings...), name, typ, data, nil, nil)
		if text {
			row[6], row[7] = "utf8mb4", "utf8mb4_general_ci"
		}
		return row
	}
	return noopdriver.Answer{
		Columns: []string{"cc", "cs", "dpi", "COLUMN_NAME", "COLUMN_TYPE", "DATA_TYPE", "CHARACTER_SET_NAME", "COLLATION_NAME"},
		Rows: [][]driver.Value{
			col("id", "bigint(20) unsigned", "bigint", false),
			col("customer_id", "bigint(20)", "bigint", false),
			col("name", "longtext", "longtext", true),
		},
	}
}

var (
	orderColumns = []string{"id", "customer_id", "name", "grant_o1"}
	orderTypes   = []string{"BIGINT", "BIGINT", "VARCHAR", "BIGINT"}
)

// noopOrders answers queries of orders with rows ids first, first+step, …
// (limit of them, or rows of them without LIMIT): each shard holds its own
// sorted slice of ids, as a shard returns them for ORDER BY id.
func noopOrders(first, step, rows int) func(string, []driver.NamedValue) noopdriver.Answer {
	return func(query string, args []driver.NamedValue) noopdriver.Answer {
		if strings.Contains(query, "information_schema") {
			return noopCatalog()
		}
		cols, types := orderColumns[:3], orderTypes[:3]
		hidden := strings.Contains(query, "grant_o1")
		if hidden {
			cols, types = orderColumns, orderTypes
		}
		n := rows
		if strings.Contains(query, "LIMIT") { // the limit is the last argument
			switch limit := args[len(args)-1].Value.(type) {
			case int:
				n = min(n, limit)
			case int64:
				n = min(n, int(limit))
			}
		}
		return noopdriver.Answer{Columns: cols, Types: types, Gen: func(i int, dest []driver.Value) bool {
			if i >= n {
				return false
			}
			id := int64(first + i*step)
			dest[0], dest[1], dest[2] = id, id%97, "name"
			if hidden {
				dest[3] = id
			}
			return true
		}}
	}
}

// scatterHandles: plain GORM on one database holding rows×shards orders,
// and grant over shards each holding rows of them.
func scatterHandles(b *testing.B, shards, rows int) map[string]*gorm.DB {
	b.Helper()
	open := func(answer func(string, []driver.NamedValue) noopdriver.Answer) *gorm.DB {
		db, err := gorm.Open(noopdriver.Dialector(noopdriver.Open(noopdriver.Options{Answer: answer})), &gorm.Config{Logger: logger.Discard})
		if err != nil {
			b.Fatal(err)
		}
		return db
	}
	plain := open(noopOrders(1, 1, rows*shards))
	configs := make([]grant.ShardConfig, shards)
	for i := range configs {
		configs[i] = grant.ShardConfig{Name: fmt.Sprintf("shard%d", i+1), DatabaseConfig: grant.DatabaseConfig{
			Writer: &grant.NodeConfig{Dialector: noopdriver.Dialector(noopdriver.Open(noopdriver.Options{Answer: noopOrders(i+1, shards, rows)}))},
		}}
	}
	sharded := open(noopOrders(1, 1, rows*shards))
	if err := sharded.Use(grant.New(grant.Config{Clusters: map[string]grant.ClusterConfig{"orders": {Shards: configs}}})); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { exClose(sharded) })
	return map[string]*gorm.DB{"plain": plain, "grant": sharded.Scopes(grant.AllShards()).Session(&gorm.Session{})}
}

// BenchmarkScatterOrderLimit is Order("id").Limit(10) over every one of 4
// shards, against the same query on one database: planning, the shards'
// statements and the k-way merge.
func BenchmarkScatterOrderLimit(b *testing.B) {
	benchVariantsOf(b, scatterHandles(b, 4, 1000), []string{"plain", "grant"}, func(db *gorm.DB) error {
		var orders []benchOrder
		if err := db.Order("id").Limit(10).Find(&orders).Error; err != nil {
			return err
		}
		if len(orders) != 10 || orders[0].ID != 1 || orders[9].ID != 10 {
			return fmt.Errorf("got %d orders from %v", len(orders), orders)
		}
		return nil
	})
}

// BenchmarkScatterOrderLimit8 is the same over 8 shards: the bytes
// allocated per query stay proportional to shards × limit.
func BenchmarkScatterOrderLimit8(b *testing.B) {
	benchVariantsOf(b, scatterHandles(b, 8, 1000), []string{"plain", "grant"}, func(db *gorm.DB) error {
		var orders []benchOrder
		return db.Order("id").Limit(10).Find(&orders).Error
	})
}

// BenchmarkScatterRowsStream reads Rows() over 8 shards × 100,000 rows in
// id order and reports the peak heap in use while reading: a streaming
// merge holds about one row per shard, whatever the number of rows.
func BenchmarkScatterRowsStream(b *testing.B) {
	const shards, perShard = 8, 100_000
	db := scatterHandles(b, shards, perShard)["grant"]
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	peak := uint64(0)
	for b.Loop() {
		rows, err := db.Model(&benchOrder{}).Order("id").Rows()
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		var id, customer int64
		var name string
		for rows.Next() {
			if err := rows.Scan(&id, &customer, &name); err != nil {
				b.Fatal(err)
			}
			if n++; int64(n) != id {
				b.Fatalf("row %d has id %d", n, id)
			}
			if n%50_000 == 0 {
				metrics.Read(sample)
				peak = max(peak, sample[0].Value.Uint64())
			}
		}
		if err := rows.Close(); err != nil {
			b.Fatal(err)
		}
		if n != shards*perShard {
			b.Fatalf("read %d rows", n)
		}
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}
