package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant/internal/testdb"
)

// The CLI behind PgBouncer (docs/pgbouncer.md); these tests need
// GRANT_PGBOUNCER (scripts/pgbouncer.sh; .ci/run's second pass).

func needPgBouncer(t *testing.T) *testdb.Backend {
	t.Helper()
	if testdb.PgBouncer() == "" {
		t.Skipf("needs PgBouncer: start it with scripts/pgbouncer.sh and set %s=127.0.0.1:6432", testdb.EnvPgBouncer)
	}
	return testdb.Postgres(t)
}

// bouncedTopology writes grant.yml for a database and a two-shard cluster
// whose DSNs go through PgBouncer, with migrations_dsn straight to the
// server when direct is set, and migrations with a side effect each: a row
// in table effects.
func bouncedTopology(t *testing.T, b *testdb.Backend, prefix string, direct bool) (string, []*testdb.Database) {
	t.Helper()
	dbs := []*testdb.Database{b.CreateDatabase(t, prefix+"_primary"), b.CreateDatabase(t, prefix+"_shard1"), b.CreateDatabase(t, prefix+"_shard2")}
	dir := t.TempDir()
	var yml strings.Builder
	section := func(indent string, d *testdb.Database) {
		require.True(t, d.ThroughPgBouncer())
		fmt.Fprintf(&yml, "%sdsn: %q\n", indent, d.DSN)
		if direct {
			fmt.Fprintf(&yml, "%smigrations_dsn: %q\n", indent, d.DirectDSN)
		}
	}
	yml.WriteString("databases:\n  primary:\n    adapter: postgres\n    migrations: migrations\n")
	section("    ", dbs[0])
	yml.WriteString("clusters:\n  orders:\n    adapter: postgres\n    migrations: migrations\n    shards:\n")
	for i, s := range dbs[1:] {
		fmt.Fprintf(&yml, "      - name: shard%d\n", i+1)
		section("        ", s)
	}
	writeFile(t, filepath.Join(dir, "grant.yml"), yml.String())
	writeFile(t, filepath.Join(dir, "migrations/00001_effects.sql"),
		"-- +goose Up\nCREATE TABLE effects (version int NOT NULL);\nINSERT INTO effects VALUES (1);\n-- +goose Down\nDROP TABLE effects;\n")
	for v := 2; v <= 3; v++ {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("migrations/%05d_step.sql", v)), fmt.Sprintf(
			"-- +goose Up\nSELECT pg_sleep(0.05);\nINSERT INTO effects VALUES (%d);\nALTER TABLE effects ADD COLUMN c%d int;\n-- +goose Down\nDELETE FROM effects WHERE version = %d;\n", v, v, v))
	}
	return dir, dbs
}

// TestCLIConcurrentMigrateUpThroughPgBouncer: two "grant migrate up"
// processes at once, their writers behind PgBouncer and migrations_dsn
// direct: each migration is applied once, on every database.
func TestCLIConcurrentMigrateUpThroughPgBouncer(t *testing.T) {
	b := needPgBouncer(t)
	bin := grantBinary(t)
	dir, dbs := bouncedTopology(t, b, "cliconc", true)
	var wg sync.WaitGroup
	outs := make([]string, 2)
	errs := make([]error, 2)
	for i := range outs {
		cmd := exec.Command(bin, "migrate", "up", "--lock-timeout", "1m")
		cmd.Dir = dir
		wg.Go(func() {
			out, err := cmd.CombinedOutput()
			outs[i], errs[i] = string(out), err
		})
	}
	wg.Wait()
	for i := range outs {
		require.NoError(t, errs[i], outs[i])
	}
	for _, d := range dbs {
		db := d.Open(t)
		var versions, effects []int64
		require.NoError(t, db.Raw("SELECT version_id FROM grant_schema_migrations WHERE version_id <> 0 ORDER BY version_id").Scan(&versions).Error)
		require.NoError(t, db.Raw("SELECT version FROM effects ORDER BY version").Scan(&effects).Error)
		assert.Equal(t, []int64{1, 2, 3}, versions, "%s: each version recorded once", d.Name)
		assert.Equal(t, []int64{1, 2, 3}, effects, "%s: each side effect once", d.Name)
	}
}

// TestCLIMigrateUpThroughPgBouncerNeedsMigrationsDSN: without
// migrations_dsn, "grant migrate up" behind a transaction-pooling bouncer
// exits non-zero, says to set migrations_dsn, and writes nothing.
func TestCLIMigrateUpThroughPgBouncerNeedsMigrationsDSN(t *testing.T) {
	b := needPgBouncer(t)
	dir, dbs := bouncedTopology(t, b, "clirefuse", false)
	stdout, stderr, code := run(t, dir, "migrate", "up")
	assert.NotZero(t, code)
	out := stdout + stderr
	for _, target := range []string{"primary", "orders/shard1", "orders/shard2"} {
		assert.Contains(t, out, target+": refusing to migrate")
	}
	assert.Contains(t, out, "migrations_dsn")
	for _, d := range dbs {
		assert.False(t, d.Open(t).Migrator().HasTable("grant_schema_migrations"), d.Name)
		assert.False(t, d.Open(t).Migrator().HasTable("effects"), d.Name)
	}
	stdout, stderr, code = run(t, dir, "migrate", "status")
	assert.Zero(t, code, "status takes no lock: it works through the bouncer\n%s%s", stdout, stderr)
}
