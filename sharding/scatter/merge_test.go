package scatter_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant/sharding/scatter"
	"github.com/grant-go/grant/sharding/scatter/collate"
	"github.com/grant-go/grant/sharding/scatter/value"
)

// The merge over shards of PostgreSQL and MariaDB, whose answers are
// canned: each shard answers, in its order, what that server would.

// columnCatalog knows columns by name: a nil collation for non-text.
type columnCatalog map[string]collate.Collation

func (c columnCatalog) Column(name string, quoted bool) (bool, collate.Collation) {
	coll, ok := c[strings.ToLower(name)]
	return ok, coll
}

func (c columnCatalog) Literal() collate.Collation { return c["''"] }

func (c columnCatalog) Collation(name string) (collate.Collation, error) {
	return nil, fmt.Errorf("no collation %q here", name)
}

func mustResolve(t testing.TB, dialect, name string) collate.Collation {
	t.Helper()
	c, err := collate.Resolve(dialect, collate.Spec{Name: name})
	require.NoError(t, err)
	return c
}

var (
	pg        = value.NewEnv(value.Postgres)
	mysql     = value.NewEnv(value.MySQL)
	sqliteEnv = value.NewEnv(value.SQLite)
)

// mergeCanned plans q under env and cat and merges the shards' answers.
func mergeCanned(t testing.TB, env value.Env, cat scatter.Catalog, q query, shards ...*sql.DB) (*scatter.Planned, [][]any) {
	t.Helper()
	p, err := planIn(env, q, cat)
	require.NoError(t, err, q.String())
	st := &scatter.Statement{Program: p.Program}
	for i, db := range shards {
		st.Targets = append(st.Targets, scatter.Target{Name: fmt.Sprintf("shard%d", i), Pool: db})
	}
	db := scatter.Open(st)
	defer db.Close()
	_, rows := readAll(t, db, p.sql, p.args...)
	return p.Planned, rows
}

// column opens one shard per list of values, each answering them as
// column v of type col.
func column(t testing.TB, col cannedCol, shards ...[]driver.Value) []*sql.DB {
	col.name = "v"
	var out []*sql.DB
	for _, vals := range shards {
		rows := make([][]driver.Value, len(vals))
		for i, v := range vals {
			rows[i] = []driver.Value{v}
		}
		out = append(out, openCanned(t, []cannedCol{col}, rows...))
	}
	return out
}

func firsts(rows [][]any) []any {
	out := make([]any, len(rows))
	for i, r := range rows {
		out[i] = r[0]
	}
	return out
}

// TestNullOrdering: PostgreSQL sorts NULL above every value (last
// ascending), MySQL and SQLite below (first ascending), unless NULLS
// FIRST/LAST says otherwise; the plan says so in OrderKey.NullsFirst and
// the merge places NULLs by it.
func TestNullOrdering(t *testing.T) {
	type order struct {
		by               string
		desc, nullsFirst bool
	}
	for _, d := range []struct {
		env   value.Env
		typ   string
		cases []order
	}{
		{pg, "INT8", []order{{"1", false, false}, {"1 DESC", true, true}, {"1 NULLS FIRST", false, true}, {"1 DESC NULLS LAST", true, false}}},
		{mysql, "BIGINT", []order{{"1", false, true}, {"1 DESC", true, false}}},
		{sqliteEnv, "INTEGER", []order{{"1 ASC", false, true}, {"1 DESC", true, false}, {"1 NULLS LAST", false, false}}},
	} {
		for _, tc := range d.cases {
			// Each shard answers 1 or 2 and a NULL, in its own order.
			shard := func(n int64) []driver.Value {
				if tc.nullsFirst {
					return []driver.Value{nil, n}
				}
				return []driver.Value{n, nil}
			}
			nums := []any{int64(1), int64(2)}
			if tc.desc {
				nums = []any{int64(2), int64(1)}
			}
			want := append(append([]any{}, nums...), nil, nil)
			if tc.nullsFirst {
				want = append([]any{nil, nil}, nums...)
			}
			shards := column(t, cannedCol{typ: d.typ}, shard(2), shard(1))
			if d.env.Dialect == value.SQLite {
				// SQLite orders by a hidden +(v), which the shards return too.
				shards = nil
				for _, n := range []int64{2, 1} {
					var rows [][]driver.Value
					for _, v := range shard(n) {
						rows = append(rows, []driver.Value{v, v})
					}
					shards = append(shards, openCanned(t, []cannedCol{{name: "v", typ: d.typ}, {name: "grant_o1", typ: d.typ}}, rows...))
				}
			}
			p, rows := mergeCanned(t, d.env, columnCatalog{"v": nil}, query{Select: "v", From: "t", OrderBy: tc.by}, shards...)
			msg := fmt.Sprintf("%s ORDER BY %s", d.env.Dialect, tc.by)
			require.Len(t, p.Program.Order, 1, msg)
			assert.Equal(t, tc.nullsFirst, p.Program.Order[0].NullsFirst, msg)
			assert.Equal(t, tc.desc, p.Program.Order[0].Desc, msg)
			assert.Equal(t, want, firsts(rows), msg)
		}
	}
}

// TestOrderNumericText: a NUMERIC or DECIMAL column, which drivers hand
// over as text, orders by number; a text column by its collation.
func TestOrderNumericText(t *testing.T) {
	cat := columnCatalog{"v": nil}
	_, rows := mergeCanned(t, pg, cat, query{Select: "v", From: "t", OrderBy: "1"},
		column(t, cannedCol{typ: "NUMERIC"}, []driver.Value{"-2", "9.5"}, []driver.Value{"9", "10"})...)
	assert.Equal(t, []any{"-2", "9", "9.5", "10"}, firsts(rows))

	decimal := cannedCol{typ: "DECIMAL", prec: 4, scale: 1, hasPrecScale: true}
	_, rows = mergeCanned(t, mysql, cat, query{Select: "v", From: "t", OrderBy: "1 DESC"},
		column(t, decimal, []driver.Value{[]byte("9.5"), []byte("-2.0")}, []driver.Value{[]byte("10.0"), []byte("9.0")})...)
	assert.Equal(t, []any{[]byte("10.0"), []byte("9.5"), []byte("9.0"), []byte("-2.0")}, firsts(rows))

	text := columnCatalog{"v": mustResolve(t, collate.Postgres, "C")}
	_, rows = mergeCanned(t, pg, text, query{Select: "v", From: "t", OrderBy: "1"},
		column(t, cannedCol{typ: "TEXT"}, []driver.Value{"-2", "9"}, []driver.Value{"10", "9.5"})...)
	assert.Equal(t, []any{"-2", "10", "9", "9.5"}, firsts(rows))
}

// TestOrderNaNTimesBools: PostgreSQL orders NaN above every number,
// timestamps by instant whatever their zone, false before true.
func TestOrderNaNTimesBools(t *testing.T) {
	cat := columnCatalog{"v": nil}
	nan := math.NaN()
	_, rows := mergeCanned(t, pg, cat, query{Select: "v", From: "t", OrderBy: "1"},
		column(t, cannedCol{typ: "FLOAT8"}, []driver.Value{-1.0, 2.5, nan}, []driver.Value{3.0, float64(1 << 62)})...)
	got := firsts(rows)
	require.Len(t, got, 5)
	assert.Equal(t, []any{-1.0, 2.5, 3.0, float64(1 << 62)}, got[:4])
	assert.True(t, math.IsNaN(got[4].(float64)), "NaN last: %v", got)

	_, rows = mergeCanned(t, pg, cat, query{Select: "v", From: "t", OrderBy: "1 DESC"},
		column(t, cannedCol{typ: "FLOAT8"}, []driver.Value{nan, 2.5, -1.0}, []driver.Value{float64(1 << 62), 3.0})...)
	got = firsts(rows)
	assert.True(t, math.IsNaN(got[0].(float64)), "NaN first descending: %v", got)
	assert.Equal(t, []any{float64(1 << 62), 3.0, 2.5, -1.0}, got[1:])

	t1 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	t0 := time.Date(2026, 1, 1, 13, 0, 0, 0, time.FixedZone("X", 2*3600)) // 11:00 UTC
	_, rows = mergeCanned(t, pg, cat, query{Select: "v", From: "t", OrderBy: "1"},
		column(t, cannedCol{typ: "TIMESTAMPTZ"}, []driver.Value{t1}, []driver.Value{t0})...)
	assert.Equal(t, []any{t0, t1}, firsts(rows))

	_, rows = mergeCanned(t, pg, cat, query{Select: "v", From: "t", OrderBy: "1"},
		column(t, cannedCol{typ: "BOOL"}, []driver.Value{true}, []driver.Value{false})...)
	assert.Equal(t, []any{false, true}, firsts(rows))
}

// TestStableTiesKeepShardThenRowOrder: rows that tie on every ORDER BY
// term come in shard order, then in each shard's order — streamed or read
// up front (bounded concurrency).
func TestStableTiesKeepShardThenRowOrder(t *testing.T) {
	cols := []cannedCol{{name: "k", typ: "BIGINT"}, {name: "who", typ: "VARCHAR"}}
	shards := []*sql.DB{
		openCanned(t, cols, []driver.Value{int64(1), "s0r0"}, []driver.Value{int64(2), "s0r1"}, []driver.Value{int64(2), "s0r2"}),
		openCanned(t, cols, []driver.Value{int64(1), "s1r0"}, []driver.Value{int64(2), "s1r1"}),
	}
	cat := columnCatalog{"k": nil, "who": mustResolve(t, collate.MySQL, "utf8mb4_bin")}
	p, err := planIn(mysql, query{Select: "k, who", From: "t", OrderBy: "1"}, cat) // SQLite would add a hidden +(k)
	require.NoError(t, err)
	for _, limit := range []int{0, 1} {
		st := &scatter.Statement{Program: p.Program, Concurrency: limit,
			Targets: []scatter.Target{{Name: "s0", Pool: shards[0]}, {Name: "s1", Pool: shards[1]}}}
		db := scatter.Open(st)
		_, rows := readAll(t, db, p.sql)
		db.Close()
		var who []any
		for _, r := range rows {
			who = append(who, r[1])
		}
		assert.Equal(t, []any{"s0r0", "s1r0", "s0r1", "s0r2", "s1r1"}, who, "concurrency %d", limit)
	}
}

// TestSumExactDecimals: sums of NUMERIC and DECIMAL are exact, keep the
// driver's Go type and take the widest scale.
func TestSumExactDecimals(t *testing.T) {
	cat := columnCatalog{"v": nil}
	sum := func(env value.Env, col cannedCol, shards ...driver.Value) any {
		t.Helper()
		col.name = "s"
		var dbs []*sql.DB
		for _, v := range shards {
			dbs = append(dbs, openCanned(t, []cannedCol{col}, []driver.Value{v}))
		}
		_, rows := mergeCanned(t, env, cat, query{Select: "SUM(v) AS s", From: "t"}, dbs...)
		require.Len(t, rows, 1)
		return rows[0][0]
	}
	numeric := cannedCol{typ: "NUMERIC"}
	assert.Equal(t, "6.75", sum(pg, numeric, "1.50", "2.25", "3"))
	assert.Equal(t, "0.30", sum(pg, numeric, "0.1", "0.20"))
	assert.Equal(t, "100000000000000000000.5", sum(pg, numeric, "99999999999999999999.5", "1"))
	assert.Equal(t, "-1", sum(pg, numeric, "2", nil, "-3"), "a shard without rows sums to NULL")
	assert.Nil(t, sum(pg, numeric, nil, nil))
	decimal := cannedCol{typ: "DECIMAL", prec: 65, scale: 2, hasPrecScale: true}
	assert.Equal(t, []byte("3.75"), sum(mysql, decimal, []byte("1.50"), []byte("2.25")))
	assert.Equal(t, int64(6), sum(sqliteEnv, cannedCol{typ: ""}, int64(1), nil, int64(5)))
	assert.Equal(t, 6.5, sum(sqliteEnv, cannedCol{typ: ""}, int64(1), 5.5))
}

// TestMinMaxByType: MIN and MAX compare numbers as numbers and text under
// its collation, across shards.
func TestMinMaxByType(t *testing.T) {
	minMax := func(cat columnCatalog, col cannedCol, shards ...[]driver.Value) []any {
		t.Helper()
		var dbs []*sql.DB
		for _, s := range shards {
			dbs = append(dbs, openCanned(t, []cannedCol{{name: "mn", typ: col.typ}, {name: "mx", typ: col.typ}}, s))
		}
		_, rows := mergeCanned(t, pg, cat, query{Select: "MIN(v) AS mn, MAX(v) AS mx", From: "t"}, dbs...)
		require.Len(t, rows, 1)
		return rows[0]
	}
	assert.Equal(t, []any{"9", "10"}, minMax(columnCatalog{"v": nil}, cannedCol{typ: "NUMERIC"},
		[]driver.Value{"9", "9"}, []driver.Value{"10", "10"}, []driver.Value{nil, nil}))
	assert.Equal(t, []any{"10", "9"}, minMax(columnCatalog{"v": mustResolve(t, collate.Postgres, "C")}, cannedCol{typ: "TEXT"},
		[]driver.Value{"9", "9"}, []driver.Value{"10", "10"}))
	t1 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	t2 := t1.Add(time.Hour).In(time.FixedZone("Y", -5*3600))
	assert.Equal(t, []any{t1, t2}, minMax(columnCatalog{"v": nil}, cannedCol{typ: "TIMESTAMPTZ"},
		[]driver.Value{t2, t2}, []driver.Value{t1, t1}))
}

// BenchmarkMergeOrdered: merging 8 shards × 1,000 rows by (int DESC,
// text), LIMIT 10.
func BenchmarkMergeOrdered(b *testing.B) {
	cols := []cannedCol{{name: "n", typ: "INTEGER"}, {name: "s", typ: "TEXT"}}
	st := &scatter.Statement{}
	for s := range 8 {
		rows := make([][]driver.Value, 1000)
		for i := range rows {
			rows[i] = []driver.Value{int64(5000 - 5*i - s), "name" + string(rune('a'+i%26))}
		}
		st.Targets = append(st.Targets, scatter.Target{Name: fmt.Sprint(s), Pool: openCanned(b, cols, rows...)})
	}
	cat := columnCatalog{"n": nil, "s": mustResolve(b, collate.MySQL, "utf8mb4_bin")}
	p, err := planIn(mysql, query{Select: "n, s", From: "t", OrderBy: "1 DESC, 2", Limit: new(10)}, cat)
	require.NoError(b, err)
	st.Program = p.Program
	db := scatter.Open(st)
	defer db.Close()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := tryReadAll(context.Background(), db, p.sql); err != nil {
			b.Fatal(err)
		}
	}
}
