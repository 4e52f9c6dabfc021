package topology

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMigrationsDSNReachesEachShard: a database's and each shard's
// Migrations.DSN (grant.yml's migrations_dsn, read by package config) end
// up in the Migrations of that database and of that shard; the rest of a
// shard's migrations settings are its cluster's.
func TestMigrationsDSNReachesEachShard(t *testing.T) {
	cfg := Config{
		Databases: map[string]DatabaseConfig{"primary": {
			Writer:     &NodeConfig{DSN: "host=bouncer port=6432 dbname=app", Adapter: "postgres"},
			Migrations: MigrationsConfig{Dir: "db/migrate", DSN: "host=db port=5432 dbname=app"},
		}},
		Clusters: map[string]ClusterConfig{"orders": {
			Migrations: MigrationsConfig{Dir: "/srv/orders", Table: "orders_versions"},
			Shards: []ShardConfig{
				{Name: "s1", DatabaseConfig: DatabaseConfig{
					Writer:     &NodeConfig{DSN: "host=bouncer port=6432 dbname=orders1", Adapter: "postgres"},
					Migrations: MigrationsConfig{DSN: "host=db port=5432 dbname=orders1"},
				}},
				{Name: "s2", DatabaseConfig: DatabaseConfig{Writer: &NodeConfig{DSN: "host=db port=5432 dbname=orders2", Adapter: "postgres"}}},
			},
		}},
	}
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
