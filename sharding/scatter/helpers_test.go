package scatter_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/glebarez/go-sqlite" // database/sql driver "sqlite"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/grant-go/grant/sharding/scatter"
)

const schema = `CREATE TABLE orders (
	id INTEGER PRIMARY KEY,
	customer_id INTEGER NOT NULL,
	amount INTEGER NOT NULL,
	price REAL,
	name TEXT,
	created_at DATETIME NOT NULL
)`

func openSQLite(t testing.TB, name string) *sql.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	_, err = db.Exec(schema)
	require.NoError(t, err)
	return db
}

type order struct {
	ID, CustomerID, Amount int64
	Price                  any // float64 or nil
	Name                   any // string or nil
	CreatedAt              string
}

var names = []string{"apple", "Apple", "banana", "cherry", "Durian", "elder", "fig", "grape", "kiwi", "lime", "mango", "ábaco"}

// genOrders makes n seeded random orders. Prices are multiples of 1/8 so
// float sums are exact in any order; names and times repeat to make ties.
func genOrders(seed uint64, n int) []order {
	r := rand.New(rand.NewPCG(seed, seed^0x5ca77e7))
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([]order, n)
	for i := range out {
		o := order{
			ID:         int64(i + 1),
			CustomerID: int64(r.IntN(60) + 1),
			Amount:     int64(r.IntN(5500) - 500),
			CreatedAt:  base.Add(time.Duration(r.IntN(400)) * time.Hour).Format("2006-01-02 15:04:05"),
		}
		if r.IntN(10) > 0 {
			o.Price = float64(r.IntN(8000)) / 8
		}
		if r.IntN(10) > 0 {
			o.Name = names[r.IntN(len(names))]
		}
		out[i] = o
	}
	return out
}

func insert(t testing.TB, db *sql.DB, rows []order) {
	t.Helper()
	tx, err := db.Begin()
	require.NoError(t, err)
	for _, o := range rows {
		_, err := tx.Exec(`INSERT INTO orders (id, customer_id, amount, price, name, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			o.ID, o.CustomerID, o.Amount, o.Price, o.Name, o.CreatedAt)
		require.NoError(t, err)
	}
	require.NoError(t, tx.Commit())
}

// cluster is n shard databases (rows by customer_id % n) and a union
// database holding every row.
type cluster struct {
	shards []*sql.DB
	union  *sql.DB
	rows   []order
}

func newCluster(t testing.TB, seed uint64, nShards, nRows int) *cluster {
	c := &cluster{union: openSQLite(t, "union"), rows: genOrders(seed, nRows)}
	parts := make([][]order, nShards)
	for _, o := range c.rows {
		parts[o.CustomerID%int64(nShards)] = append(parts[o.CustomerID%int64(nShards)], o)
	}
	for i := range nShards {
		db := openSQLite(t, fmt.Sprintf("shard%d", i))
		insert(t, db, parts[i])
		c.shards = append(c.shards, db)
	}
	insert(t, c.union, c.rows)
	return c
}

func (c *cluster) targets() []scatter.Target {
	ts := make([]scatter.Target, len(c.shards))
	for i, db := range c.shards {
		ts[i] = scatter.Target{Name: fmt.Sprintf("orders/shard%d", i), Pool: db}
	}
	return ts
}

// readAll runs a query and returns its columns and rows as driver values.
func readAll(t testing.TB, db *sql.DB, query string, args ...any) ([]string, [][]any) {
	t.Helper()
	cols, rows, err := tryReadAll(context.Background(), db, query, args...)
	require.NoError(t, err, query)
	return cols, rows
}

func tryReadAll(ctx context.Context, db *sql.DB, query string, args ...any) ([]string, [][]any, error) {
	rs, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, nil, err
	}
	defer rs.Close()
	cols, err := rs.Columns()
	if err != nil {
		return nil, nil, err
	}
	var out [][]any
	for rs.Next() {
		row := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range row {
			ptrs[i] = &row[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			return nil, nil, err
		}
		out = append(out, row)
	}
	return cols, out, rs.Err()
}

// slowPool delays every query by d (or until the context is done).
type slowPool struct {
	gorm.ConnPool
	d time.Duration
}

func (p slowPool) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	select {
	case <-time.After(p.d):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return p.ConnPool.QueryContext(ctx, q, args...)
}

// blockPool blocks every query until its context is done, and counts the
// queries that saw the cancellation.
type blockPool struct {
	gorm.ConnPool
	started, cancelled *atomic.Int32
}

func (p blockPool) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	p.started.Add(1)
	<-ctx.Done()
	p.cancelled.Add(1)
	return nil, ctx.Err()
}

// failPool fails every statement with err.
type failPool struct {
	gorm.ConnPool
	err error
}

func (p failPool) QueryContext(context.Context, string, ...any) (*sql.Rows, error) {
	return nil, p.err
}

func (p failPool) ExecContext(context.Context, string, ...any) (sql.Result, error) {
	return nil, p.err
}

// countPool records the most queries in flight at once across its copies.
type countPool struct {
	gorm.ConnPool
	c *inflight
	d time.Duration
}

type inflight struct {
	mu       sync.Mutex
	now, max int
}

func (p countPool) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	p.c.mu.Lock()
	p.c.now++
	p.c.max = max(p.c.max, p.c.now)
	p.c.mu.Unlock()
	defer func() {
		p.c.mu.Lock()
		p.c.now--
		p.c.mu.Unlock()
	}()
	time.Sleep(p.d)
	return p.ConnPool.QueryContext(ctx, q, args...)
}
