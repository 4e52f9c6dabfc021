package scatter_test

import (
	"context"
	"database/sql/driver"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant/internal/noopdriver"
	"github.com/grant-go/grant/sharding/scatter"
)

const shardDelay = 20 * time.Millisecond

// latencyQuery is one page merged from every shard.
var latencyQuery = query{Select: "id, amount, name", OrderBy: "amount DESC, id", Limit: new(10)}

// slowCluster is n SQLite shards whose every query first waits shardDelay.
func slowCluster(tb testing.TB, n int) (*cluster, []scatter.Target) {
	c := newCluster(tb, 99, n, 50*n)
	ts := c.targets()
	for i := range ts {
		ts[i].Pool = slowPool{ConnPool: ts[i].Pool, d: shardDelay}
	}
	return c, ts
}

// scatterOnce plans and runs latencyQuery on the targets.
func scatterOnce(tb testing.TB, c *cluster, ts []scatter.Target) [][]any {
	p := c.plan(tb, latencyQuery)
	db := scatter.Open(&scatter.Statement{Targets: ts, Program: p.Program})
	defer db.Close()
	_, rows := readAll(tb, db, p.sql, p.args...)
	require.Len(tb, rows, 10)
	return rows
}

// TestScatter8Shards20ms: the queries of 8 shards that each take 20ms run
// at the same time — all 8 are seen in flight at once — so the statement
// takes about one shard's time, not eight.
func TestScatter8Shards20ms(t *testing.T) {
	c := newCluster(t, 99, 8, 400)
	n := &crowd{want: 8}
	ts := c.targets()
	for i := range ts {
		ts[i].Pool = crowdPool{ConnPool: ts[i].Pool, c: n, d: shardDelay}
	}
	got := scatterOnce(t, c, ts)
	assert.Equal(t, 8, n.max(), "shard queries in flight at once")
	_, want := c.want(t, latencyQuery)
	assert.Equal(t, want, got)
}

// BenchmarkScatter8Shards20ms measures a merged ORDER BY … LIMIT over 8
// shards whose queries each take 20ms; x20ms is the time over one shard's.
func BenchmarkScatter8Shards20ms(b *testing.B) {
	c, ts := slowCluster(b, 8)
	b.ResetTimer()
	for b.Loop() {
		scatterOnce(b, c, ts)
	}
	b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(shardDelay), "x20ms")
}

// BenchmarkOneShard20ms is the baseline: the same query on one such shard.
func BenchmarkOneShard20ms(b *testing.B) {
	c, ts := slowCluster(b, 1)
	b.ResetTimer()
	for b.Loop() {
		scatterOnce(b, c, ts)
	}
	b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(shardDelay), "x20ms")
}

// BenchmarkNewDBStatement is what a statement costs on the one NewDB
// handle, beyond the shards' own work: its Statement, the context that
// carries it, and the merge of 8 instant shards' rows (ORDER BY … LIMIT).
func BenchmarkNewDBStatement(b *testing.B) {
	cols := []string{"id", "name", "age"}
	var ts []scatter.Target
	for i := range 8 {
		pool := noopdriver.Open(noopdriver.Options{Columns: cols, Row: []driver.Value{int64(i), "name", int64(30)}})
		b.Cleanup(func() { pool.Close() })
		ts = append(ts, scatter.Target{Name: fmt.Sprint(i), Pool: pool})
	}
	p, err := planIn(sqliteEnv, query{Select: "id, name, age", From: "people", OrderBy: "1", Limit: new(10)},
		columnCatalog{"id": nil, "name": mustResolve(b, "sqlite", "BINARY"), "age": nil})
	require.NoError(b, err)
	handle := scatter.NewDB()
	defer handle.Close()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		st := &scatter.Statement{Targets: ts, Program: p.Program}
		_, rows, err := tryReadAll(scatter.WithStatement(ctx, st), handle, p.sql)
		if err != nil || len(rows) != 8 {
			b.Fatal(err, len(rows))
		}
	}
}
