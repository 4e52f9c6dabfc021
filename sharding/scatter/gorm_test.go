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

// TestGORMScansMergedRows runs GORM's own statements on a scatter handle,
// as the glue does (the clauses the planner rewrites replaced by the
// shards' SELECT, ORDER BY and LIMIT), and on the union database:
// structs, maps, Count, Pluck, aggregate scans and First come out
// identical.
func TestGORMScansMergedRows(t *testing.T) {
	c := newCluster(t, 11, 4, 600)
	union := gormOn(t, c.union)
	// on plans q and returns a session whose statement runs across the
	// shards, selecting the shards' select list.
	on := func(q query) *gorm.DB {
		tx, p := acrossWith(t, c, union, q)
		return tx.Select(p.Shard.Select.Text)
	}

	require.Same(t, c.union, union.Statement.ConnPool, "the union's pool stays the union's")
	byAmount := query{Select: "*", OrderBy: "amount desc, id"}
	var want, got []Order
	require.NoError(t, union.Where("amount > ?", 2000).Order("amount desc, id").Find(&want).Error)
	require.NoError(t, on(byAmount).Where("amount > ?", 2000).Order("amount desc, id").Find(&got).Error)
	require.NotEmpty(t, want)
	assert.Equal(t, want, got)

	var wantMaps, gotMaps []map[string]any
	require.NoError(t, union.Table("orders").Order("amount desc, id").Limit(50).Offset(7).Find(&wantMaps).Error)
	page := byAmount
	page.Limit, page.Offset = new(50), 7
	require.NoError(t, on(page).Table("orders").Order("amount desc, id").Limit(57).Find(&gotMaps).Error)
	assert.Equal(t, wantMaps, gotMaps)

	var wantN, gotN int64
	require.NoError(t, union.Model(&Order{}).Where("price > ?", 300).Count(&wantN).Error)
	count, _ := acrossWith(t, c, union, query{Select: "count(*)"}) // Count writes the shards' select list itself
	require.NoError(t, count.Model(&Order{}).Where("price > ?", 300).Count(&gotN).Error)
	assert.Equal(t, wantN, gotN)

	var wantNames, gotNames []sql.NullString
	require.NoError(t, union.Model(&Order{}).Order("name desc").Pluck("name", &wantNames).Error)
	require.NoError(t, on(query{Select: "name", OrderBy: "name desc"}).Model(&Order{}).Order("name desc").Pluck("name", &gotNames).Error)
	assert.Equal(t, wantNames, gotNames)

	type totals struct {
		S   int64
		Sp  float64
		Ap  float64
		Mna int64
		N   int64
	}
	var wantT, gotT totals
	sel := "SUM(amount) AS s, SUM(price) AS sp, AVG(price) AS ap, MIN(amount) AS mna, COUNT(DISTINCT name) AS n"
	require.NoError(t, union.Model(&Order{}).Select(sel).Scan(&wantT).Error)
	tx, p := acrossWith(t, c, union, query{Select: sel}) // COUNT(DISTINCT name): the shards group by name
	require.NoError(t, tx.Model(&Order{}).Select(p.Shard.Select.Text).Group(p.Shard.GroupBy.Text).Scan(&gotT).Error)
	assert.Equal(t, wantT, gotT)

	// First obeys the order: LIMIT 1 reaches every shard, the merge keeps one.
	var wantFirst, gotFirst Order
	first := query{Select: "*", OrderBy: "`orders`.`id`", Limit: new(1)}
	require.NoError(t, union.Where("customer_id IN ?", []int{3, 6, 9, 10}).First(&wantFirst).Error)
	require.NoError(t, on(first).Where("customer_id IN ?", []int{3, 6, 9, 10}).First(&gotFirst).Error)
	assert.Equal(t, wantFirst, gotFirst)
	err := on(first).Where("customer_id = ?", -1).First(&gotFirst).Error
	assert.ErrorIs(t, err, gorm.ErrRecordNotFound)
	require.Same(t, c.union, union.Statement.ConnPool, "the union's pool stays the union's")
}

// acrossWith plans q and returns a session of db whose statements run
// across the cluster's shards.
func acrossWith(t *testing.T, c *cluster, db *gorm.DB, q query) (*gorm.DB, planned) {
	t.Helper()
	st, p := c.statement(t, q)
	pool := scatter.Open(st)
	t.Cleanup(func() { pool.Close() })
	tx := db.Session(&gorm.Session{NewDB: true, Context: context.Background()}) // clones the Statement
	tx.Statement.ConnPool = pool                                                // what the glue does per statement
	return tx, p
}

// TestGORMScansMergedTimes: the first and last order times, scanned by
// GORM into a struct, as on one database.
func TestGORMScansMergedTimes(t *testing.T) {
	c := newCluster(t, 15, 4, 200)
	union := gormOn(t, c.union)
	q := query{Select: "MAX(created_at) AS mx, MIN(created_at) AS mn"}
	tx, p := acrossWith(t, c, union, q)
	type span struct{ Mx, Mn string }
	var want, got span
	require.NoError(t, union.Model(&Order{}).Select(q.Select).Scan(&want).Error)
	require.NoError(t, tx.Model(&Order{}).Select(p.Shard.Select.Text).Scan(&got).Error)
	assert.Equal(t, want, got)
}
