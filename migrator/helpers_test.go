package migrator

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/testdb"
	"github.com/grant-go/grant/topology"
)

// handle opens a *gorm.DB on primary with grant installed, closed at the
// end of the test. When the test databases go through PgBouncer
// (GRANT_PGBOUNCER), every database and shard that has no migrations DSN
// gets one straight to its server, as docs/pgbouncer.md says to configure
// it: the suite then runs with grant's writers behind the bouncer.
func handle(t testing.TB, primary *testdb.Database, cfg grant.Config) *gorm.DB {
	t.Helper()
	return handleAsIs(t, primary, directMigrations(cfg, primary))
}

// handleAsIs is handle without the migrations DSNs.
func handleAsIs(t testing.TB, primary *testdb.Database, cfg grant.Config) *gorm.DB {
	t.Helper()
	db, err := gorm.Open(primary.Dialector(), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err)
	require.NoError(t, db.Use(grant.New(cfg)))
	t.Cleanup(func() {
		if p, ok := grant.From(db); ok {
			_ = p.Close()
		}
		if sqlDB, err := db.DB(); err == nil {
			_ = sqlDB.Close()
		}
	})
	return db
}

// directMigrations returns cfg with a migrations DSN straight to its server
// for every database (primary's for the default one, which uses the
// handle's pool) and shard whose writer goes through PgBouncer and has none;
// cfg itself when the tests do not run through PgBouncer.
func directMigrations(cfg grant.Config, primary *testdb.Database) grant.Config {
	if testdb.PgBouncer() == "" {
		return cfg
	}
	direct := func(dc grant.DatabaseConfig) grant.DatabaseConfig {
		if dc.Migrations.DSN != "" {
			return dc
		}
		switch {
		case dc.Writer == nil:
			if primary.ThroughPgBouncer() {
				dc.Migrations.DSN = primary.DirectDSN
			}
		case dc.Writer.DSN != "":
			if d := testdb.DirectDSN(dc.Writer.DSN); d != dc.Writer.DSN {
				dc.Migrations.DSN = d
			}
		default:
			if pg, ok := dc.Writer.Dialector.(*postgres.Dialector); ok {
				if d := testdb.DirectDSN(pg.DSN); d != pg.DSN {
					dc.Migrations.DSN = d
				}
			}
		}
		return dc
	}
	dbs := make(map[string]grant.DatabaseConfig, len(cfg.Databases))
	for name, dc := range cfg.Databases {
		if dc.Writer == nil && name != cfg.DefaultName() {
			dbs[name] = dc
			continue
		}
		dbs[name] = direct(dc)
	}
	cfg.Databases = dbs
	clusters := make(map[string]grant.ClusterConfig, len(cfg.Clusters))
	for name, cc := range cfg.Clusters {
		cc.Shards = slices.Clone(cc.Shards)
		for i := range cc.Shards {
			cc.Shards[i].DatabaseConfig = direct(cc.Shards[i].DatabaseConfig)
		}
		clusters[name] = cc
	}
	cfg.Clusters = clusters
	return cfg
}

// newMigrator is New that fails the test on error.
func newMigrator(t testing.TB, db *gorm.DB, opts ...Option) *Migrator {
	t.Helper()
	m, err := New(db, opts...)
	require.NoError(t, err)
	return m
}

// shards creates n databases named <prefix>1..n.
func shards(t testing.TB, b *testdb.Backend, prefix string, n int) []*testdb.Database {
	t.Helper()
	out := make([]*testdb.Database, n)
	for i := range out {
		out[i] = b.CreateDatabase(t, fmt.Sprintf("%s%d", prefix, i+1))
	}
	return out
}

// cluster configures shards shard1..n on the given databases, migrated from dir.
func cluster(dir string, dbs []*testdb.Database) grant.ClusterConfig {
	c := grant.ClusterConfig{Migrations: grant.MigrationsConfig{Dir: dir}}
	for i, d := range dbs {
		c.Shards = append(c.Shards, grant.ShardConfig{Name: fmt.Sprintf("shard%d", i+1),
			DatabaseConfig: grant.DatabaseConfig{Writer: &grant.NodeConfig{Dialector: d.Dialector()}}})
	}
	return c
}

// migrations writes files into a fresh directory and returns it.
func migrations(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, files)
	return dir
}

func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644))
	}
}

// sqlMigration is a goose SQL file with both sections.
func sqlMigration(up, down string) string {
	return "-- +goose Up\n" + up + "\n\n-- +goose Down\n" + down + "\n"
}

var (
	directMu sync.Mutex
	directs  = map[*testdb.Database]*gorm.DB{}
)

// direct is a plain connection to d, bypassing grant: what the tests check
// physical state with.
func direct(t testing.TB, d *testdb.Database) *gorm.DB {
	t.Helper()
	directMu.Lock()
	defer directMu.Unlock()
	if db, ok := directs[d]; ok {
		return db
	}
	db := d.Open(t)
	directs[d] = db
	t.Cleanup(func() {
		directMu.Lock()
		delete(directs, d)
		directMu.Unlock()
	})
	return db
}

func exec(t testing.TB, d *testdb.Database, sql string) {
	t.Helper()
	require.NoError(t, direct(t, d).Exec(sql).Error)
}

func hasTable(t testing.TB, d *testdb.Database, table string) bool {
	t.Helper()
	return direct(t, d).Migrator().HasTable(table)
}

func hasColumn(t testing.TB, d *testdb.Database, table, column string) bool {
	t.Helper()
	return direct(t, d).Migrator().HasColumn(table, column)
}

// recorded reads the default version table of d directly: the versions
// recorded as applied (version 0 left out) in the order they were applied;
// nil when there is no version table.
func recorded(t testing.TB, d *testdb.Database) []int64 {
	t.Helper()
	return recordedIn(t, d, topology.DefaultMigrationsTable)
}

func recordedIn(t testing.TB, d *testdb.Database, table string) []int64 {
	t.Helper()
	if !hasTable(t, d, table) {
		return nil
	}
	var out []int64
	require.NoError(t, direct(t, d).Raw("SELECT version_id FROM "+table+" WHERE version_id <> 0 ORDER BY id").Scan(&out).Error)
	return out
}

// targets lists the Target of each result.
func targets(r *Report) []string {
	var out []string
	for _, res := range r.Results {
		out = append(out, res.Target)
	}
	return out
}

// resultOf finds a target's Result.
func resultOf(t testing.TB, r *Report, target string) Result {
	t.Helper()
	for _, res := range r.Results {
		if res.Target == target {
			return res
		}
	}
	t.Fatalf("no result for %s in %v", target, targets(r))
	return Result{}
}

// events collects progress events; safe for concurrent use.
type events struct {
	mu  sync.Mutex
	all []Event
}

func (e *events) add(ev Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, ev)
}

// of returns the kinds of target's events, in order.
func (e *events) of(target string) []EventKind {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []EventKind
	for _, ev := range e.all {
		if ev.Target == target {
			out = append(out, ev.Kind)
		}
	}
	return out
}

// sleepSQL is a statement that sleeps for the given seconds on b's server.
func sleepSQL(b *testdb.Backend, seconds float64) string {
	if b.Name == testdb.NameMariaDB {
		return fmt.Sprintf("SELECT SLEEP(%g);", seconds)
	}
	return fmt.Sprintf("SELECT pg_sleep(%g);", seconds)
}
