package scatter_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/grant-go/grant/sharding/scatter"
)

var errBoom = errors.New("boom")

var selectIDs = query{Select: "id"}

func TestFailingShardFailsQueryWithItsName(t *testing.T) {
	c := newCluster(t, 1, 4, 200)
	st, p := c.statement(t, selectIDs)
	st.Targets[2].Pool = failPool{ConnPool: st.Targets[2].Pool, err: errBoom}
	res := &scatter.Result{}
	st.Result = res
	db := scatter.Open(st)
	defer db.Close()

	_, _, err := tryReadAll(context.Background(), db, p.sql)
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
	st2, _ := c.statement(t, selectIDs)
	db2 := scatter.Open(st2)
	defer db2.Close()
	_, _, err = tryReadAll(context.Background(), db2, p.sql)
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "orders/shard3", se.Shard)
	assert.Contains(t, err.Error(), "no such table")
}

func TestAllowPartial(t *testing.T) {
	c := newCluster(t, 2, 4, 200)
	st, p := c.statement(t, query{Select: "id", OrderBy: "id"})
	st.Targets[1].Pool = failPool{ConnPool: st.Targets[1].Pool, err: errBoom}
	res := &scatter.Result{}
	st.AllowPartial, st.Result = true, res
	db := scatter.Open(st)
	defer db.Close()

	_, got := readAll(t, db, p.sql)
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
	for i := range st.Targets {
		st.Targets[i].Pool = failPool{ConnPool: st.Targets[i].Pool, err: errBoom}
	}
	_, _, err := tryReadAll(context.Background(), db, p.sql)
	assert.ErrorIs(t, err, errBoom)
	var se *scatter.ShardError
	assert.ErrorAs(t, err, &se)
	assert.Len(t, res.Failures(), 4)
}

func TestCancelStopsEveryShard(t *testing.T) {
	c := newCluster(t, 3, 4, 50)
	var started, cancelled tally
	st, p := c.statement(t, selectIDs)
	for i := range st.Targets {
		st.Targets[i].Pool = blockPool{ConnPool: st.Targets[i].Pool, started: &started, cancelled: &cancelled}
	}
	db := scatter.Open(st)
	defer db.Close()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, _, err := tryReadAll(ctx, db, p.sql)
		done <- err
	}()
	started.await(t, 4)
	cancel()
	err := receive(t, done, "the query's return after cancel")
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 4, cancelled.load(), "every shard's query saw the cancellation")
}

func TestFailureCancelsOtherShards(t *testing.T) {
	c := newCluster(t, 4, 4, 50)
	var started, cancelled tally
	st, p := c.statement(t, selectIDs)
	for i := range st.Targets {
		st.Targets[i].Pool = blockPool{ConnPool: st.Targets[i].Pool, started: &started, cancelled: &cancelled}
	}
	st.Targets[3].Pool = failPool{ConnPool: c.shards[3], err: errBoom}
	db := scatter.Open(st)
	defer db.Close()

	done := make(chan error, 1)
	go func() {
		_, _, err := tryReadAll(context.Background(), db, p.sql)
		done <- err
	}()
	err := receive(t, done, "the query's return after a shard failed") // the others block until cancelled
	var se *scatter.ShardError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "orders/shard3", se.Shard)
	assert.ErrorIs(t, err, errBoom)
	assert.Equal(t, started.load(), cancelled.load())
}

func TestExecSumsRowsAffected(t *testing.T) {
	c := newCluster(t, 5, 4, 500)
	res := &scatter.Result{}
	db := scatter.Open(&scatter.Statement{Targets: c.targets(), Result: res}) // an Exec needs no Program
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

	// Under AllowPartial a failing shard is recorded; the others' sum is
	// returned.
	ts := c.targets()
	ts[1].Pool = failPool{ConnPool: ts[1].Pool, err: errBoom}
	partial := scatter.Open(&scatter.Statement{Targets: ts, Result: res, AllowPartial: true})
	defer partial.Close()
	got, err = partial.Exec("UPDATE orders SET amount = amount WHERE id > ?", 0)
	require.NoError(t, err)
	gotN, _ = got.RowsAffected()
	assert.Equal(t, res.TotalRows(), int(gotN))
	assert.Equal(t, len(c.rows)-countShard(c, 1), int(gotN))
	assert.NotContains(t, res.RowCounts(), "orders/shard1")
	assert.ErrorIs(t, res.Failures()["orders/shard1"], errBoom)

	// A failing shard does not stop the others: they apply, the error names it.
	ts = c.targets()
	ts[0].Pool = failPool{ConnPool: ts[0].Pool, err: errBoom}
	db2 := scatter.Open(&scatter.Statement{Targets: ts, Result: res})
	defer db2.Close()
	_, err = db2.Exec("DELETE FROM orders")
	var se *scatter.ShardError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "orders/shard0", se.Shard)
	assert.ErrorIs(t, err, errBoom)
	for _, s := range c.shards[1:] {
		var n int
		require.NoError(t, s.QueryRow("SELECT COUNT(*) FROM orders").Scan(&n))
		assert.Zero(t, n)
	}
	var n int
	require.NoError(t, c.shards[0].QueryRow("SELECT COUNT(*) FROM orders").Scan(&n))
	assert.Equal(t, countShard(c, 0), n, "the failing shard kept its rows")
	assert.Len(t, res.RowCounts(), 3)
	assert.Contains(t, res.Failures(), "orders/shard0")
}

// countShard is how many of the cluster's rows shard i holds.
func countShard(c *cluster, i int) int {
	n := 0
	for _, o := range c.rows {
		if o.CustomerID%int64(len(c.shards)) == int64(i) {
			n++
		}
	}
	return n
}

func TestColumnsMustMatch(t *testing.T) {
	c := newCluster(t, 6, 4, 50)
	_, err := c.shards[2].Exec("ALTER TABLE orders ADD COLUMN note TEXT")
	require.NoError(t, err)
	for _, partial := range []bool{false, true} {
		st, p := c.statement(t, query{Select: "*"})
		st.AllowPartial = partial
		db := scatter.Open(st)
		_, _, err = tryReadAll(context.Background(), db, p.sql)
		var se *scatter.ShardError
		require.ErrorAs(t, err, &se, "partial %v", partial)
		assert.Equal(t, "orders/shard2", se.Shard)
		assert.Contains(t, err.Error(), "note")
		db.Close()
	}
}

func TestConcurrencyBound(t *testing.T) {
	c := newCluster(t, 7, 8, 80)
	for _, limit := range []int{1, 3, 0} {
		want := limit
		if limit == 0 {
			want = 8
		}
		n := &crowd{want: want}
		st, p := c.statement(t, query{Select: "id", OrderBy: "id"})
		for i := range st.Targets {
			st.Targets[i].Pool = crowdPool{ConnPool: st.Targets[i].Pool, c: n}
		}
		st.Concurrency = limit
		db := scatter.Open(st)
		_, rows := readAll(t, db, p.sql)
		db.Close()
		assert.Len(t, rows, 80)
		assert.Equal(t, want, n.max(), "concurrency %d", limit)
	}
}

func TestNoTransactionsPrepareAndNoTargets(t *testing.T) {
	c := newCluster(t, 8, 2, 40)
	st, p := c.statement(t, query{Select: "COUNT(*) AS n", Where: "amount > ?", WhereArgs: []any{0}})
	db := scatter.Open(st)
	defer db.Close()

	_, err := db.Begin()
	assert.ErrorIs(t, err, scatter.ErrNoTransaction)

	prepared, err := db.Prepare(p.sql)
	require.NoError(t, err)
	defer prepared.Close()
	var got, want int64
	require.NoError(t, prepared.QueryRow(-1000).Scan(&got))
	require.NoError(t, c.union.QueryRow("SELECT COUNT(*) FROM orders").Scan(&want))
	assert.Equal(t, want, got)
	require.NoError(t, prepared.QueryRow(1000).Scan(&got))
	require.NoError(t, c.union.QueryRow("SELECT COUNT(*) FROM orders WHERE amount > 1000").Scan(&want))
	assert.Equal(t, want, got)

	empty := scatter.Open(&scatter.Statement{Program: p.Program})
	defer empty.Close()
	_, err = empty.Query(p.sql, 0)
	assert.ErrorIs(t, err, scatter.ErrNoTargets)
	_, err = empty.Exec("DELETE FROM orders")
	assert.ErrorIs(t, err, scatter.ErrNoTargets)

	noProgram := scatter.Open(&scatter.Statement{Targets: c.targets()})
	defer noProgram.Close()
	_, err = noProgram.Query(p.sql, 0)
	assert.ErrorContains(t, err, "Program")

	handle := scatter.NewDB()
	defer handle.Close()
	_, err = handle.Query(p.sql, 0)
	assert.ErrorIs(t, err, scatter.ErrNoStatement)
	_, err = handle.Exec("DELETE FROM orders")
	assert.ErrorIs(t, err, scatter.ErrNoStatement)
}

// TestRefusedContactsNoShard: a refused statement fails every query and
// Exec with the refusal before any shard is asked.
func TestRefusedContactsNoShard(t *testing.T) {
	c := newCluster(t, 13, 2, 10)
	cat, err := c.catalog("orders")
	require.NoError(t, err)
	_, err = planQuery(query{Select: "id, ROW_NUMBER() OVER (ORDER BY id) AS rn"}, cat)
	var refusal *scatter.Refusal
	require.ErrorAs(t, err, &refusal)
	assert.Equal(t, scatter.ReasonWindow, refusal.Reason)

	st := scatter.Refused(refusal)
	var started, cancelled tally
	for _, tg := range c.targets() {
		st.Targets = append(st.Targets, scatter.Target{Name: tg.Name, Pool: blockPool{ConnPool: tg.Pool, started: &started, cancelled: &cancelled}})
	}
	db := scatter.Open(st)
	defer db.Close()
	var n int
	assert.ErrorIs(t, db.QueryRow("SELECT 1").Scan(&n), refusal)
	_, err = db.Exec("DELETE FROM orders")
	assert.ErrorIs(t, err, refusal)
	assert.Zero(t, started.load())
}

type cents int64

func (c cents) Value() (driver.Value, error) { return int64(c) * 100, nil }

// TestArgsPassThrough: arguments reach every shard unchanged — Valuers are
// not called, Go types are kept, names stay names.
func TestArgsPassThrough(t *testing.T) {
	c := newCluster(t, 12, 2, 100)
	args := []any{cents(3), sql.NullInt64{Int64: 7, Valid: true}, sql.Named("lo", int32(-10)), "x%"}
	q := query{Select: "COUNT(*) AS n", Where: "amount < ? AND customer_id <> ? AND amount > @lo AND name NOT LIKE ?", WhereArgs: args}
	st, p := c.statement(t, q)
	got := make([][]any, len(st.Targets))
	for i := range st.Targets {
		st.Targets[i].Pool = capturePool{ConnPool: st.Targets[i].Pool, got: &got[i]}
	}
	db := scatter.Open(st)
	defer db.Close()
	var n, want int64
	require.NoError(t, db.QueryRow(p.sql, p.args...).Scan(&n))
	u, uargs := q.unionSQL()
	require.NoError(t, c.union.QueryRow(u, uargs...).Scan(&want))
	assert.Equal(t, want, n)
	for i := range got {
		assert.Equal(t, args, got[i])
	}
}

// TestNewDBRunsTheContextsStatement: one NewDB handle runs, concurrently,
// whatever Statement each query's context carries.
func TestNewDBRunsTheContextsStatement(t *testing.T) {
	c := newCluster(t, 14, 4, 400)
	handle := scatter.NewDB()
	defer handle.Close()
	queries := []query{
		{Select: "id, name", OrderBy: "name DESC, id", Limit: new(15), Offset: 3},
		{Select: "customer_id % 4 AS g, SUM(amount) AS s", GroupBy: "g", OrderBy: "s DESC"},
		{Select: "COUNT(*)", Where: "price > ?", WhereArgs: []any{300}},
	}
	var g errgroup.Group
	for range 3 {
		for _, q := range queries {
			st, p := c.statement(t, q)
			res := &scatter.Result{}
			st.Result = res
			g.Go(func() error {
				_, rows, err := tryReadAll(scatter.WithStatement(context.Background(), st), handle, p.sql, p.args...)
				if err != nil {
					return err
				}
				u, args := q.unionSQL()
				_, want, err := tryReadAll(context.Background(), c.union, u, args...)
				if err != nil {
					return err
				}
				if !assert.Equal(t, want, rows, q.String()) || res.Partial() {
					return errors.New("mismatch")
				}
				return nil
			})
		}
	}
	require.NoError(t, g.Wait())
}
