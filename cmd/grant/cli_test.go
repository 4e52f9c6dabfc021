package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant/internal/testdb"
)

// The end-to-end tests run the real binary, as a user would.
var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

func grantBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "grant-cli-")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "grant")
		out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return binary
}

// run executes the binary in dir and returns stdout, stderr and the exit code.
func run(t *testing.T, dir string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(grantBinary(t), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GRANT_CONFIG=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return stdout.String(), stderr.String(), code
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
}

func TestCLIHelpOnEveryCommand(t *testing.T) {
	for _, args := range [][]string{
		{"--help"}, {"demo", "--help"}, {"status", "--help"}, {"migrate", "--help"},
		{"migrate", "up", "--help"}, {"migrate", "down", "--help"}, {"migrate", "status", "--help"}, {"migrate", "new", "--help"},
	} {
		stdout, _, code := run(t, t.TempDir(), args...)
		assert.Zero(t, code, args)
		assert.Contains(t, stdout, "Usage:", args)
	}
}

func TestCLIMigrateEndToEnd(t *testing.T) {
	b := testdb.Postgres(t)
	primary := b.CreateDatabase(t, "cli_primary")
	var shards []*testdb.Database
	for i := 1; i <= 4; i++ {
		shards = append(shards, b.CreateDatabase(t, fmt.Sprintf("cli_shard%d", i)))
	}
	dir := t.TempDir()
	var yml strings.Builder
	fmt.Fprintf(&yml, "databases:\n  primary:\n    adapter: postgres\n    dsn: %q\n    migrations: migrations/primary\n", primary.DSN)
	if primary.ThroughPgBouncer() { // GRANT_PGBOUNCER: as docs/pgbouncer.md says
		fmt.Fprintf(&yml, "    migrations_dsn: %q\n", primary.DirectDSN)
	}
	fmt.Fprintf(&yml, "clusters:\n  orders:\n    adapter: postgres\n    migrations: migrations/orders\n    shards:\n")
	for i, s := range shards {
		fmt.Fprintf(&yml, "      - name: shard%d\n        dsn: %q\n", i+1, s.DSN)
		if s.ThroughPgBouncer() {
			fmt.Fprintf(&yml, "        migrations_dsn: %q\n", s.DirectDSN)
		}
	}
	writeFile(t, filepath.Join(dir, "grant.yml"), yml.String())
	writeFile(t, filepath.Join(dir, "migrations/primary/00001_users.sql"),
		"-- +goose Up\nCREATE TABLE users (id bigint PRIMARY KEY);\n-- +goose Down\nDROP TABLE users;\n")
	writeFile(t, filepath.Join(dir, "migrations/orders/00001_orders.sql"),
		"-- +goose Up\nCREATE TABLE IF NOT EXISTS orders (id bigint PRIMARY KEY);\n-- +goose Down\nDROP TABLE orders;\n")
	writeFile(t, filepath.Join(dir, "migrations/orders/00002_note.sql"),
		"-- +goose Up\nALTER TABLE orders ADD COLUMN note text;\n-- +goose Down\nALTER TABLE orders DROP COLUMN note;\n")

	stdout, stderr, code := run(t, dir, "status")
	require.Zero(t, code, stdout+stderr)
	for _, node := range []string{"primary/writing", "orders/shard1/writing", "orders/shard4/writing"} {
		assert.Contains(t, stdout, node)
	}
	assert.Contains(t, stdout, "0/1 in use", "the pools as grant's topology snapshot shows them")

	// shard3 already has a column "note": migration 2 fails there only.
	shard3 := shards[2].Open(t)
	require.NoError(t, shard3.Exec("CREATE TABLE orders (id bigint PRIMARY KEY, note text)").Error)

	stdout, stderr, code = run(t, dir, "migrate", "up")
	assert.NotZero(t, code, "a failing shard fails the run")
	assert.Contains(t, stdout+stderr, "orders/shard3")
	assert.Contains(t, stdout, "FAILED")
	for i, s := range shards {
		has := s.Open(t).Migrator().HasColumn("orders", "note")
		assert.True(t, has, "shard%d has the column (shard3 had it before)", i+1)
	}
	assert.True(t, primary.Open(t).Migrator().HasTable("users"))

	stdout, _, code = run(t, dir, "migrate", "status")
	assert.NotZero(t, code, "drift exits non-zero")
	assert.Contains(t, stdout, "DRIFT in cluster orders")
	assert.Contains(t, stdout, "shard3=1")

	require.NoError(t, shard3.Exec("ALTER TABLE orders DROP COLUMN note").Error)
	stdout, stderr, code = run(t, dir, "migrate", "up")
	require.Zero(t, code, stdout+stderr)
	stdout, stderr, code = run(t, dir, "migrate", "status")
	require.Zero(t, code, stdout+stderr)
	assert.NotContains(t, stdout, "DRIFT")

	stdout, stderr, code = run(t, dir, "migrate", "down", "--database", "orders")
	require.Zero(t, code, stdout+stderr)
	for i, s := range shards {
		assert.False(t, s.Open(t).Migrator().HasColumn("orders", "note"), "shard%d rolled back", i+1)
	}
	assert.True(t, primary.Open(t).Migrator().HasTable("users"), "--database orders leaves primary alone")

	stdout, stderr, code = run(t, dir, "migrate", "up", "--dry-run")
	require.Zero(t, code, stdout+stderr)
	assert.Contains(t, stdout, "ALTER TABLE orders ADD COLUMN note text")
	assert.Contains(t, stdout, "orders/shard2")
	assert.False(t, shards[1].Open(t).Migrator().HasColumn("orders", "note"), "a dry run changes nothing")

	stdout, stderr, code = run(t, dir, "migrate", "new", "add_index", "--database", "orders")
	require.Zero(t, code, stdout+stderr)
	created := strings.TrimSpace(stdout)
	assert.Equal(t, filepath.Join(dir, "migrations/orders"), filepath.Dir(created))
	assert.True(t, strings.HasSuffix(created, "_add_index.sql"), created)
	text, err := os.ReadFile(created)
	require.NoError(t, err)
	assert.Contains(t, string(text), "-- +goose Up")
	assert.Contains(t, string(text), "-- +goose Down")

	_, stderr, code = run(t, dir, "migrate", "up", "--database", "nope")
	assert.NotZero(t, code)
	assert.Contains(t, stderr, `"nope"`)
}

func TestCLIBadInput(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "grant.yml"), "databases:\n  primary:\n    adapter: [postgres\n")
	_, stderr, code := run(t, dir, "status")
	assert.NotZero(t, code)
	assert.Contains(t, stderr, "grant.yml:3", "a YAML error names the file and line")

	_, stderr, code = run(t, dir, "status", "--config", "missing.yml")
	assert.NotZero(t, code)
	assert.Contains(t, stderr, "missing.yml")

	// A node that does not answer: named, its password never printed.
	primary := testdb.Postgres(t).CreateDatabase(t, "cli_down")
	writeFile(t, filepath.Join(dir, "down.yml"), `databases:
  primary:
    adapter: postgres
    dsn: "`+primary.DSN+`"
clusters:
  orders:
    adapter: postgres
    shards:
      - name: shard1
        dsn: "postgres://app:s3cret@127.0.0.1:1/orders?connect_timeout=1&sslmode=disable"
      - name: shard2
        dsn: "host=127.0.0.1 port=1 user=app password=s3cret dbname=orders connect_timeout=1 sslmode=disable"
`)
	stdout, stderr, code := run(t, dir, "status", "--config", "down.yml", "--timeout", "3s")
	assert.NotZero(t, code)
	assert.Contains(t, stdout, "orders/shard1/writing")
	assert.Contains(t, stdout, "NO")
	assert.Contains(t, stdout, "orders/shard2/writing")
	assert.Contains(t, stderr, "2 of 3 nodes unreachable")
	assert.NotContains(t, stdout+stderr, "s3cret")

	stdout, _, code = run(t, dir, "status", "--config", "down.yml", "--json", "--timeout", "3s")
	assert.NotZero(t, code)
	assert.Contains(t, stdout, `"reachable": false`)
	assert.NotContains(t, stdout, "s3cret")
}

// The example in docs/configuration.md is a file "grant status" accepts.
func TestCLIStatusAcceptsTheExampleFile(t *testing.T) {
	admin := testdb.Postgres(t).CreateDatabase(t, "cli_admin").Open(t)
	for _, name := range []string{"primary", "analytics", "orders_1", "orders_2"} {
		db := "grant_example_" + name
		require.NoError(t, admin.Exec("DROP DATABASE IF EXISTS "+db+" WITH (FORCE)").Error)
		require.NoError(t, admin.Exec("CREATE DATABASE "+db).Error)
		t.Cleanup(func() { admin.Exec("DROP DATABASE IF EXISTS " + db + " WITH (FORCE)") })
	}
	example, err := filepath.Abs("../../docs/grant.example.yml")
	require.NoError(t, err)
	stdout, stderr, code := run(t, t.TempDir(), "status", "--config", example)
	require.Zero(t, code, stdout+stderr)
	for _, node := range []string{"primary/writing", "primary/reading#replica1", "analytics/writing", "orders/shard1/writing", "orders/shard2/writing"} {
		assert.Contains(t, stdout, node)
	}
	assert.NotContains(t, stdout, " NO ")
}
