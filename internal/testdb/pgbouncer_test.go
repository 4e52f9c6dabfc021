package testdb

import (
	"context"
	"database/sql"
	"testing"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestViaPgBouncer(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"host=127.0.0.1 port=5432 user=postgres dbname=grant_t_x sslmode=disable",
			"user=postgres dbname=grant_t_x sslmode=disable host=127.0.0.1 port=6432 default_query_exec_mode=exec"},
		{"hostaddr=10.0.0.1 user=u password='a b' default_query_exec_mode=cache_statement",
			`user=u password='a b' host=127.0.0.1 port=6432 default_query_exec_mode=exec`},
		{"postgres://u:p@h:5432/grant_t_x?sslmode=disable",
			"postgres://u:p@127.0.0.1:6432/grant_t_x?default_query_exec_mode=exec&sslmode=disable"},
	} {
		got, err := viaPgBouncer(tc.in, "127.0.0.1:6432", "exec")
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
	_, err := viaPgBouncer("host=h", "no-port", "exec")
	assert.ErrorContains(t, err, EnvPgBouncer)
}

// TestPostgresThroughPgBouncer: with GRANT_PGBOUNCER set, a Database's DSN
// reaches its database through the bouncer and DirectDSN directly. A
// bouncer answers the startup with a cancel key of its own, not the
// server's: the key's process id is not the backend's.
func TestPostgresThroughPgBouncer(t *testing.T) {
	b := Postgres(t)
	d := b.CreateDatabase(t, "bouncer")
	if PgBouncer() == "" {
		assert.Equal(t, d.DSN, d.DirectDSN)
		assert.False(t, d.ThroughPgBouncer())
		assert.Equal(t, d.DSN, DirectDSN(d.DSN))
		return
	}
	assert.True(t, d.ThroughPgBouncer())
	assert.Contains(t, d.DSN, "default_query_exec_mode="+pgBouncerExecMode())
	assert.Equal(t, d.DirectDSN, DirectDSN(d.DSN))
	for _, tc := range []struct {
		dsn     string
		bounced bool
	}{{d.DSN, true}, {d.DirectDSN, false}} {
		db, err := sql.Open("pgx", tc.dsn)
		require.NoError(t, err)
		t.Cleanup(func() { _ = db.Close() })
		ctx := context.Background()
		conn, err := db.Conn(ctx)
		require.NoError(t, err)
		var keyPID uint32
		require.NoError(t, conn.Raw(func(c any) error { keyPID = c.(*stdlib.Conn).Conn().PgConn().PID(); return nil }))
		var backendPID uint32
		var name string
		require.NoError(t, conn.QueryRowContext(ctx, "SELECT pg_backend_pid(), current_database()").Scan(&backendPID, &name))
		assert.Equal(t, d.Name, name)
		assert.Equal(t, tc.bounced, keyPID != backendPID, "%s: cancel key pid %d, backend pid %d", tc.dsn, keyPID, backendPID)
		require.NoError(t, conn.Close())
	}
}
