package migrator

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/testdb"
)

var auditMigrations = map[string]string{
	"00001_orders.sql":      sqlMigration("CREATE TABLE orders (id bigint PRIMARY KEY);", "DROP TABLE orders;"),
	"00002_audit.sql":       sqlMigration("CREATE TABLE audit (id bigint PRIMARY KEY);", "DROP TABLE audit;"),
	"00003_orders_note.sql": sqlMigration("ALTER TABLE orders ADD COLUMN note varchar(100);", "ALTER TABLE orders DROP COLUMN note;"),
}

// TestFailingShardFinishesOthersAndDrifts: migration 2 fails on shard3
// only; the other shards finish, shard3 records nothing for it, Status
// reports drift, and a re-run after the fix resumes shard3 alone.
func TestFailingShardFinishesOthersAndDrifts(t *testing.T) {
	testdb.Servers(t, func(t *testing.T, b *testdb.Backend) {
		ctx := context.Background()
		primary := b.CreateDatabase(t, "fail_primary")
		dbs := shards(t, b, "fail_orders", 4)
		db := handle(t, primary, grant.Config{Clusters: map[string]grant.ClusterConfig{"orders": cluster(migrations(t, auditMigrations), dbs)}})
		m := newMigrator(t, db, WithStopOnError(false))
		exec(t, dbs[2], "CREATE TABLE audit (id bigint PRIMARY KEY, existing int)") // the conflict

		report, err := m.Up(ctx, "")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "orders/shard3: 00002_audit.sql: ")
		assert.Equal(t, []string{"orders/shard3"}, errorsIn(err), "only shard3 failed")
		var te *TargetError
		require.ErrorAs(t, err, &te)
		assert.Equal(t, "orders/shard3", te.Target)
		assert.Equal(t, int64(2), te.Version)
		assert.Equal(t, "00002_audit.sql", te.Source)
		require.Equal(t, []string{"orders/shard1", "orders/shard2", "orders/shard3", "orders/shard4"}, targets(report))
		for i, r := range report.Results {
			if i == 2 {
				assert.Equal(t, []int64{1}, r.Applied)
				assert.Equal(t, te, r.Err)
				continue
			}
			assert.NoError(t, r.Err, r.Target)
			assert.Equal(t, []int64{1, 2, 3}, r.Applied, r.Target)
			assert.False(t, r.Skipped)
		}
		for i, s := range dbs {
			if i == 2 {
				assert.Equal(t, []int64{1}, recorded(t, s), "shard3 does not record the failed migration")
				assert.False(t, hasColumn(t, s, "orders", "note"), "shard3 stopped at its failure")
				continue
			}
			assert.Equal(t, []int64{1, 2, 3}, recorded(t, s), "shard%d", i+1)
			assert.True(t, hasTable(t, s, "audit"))
			assert.True(t, hasColumn(t, s, "orders", "note"))
		}

		status, err := m.Status(ctx, "")
		require.NoError(t, err)
		require.True(t, status.HasDrift())
		assert.Equal(t, []Drift{{Cluster: "orders", Versions: map[string]int64{"shard1": 3, "shard2": 3, "shard3": 1, "shard4": 3}}}, status.Drift)
		assert.Equal(t, []int64{2, 3}, status.Targets[2].Pending)

		exec(t, dbs[2], "DROP TABLE audit") // the fix
		report, err = m.Up(ctx, "orders")
		require.NoError(t, err)
		for i, r := range report.Results {
			if i == 2 {
				assert.Equal(t, []int64{2, 3}, r.Applied, "shard3 resumes where it stood")
			} else {
				assert.Empty(t, r.Applied, r.Target)
			}
		}
		assert.Equal(t, []int64{1, 2, 3}, recorded(t, dbs[2]))
		assert.True(t, hasColumn(t, dbs[2], "orders", "note"))
		status, err = m.Status(ctx, "")
		require.NoError(t, err)
		assert.False(t, status.HasDrift())
	})
}

// TestStopOnError: with WithStopOnError(true), shards not started are
// skipped, and a shard running when another fails finishes the migration
// it is in, then stops.
func TestStopOnError(t *testing.T) {
	testdb.Servers(t, func(t *testing.T, b *testdb.Backend) {
		ctx := context.Background()
		primary := b.CreateDatabase(t, "stop_primary")
		dbs := shards(t, b, "stop_orders", 4)

		t.Run("not started are skipped", func(t *testing.T) {
			dir := migrations(t, ordersMigrations)
			db := handle(t, primary, grant.Config{Clusters: map[string]grant.ClusterConfig{"orders": cluster(dir, dbs)}})
			var ev events
			m := newMigrator(t, db, WithStopOnError(true), WithParallel(1), WithProgress(ev.add))
			exec(t, dbs[1], "CREATE TABLE orders (id bigint PRIMARY KEY)") // shard2 fails on migration 1
			t.Cleanup(func() { exec(t, dbs[1], "DROP TABLE orders") })

			report, err := m.Up(ctx, "orders")
			require.Error(t, err)
			assert.Contains(t, err.Error(), "orders/shard2: 00001_orders.sql: ")
			assert.NotContains(t, err.Error(), "shard3")
			assert.Equal(t, []int64{1, 2}, report.Results[0].Applied)
			assert.Error(t, report.Results[1].Err)
			for _, r := range report.Results[2:] {
				assert.True(t, r.Skipped, r.Target)
				assert.NoError(t, r.Err)
				assert.Empty(t, r.Applied)
				assert.Equal(t, []EventKind{Skipped}, ev.of(r.Target))
			}
			assert.Equal(t, []EventKind{Started, Failed}, ev.of("orders/shard2"))
			assert.Nil(t, recorded(t, dbs[2]), "shard3 was never touched: no version table")
			assert.False(t, hasTable(t, dbs[3], "orders"))
		})

		t.Run("running ones finish their migration", func(t *testing.T) {
			fresh := shards(t, b, "stop_run", 4)
			// Migration 1 fails on shard1 after 0.2s; shard2 runs it at the
			// same time and is still inside it then (it lasts 0.5s).
			dir := migrations(t, map[string]string{
				"00001_orders.sql": sqlMigration(sleepSQL(b, 0.2)+"\nCREATE TABLE orders (id bigint PRIMARY KEY);\n"+sleepSQL(b, 0.3), "DROP TABLE orders;"),
				"00002_note.sql":   ordersMigrations["00002_orders_note.sql"],
			})
			db := handle(t, primary, grant.Config{Clusters: map[string]grant.ClusterConfig{"orders": cluster(dir, fresh)}})
			m := newMigrator(t, db, WithStopOnError(true), WithParallel(2))
			exec(t, fresh[0], "CREATE TABLE orders (id bigint PRIMARY KEY)")

			report, err := m.Up(ctx, "orders")
			require.Error(t, err)
			assert.Contains(t, err.Error(), "orders/shard1: 00001_orders.sql: ")
			shard2 := report.Results[1]
			assert.NoError(t, shard2.Err)
			assert.True(t, shard2.Skipped, "stopped after its migration")
			assert.Equal(t, []int64{1}, shard2.Applied, "the migration in progress was not interrupted")
			assert.Equal(t, []int64{1}, recorded(t, fresh[1]))
			assert.True(t, hasTable(t, fresh[1], "orders"))
			assert.False(t, hasColumn(t, fresh[1], "orders", "note"), "migration 2 never started")
			for _, r := range report.Results[2:] {
				assert.True(t, r.Skipped, r.Target)
				assert.Empty(t, r.Applied)
			}
		})
	})
}

// TestConcurrentUp: two migrators on two grant handles migrate the same
// databases at once; each migration is applied exactly once.
func TestConcurrentUp(t *testing.T) {
	testdb.Servers(t, func(t *testing.T, b *testdb.Backend) {
		primary := b.CreateDatabase(t, "conc_primary")
		dbs := shards(t, b, "conc_orders", 2)
		slow := func(name, up, down string) (string, string) {
			return name, sqlMigration(sleepSQL(b, 0.1)+"\n"+up, down)
		}
		pdir, odir := t.TempDir(), t.TempDir()
		for _, f := range [][3]string{{"00001_users.sql", "CREATE TABLE users (id bigint PRIMARY KEY);", "DROP TABLE users;"},
			{"00002_users_a.sql", "ALTER TABLE users ADD COLUMN a int;", "ALTER TABLE users DROP COLUMN a;"},
			{"00003_users_b.sql", "ALTER TABLE users ADD COLUMN b int;", "ALTER TABLE users DROP COLUMN b;"}} {
			name, text := slow(f[0], f[1], f[2])
			writeFiles(t, pdir, map[string]string{name: text})
			writeFiles(t, odir, map[string]string{strings.Replace(name, "users", "orders", 1): strings.ReplaceAll(text, "users", "orders")})
		}
		cfg := func() grant.Config {
			return grant.Config{
				Databases: map[string]grant.DatabaseConfig{"primary": {Migrations: grant.MigrationsConfig{Dir: pdir}}},
				Clusters:  map[string]grant.ClusterConfig{"orders": cluster(odir, dbs)},
			}
		}
		migrators := []*Migrator{newMigrator(t, handle(t, primary, cfg())), newMigrator(t, handle(t, primary, cfg()))}

		reports := make([]*Report, 2)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, m := range migrators {
			wg.Go(func() {
				<-start
				reports[i], errs[i] = m.Up(context.Background(), "")
			})
		}
		close(start)
		wg.Wait()
		require.NoError(t, errs[0])
		require.NoError(t, errs[1])
		for _, target := range []string{"primary", "orders/shard1", "orders/shard2"} {
			both := append(resultOf(t, reports[0], target).Applied, resultOf(t, reports[1], target).Applied...)
			assert.Equal(t, []int64{1, 2, 3}, sorted(both), "%s: each migration applied by exactly one migrator", target)
		}
		for i, d := range append([]*testdb.Database{primary}, dbs...) {
			assert.Equal(t, []int64{1, 2, 3}, recorded(t, d), "database %d", i)
			var zeros int64
			require.NoError(t, direct(t, d).Raw("SELECT COUNT(*) FROM grant_schema_migrations WHERE version_id = 0").Scan(&zeros).Error)
			assert.Equal(t, int64(1), zeros, "the version table was created once")
		}
		assert.True(t, hasColumn(t, primary, "users", "b"))
		for _, s := range dbs {
			assert.True(t, hasColumn(t, s, "orders", "b"))
		}
	})
}

// errorsIn lists the targets an error joined by Report.Err names.
func errorsIn(err error) []string {
	var out []string
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			var te *TargetError
			if errors.As(e, &te) {
				out = append(out, te.Target)
			} else {
				out = append(out, fmt.Sprint(e))
			}
		}
	}
	return out
}
