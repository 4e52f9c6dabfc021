package scatter_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant/sharding/scatter"
)

// The merge over real SQLite shards, compared with one database holding
// every row.

func inserts(table string, values ...string) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = "INSERT INTO " + table + " VALUES " + v
	}
	return out
}

// TestSQLiteStorageClasses: a column without a type holds integers, reals
// and blobs; SQLite orders numbers (an integer and a real compared
// exactly) before blobs, and so must the merge.
func TestSQLiteStorageClasses(t *testing.T) {
	c := spread(t, "CREATE TABLE vals (id INTEGER PRIMARY KEY, v)",
		inserts("vals", "(1, 3)", "(3, 9223372036854775807)", "(4, NULL)"),
		inserts("vals", "(5, 2.5)", "(6, 4611686018427387904.0)", "(7, x'00')"),
		inserts("vals", "(9, -1)", "(10, 9223372036854775808.0)", "(11, 3.0)", "(12, NULL)", "(13, x'0001')"),
	)
	c.sameAll(t, storageClassQueries...)
}

var storageClassQueries = []query{
	{Select: "id, v", From: "vals", OrderBy: "v, id"},
	{Select: "id, v", From: "vals", OrderBy: "v DESC, id DESC"},
	{Select: "v", From: "vals", OrderBy: "v DESC, id", Limit: new(4), Offset: 2},
	{Select: "MIN(v) AS mn, MAX(v) AS mx, COUNT(v) AS n", From: "vals"},
	{Select: "MIN(v) AS mn, MAX(v) AS mx", From: "vals", Where: "typeof(v) <> 'blob'"},
}

// TestSQLiteTextInUntypedColumn: text in a column without TEXT affinity
// compares under the column's collation, BINARY when none is declared,
// after numbers and before blobs.
func TestSQLiteTextInUntypedColumn(t *testing.T) {
	c := spread(t, "CREATE TABLE vals (id INTEGER PRIMARY KEY, v)",
		inserts("vals", "(1, 3)", "(2, 'abc')", "(4, NULL)"),
		inserts("vals", "(5, 2.5)", "(7, x'00')", "(8, '10')"),
		inserts("vals", "(9, -1)", "(11, 'Abc')", "(12, NULL)"),
	)
	c.sameAll(t, storageClassQueries...)
}

// TestSQLiteDatetimeText: SQLite stores DATETIME values as text and orders
// them as text, whatever instant the text names; the merge must order
// them as the database does.
func TestSQLiteDatetimeText(t *testing.T) {
	c := spread(t, "CREATE TABLE times (id INTEGER PRIMARY KEY, at DATETIME)",
		inserts("times", "(1, '2026-01-01 12:00:00')"),
		inserts("times", "(2, '2026-01-01T13:00:00+02:00')"), // 11:00 UTC
		inserts("times", "(3, '2026-01-01 11:30:00')"),
	)
	c.sameAll(t, query{Select: "id, at", From: "times", OrderBy: "at"},
		query{Select: "MIN(at) AS mn, MAX(at) AS mx", From: "times"})
}

// TestSums: SUM adds integers exactly, turns real when a shard's sum is
// real, is NULL over no value, and fails when the total overflows, as on
// one database; COUNT of nothing is 0.
func TestSums(t *testing.T) {
	c := spread(t, "CREATE TABLE nums (id INTEGER PRIMARY KEY, g INTEGER, i INTEGER, r REAL)",
		inserts("nums", "(1, 1, 1, NULL)", "(2, 2, NULL, NULL)", "(3, 3, 9223372036854775807, 0.5)"),
		inserts("nums", "(4, 1, 5.5, NULL)", "(5, 2, NULL, NULL)", "(6, 3, 1, 0.25)"),
		inserts("nums", "(7, 1, NULL, 1.5)", "(8, 2, NULL, NULL)"),
	)
	const aggs = "SUM(i) AS s, SUM(r) AS sr, COUNT(i) AS n, COUNT(*) AS rows_, MIN(i) AS mn, MAX(r) AS mx, AVG(i) AS a"
	got := c.same(t, query{Select: "g, " + aggs, From: "nums", Where: "g < 3", GroupBy: "g", OrderBy: "g"})
	assert.Equal(t, []any{int64(1), 6.5, 1.5, int64(2), int64(3), int64(1), 1.5, 3.25}, got[0])
	for _, where := range []string{"g = 2", "g = 99", "g = 1", "g <> 3"} {
		c.sameAll(t, query{Select: aggs, From: "nums", Where: where})
	}

	// MaxInt64 on one shard and 1 on another: each shard sums, the total
	// overflows.
	q := query{Select: "SUM(i) AS s", From: "nums", Where: "g = 3"}
	u, args := q.unionSQL()
	_, _, wantErr := tryReadAll(context.Background(), c.union, u, args...)
	require.ErrorContains(t, wantErr, "overflow")
	st, p := c.statement(t, q)
	db := scatter.Open(st)
	defer db.Close()
	_, rows, err := tryReadAll(context.Background(), db, p.sql, p.args...)
	assert.Error(t, err, "the union fails with %v; the merge answered %v", wantErr, rows)
}

// TestMinMaxAndGroups: MIN and MAX of every type, per group and overall;
// GROUP BY without aggregates is DISTINCT.
func TestMinMaxAndGroups(t *testing.T) {
	c := newCluster(t, 20, 4, 600)
	c.sameAll(t,
		query{Select: "customer_id % 3 AS g, MIN(price) AS mnp, MAX(price) AS mxp, MIN(name) AS mnn, MAX(name) AS mxn, MIN(amount) AS mna",
			GroupBy: "g", OrderBy: "g"},
		query{Select: "MIN(price) AS mnp, MAX(name) AS mxn", Where: "price IS NULL"},
		query{Select: "name", GroupBy: "name", OrderBy: "name"},
		query{Select: "name, COUNT(*) AS n", GroupBy: "name", OrderBy: "n DESC, name", Limit: new(5), Offset: 1},
		query{Select: "amount % 5 AS h, customer_id % 2 AS g, COUNT(*) AS n", GroupBy: "1, 2", OrderBy: "2 DESC, 1"},
		// A DATETIME column holds text on SQLite.
		query{Select: "customer_id % 3 AS g, MIN(created_at) AS mnc, MAX(created_at) AS mxc", GroupBy: "g", OrderBy: "g"},
		query{Select: "MIN(created_at) AS mnc, MAX(created_at) AS mxc"},
	)
}

// TestDistinct: DISTINCT over one or several columns, expressions, with
// ORDER BY and a page, and without ORDER BY (compared as sets).
func TestDistinct(t *testing.T) {
	c := newCluster(t, 21, 4, 600)
	c.sameAll(t,
		query{Select: "DISTINCT name", OrderBy: "name"},
		query{Select: "DISTINCT customer_id % 7 AS d", OrderBy: "d DESC", Limit: new(3), Offset: 2},
		query{Select: "DISTINCT customer_id % 3 AS g, name", OrderBy: "1, 2 DESC"},
		query{Select: "DISTINCT price", Where: "price < ?", WhereArgs: []any{100}, OrderBy: "price", Offset: 5},
	)
	q := query{Select: "DISTINCT amount % 10 AS m, name"}
	_, want := c.want(t, q)
	_, got := c.across(t, q)
	assert.Equal(t, sortedRows(want), sortedRows(got))
}

func sortedRows(rows [][]any) [][]any {
	out := slices.Clone(rows)
	slices.SortFunc(out, func(a, b []any) int { return strings.Compare(fmt.Sprint(a...), fmt.Sprint(b...)) })
	return out
}

// TestLimitOffset: every shard runs LIMIT limit+offset and no OFFSET; the
// merge skips the offset and cuts the page. LIMIT 0 reaches the shards as
// LIMIT 0; an OFFSET alone sends no LIMIT.
func TestLimitOffset(t *testing.T) {
	c := newCluster(t, 22, 4, 300)
	for _, tc := range []struct {
		limit      *int
		offset     int
		shardLimit int
	}{
		{new(2), 1, 3}, {new(10), 0, 10}, {nil, 3, -1}, {new(2), 9999, 10001}, {new(0), 0, 0}, {new(0), 5, 0}, {nil, 0, -1},
	} {
		q := query{Select: "id, amount", OrderBy: "amount DESC, id", Limit: tc.limit, Offset: tc.offset}
		p := c.plan(t, q)
		assert.Equal(t, tc.shardLimit, p.Shard.Limit, q.String())
		c.sameAll(t, q)
	}
	// Groups: a shard's first groups are not the first groups.
	q := query{Select: "customer_id AS g, SUM(amount) AS s", GroupBy: "g", OrderBy: "s DESC, g", Limit: new(3), Offset: 2}
	assert.Equal(t, -1, c.plan(t, q).Shard.Limit)
	c.sameAll(t, q)
}

// TestHiddenSortColumns: an ORDER BY term that is not selected is added to
// the shards' columns and dropped after the merge, column types included.
func TestHiddenSortColumns(t *testing.T) {
	c := newCluster(t, 10, 4, 300)
	q := query{Select: "name", OrderBy: "amount DESC, id", Limit: new(20), Offset: 5}
	st, p := c.statement(t, q)
	assert.Equal(t, 2, p.Program.Hidden)
	db := scatter.Open(st)
	defer db.Close()
	rs, err := db.Query(p.sql)
	require.NoError(t, err)
	types, err := rs.ColumnTypes()
	require.NoError(t, err)
	require.Len(t, types, 1)
	assert.Equal(t, "TEXT", types[0].DatabaseTypeName())
	require.NoError(t, rs.Close())
	c.sameAll(t, q, query{Select: "name, price", OrderBy: "amount % 100, -id", Limit: new(30)})
}
