package scatter_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/grant-go/grant/sharding/scatter"
)

var errBoom = errors.New("boom")

func TestFailingShardFailsQueryWithItsName(t *testing.T) {
	c := newCluster(t, 1, 4, 200)
	ts := c.targets()
	ts[2].Pool = failPool{ConnPool: ts[2].Pool, err: errBoom}
	res := &scatter.Result{}
	db := scatter.Open(ts, scatter.Plan{Result: res})
	defer db.Close()

	_, _, err := tryReadAll(context.Background(), db, "SELECT id FROM orders")
	var se *scatter.ShardError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "orders/shard2", se.Shard)
	assert.ErrorIs(t, err, errBoom)
	assert.Contains(t, err.Error(), "orders/shard2")
	assert.True(t, res.Partial())
	assert.ErrorIs(t, res.Failures()["orders/shard2"], errBoom)

	// A real driver error: one shard lacks the table.
	_, err = c.shards[3].Exec("DROP TABLE orders")
	require.NoError(t, err)
	db2 := scatter.Open(c.targets(), scatter.Plan{})
	defer db2.Close()
	_, _, err = tryReadAll(context.Background(), db2, "SELECT id FROM orders")
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "orders/shard3", se.Shard)
	assert.Contains(t, err.Error(), "no such table")
}

func TestAllowPartial(t *testing.T) {
	c := newCluster(t, 2, 4, 200)
	ts := c.targets()
	ts[1].Pool = failPool{ConnPool: ts[1].Pool, err: errBoom}
	res := &scatter.Result{}
	db := scatter.Open(ts, scatter.Plan{AllowPartial: true, Result: res, OrderBy: []scatter.OrderColumn{{Name: "id"}}})
	defer db.Close()

	_, got := readAll(t, db, "SELECT id FROM orders ORDER BY id")
	var want [][]any
	for _, o := range c.rows {
		if o.CustomerID%4 != 1 {
			want = append(want, []any{o.ID})
		}
	}
	assert.Equal(t, want, got)
	assert.True(t, res.Partial())
	assert.Len(t, res.Failures(), 1)
	assert.ErrorIs(t, res.Failures()["orders/shard1"], errBoom)
	assert.NotContains(t, res.RowCounts(), "orders/shard1")
	assert.Equal(t, len(want), res.TotalRows())

	// Every shard failing fails even a partial query.
	for i := range ts {
		ts[i].Pool = failPool{ConnPool: ts[i].Pool, err: errBoom}
	}
	db2 := scatter.Open(ts, scatter.Plan{AllowPartial: true})
	defer db2.Close()
	_, _, err := tryReadAll(context.Background(), db2, "SELECT id FROM orders")
	assert.ErrorIs(t, err, errBoom)
	var se *scatter.ShardError
	assert.ErrorAs(t, err, &se)
}

func TestCancelStopsEveryShard(t *testing.T) {
	c := newCluster(t, 3, 4, 50)
	var started, cancelled atomic.Int32
	ts := c.targets()
	for i := range ts {
		ts[i].Pool = blockPool{ConnPool: ts[i].Pool, started: &started, cancelled: &cancelled}
	}
	db := scatter.Open(ts, scatter.Plan{})
	defer db.Close()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, _, err := tryReadAll(ctx, db, "SELECT id FROM orders")
		done <- err
	}()
	require.Eventually(t, func() bool { return started.Load() == 4 }, time.Second, time.Millisecond)
	at := time.Now()
	cancel()
	select {
	case err := <-done:
		assert.Less(t, time.Since(at), 100*time.Millisecond)
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(time.Second):
		t.Fatal("query did not return after cancel")
	}
	assert.Equal(t, int32(4), cancelled.Load(), "every shard's query saw the cancellation")
}

func TestFailureCancelsOtherShards(t *testing.T) {
	c := newCluster(t, 4, 4, 50)
	var started, cancelled atomic.Int32
	ts := c.targets()
	for i := range ts {
		ts[i].Pool = blockPool{ConnPool: ts[i].Pool, started: &started, cancelled: &cancelled}
	}
	ts[3].Pool = failPool{ConnPool: c.shards[3], err: errBoom}
	db := scatter.Open(ts, scatter.Plan{})
	defer db.Close()

	at := time.Now()
	_, _, err := tryReadAll(context.Background(), db, "SELECT id FROM orders")
	assert.Less(t, time.Since(at), 500*time.Millisecond)
	var se *scatter.ShardError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "orders/shard3", se.Shard)
	assert.ErrorIs(t, err, errBoom)
	assert.Equal(t, started.Load(), cancelled.Load())
}

func TestExecSumsRowsAffected(t *testing.T) {
	c := newCluster(t, 5, 4, 500)
	res := &scatter.Result{}
	db := scatter.Open(c.targets(), scatter.Plan{Result: res})
	defer db.Close()

	const upd = "UPDATE orders SET amount = amount + 1 WHERE amount > ?"
	want, err := c.union.Exec(upd, 1000)
	require.NoError(t, err)
	got, err := db.Exec(upd, 1000)
	require.NoError(t, err)
	wantN, _ := want.RowsAffected()
	gotN, err := got.RowsAffected()
	require.NoError(t, err)
	assert.Equal(t, wantN, gotN)
	assert.Positive(t, gotN)
	assert.Equal(t, int(gotN), res.TotalRows())
	assert.Len(t, res.RowCounts(), 4)
	_, err = got.LastInsertId()
	assert.ErrorIs(t, err, scatter.ErrNoLastInsertID)

	// A failing shard does not stop the others: they apply, the error names it.
	ts := c.targets()
	ts[0].Pool = failPool{ConnPool: ts[0].Pool, err: errBoom}
	db2 := scatter.Open(ts, scatter.Plan{Result: res})
	defer db2.Close()
	_, err = db2.Exec("DELETE FROM orders")
	var se *scatter.ShardError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "orders/shard0", se.Shard)
	for _, s := range c.shards[1:] {
		var n int
		require.NoError(t, s.QueryRow("SELECT COUNT(*) FROM orders").Scan(&n))
		assert.Zero(t, n)
	}
	assert.Len(t, res.RowCounts(), 3)
	assert.Contains(t, res.Failures(), "orders/shard0")
}

func TestColumnsMustMatch(t *testing.T) {
	c := newCluster(t, 6, 4, 50)
	_, err := c.shards[2].Exec("ALTER TABLE orders ADD COLUMN note TEXT")
	require.NoError(t, err)
	for _, partial := range []bool{false, true} {
		db := scatter.Open(c.targets(), scatter.Plan{AllowPartial: partial})
		_, _, err = tryReadAll(context.Background(), db, "SELECT * FROM orders")
		var se *scatter.ShardError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, "orders/shard2", se.Shard)
		assert.Contains(t, err.Error(), "note")
		db.Close()
	}
}

func TestConcurrencyBound(t *testing.T) {
	c := newCluster(t, 7, 8, 80)
	for _, limit := range []int{1, 3, 0} {
		n := &inflight{}
		ts := c.targets()
		for i := range ts {
			ts[i].Pool = countPool{ConnPool: ts[i].Pool, c: n, d: 10 * time.Millisecond}
		}
		db := scatter.Open(ts, scatter.Plan{Concurrency: limit})
		_, rows := readAll(t, db, "SELECT id FROM orders")
		db.Close()
		assert.Len(t, rows, 80)
		want := limit
		if limit == 0 {
			want = 8
		}
		assert.Equal(t, want, n.max, "concurrency %d", limit)
	}
}

func TestNoTransactionsPrepareAndNoTargets(t *testing.T) {
	c := newCluster(t, 8, 2, 40)
	db := scatter.Open(c.targets(), scatter.Plan{Aggregates: map[string]scatter.Aggregate{"n": scatter.Sum}})
	defer db.Close()

	_, err := db.Begin()
	assert.ErrorIs(t, err, scatter.ErrNoTransaction)

	st, err := db.Prepare("SELECT COUNT(*) AS n FROM orders WHERE amount > ?")
	require.NoError(t, err)
	defer st.Close()
	var got, want int64
	require.NoError(t, st.QueryRow(-1000).Scan(&got))
	require.NoError(t, c.union.QueryRow("SELECT COUNT(*) FROM orders").Scan(&want))
	assert.Equal(t, want, got)

	empty := scatter.Open(nil, scatter.Plan{})
	defer empty.Close()
	_, err = empty.Query("SELECT 1")
	assert.ErrorIs(t, err, scatter.ErrNoTargets)
	_, err = empty.Exec("DELETE FROM orders")
	assert.ErrorIs(t, err, scatter.ErrNoTargets)
}

func TestPlanNamesUnknownColumn(t *testing.T) {
	c := newCluster(t, 9, 2, 10)
	for _, plan := range []scatter.Plan{
		{OrderBy: []scatter.OrderColumn{{Name: "nope"}}},
		{GroupBy: []string{"nope"}},
		{Aggregates: map[string]scatter.Aggregate{"nope": scatter.Sum}},
		{Aggregates: map[string]scatter.Aggregate{"id": scatter.Aggregate(9)}},
	} {
		db := scatter.Open(c.targets(), plan)
		for _, q := range []string{"SELECT id FROM orders", "SELECT id FROM orders LIMIT 1", "SELECT id FROM orders LIMIT 0"} {
			_, _, err := tryReadAll(context.Background(), db, q)
			assert.Error(t, err, "%+v %s", plan, q)
		}
		db.Close()
	}
}

// TestDropSortColumns: an ORDER BY term that is not selected is appended
// to the shards' SELECT and dropped after the merge.
func TestDropSortColumns(t *testing.T) {
	c := newCluster(t, 10, 4, 300)
	wantCols, want := readAll(t, c.union, "SELECT name FROM orders ORDER BY amount DESC, id LIMIT 20 OFFSET 5")
	db := scatter.Open(c.targets(), scatter.Plan{
		OrderBy: []scatter.OrderColumn{{Name: "amount", Desc: true}, {Name: "id"}},
		Limit:   20, Offset: 5,
		Drop: []string{"amount", "ID"},
	})
	defer db.Close()
	rs, err := db.Query("SELECT name, amount, id FROM orders ORDER BY amount DESC, id LIMIT 25")
	require.NoError(t, err)
	types, err := rs.ColumnTypes()
	require.NoError(t, err)
	require.Len(t, types, 1)
	assert.Equal(t, "TEXT", types[0].DatabaseTypeName())
	require.NoError(t, rs.Close())
	gotCols, got := readAll(t, db, "SELECT name, amount, id FROM orders ORDER BY amount DESC, id LIMIT 25")
	assert.Equal(t, wantCols, gotCols)
	assert.Equal(t, want, got)
}

// capturePool records the arguments its queries receive.
type capturePool struct {
	gorm.ConnPool
	got *[]any
}

func (p capturePool) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	*p.got = args
	return p.ConnPool.QueryContext(ctx, q, args...)
}

type cents int64

func (c cents) Value() (driver.Value, error) { return int64(c) * 100, nil }

// TestArgsPassThrough: arguments reach every shard unchanged — Valuers are
// not called, Go types are kept, names stay names.
func TestArgsPassThrough(t *testing.T) {
	c := newCluster(t, 12, 2, 100)
	got := make([][]any, 2)
	ts := c.targets()
	for i := range ts {
		ts[i].Pool = capturePool{ConnPool: ts[i].Pool, got: &got[i]}
	}
	db := scatter.Open(ts, scatter.Plan{Aggregates: map[string]scatter.Aggregate{"n": scatter.Sum}})
	defer db.Close()
	args := []any{cents(3), sql.NullInt64{Int64: 7, Valid: true}, sql.Named("lo", int32(-10)), "x%"}
	const q = "SELECT COUNT(*) AS n FROM orders WHERE amount < ? AND customer_id <> ? AND amount > @lo AND name NOT LIKE ?"
	var n, want int64
	require.NoError(t, db.QueryRow(q, args...).Scan(&n))
	require.NoError(t, c.union.QueryRow(q, args...).Scan(&want))
	assert.Equal(t, want, n)
	for i := range got {
		assert.Equal(t, args, got[i])
	}
}
