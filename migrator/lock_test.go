package migrator

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/testdb"
	"github.com/grant-go/grant/topology"
)

// holdLock takes d's migrations lock on a session of its own, as another
// migrator would, and returns the holder's session id and a function that
// releases the lock. The session ends with the test.
func holdLock(t *testing.T, d *testdb.Database) (id string, release func()) {
	t.Helper()
	ctx := context.Background()
	sqlDB, err := d.Open(t).DB()
	require.NoError(t, err)
	conn, err := sqlDB.Conn(ctx)
	require.NoError(t, err)
	var pid int64
	unlock := "SELECT pg_advisory_unlock($1)"
	var key any = pgLockKey(topology.DefaultMigrationsTable)
	if d.Backend.Name == testdb.NameMariaDB {
		key, unlock = mysqlLockName(d.Name, topology.DefaultMigrationsTable), "SELECT RELEASE_LOCK(?)"
		var got sql.NullInt64
		require.NoError(t, conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 0)", key).Scan(&got))
		require.Equal(t, int64(1), got.Int64)
		require.NoError(t, conn.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&pid))
	} else {
		_, err = conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", key)
		require.NoError(t, err)
		require.NoError(t, conn.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid))
	}
	release = func() {
		_, _ = conn.ExecContext(ctx, unlock, key)
		_ = conn.Close()
	}
	t.Cleanup(func() { _ = conn.Close() })
	return fmt.Sprint(pid), release
}

func TestLockTimeout(t *testing.T) {
	testdb.Servers(t, func(t *testing.T, b *testdb.Backend) {
		ctx := context.Background()
		primary := b.CreateDatabase(t, "lock_primary")
		other := b.CreateDatabase(t, "lock_other") // same server, same version table name
		dir := migrations(t, usersMigrations)
		db := handle(t, primary, grant.Config{
			Databases: map[string]grant.DatabaseConfig{
				"primary": {Migrations: grant.MigrationsConfig{Dir: dir}},
				"other":   {Writer: &grant.NodeConfig{Dialector: other.Dialector()}, Migrations: grant.MigrationsConfig{Dir: dir}},
			},
		})
		holder, release := holdLock(t, primary)
		var ev events
		m := newMigrator(t, db, WithLockTimeout(300*time.Millisecond), WithProgress(ev.add))

		start := time.Now()
		report, err := m.Up(ctx, "")
		waited := time.Since(start)
		require.Error(t, err)
		assert.ErrorIs(t, err, ErrLocked)
		var lockErr *LockError
		require.ErrorAs(t, err, &lockErr)
		assert.Equal(t, "primary", lockErr.Target)
		assert.Equal(t, primary.Name, lockErr.Database)
		assert.GreaterOrEqual(t, lockErr.Waited, 300*time.Millisecond)
		assert.Less(t, waited, 5*time.Second)
		assert.Contains(t, lockErr.Holder, holder, "the holder's pid / connection id")
		assert.Contains(t, err.Error(), primary.Name)
		assert.Contains(t, err.Error(), "primary: ")
		assert.Equal(t, []EventKind{Failed}, ev.of("primary"))

		assert.False(t, hasTable(t, primary, "users"), "nothing ran under someone else's lock")
		assert.Nil(t, recorded(t, primary), "not even the version table was created")
		assert.Equal(t, []int64{1, 2}, resultOf(t, report, "other").Applied, "the lock is per database, even on one server")
		assert.Equal(t, []int64{1, 2}, recorded(t, other))

		// A lock that frees up within the timeout is waited for.
		m = newMigrator(t, db, WithLockTimeout(10*time.Second))
		timer := time.AfterFunc(200*time.Millisecond, release)
		defer timer.Stop()
		report, err = m.Up(ctx, "primary")
		require.NoError(t, err)
		assert.Equal(t, []int64{1, 2}, report.Results[0].Applied)
		assert.Equal(t, []int64{1, 2}, recorded(t, primary))
	})
}

func TestLockNames(t *testing.T) {
	assert.Equal(t, pgLockKey("grant_schema_migrations"), pgLockKey("grant_schema_migrations"))
	assert.NotEqual(t, pgLockKey("grant_schema_migrations"), pgLockKey("other_versions"))
	assert.Equal(t, "grant-migrations:shop.grant_schema_migrations", mysqlLockName("shop", "grant_schema_migrations"))
	long := mysqlLockName("a_very_long_database_name_of_sixty_four_characters_0123456789abc", "grant_schema_migrations")
	assert.LessOrEqual(t, len(long), 64)
	assert.NotEqual(t, long, mysqlLockName("a_very_long_database_name_of_sixty_four_characters_0123456789abd", "grant_schema_migrations"))
}
