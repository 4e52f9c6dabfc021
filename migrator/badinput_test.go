package migrator

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/testdb"
)

func TestNewNeedsGrant(t *testing.T) {
	d := testdb.SQLite(t).CreateDatabase(t, "plain")
	db, err := gorm.Open(d.Dialector(), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err)
	t.Cleanup(func() { sqlDB, _ := db.DB(); _ = sqlDB.Close() })
	_, err = New(db)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "grant is not installed")
}

// TestTargets covers how target names resolve, on SQLite (no server needed).
func TestTargets(t *testing.T) {
	ctx := context.Background()
	b := testdb.SQLite(t)
	primary := b.CreateDatabase(t, "primary")
	dbs := shards(t, b, "shard", 2)
	missing := filepath.Join(t.TempDir(), "does_not_exist")
	cfg := func(analytics grant.MigrationsConfig) grant.Config {
		return grant.Config{
			Databases: map[string]grant.DatabaseConfig{
				"primary":   {Migrations: grant.MigrationsConfig{Dir: migrations(t, usersMigrations)}},
				"plain":     {Writer: &grant.NodeConfig{Dialector: b.CreateDatabase(t, "plain").Dialector()}},
				"legacy":    {Writer: &grant.NodeConfig{Dialector: b.CreateDatabase(t, "legacy").Dialector()}, Migrations: grant.MigrationsConfig{Dir: missing, Disabled: true}},
				"analytics": {Writer: &grant.NodeConfig{Dialector: b.CreateDatabase(t, "analytics").Dialector()}, Migrations: analytics},
			},
			Clusters: map[string]grant.ClusterConfig{"orders": cluster(migrations(t, ordersMigrations), dbs)},
		}
	}
	m := newMigrator(t, handle(t, primary, cfg(grant.MigrationsConfig{})))

	for _, name := range []string{"nope", "nope/shard1", "primary/x"} {
		_, err := m.Up(ctx, name)
		require.ErrorIs(t, err, ErrUnknownTarget, name)
		assert.Contains(t, err.Error(), `"`+name+`"`)
		assert.Contains(t, err.Error(), "databases: analytics, legacy, plain, primary; clusters: orders")
		_, err = m.Status(ctx, name)
		assert.ErrorIs(t, err, ErrUnknownTarget, name)
		assert.ErrorIs(t, m.DryRun(ctx, name, nil), ErrUnknownTarget, name)
	}
	_, err := m.Down(ctx, "orders/shard9", 1)
	require.ErrorIs(t, err, ErrUnknownTarget)
	assert.Contains(t, err.Error(), `cluster "orders" has shards shard1, shard2`)

	// "" skips the disabled database and the one without migrations...
	report, err := m.Up(ctx, "")
	require.NoError(t, err)
	assert.Equal(t, []string{"primary", "orders/shard1", "orders/shard2"}, targets(report))
	assert.False(t, hasTable(t, primary, "orders"))
	// ...and naming them is an error.
	_, err = m.Up(ctx, "legacy")
	require.ErrorIs(t, err, ErrDisabled)
	assert.Contains(t, err.Error(), `"legacy"`)
	_, err = m.Up(ctx, "plain")
	require.ErrorIs(t, err, ErrNoMigrations)
	assert.Contains(t, err.Error(), `"plain"`)
	_, err = m.Down(ctx, "primary", 0)
	assert.ErrorContains(t, err, "steps must be at least 1")

	// A directory that does not exist: named, and for "" too.
	m = newMigrator(t, handle(t, primary, cfg(grant.MigrationsConfig{Dir: missing})))
	for _, name := range []string{"", "analytics"} {
		_, err = m.Up(ctx, name)
		require.ErrorIs(t, err, ErrNoMigrations, name)
		assert.Contains(t, err.Error(), `"analytics"`)
		assert.Contains(t, err.Error(), missing)
	}

	// Go migrations for something that is not there.
	_, err = New(handle(t, primary, cfg(grant.MigrationsConfig{})), WithGoMigrations("nope", goose.NewGoMigration(1, nil, nil)))
	assert.ErrorIs(t, err, ErrUnknownTarget)
	_, err = New(handle(t, primary, cfg(grant.MigrationsConfig{})), WithGoMigrations("primary", goose.NewGoMigration(5, nil, nil)), WithGoMigrations("primary", goose.NewGoMigration(5, nil, nil)))
	assert.ErrorContains(t, err, "version 5 is registered twice")
}

// TestDownWithoutDownSection: Down refuses to treat an empty Down section as
// a rollback, and rolls back nothing on that target.
func TestDownWithoutDownSection(t *testing.T) {
	testdb.Servers(t, func(t *testing.T, b *testdb.Backend) {
		ctx := context.Background()
		primary := b.CreateDatabase(t, "nodown")
		dir := migrations(t, map[string]string{
			"00001_users.sql":    usersMigrations["00001_users.sql"],
			"00002_backfill.sql": "-- +goose Up\nINSERT INTO users (id) VALUES (1);\n\n-- +goose Down\n-- irreversible\n",
		})
		m := newMigrator(t, handle(t, primary, grant.Config{Databases: map[string]grant.DatabaseConfig{"primary": {Migrations: grant.MigrationsConfig{Dir: dir}}}}))
		_, err := m.Up(ctx, "primary")
		require.NoError(t, err)

		for _, steps := range []int{1, 2} {
			report, err := m.Down(ctx, "primary", steps)
			require.ErrorIs(t, err, ErrNoDownMigration)
			assert.Contains(t, err.Error(), "primary: 00002_backfill.sql: ")
			assert.Empty(t, report.Results[0].Applied)
		}
		assert.Equal(t, []int64{1, 2}, recorded(t, primary), "nothing rolled back")
		assert.Equal(t, int64(1), primary.Count(t, "users"))
	})
}

// TestFailedMigrationIsNotRecorded: a migration with an SQL error fails the
// target, names the file, and is not recorded; on PostgreSQL its earlier
// statements are rolled back with it, on MariaDB (DDL commits implicitly)
// they are not — the documented caveat.
func TestFailedMigrationIsNotRecorded(t *testing.T) {
	testdb.Servers(t, func(t *testing.T, b *testdb.Backend) {
		ctx := context.Background()
		primary := b.CreateDatabase(t, "sqlerr")
		dir := migrations(t, map[string]string{
			"00001_users.sql": usersMigrations["00001_users.sql"],
			"00002_bad.sql":   sqlMigration("CREATE TABLE half (id int);\nCREATE TABLEX nonsense (id int);", "DROP TABLE half;"),
			"00003_later.sql": sqlMigration("CREATE TABLE later (id int);", "DROP TABLE later;"),
		})
		m := newMigrator(t, handle(t, primary, grant.Config{Databases: map[string]grant.DatabaseConfig{"primary": {Migrations: grant.MigrationsConfig{Dir: dir}}}}))
		report, err := m.Up(ctx, "")
		require.Error(t, err)
		var te *TargetError
		require.ErrorAs(t, err, &te)
		assert.Equal(t, TargetError{Target: "primary", Source: "00002_bad.sql", Version: 2, Err: te.Err}, *te)
		assert.Contains(t, err.Error(), "primary: 00002_bad.sql: ")
		assert.Equal(t, []int64{1}, report.Results[0].Applied)
		assert.Equal(t, []int64{1}, recorded(t, primary), "the failed migration is not recorded")
		assert.False(t, hasTable(t, primary, "later"), "the run stops at the failure")
		assert.Equal(t, b.Name == testdb.NameMariaDB, hasTable(t, primary, "half"))

		status, err := m.Status(ctx, "primary")
		require.NoError(t, err)
		assert.Equal(t, []int64{2, 3}, status.Targets[0].Pending)
	})
}

// TestUnreachableWriter: a shard whose server does not answer fails with an
// error naming the shard and never its password; the other shards migrate.
func TestUnreachableWriter(t *testing.T) {
	ctx := context.Background()
	b := testdb.Postgres(t)
	primary := b.CreateDatabase(t, "unreach_primary")
	shard1 := b.CreateDatabase(t, "unreach_shard1")
	c := cluster(migrations(t, ordersMigrations), []*testdb.Database{shard1})
	c.Shards = append(c.Shards, grant.ShardConfig{Name: "shard2", DatabaseConfig: grant.DatabaseConfig{
		Writer: &grant.NodeConfig{DSN: "postgres://u:s3cret@127.0.0.1:1/x?connect_timeout=1", Adapter: "postgres"}}})
	m := newMigrator(t, handle(t, primary, grant.Config{Clusters: map[string]grant.ClusterConfig{"orders": c}}))

	report, err := m.Up(ctx, "orders")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "orders/shard2: ")
	assert.NotContains(t, err.Error(), "s3cret")
	assert.Equal(t, []string{"orders/shard2"}, errorsIn(err))
	assert.Equal(t, []int64{1, 2}, report.Results[0].Applied)
	assert.Equal(t, []int64{1, 2}, recorded(t, shard1))

	status, err := m.Status(ctx, "orders")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cret")
	assert.Error(t, status.Targets[1].Err)
	assert.Equal(t, int64(2), status.Targets[0].Current)
	assert.False(t, status.HasDrift(), "an unreadable shard is not drift")

	for _, op := range []func() error{
		func() error { _, err := m.Down(ctx, "orders/shard2", 1); return err },
		func() error { return m.DryRun(ctx, "orders/shard2", &discard{}) },
	} {
		err := op()
		require.Error(t, err)
		assert.Contains(t, err.Error(), "orders/shard2: ")
		assert.NotContains(t, err.Error(), "s3cret")
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
