package scatter_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/glebarez/go-sqlite" // database/sql driver "sqlite"
	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant/sharding/scatter"
	"github.com/grant-go/grant/sharding/scatter/collate"
	"github.com/grant-go/grant/sharding/scatter/value"
)

const schema = `CREATE TABLE orders (
	id INTEGER PRIMARY KEY,
	customer_id INTEGER NOT NULL,
	amount INTEGER NOT NULL,
	price REAL,
	name TEXT,
	created_at DATETIME NOT NULL
)`

// openSQLite opens a new SQLite database file and runs ddl on it.
func openSQLite(t testing.TB, name string, ddl ...string) *sql.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	for _, s := range ddl {
		_, err = db.Exec(s)
		require.NoError(t, err, s)
	}
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

// cluster is n shard databases (orders by customer_id % n) and a union
// database holding every row.
type cluster struct {
	shards []*sql.DB
	union  *sql.DB
	rows   []order

	mu       sync.Mutex
	catalogs map[string]scatter.Catalog
}

// spread is a cluster of one table made by ddl: inserts[i] are the
// statements that fill shard i; the union runs them all.
func spread(t testing.TB, ddl string, inserts ...[]string) *cluster {
	c := &cluster{union: openSQLite(t, "union", ddl)}
	for i, stmts := range inserts {
		c.shards = append(c.shards, openSQLite(t, fmt.Sprintf("shard%d", i), append([]string{ddl}, stmts...)...))
		for _, s := range stmts {
			_, err := c.union.Exec(s)
			require.NoError(t, err, s)
		}
	}
	return c
}

func newCluster(t testing.TB, seed uint64, nShards, nRows int) *cluster {
	c := &cluster{union: openSQLite(t, "union", schema), rows: genOrders(seed, nRows)}
	parts := make([][]order, nShards)
	for _, o := range c.rows {
		parts[o.CustomerID%int64(nShards)] = append(parts[o.CustomerID%int64(nShards)], o)
	}
	for i := range nShards {
		db := openSQLite(t, fmt.Sprintf("shard%d", i), schema)
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

// catalog is what the union's schema says of a table, read once.
func (c *cluster) catalog(table string) (scatter.Catalog, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cat, ok := c.catalogs[table]; ok {
		return cat, nil
	}
	t, err := collate.LoadTable(context.Background(), c.union, collate.SQLite, table)
	if err != nil {
		return nil, err
	}
	if c.catalogs == nil {
		c.catalogs = map[string]scatter.Catalog{}
	}
	c.catalogs[table] = tableCatalog(t, c.union, collate.SQLite)
	return c.catalogs[table], nil
}

// query is a SELECT, clause by clause, as a caller hands it to PlanQuery:
// SQLite placeholders ("?") and each clause's values.
type query struct {
	Select, From, Where, GroupBy, Having, OrderBy string // From "": orders
	SelectArgs, WhereArgs, HavingArgs, OrderArgs  []any
	Limit                                         *int // nil: none
	Offset                                        int
}

func (q query) String() string {
	s, args := q.unionSQL()
	return fmt.Sprintf("%s %v", s, args)
}

// unionSQL is the query as one database runs it.
func (q query) unionSQL() (string, []any) {
	var b strings.Builder
	args := append([]any{}, q.SelectArgs...)
	b.WriteString("SELECT " + q.Select + " " + q.tail())
	args = append(args, q.WhereArgs...)
	if q.GroupBy != "" {
		b.WriteString(" GROUP BY " + q.GroupBy)
	}
	if q.Having != "" {
		b.WriteString(" HAVING " + q.Having)
		args = append(args, q.HavingArgs...)
	}
	if q.OrderBy != "" {
		b.WriteString(" ORDER BY " + q.OrderBy)
		args = append(args, q.OrderArgs...)
	}
	switch {
	case q.Limit != nil:
		fmt.Fprintf(&b, " LIMIT %d OFFSET %d", *q.Limit, q.Offset)
	case q.Offset > 0:
		fmt.Fprintf(&b, " LIMIT -1 OFFSET %d", q.Offset)
	}
	return b.String(), args
}

// tail is the FROM and WHERE clauses, which the planner does not read.
func (q query) tail() string {
	s := "FROM " + q.From
	if q.From == "" {
		s = "FROM orders"
	}
	if q.Where != "" {
		s += " WHERE " + q.Where
	}
	return s
}

// planned is a query planned for the shards.
type planned struct {
	*scatter.Planned
	sql  string // what every shard runs
	args []any
}

// planQuery plans q for SQLite under cat.
func planQuery(q query, cat scatter.Catalog) (planned, error) {
	return planIn(value.NewEnv(value.SQLite), q, cat)
}

// planIn plans q for env's dialect under cat; the shard SQL it returns has
// SQLite's placeholders.
func planIn(env value.Env, q query, cat scatter.Catalog) (planned, error) {
	sq := scatter.Query{Env: env, Catalog: cat, Limit: -1, Offset: q.Offset,
		Select:  scatter.SQL{Text: q.Select, Vars: q.SelectArgs},
		GroupBy: scatter.SQL{Text: q.GroupBy},
		Having:  scatter.SQL{Text: q.Having, Vars: q.HavingArgs},
		OrderBy: scatter.SQL{Text: q.OrderBy, Vars: q.OrderArgs},
	}
	if q.Limit != nil {
		sq.Limit = *q.Limit
	}
	p, err := scatter.PlanQuery(sq)
	if err != nil {
		return planned{}, err
	}
	// The tail is written with NUL bytes for parameters, as the planner's
	// clauses are; named parameters (@name) stay as they are.
	tail := scatter.SQL{Text: strings.ReplaceAll(q.tail(), "?", "\x00"), Vars: q.WhereArgs}
	st := p.Shard.Statement(tail)
	return planned{Planned: p, sql: st.Bind(func(int) string { return "?" }), args: st.Vars}, nil
}

// plan plans q on the cluster's table, failing the test on a refusal.
func (c *cluster) plan(t testing.TB, q query) planned {
	t.Helper()
	cat, err := c.catalog(tableOf(q))
	require.NoError(t, err)
	p, err := planQuery(q, cat)
	require.NoError(t, err, q.String())
	return p
}

func tableOf(q query) string {
	if q.From == "" {
		return "orders"
	}
	return q.From
}

// statement plans q and returns the Statement that runs it on every shard.
func (c *cluster) statement(t testing.TB, q query) (*scatter.Statement, planned) {
	t.Helper()
	p := c.plan(t, q)
	return &scatter.Statement{Targets: c.targets(), Program: p.Program}, p
}

// across runs q across the shards.
func (c *cluster) across(t testing.TB, q query) ([]string, [][]any) {
	t.Helper()
	st, p := c.statement(t, q)
	db := scatter.Open(st)
	defer db.Close()
	return readAll(t, db, p.sql, p.args...)
}

// want runs q on the union database.
func (c *cluster) want(t testing.TB, q query) ([]string, [][]any) {
	t.Helper()
	s, args := q.unionSQL()
	return readAll(t, c.union, s, args...)
}

// same requires q to answer across the shards what it answers on the union.
func (c *cluster) same(t testing.TB, q query) [][]any {
	t.Helper()
	wantCols, want := c.want(t, q)
	gotCols, got := c.across(t, q)
	require.Equal(t, wantCols, gotCols, q.String())
	require.Equal(t, want, got, q.String())
	return got
}

// sameAll runs same for each query in a subtest of its own.
func (c *cluster) sameAll(t *testing.T, qs ...query) {
	t.Helper()
	for _, q := range qs {
		t.Run(q.Select, func(t *testing.T) { c.same(t, q) })
	}
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
