package scatter_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/grant-go/grant/sharding/scatter"
)

type Order struct {
	ID         int64
	CustomerID int64
	Amount     int64
	Price      *float64
	Name       *string
	CreatedAt  time.Time
}

func gormOn(t *testing.T, pool *sql.DB) *gorm.DB {
	t.Helper()
	db, err := gorm.Open(sqlite.Dialector{Conn: pool}, &gorm.Config{SkipDefaultTransaction: true})
	require.NoError(t, err)
	return db
}

// TestGORMScansMergedRows runs GORM's own statements on a scatter pool (as
// the glue will, with a Plan per statement) and on the union database:
// structs, maps, Count, Pluck and aggregate scans come out identical.
func TestGORMScansMergedRows(t *testing.T) {
	c := newCluster(t, 11, 4, 600)
	union := gormOn(t, c.union)
	on := func(plan scatter.Plan) *gorm.DB {
		pool := scatter.Open(c.targets(), plan)
		t.Cleanup(func() { pool.Close() })
		tx := union.Session(&gorm.Session{NewDB: true, Context: context.Background()}) // clones the Statement
		tx.Statement.ConnPool = pool                                                   // what the glue does per statement
		return tx
	}
	byAmount := scatter.Plan{NullsFirst: true, OrderBy: []scatter.OrderColumn{{Name: "amount", Desc: true}, {Name: "id"}}}

	require.Same(t, c.union, union.Statement.ConnPool, "the union's pool stays the union's")
	var want, got []Order
	require.NoError(t, union.Where("amount > ?", 2000).Order("amount desc, id").Find(&want).Error)
	require.NoError(t, on(byAmount).Where("amount > ?", 2000).Order("amount desc, id").Find(&got).Error)
	require.NotEmpty(t, want)
	assert.Equal(t, want, got)

	var wantMaps, gotMaps []map[string]any
	require.NoError(t, union.Table("orders").Order("amount desc, id").Find(&wantMaps).Error)
	require.NoError(t, on(byAmount).Table("orders").Order("amount desc, id").Find(&gotMaps).Error)
	assert.Equal(t, wantMaps, gotMaps)

	var wantN, gotN int64
	count := scatter.Plan{Aggregates: map[string]scatter.Aggregate{"count(*)": scatter.Sum}}
	require.NoError(t, union.Model(&Order{}).Where("price > ?", 300).Count(&wantN).Error)
	require.NoError(t, on(count).Model(&Order{}).Where("price > ?", 300).Count(&gotN).Error)
	assert.Equal(t, wantN, gotN)

	var wantNames, gotNames []sql.NullString
	byName := scatter.Plan{NullsFirst: true, OrderBy: []scatter.OrderColumn{{Name: "name", Desc: true}}}
	require.NoError(t, union.Model(&Order{}).Order("name desc").Pluck("name", &wantNames).Error)
	require.NoError(t, on(byName).Model(&Order{}).Order("name desc").Pluck("name", &gotNames).Error)
	assert.Equal(t, wantNames, gotNames)

	type totals struct {
		S   int64
		Sp  float64
		Mx  string
		Mna int64
	}
	var wantT, gotT totals
	aggs := scatter.Plan{Aggregates: map[string]scatter.Aggregate{"s": scatter.Sum, "sp": scatter.Sum, "mx": scatter.Max, "mna": scatter.Min}}
	sel := "SUM(amount) AS s, SUM(price) AS sp, MAX(created_at) AS mx, MIN(amount) AS mna"
	require.NoError(t, union.Model(&Order{}).Select(sel).Scan(&wantT).Error)
	require.NoError(t, on(aggs).Model(&Order{}).Select(sel).Scan(&gotT).Error)
	assert.Equal(t, wantT, gotT)

	// First obeys the order: LIMIT 1 reaches every shard, the merge keeps one.
	var wantFirst, gotFirst Order
	first := scatter.Plan{OrderBy: []scatter.OrderColumn{{Name: "id"}}, Limit: 1}
	require.NoError(t, union.Where("customer_id IN ?", []int{3, 6, 9, 10}).First(&wantFirst).Error)
	require.NoError(t, on(first).Where("customer_id IN ?", []int{3, 6, 9, 10}).First(&gotFirst).Error)
	assert.Equal(t, wantFirst, gotFirst)
	require.Same(t, c.union, union.Statement.ConnPool, "the union's pool stays the union's")
}
