package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant/config"
	"github.com/grant-go/grant/sharding"
	"github.com/grant-go/grant/topology"
)

func TestLoadFromFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "grant.yml")
	require.NoError(t, os.WriteFile(path, []byte(`
databases:
  primary:
    adapter: postgres
    dsn: postgres://app@${GRANT_TEST_CONFIG_HOST:-localhost}/app
    replicas:
      - dsn: postgres://app@replica/app
    migrations: migrate
`), 0o600))
	t.Setenv("GRANT_TEST_CONFIG_HOST", "db.internal")

	cfg, err := config.Load(path)
	require.NoError(t, err)
	db := cfg.Databases["primary"]
	assert.Equal(t, &topology.NodeConfig{DSN: "postgres://app@db.internal/app", Adapter: "postgres"}, db.Writer)
	assert.Equal(t, []topology.NodeConfig{{DSN: "postgres://app@replica/app", Adapter: "postgres"}}, db.Replicas)
	assert.Equal(t, filepath.Join(dir, "migrate"), db.Migrations.Dir)
}

func TestLoadReportsFileErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "grant.yml")
	require.NoError(t, os.WriteFile(path, []byte("databases:\n  primary:\n    replicas:\n      - name: r1\n"), 0o600))

	_, err := config.Load(path)
	require.Error(t, err)
	assert.ErrorIs(t, err, topology.ErrInvalidConfig)
	var fe *config.FileError
	require.True(t, errors.As(err, &fe))
	assert.Equal(t, 4, fe.Line)
	assert.Equal(t, "databases.primary.replicas[0].dsn", fe.Key)
	assert.Equal(t, path+":4: databases.primary.replicas[0].dsn: missing DSN", err.Error())
}

// TestLoadExampleFile keeps docs/grant.example.yml loadable and
// describing what the documentation says it does.
func TestLoadExampleFile(t *testing.T) {
	for _, name := range []string{"GRANT_POSTGRES_HOST", "GRANT_POSTGRES_PORT", "GRANT_PRIMARY_DSN", "GRANT_ANALYTICS_DSN", "GRANT_ORDERS_SHARD1_DSN", "GRANT_ORDERS_SHARD2_DSN"} {
		t.Setenv(name, "") // empty: defaults apply, overrides are ignored
	}
	cfg, err := config.Load(filepath.Join("..", "docs", "grant.example.yml"))
	require.NoError(t, err)
	docs, err := filepath.Abs(filepath.Join("..", "docs"))
	require.NoError(t, err)
	pg := func(db string) string {
		return "postgres://postgres@127.0.0.1:5432/" + db + "?sslmode=disable"
	}

	assert.Equal(t, "primary", cfg.Default)
	assert.Equal(t, topology.HealthConfig{Interval: time.Second, MaxReplicaLag: 5 * time.Second}, cfg.Health)
	assert.Equal(t, topology.ConsistencyConfig{Mode: topology.Causal, CausalWait: 20 * time.Millisecond}, cfg.Consistency)
	assert.False(t, cfg.TraceRoutes)
	assert.Equal(t, topology.RoundRobinPolicy(), cfg.Policy)
	assert.Equal(t, map[string]string{"legacy_orders": "orders"}, cfg.Tables)

	primary := cfg.Databases["primary"]
	assert.Equal(t, &topology.NodeConfig{DSN: pg("grant_example_primary"), Adapter: "postgres"}, primary.Writer)
	assert.Equal(t, []topology.NodeConfig{{Name: "replica1", DSN: pg("grant_example_primary") + "&application_name=grant_replica1", Adapter: "postgres", Weight: 1}}, primary.Replicas)
	assert.Equal(t, topology.MigrationsConfig{Dir: filepath.Join(docs, "db", "migrate", "primary"), Table: "grant_schema_migrations"}, primary.Migrations)
	assert.Equal(t, 20, primary.Pool.MaxOpenConns)

	analytics := cfg.Databases["analytics"]
	assert.Equal(t, &topology.NodeConfig{DSN: pg("grant_example_analytics"), Adapter: "postgres"}, analytics.Writer)
	assert.True(t, analytics.Migrations.Disabled)

	orders := cfg.Clusters["orders"]
	require.Len(t, orders.Shards, 2)
	assert.Equal(t, "shard1", orders.Shards[0].Name)
	assert.Equal(t, &topology.NodeConfig{DSN: pg("grant_example_orders_1"), Adapter: "postgres"}, orders.Shards[0].Writer)
	assert.Equal(t, "shard2", orders.Shards[1].Name)
	assert.Equal(t, &topology.NodeConfig{Name: "writer", DSN: pg("grant_example_orders_2"), Adapter: "postgres"}, orders.Shards[1].Writer)
	assert.Equal(t, sharding.ShardKey{Column: "customer_id", Strategy: sharding.JumpHash()}, orders.ShardKeys["orders"])
	assert.Equal(t, filepath.Join(docs, "db", "migrate", "orders"), orders.Migrations.Dir)
	assert.Equal(t, 10, orders.Pool.MaxOpenConns)

	require.NoError(t, cfg.Validate())

	// The overrides the file's comments promise.
	t.Setenv("GRANT_POSTGRES_HOST", "pg.internal")
	t.Setenv("GRANT_ORDERS_SHARD2_DSN", "postgres://app@shard2.internal/orders")
	cfg, err = config.Load(filepath.Join("..", "docs", "grant.example.yml"))
	require.NoError(t, err)
	assert.Equal(t, "postgres://postgres@pg.internal:5432/grant_example_primary?sslmode=disable", cfg.Databases["primary"].Writer.DSN)
	assert.Equal(t, "postgres://app@shard2.internal/orders", cfg.Clusters["orders"].Shards[1].Writer.DSN)
}
