package migrator

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/testdb"
)

// sectionsOf splits DryRun output by target header.
func sectionsOf(out string) map[string]string {
	parts := map[string]string{}
	for _, chunk := range strings.Split(out, "-- ==== ")[1:] {
		name, _, _ := strings.Cut(chunk, " ")
		parts[name] = chunk
	}
	return parts
}

func TestDryRun(t *testing.T) {
	testdb.Servers(t, func(t *testing.T, b *testdb.Backend) {
		ctx := context.Background()
		primary := b.CreateDatabase(t, "dry_primary")
		dbs := shards(t, b, "dry_orders", 2)
		odir := migrations(t, ordersMigrations)
		goMig := goose.NewGoMigration(3, &goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error { return nil }}, nil)
		db := handle(t, primary, grant.Config{
			Databases: map[string]grant.DatabaseConfig{"primary": {Migrations: grant.MigrationsConfig{Dir: migrations(t, usersMigrations)}}},
			Clusters:  map[string]grant.ClusterConfig{"orders": cluster(odir, dbs)},
		})
		m := newMigrator(t, db, WithGoMigrations("primary", goMig))
		_, err := m.Up(ctx, "orders/shard1")
		require.NoError(t, err)
		writeFiles(t, odir, map[string]string{"00003_orders_total.sql": "-- +goose Up\n-- +goose StatementBegin\nALTER TABLE orders ADD COLUMN total int;\n-- +goose StatementEnd\n-- +goose Down\nALTER TABLE orders DROP COLUMN total;\n"})

		var out strings.Builder
		require.NoError(t, m.DryRun(ctx, "", &out))
		parts := sectionsOf(out.String())
		require.Len(t, parts, 3, out.String())

		p := parts["primary"]
		assert.Contains(t, p, "00001_users.sql (version 1)\nCREATE TABLE users (id bigint PRIMARY KEY);")
		assert.Contains(t, p, "ALTER TABLE users ADD COLUMN email varchar(100);")
		assert.Contains(t, p, "Go migration 3 (version 3): Go migration; its Go code runs here")
		assert.NotContains(t, p, "DROP TABLE", "only Up sections")
		assert.Less(t, strings.Index(p, "00001_users.sql"), strings.Index(p, "00002_users_email.sql"))

		s1 := parts["orders/shard1"]
		assert.NotContains(t, s1, "CREATE TABLE orders", "applied migrations are not shown")
		assert.Contains(t, s1, "-- 1 pending")
		assert.Contains(t, s1, "00003_orders_total.sql (version 3)\nALTER TABLE orders ADD COLUMN total int;")
		assert.NotContains(t, s1, "StatementBegin")
		s2 := parts["orders/shard2"]
		for _, sql := range []string{"CREATE TABLE orders", "ADD COLUMN note", "ADD COLUMN total"} {
			assert.Contains(t, s2, sql)
		}

		assert.Nil(t, recorded(t, primary), "a dry run does not even create the version table")
		assert.False(t, hasTable(t, primary, "users"))
		assert.Equal(t, []int64{1, 2}, recorded(t, dbs[0]))
		assert.False(t, hasColumn(t, dbs[0], "orders", "total"))
		assert.Nil(t, recorded(t, dbs[1]))

		out.Reset()
		_, err = m.Up(ctx, "orders")
		require.NoError(t, err)
		require.NoError(t, m.DryRun(ctx, "orders", &out))
		assert.Equal(t, 2, strings.Count(out.String(), "-- nothing pending"), out.String())
	})
}

// TestGoMigrations: Go migrations run in version order with the SQL files,
// on a database and on every shard of a cluster, and roll back.
func TestGoMigrations(t *testing.T) {
	testdb.Servers(t, func(t *testing.T, b *testdb.Backend) {
		ctx := context.Background()
		primary := b.CreateDatabase(t, "go_primary")
		dbs := shards(t, b, "go_orders", 2)
		dir := migrations(t, map[string]string{
			"00001_steps.sql": sqlMigration("CREATE TABLE steps (a int);", "DROP TABLE steps;"),
			// needs the column migration 2 (Go) adds
			"00003_fill.sql": sqlMigration("INSERT INTO steps (a, b) VALUES (1, 2);", "DELETE FROM steps;"),
		})
		addB := goose.NewGoMigration(2,
			&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, "ALTER TABLE steps ADD COLUMN b int")
				return err
			}},
			&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, "ALTER TABLE steps DROP COLUMN b")
				return err
			}})
		var calls atomic.Int32
		shardOnly := goose.NewGoMigration(1, // no directory: Go only, and without a transaction
			&goose.GoFunc{RunDB: func(ctx context.Context, db *sql.DB) error {
				calls.Add(1)
				_, err := db.ExecContext(ctx, "CREATE TABLE go_only (id int)")
				return err
			}}, nil)
		c := cluster("", dbs)
		db := handle(t, primary, grant.Config{
			Databases: map[string]grant.DatabaseConfig{"primary": {Migrations: grant.MigrationsConfig{Dir: dir}}},
			Clusters:  map[string]grant.ClusterConfig{"orders": c},
		})
		var ev events
		m := newMigrator(t, db, WithGoMigrations("primary", addB), WithGoMigrations("orders", shardOnly), WithProgress(ev.add))

		report, err := m.Up(ctx, "")
		require.NoError(t, err)
		assert.Equal(t, []int64{1, 2, 3}, resultOf(t, report, "primary").Applied)
		assert.Equal(t, []int64{1, 2, 3}, recorded(t, primary))
		var row struct{ A, B int }
		require.NoError(t, direct(t, primary).Raw("SELECT a, b FROM steps").Scan(&row).Error)
		assert.Equal(t, 2, row.B, "the SQL migration after the Go one saw its column")
		assert.Equal(t, int32(2), calls.Load(), "once per shard")
		for _, s := range dbs {
			assert.True(t, hasTable(t, s, "go_only"))
			assert.Equal(t, []int64{1}, recorded(t, s))
		}
		var sources []string
		for _, e := range ev.all {
			if e.Target == "primary" && e.Kind == Applied {
				sources = append(sources, e.Source)
			}
		}
		assert.Equal(t, []string{"00001_steps.sql", "Go migration 2", "00003_fill.sql"}, sources)

		report, err = m.Down(ctx, "primary", 3)
		require.NoError(t, err)
		assert.Equal(t, []int64{3, 2, 1}, report.Results[0].Applied)
		assert.False(t, hasTable(t, primary, "steps"))

		_, err = m.Down(ctx, "orders", 1)
		require.ErrorIs(t, err, ErrNoDownMigration, "a Go migration without a down function is not rolled back")
		assert.Contains(t, err.Error(), "orders/shard1: Go migration 1: ")
		assert.True(t, hasTable(t, dbs[0], "go_only"))
	})
}

// TestCreate: Create writes a file goose parses, named after the time.
func TestCreate(t *testing.T) {
	at := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	dir := t.TempDir()
	path, err := Create(dir, "add_widgets", at)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "20250304050607_add_widgets.sql"), path)
	text, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(text), "-- +goose Up\n"))
	assert.Contains(t, string(text), "\n-- +goose Down\n")
	next, err := Create(dir, "more", at.In(time.FixedZone("CET", 3600)))
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "20250304050608_more.sql"), next, "a taken version moves a second on")

	for _, bad := range []string{"", "Add", "add-widgets", "../x", "a b"} {
		_, err := Create(dir, bad, at)
		assert.ErrorContains(t, err, "must match [a-z0-9_]+", bad)
	}
	_, err = Create(filepath.Join(dir, "nope"), "x", at)
	assert.Error(t, err)

	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		ctx := context.Background()
		primary := b.CreateDatabase(t, "create")
		dir := t.TempDir()
		first, err := Create(dir, "empty", at)
		require.NoError(t, err)
		db := handle(t, primary, grant.Config{
			Databases: map[string]grant.DatabaseConfig{"primary": {Migrations: grant.MigrationsConfig{Dir: dir}}},
			Clusters:  map[string]grant.ClusterConfig{"orders": cluster("", []*testdb.Database{primary})},
		})
		m := newMigrator(t, db)
		second, err := m.Create("primary", "widgets")
		require.NoError(t, err)
		assert.Equal(t, dir, filepath.Dir(second))
		text, err := os.ReadFile(second)
		require.NoError(t, err)
		filled := strings.Replace(string(text), "-- +goose Down\n", "CREATE TABLE widgets (id int);\n\n-- +goose Down\nDROP TABLE widgets;\n", 1)
		require.NoError(t, os.WriteFile(second, []byte(filled), 0o644))

		report, err := m.Up(ctx, "primary")
		require.NoError(t, err)
		require.Len(t, report.Results[0].Applied, 2)
		assert.Equal(t, int64(20250304050607), report.Results[0].Applied[0], filepath.Base(first))
		assert.True(t, hasTable(t, primary, "widgets"))
		_, err = m.Down(ctx, "primary", 1)
		require.NoError(t, err)
		assert.False(t, hasTable(t, primary, "widgets"))
		_, err = m.Down(ctx, "primary", 1)
		assert.ErrorIs(t, err, ErrNoDownMigration, "the template's empty Down section is refused")

		_, err = m.Create("orders", "x")
		assert.ErrorIs(t, err, ErrNoMigrations, "the cluster has no directory")
		_, err = m.Create("orders/shard1", "x")
		assert.ErrorIs(t, err, ErrUnknownTarget)
		_, err = m.Create("nope", "x")
		assert.ErrorIs(t, err, ErrUnknownTarget)
	})
}
