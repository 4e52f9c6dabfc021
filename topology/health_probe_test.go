package topology

import (
	"context"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/grant-go/grant/internal/testdb"
)

// The real probe on servers that are not replicas: a primary (or a
// standalone MariaDB, or SQLite) is healthy with lag 0. Lag on a real
// streaming replica is tested at the root (health_test.go).
func TestProbeOnPrimaries(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		db := b.CreateDatabase(t, "probe")
		adapters := map[string]Adapter{"sqlite": func(dsn string) gorm.Dialector { return sqlite.Open(dsn) }}
		w := newFakeServer("writer").open(t)
		top, err := Build(Config{Adapters: adapters, Databases: map[string]DatabaseConfig{"primary": {
			Replicas: []NodeConfig{{DSN: db.DSN, Adapter: db.Adapter()}},
		}}}, Handle{Dialect: db.Dialector().Name(), Pool: w, SQLDB: w, Logger: logger.Discard})
		require.NoError(t, err)
		t.Cleanup(func() { _ = top.Close() })
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, err := probeNode(ctx, top.Default().Replicas()[0])
		require.NoError(t, err)
		assert.Zero(t, res.lag)
		assert.False(t, res.stale)
		assert.Zero(t, res.replayLSN, "a primary replays nothing")
		assert.Equal(t, b.Name != testdb.NameSQLite, res.lagKnown, "SQLite is only pinged")
	})
}

func TestProbeFailsOnADeadNode(t *testing.T) {
	w := newFakeServer("writer").open(t)
	top, err := Build(Config{Databases: map[string]DatabaseConfig{"primary": {
		Replicas: []NodeConfig{{DSN: "host=127.0.0.1 port=1 user=u password=s3cret dbname=x sslmode=disable", Adapter: "postgres"}},
	}}}, Handle{Dialect: "postgres", Pool: w, SQLDB: w, Logger: logger.Discard})
	require.NoError(t, err)
	t.Cleanup(func() { _ = top.Close() })
	d := top.Default()
	d.health = HealthConfig{Interval: time.Hour}.resolved()
	checksOn(t, d)
	r := d.Replicas()[0]
	start := time.Now()
	d.check(context.Background(), r, probeNode)
	assert.Less(t, time.Since(start), 2*time.Second, "bounded by the check's timeout")
	h := r.Health()
	assert.False(t, h.Healthy)
	assert.True(t, isConnectionError(h.Err), "%v", h.Err)
	assert.Contains(t, h.Err.Error(), "primary/reading/1")
	assert.NotContains(t, h.Err.Error(), "s3cret")
}
