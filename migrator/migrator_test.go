package migrator

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/testdb"
)

var (
	usersMigrations = map[string]string{
		"00001_users.sql":       sqlMigration("CREATE TABLE users (id bigint PRIMARY KEY);", "DROP TABLE users;"),
		"00002_users_email.sql": sqlMigration("ALTER TABLE users ADD COLUMN email varchar(100);", "ALTER TABLE users DROP COLUMN email;"),
	}
	ordersMigrations = map[string]string{
		"00001_orders.sql":      sqlMigration("CREATE TABLE orders (id bigint PRIMARY KEY);", "DROP TABLE orders;"),
		"00002_orders_note.sql": sqlMigration("ALTER TABLE orders ADD COLUMN note varchar(100);", "ALTER TABLE orders DROP COLUMN note;"),
	}
)

func TestPluginNameMatchesGrant(t *testing.T) {
	assert.Equal(t, grant.PluginName, pluginName)
}

// TestUpDownStatus proves, by looking at each physical database, that Up
// and Down change the primary's writer and every shard's writer (never a
// replica), and that Status reads them back.
func TestUpDownStatus(t *testing.T) {
	testdb.Servers(t, func(t *testing.T, b *testdb.Backend) {
		n := 4
		if b.Name == testdb.NameMariaDB {
			n = 2
		}
		upDownStatus(t, b, n)
	})
}

func TestUpDownStatusSQLite(t *testing.T) {
	upDownStatus(t, testdb.SQLite(t), 2)
}

func upDownStatus(t *testing.T, b *testdb.Backend, n int) {
	ctx := context.Background()
	primary := b.CreateDatabase(t, "mig_primary")
	replica := b.CreateDatabase(t, "mig_replica")
	dbs := shards(t, b, "mig_orders", n)
	db := handle(t, primary, grant.Config{
		Databases: map[string]grant.DatabaseConfig{"primary": {
			Replicas:   []grant.NodeConfig{{Dialector: replica.Dialector()}},
			Migrations: grant.MigrationsConfig{Dir: migrations(t, usersMigrations)},
		}},
		Clusters: map[string]grant.ClusterConfig{"orders": cluster(migrations(t, ordersMigrations), dbs)},
	})
	var ev events
	m := newMigrator(t, db, WithProgress(ev.add))
	all := []string{"primary"}
	var shardTargets []string
	for i := range dbs {
		shardTargets = append(shardTargets, fmt.Sprintf("orders/shard%d", i+1))
	}
	all = append(all, shardTargets...)

	report, err := m.Up(ctx, "")
	require.NoError(t, err)
	require.Equal(t, all, targets(report))
	for _, r := range report.Results {
		assert.Equal(t, []int64{1, 2}, r.Applied, r.Target)
		assert.False(t, r.Skipped)
		assert.Equal(t, []EventKind{Started, Applied, Applied, Finished}, ev.of(r.Target), r.Target)
	}
	assert.Equal(t, Result{Target: "orders/shard1", Database: "orders", Cluster: "orders", Shard: "shard1", Applied: []int64{1, 2}},
		withoutDuration(resultOf(t, report, "orders/shard1")))
	assert.True(t, hasColumn(t, primary, "users", "email"))
	assert.Equal(t, []int64{1, 2}, recorded(t, primary))
	assert.False(t, hasTable(t, replica, "users"), "a replica is never migrated")
	assert.Nil(t, recorded(t, replica), "a replica has no version table")
	for i, s := range dbs {
		assert.True(t, hasColumn(t, s, "orders", "note"), "shard%d", i+1)
		assert.False(t, hasTable(t, s, "users"), "shard%d gets only the cluster's migrations", i+1)
		assert.Equal(t, []int64{1, 2}, recorded(t, s), "shard%d", i+1)
	}
	assert.False(t, hasTable(t, primary, "orders"))

	status, err := m.Status(ctx, "")
	require.NoError(t, err)
	require.Len(t, status.Targets, len(all))
	for _, s := range status.Targets {
		assert.Equal(t, int64(2), s.Current, s.Target)
		assert.Equal(t, []int64{1, 2}, s.Applied, s.Target)
		assert.Empty(t, s.Pending, s.Target)
	}
	assert.False(t, status.HasDrift())

	report, err = m.Up(ctx, "")
	require.NoError(t, err)
	for _, r := range report.Results {
		assert.Empty(t, r.Applied, "a second Up has nothing to do on %s", r.Target)
	}

	// Down on the cluster: every shard, not the primary.
	report, err = m.Down(ctx, "orders", 1)
	require.NoError(t, err)
	require.Equal(t, shardTargets, targets(report))
	for i, s := range dbs {
		assert.Equal(t, []int64{2}, report.Results[i].Applied)
		assert.False(t, hasColumn(t, s, "orders", "note"), "shard%d rolled back", i+1)
		assert.True(t, hasTable(t, s, "orders"))
		assert.Equal(t, []int64{1}, recorded(t, s), "shard%d", i+1)
	}
	assert.True(t, hasColumn(t, primary, "users", "email"), "Down orders leaves primary alone")
	assert.Equal(t, []int64{1, 2}, recorded(t, primary))

	status, err = m.Status(ctx, "orders")
	require.NoError(t, err)
	for _, s := range status.Targets {
		assert.Equal(t, int64(1), s.Current, s.Target)
		assert.Equal(t, []int64{2}, s.Pending, s.Target)
	}
	assert.False(t, status.HasDrift())

	// One shard: only it moves, and the cluster drifts.
	report, err = m.Down(ctx, "orders/shard2", 5)
	require.NoError(t, err)
	require.Equal(t, []string{"orders/shard2"}, targets(report))
	assert.Equal(t, []int64{1}, report.Results[0].Applied, "fewer applied than steps: all of them")
	assert.False(t, hasTable(t, dbs[1], "orders"))
	assert.Empty(t, recorded(t, dbs[1]))
	assert.True(t, hasTable(t, dbs[0], "orders"))
	status, err = m.Status(ctx, "orders")
	require.NoError(t, err)
	require.True(t, status.HasDrift())
	assert.Equal(t, "orders", status.Drift[0].Cluster)
	assert.Equal(t, int64(0), status.Drift[0].Versions["shard2"])
	assert.Equal(t, int64(1), status.Drift[0].Versions["shard1"])

	_, err = m.Up(ctx, "orders")
	require.NoError(t, err)
	for i, s := range dbs {
		assert.Equal(t, []int64{1, 2}, sorted(recorded(t, s)), "shard%d", i+1)
	}
	status, err = m.Status(ctx, "")
	require.NoError(t, err)
	assert.False(t, status.HasDrift())

	// Down on the database: its writer only.
	report, err = m.Down(ctx, "primary", 2)
	require.NoError(t, err)
	assert.Equal(t, []int64{2, 1}, report.Results[0].Applied, "most recent first")
	assert.False(t, hasTable(t, primary, "users"))
	assert.Empty(t, recorded(t, primary))
	assert.True(t, hasColumn(t, dbs[0], "orders", "note"))
}

func withoutDuration(r Result) Result {
	r.Duration = 0
	return r
}

func sorted(vs []int64) []int64 { return slices.Sorted(slices.Values(vs)) }
