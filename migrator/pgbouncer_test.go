package migrator

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/noopdriver"
	"github.com/grant-go/grant/internal/testdb"
)

// Migrations DSN (MigrationsConfig.DSN, grant.yml migrations_dsn) and the
// session check; docs/pgbouncer.md. The tests named ...ThroughPgBouncer need
// GRANT_PGBOUNCER (scripts/pgbouncer.sh; .ci/run's second pass) and are
// skipped without it.

// markedDSN returns d's direct DSN with a session setting the migrations
// can read back: application_name on PostgreSQL, lock_wait_timeout on
// MariaDB.
func markedDSN(t *testing.T, d *testdb.Database) string {
	t.Helper()
	if d.Backend.Name == testdb.NamePostgres {
		return d.DirectDSN + " application_name=grant_migrations_dsn"
	}
	cfg, err := mysqldriver.ParseDSN(d.DirectDSN)
	require.NoError(t, err)
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["lock_wait_timeout"] = "37"
	return cfg.FormatDSN()
}

// probeMigrations record, in table probe, the session setting markedDSN
// sets: which connection ran them.
func probeMigrations(b *testdb.Backend) map[string]string {
	sel := "SELECT current_setting('application_name') AS v"
	if b.Name == testdb.NameMariaDB {
		sel = "SELECT CAST(@@session.lock_wait_timeout AS CHAR) AS v"
	}
	return map[string]string{"00001_probe.sql": sqlMigration("CREATE TABLE probe AS "+sel+";", "DROP TABLE probe;")}
}

func probed(t *testing.T, d *testdb.Database) string {
	t.Helper()
	var v string
	require.NoError(t, direct(t, d).Raw("SELECT v FROM probe").Scan(&v).Error)
	return v
}

// TestMigrationsDSNRunsTheMigrations: with a migrations DSN the migrations
// run over it (the session setting it carries is what they see), for a
// database and for the one shard that has one; the others use their writer.
// Its pool is closed when the run ends.
func TestMigrationsDSNRunsTheMigrations(t *testing.T) {
	testdb.Servers(t, func(t *testing.T, b *testdb.Backend) {
		ctx := context.Background()
		primary := b.CreateDatabase(t, "mdsn_primary")
		dbs := shards(t, b, "mdsn_orders", 2)
		dir := migrations(t, probeMigrations(b))
		orders := cluster(dir, dbs)
		orders.Shards[0].Migrations.DSN = markedDSN(t, dbs[0])
		cfg := grant.Config{
			Databases: map[string]grant.DatabaseConfig{"primary": {Migrations: grant.MigrationsConfig{Dir: dir, DSN: markedDSN(t, primary)}}},
			Clusters:  map[string]grant.ClusterConfig{"orders": orders},
		}
		// As is: through PgBouncer, shard2 has no migrations DSN and is
		// refused; that is TestMigrateThroughPgBouncerWithoutMigrationsDSNIsRefused.
		mk := handle
		if testdb.PgBouncer() == "" {
			mk = handleAsIs
		}
		m := newMigrator(t, mk(t, primary, cfg))

		status, err := m.Status(ctx, "")
		require.NoError(t, err)
		for _, s := range status.Targets {
			assert.Equal(t, []int64{1}, s.Pending, s.Target)
		}
		var out strings.Builder
		require.NoError(t, m.DryRun(ctx, "", &out))
		assert.Contains(t, out.String(), "00001_probe.sql")

		_, err = m.Up(ctx, "")
		require.NoError(t, err)
		marked := map[string]string{testdb.NamePostgres: "grant_migrations_dsn", testdb.NameMariaDB: "37"}[b.Name]
		assert.Equal(t, marked, probed(t, primary), "the database's migrations ran over its migrations DSN")
		assert.Equal(t, marked, probed(t, dbs[0]), "shard1's over its own")
		assert.NotEqual(t, marked, probed(t, dbs[1]), "shard2, without one, over its writer")
		for _, d := range append([]*testdb.Database{primary}, dbs...) {
			assert.Equal(t, []int64{1}, recorded(t, d))
		}

		_, err = m.Down(ctx, "", 1)
		require.NoError(t, err)
		assert.False(t, hasTable(t, primary, "probe"))
		assert.False(t, hasTable(t, dbs[0], "probe"))

		if b.Name == testdb.NamePostgres {
			// The migrations DSN's pool was closed with each run.
			require.Eventually(t, func() bool {
				var n int64
				require.NoError(t, direct(t, primary).Raw("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'grant_migrations_dsn'").Scan(&n).Error)
				return n == 0
			}, 10*time.Second, 20*time.Millisecond, "sessions of the migrations DSN left open")
		}
	})
}

// TestMigrationsDSNErrors: a migrations DSN that reaches another database,
// or none, fails its target before anything is written, without showing the
// DSN's password; one on a SQLite writer is refused.
func TestMigrationsDSNErrors(t *testing.T) {
	testdb.Servers(t, func(t *testing.T, b *testdb.Backend) {
		ctx := context.Background()
		primary := b.CreateDatabase(t, "mdsnerr_primary")
		other := b.CreateDatabase(t, "mdsnerr_other")
		dir := migrations(t, usersMigrations)
		up := func(dsn string) error {
			m := newMigrator(t, handleAsIs(t, primary, grant.Config{
				Databases: map[string]grant.DatabaseConfig{"primary": {Migrations: grant.MigrationsConfig{Dir: dir, DSN: dsn}}},
			}))
			report, err := m.Up(ctx, "")
			require.Error(t, err)
			var te *TargetError
			require.ErrorAs(t, err, &te)
			assert.Equal(t, "primary", te.Target)
			assert.Empty(t, report.Results[0].Applied)
			return err
		}

		err := up(other.DirectDSN)
		assert.Contains(t, err.Error(), "migrations_dsn")
		assert.Contains(t, err.Error(), fmt.Sprintf("connects to database %q, the writer to %q", other.Name, primary.Name))

		unreachable := "host=127.0.0.1 port=1 user=postgres password=s3cr3t-pw dbname=x sslmode=disable connect_timeout=5"
		if b.Name == testdb.NameMariaDB {
			unreachable = "root:s3cr3t-pw@tcp(127.0.0.1:1)/x?timeout=5s"
		}
		err = up(unreachable)
		assert.Contains(t, err.Error(), "migrations_dsn")
		assert.Contains(t, err.Error(), "xxxxx", "the DSN is shown redacted")
		assert.NotContains(t, err.Error(), "s3cr3t-pw")

		for _, d := range []*testdb.Database{primary, other} {
			assert.Nil(t, recorded(t, d), "no version table on %s", d.Name)
			assert.False(t, hasTable(t, d, "users"))
		}
	})

	primary := testdb.SQLite(t).CreateDatabase(t, "mdsn_sqlite")
	m := newMigrator(t, handleAsIs(t, primary, grant.Config{
		Databases: map[string]grant.DatabaseConfig{"primary": {Migrations: grant.MigrationsConfig{Dir: migrations(t, usersMigrations), DSN: primary.DSN}}},
	}))
	_, err := m.Up(context.Background(), "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "a migrations DSN is for PostgreSQL and MySQL/MariaDB writers")
	assert.Nil(t, recorded(t, primary))
}

// TestCheckSessionCannotTellWithoutPgx: a PostgreSQL connection whose
// driver does not show its cancel key is refused too: the check never
// answers "safe" without proof.
func TestCheckSessionCannotTellWithoutPgx(t *testing.T) {
	db := noopdriver.Open(noopdriver.Options{Answer: func(string, []driver.NamedValue) noopdriver.Answer {
		return noopdriver.Answer{Columns: []string{"pg_backend_pid"}, Rows: [][]driver.Value{{int64(4242)}}}
	}})
	t.Cleanup(func() { _ = db.Close() })
	conn, err := db.Conn(context.Background())
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })

	_, err = checkSession(context.Background(), "orders/shard2", conn)
	require.ErrorIs(t, err, ErrUnsafeLock)
	var unsafe *UnsafeLockError
	require.ErrorAs(t, err, &unsafe)
	assert.Equal(t, UnsafeLockError{Target: "orders/shard2", BackendPID: 4242, Driver: unsafe.Driver}, *unsafe)
	assert.Contains(t, unsafe.Driver, "noopdriver")
	assert.Contains(t, err.Error(), "orders/shard2: refusing to migrate: grant cannot tell")
	assert.Contains(t, err.Error(), "migrations_dsn (its ShardConfig's Migrations.DSN) for this shard")
}

// needPgBouncer skips a test that needs the databases behind PgBouncer.
func needPgBouncer(t *testing.T) *testdb.Backend {
	t.Helper()
	if testdb.PgBouncer() == "" {
		t.Skipf("needs PgBouncer: start it with scripts/pgbouncer.sh and set %s=127.0.0.1:6432", testdb.EnvPgBouncer)
	}
	return testdb.Postgres(t)
}

// TestPgBouncerSharesTheSessionLock shows why the migrator refuses a
// transaction-pooled writer: a session advisory lock taken by one client
// stays on the server session, which the next client's statement gets, and
// that client takes the "exclusive" lock too.
func TestPgBouncerSharesTheSessionLock(t *testing.T) {
	b := needPgBouncer(t)
	d := b.CreateDatabase(t, "bouncer_lock")
	db, err := sql.Open("pgx", d.DSN)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	ctx := context.Background()
	first, err := db.Conn(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = first.Close() })
	second, err := db.Conn(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = second.Close() })

	key := pgLockKey("grant_schema_migrations")
	var a, c bool
	var pidA, pidC int64
	require.NoError(t, first.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1), pg_backend_pid()", key).Scan(&a, &pidA))
	require.NoError(t, second.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1), pg_backend_pid()", key).Scan(&c, &pidC))
	assert.True(t, a)
	assert.True(t, c, "two clients both hold the exclusive lock: the second got the first's server session (%d, %d)", pidA, pidC)
	assert.Equal(t, pidA, pidC)
	_, err = second.ExecContext(ctx, "SELECT pg_advisory_unlock_all()")
	require.NoError(t, err)
}

// TestMigrateThroughPgBouncerWithoutMigrationsDSNIsRefused: without a
// migrations DSN, every PostgreSQL writer behind the bouncer is refused
// with the typed error before anything is written; Status, which takes no
// lock, works through the bouncer. Down is refused as well, and rolls
// nothing back.
func TestMigrateThroughPgBouncerWithoutMigrationsDSNIsRefused(t *testing.T) {
	b := needPgBouncer(t)
	ctx := context.Background()
	primary := b.CreateDatabase(t, "refuse_primary")
	dbs := shards(t, b, "refuse_orders", 2)
	all := append([]*testdb.Database{primary}, dbs...)
	cfg := grant.Config{
		Databases: map[string]grant.DatabaseConfig{"primary": {Migrations: grant.MigrationsConfig{Dir: migrations(t, usersMigrations)}}},
		Clusters:  map[string]grant.ClusterConfig{"orders": cluster(migrations(t, ordersMigrations), dbs)},
	}
	m := newMigrator(t, handleAsIs(t, primary, cfg))
	refused := func(op string, report *Report, err error) {
		t.Helper()
		require.Error(t, err, op)
		assert.ErrorIs(t, err, ErrUnsafeLock, op)
		require.Len(t, report.Results, 3)
		for _, res := range report.Results {
			var unsafe *UnsafeLockError
			require.ErrorAs(t, res.Err, &unsafe, res.Target)
			assert.Equal(t, res.Target, unsafe.Target)
			assert.NotEqual(t, unsafe.KeyPID, unsafe.BackendPID)
			assert.NotZero(t, unsafe.BackendPID)
			assert.Contains(t, unsafe.Error(), "migrations_dsn")
			assert.Empty(t, res.Applied, res.Target)
		}
	}
	noLocks := func() {
		t.Helper()
		for _, d := range all {
			var locks int64
			require.NoError(t, direct(t, d).Raw("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())").Scan(&locks).Error)
			assert.Zero(t, locks, "%s: no lock left behind on a pooled session", d.Name)
		}
	}

	report, err := m.Up(ctx, "")
	refused("up", report, err)
	for _, d := range all {
		assert.Nil(t, recorded(t, d), "%s: not even the version table", d.Name)
		assert.False(t, hasTable(t, d, "users"))
		assert.False(t, hasTable(t, d, "orders"))
	}
	noLocks()
	status, err := m.Status(ctx, "")
	require.NoError(t, err, "Status takes no lock")
	for _, s := range status.Targets {
		assert.Equal(t, []int64{1, 2}, s.Pending, s.Target)
	}

	// Applied over direct migrations DSNs, then rolled back without.
	_, err = newMigrator(t, handle(t, primary, cfg)).Up(ctx, "")
	require.NoError(t, err)
	report, err = m.Down(ctx, "", 1)
	refused("down", report, err)
	for _, d := range all {
		assert.Equal(t, []int64{1, 2}, recorded(t, d), "%s: nothing rolled back", d.Name)
	}
	assert.True(t, hasColumn(t, primary, "users", "email"))
	noLocks()
}

// TestConcurrentMigrateUpThroughPgBouncer: migrators on their own handles,
// whose writers go through PgBouncer, migrate the same database and shards
// at once with their migrations DSNs direct; round after round, each
// migration is applied exactly once: once in each version table, once in
// the side effects, once across the reports.
func TestConcurrentMigrateUpThroughPgBouncer(t *testing.T) {
	b := needPgBouncer(t)
	const rounds, migrators, versions = 3, 4, 4
	applied := 0
	for round := 1; round <= rounds; round++ {
		primary := b.CreateDatabase(t, fmt.Sprintf("bconc%d_primary", round))
		dbs := shards(t, b, fmt.Sprintf("bconc%d_orders", round), 2)
		all := append([]*testdb.Database{primary}, dbs...)
		files := map[string]string{"00001_effects.sql": sqlMigration(
			"CREATE TABLE effects (version int NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());\nINSERT INTO effects (version) VALUES (1);",
			"DROP TABLE effects;")}
		for v := 2; v <= versions; v++ {
			files[fmt.Sprintf("%05d_step.sql", v)] = sqlMigration(
				fmt.Sprintf("SELECT pg_sleep(0.02);\nINSERT INTO effects (version) VALUES (%d);\nALTER TABLE effects ADD COLUMN c%d int;", v, v),
				fmt.Sprintf("DELETE FROM effects WHERE version = %d;", v))
		}
		dir := migrations(t, files)
		cfg := grant.Config{
			Databases: map[string]grant.DatabaseConfig{"primary": {Migrations: grant.MigrationsConfig{Dir: dir, DSN: primary.DirectDSN}}},
			Clusters:  map[string]grant.ClusterConfig{"orders": cluster(dir, dbs)},
		}
		for i, s := range dbs {
			cfg.Clusters["orders"].Shards[i].Migrations.DSN = s.DirectDSN
		}
		ms := make([]*Migrator, migrators)
		for i := range ms {
			ms[i] = newMigrator(t, handleAsIs(t, primary, cfg), WithLockTimeout(time.Minute))
		}

		reports := make([]*Report, migrators)
		errs := make([]error, migrators)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, m := range ms {
			wg.Go(func() {
				<-start
				reports[i], errs[i] = m.Up(context.Background(), "")
			})
		}
		close(start)
		wg.Wait()
		for i := range ms {
			require.NoError(t, errs[i], "round %d, migrator %d", round, i)
		}
		want := []int64{1, 2, 3, 4}
		for _, target := range []string{"primary", "orders/shard1", "orders/shard2"} {
			var both []int64
			for _, r := range reports {
				both = append(both, resultOf(t, r, target).Applied...)
			}
			assert.Equal(t, want, sorted(both), "round %d, %s: each migration applied by exactly one migrator", round, target)
		}
		for _, d := range all {
			assert.Equal(t, want, sorted(recorded(t, d)), "round %d, %s: the version table", round, d.Name)
			var effects []int64
			require.NoError(t, direct(t, d).Raw("SELECT version FROM effects ORDER BY at").Scan(&effects).Error)
			assert.Equal(t, want, effects, "round %d, %s: each side effect once, in order", round, d.Name)
			var zeros int64
			require.NoError(t, direct(t, d).Raw("SELECT count(*) FROM grant_schema_migrations WHERE version_id = 0").Scan(&zeros).Error)
			assert.Equal(t, int64(1), zeros, "round %d, %s: the version table was created once", round, d.Name)
			applied += len(recorded(t, d))
		}
	}
	t.Logf("%d rounds of %d concurrent migrators on 3 writers behind PgBouncer: %d migrations applied, each once", rounds, migrators, applied)
}
