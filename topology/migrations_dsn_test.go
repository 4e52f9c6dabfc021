package topology

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMigrationsDSNReachesEachShard: migrations_dsn in a database section
// and in each shard section of grant.yml ends up in the Migrations of that
// database and of that shard; the rest of a shard's migrations settings are
// its cluster's.
func TestMigrationsDSNReachesEachShard(t *testing.T) {
	cfg, err := ParseConfig("grant.yml", yml(
		"databases:",
		"  primary:",
		"    adapter: postgres",
		"    dsn: host=bouncer port=6432 dbname=app",
		"    migrations: db/migrate",
		"    migrations_dsn: host=db port=5432 dbname=app",
		"clusters:",
		"  orders:",
		"    adapter: postgres",
		"    migrations: /srv/orders",
		"    migrations_table: orders_versions",
		"    shards:",
		"      - name: s1",
		"        dsn: host=bouncer port=6432 dbname=orders1",
		"        migrations_dsn: host=db port=5432 dbname=orders1",
		"      - name: s2",
		"        dsn: host=db port=5432 dbname=orders2",
	), envOf(nil))
	require.NoError(t, err)
	assert.Equal(t, "host=db port=5432 dbname=app", cfg.Databases["primary"].Migrations.DSN)

	topo, err := Build(cfg, Handle{Dialect: "postgres"})
	require.NoError(t, err)
	primary, err := topo.Database("primary")
	require.NoError(t, err)
	assert.Equal(t, "host=db port=5432 dbname=app", primary.Migrations().DSN)
	orders, ok := topo.Cluster("orders")
	require.True(t, ok)
	s1, err := orders.Shard("s1")
	require.NoError(t, err)
	assert.Equal(t, MigrationsConfig{Dir: "/srv/orders", Table: "orders_versions", DSN: "host=db port=5432 dbname=orders1"}, s1.Migrations())
	s2, err := orders.Shard("s2")
	require.NoError(t, err)
	assert.Equal(t, MigrationsConfig{Dir: "/srv/orders", Table: "orders_versions"}, s2.Migrations(), "no DSN of its own: the writer's")

	_, err = ParseConfig("grant.yml", yml(
		"clusters:",
		"  orders:",
		"    adapter: postgres",
		"    migrations_dsn: host=db dbname=orders1",
		"    shards:",
		"      - name: s1",
		"        dsn: host=db dbname=orders1",
	), envOf(nil))
	require.Error(t, err, "a cluster section has no migrations_dsn key")
	assert.Contains(t, err.Error(), `unknown key "migrations_dsn"`)
}

func TestClusterMigrationsDSNIsRefused(t *testing.T) {
	cfg := Config{Clusters: map[string]ClusterConfig{"orders": {
		Migrations: MigrationsConfig{DSN: "host=db dbname=orders1"},
		Shards:     []ShardConfig{{Name: "s1", DatabaseConfig: DatabaseConfig{Writer: &NodeConfig{DSN: "host=db dbname=orders1", Adapter: "postgres"}}}},
	}}}
	err := cfg.Validate()
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrInvalidConfig))
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "clusters.orders.migrations_dsn", ce.Path)
	assert.Contains(t, ce.Problem, "set it on each shard")
}
