package topology

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// cachedOn lists the SQL cached in n's own prepared-statement cache.
func cachedOn(n *Node) []string {
	if c := n.prepared.Load(); c != nil {
		return c.Stmts.Keys()
	}
	return nil
}

func TestSharedPreparedStatementsSpanEveryNode(t *testing.T) {
	ctx := context.Background()
	w, r1, r2 := newFakeServer("writer"), newFakeServer("r1"), newFakeServer("r2")
	top, d := fakeTopology(t, HealthConfig{}, w, r1, r2)
	shared := gorm.NewPreparedStmtDB(nil, 0, 0)
	SharePreparedStatements(shared, d.Writer(), top.Nodes())
	assert.Empty(t, shared.Stmts.Keys())

	// The same SQL prepared on both replicas: two statements, one key.
	for _, n := range d.Replicas() {
		pool, err := n.Pool(true)
		require.NoError(t, err)
		name, err := serving(ctx, pool)
		require.NoError(t, err)
		assert.Equal(t, n.Name(), name)
		assert.Equal(t, []string{"SELECT node"}, cachedOn(n))
	}
	assert.Equal(t, int64(1), r1.prepares.Load())
	assert.Equal(t, int64(1), r2.prepares.Load())
	assert.Equal(t, []string{"SELECT node"}, shared.Stmts.Keys())
	stmt, ok := shared.Stmts.Get("SELECT node")
	require.True(t, ok)
	var name string
	require.NoError(t, stmt.QueryRowContext(ctx).Scan(&name))
	assert.Equal(t, "r1", name, "no writer statement: the first node's")

	pool, err := d.Writer().Pool(true)
	require.NoError(t, err)
	_, err = serving(ctx, pool)
	require.NoError(t, err)
	stmt, ok = shared.Stmts.Get("SELECT node")
	require.True(t, ok)
	require.NoError(t, stmt.QueryRowContext(ctx).Scan(&name))
	assert.Equal(t, "writer", name, "the writer's statement first")
	assert.Equal(t, []string{"SELECT node"}, shared.Stmts.Keys())

	shared.Close() // GORM's Close: Keys, then Delete each
	assert.Empty(t, shared.Stmts.Keys())
	for _, n := range top.Nodes() {
		assert.Empty(t, cachedOn(n), n.Key())
	}

	// Code that runs SQL on the shared handle itself prepares on the writer.
	shared.ConnPool = w.open(t)
	name, err = serving(ctx, shared)
	require.NoError(t, err)
	assert.Equal(t, "writer", name)
	assert.Equal(t, []string{"SELECT node"}, cachedOn(d.Writer()))
	assert.Empty(t, cachedOn(d.Replicas()[0]))
	name, err = serving(ctx, shared)
	require.NoError(t, err)
	assert.Equal(t, "writer", name)
	assert.Equal(t, int64(2), w.prepares.Load(), "the second run reused the writer's statement")
}

func TestSharedPreparedStatementsUnderConcurrency(t *testing.T) {
	ctx := context.Background()
	w, r1 := newFakeServer("writer"), newFakeServer("r1")
	top, d := fakeTopology(t, HealthConfig{}, w, r1)
	shared := gorm.NewPreparedStmtDB(w.open(t), 0, 0)
	SharePreparedStatements(shared, d.Writer(), top.Nodes())
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				var pool gorm.ConnPool = shared
				switch (g + i) % 3 {
				case 0:
					pool, _ = d.Writer().Pool(true)
				case 1:
					pool, _ = d.Replicas()[0].Pool(true)
				}
				// GORM closes an evicted statement while another goroutine
				// may be about to run it, with or without grant.
				if _, err := serving(ctx, pool); err != nil && err.Error() != "sql: statement is closed" {
					t.Error(err)
					return
				}
				if i%50 == 0 {
					shared.Close()
				}
				_ = shared.Stmts.Keys()
			}
		}()
	}
	wg.Wait()
}

func TestNodeQueryRowReportsAnOpenError(t *testing.T) {
	down := newFakeServer("down")
	down.failConnect(errors.New("connection refused"))
	w := newFakeServer("writer").open(t)
	top, err := Build(Config{Databases: map[string]DatabaseConfig{"primary": {
		Replicas: []NodeConfig{{Name: "down", Dialector: mysql.New(mysql.Config{Conn: down.open(t)})}},
	}}}, Handle{Dialect: "mysql", Pool: w, SQLDB: w, Logger: logger.Discard})
	require.NoError(t, err)
	t.Cleanup(func() { _ = top.Close() })
	row := top.Default().Replicas()[0].QueryRowContext(context.Background(), "SELECT node")
	require.NotNil(t, row)
	var name string
	var nodeErr *NodeError
	require.ErrorAs(t, row.Scan(&name), &nodeErr)
	assert.ErrorContains(t, row.Err(), "connection refused")
}
