package topology

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	mysqldriver "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Nothing listens on port 1: a connection attempt there is refused at
// once, after the credentials hook has run. These tests need no server.
const (
	closedPostgresDSN = "host=127.0.0.1 port=1 user=app password=dsn-s3cret dbname=app sslmode=disable connect_timeout=5"
	closedMySQLDSN    = "app:dsn-s3cret@tcp(127.0.0.1:1)/app?timeout=5s"
)

// writeFile replaces path as a secret manager should: a complete file
// renamed over the old one.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	require.NoError(t, os.WriteFile(tmp, []byte(content), 0o600))
	require.NoError(t, os.Rename(tmp, path))
}

func TestReadPasswordFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "password")

	for content, want := range map[string]string{
		"first":             "first",
		"first\n":           "first",
		"first\r\n":         "first",
		"first\n\n":         "first",
		" spaced out \t\n":  " spaced out \t", // only line breaks are trimmed
		"two\nlines\n":      "two\nlines",
		"v1.iam-token?x=%2": "v1.iam-token?x=%2",
	} {
		writeFile(t, path, content)
		got, err := readPasswordFile(path)
		require.NoError(t, err, "%q", content)
		assert.Equal(t, want, got, "%q", content)
	}

	t.Run("rotated", func(t *testing.T) {
		writeFile(t, path, "before\n")
		got, err := readPasswordFile(path)
		require.NoError(t, err)
		assert.Equal(t, "before", got)
		writeFile(t, path, "after\n")
		got, err = readPasswordFile(path)
		require.NoError(t, err)
		assert.Equal(t, "after", got, "every read sees the file as it is now")
	})

	t.Run("empty", func(t *testing.T) {
		for _, content := range []string{"", "\n", "\r\n\n"} {
			writeFile(t, path, content)
			_, err := readPasswordFile(path)
			require.Error(t, err)
			assert.Contains(t, err.Error(), path)
			assert.Contains(t, err.Error(), "is empty")
		}
	})

	t.Run("missing", func(t *testing.T) {
		missing := filepath.Join(dir, "nowhere")
		_, err := readPasswordFile(missing)
		require.ErrorIs(t, err, fs.ErrNotExist)
		assert.Contains(t, err.Error(), missing)
	})

	t.Run("a directory", func(t *testing.T) {
		_, err := readPasswordFile(dir)
		require.Error(t, err)
		assert.Contains(t, err.Error(), dir)
	})

	t.Run("too large", func(t *testing.T) {
		writeFile(t, path, "s3cret-"+strings.Repeat("x", maxPasswordFile))
		_, err := readPasswordFile(path)
		require.Error(t, err)
		assert.Contains(t, err.Error(), path)
		assert.Contains(t, err.Error(), "more than 64 KiB")
		assert.NotContains(t, err.Error(), "s3cret", "the content is never quoted")
	})
}

func hooked(t *testing.T, d gorm.Dialector, nc NodeConfig) *credentialsDialector {
	t.Helper()
	a := dialectAdapter(d.Name())
	require.NotNil(t, a, "the %s adapter is registered (adapters_test.go)", d.Name())
	w, ok := withCredentials(a, d, "primary/writing/writer", nc).(*credentialsDialector)
	require.True(t, ok, "a node with credentials gets the wrapper")
	return w
}

// The hook changes only what the credentials give: an empty user or
// password keeps the DSN's. The adapters hand it the driver's own copy of
// the connection's configuration (pgx's ConnConfig, go-sql-driver's
// Config): see their tests.
func TestCredentialsHooksSetUserAndPassword(t *testing.T) {
	var answer atomic.Pointer[Credentials]
	nc := NodeConfig{Credentials: func(context.Context) (Credentials, error) { return *answer.Load(), nil }}
	pg := hooked(t, postgres.Open(closedPostgresDSN), nc)

	for _, c := range []struct {
		answer               Credentials
		wantUser, wantPasswd string
	}{
		{Credentials{Password: "rotated"}, "app", "rotated"},
		{Credentials{User: "other", Password: "token"}, "other", "token"},
		{Credentials{User: "other"}, "other", "dsn-s3cret"},
		{Credentials{}, "app", "dsn-s3cret"},
	} {
		answer.Store(&c.answer)
		user, password := "app", "dsn-s3cret"
		require.NoError(t, pg.fill(context.Background(), &user, &password))
		assert.Equal(t, c.wantUser, user, "%+v", c.answer)
		assert.Equal(t, c.wantPasswd, password, "%+v", c.answer)
	}
}

// vaultError is a credentials function's own error type.
type vaultError struct{ lease string }

func (e *vaultError) Error() string { return "vault: lease " + e.lease + " expired" }

// A failing credentials function fails the connection with a *NodeError
// naming the node; errors.Is and errors.As reach the function's error, and
// the DSN's password never shows.
func TestCredentialsErrorIsANodeError(t *testing.T) {
	cause := &vaultError{lease: "dsn-s3cret"} // a careless message quoting the password
	nc := NodeConfig{Credentials: func(context.Context) (Credentials, error) { return Credentials{}, cause }}
	for _, d := range []gorm.Dialector{postgres.Open(closedPostgresDSN), mysql.Open(closedMySQLDSN)} {
		w := hooked(t, d, nc)
		var user, password string
		err := w.fill(context.Background(), &user, &password)
		var ne *NodeError
		require.ErrorAs(t, err, &ne, d.Name())
		assert.Equal(t, "primary/writing/writer", ne.Node)
		assert.ErrorIs(t, err, ErrNodeUnavailable)
		assert.ErrorIs(t, err, cause)
		var ve *vaultError
		require.ErrorAs(t, err, &ve)
		assert.Same(t, cause, ve)
		assert.NotContains(t, err.Error(), "dsn-s3cret")
		assert.Contains(t, err.Error(), "credentials for a new connection: vault: lease xxxxx expired")
	}
}

// closedTopology has one database whose writer, at a port where nothing
// listens, takes credentials from nc.
func closedTopology(t *testing.T, adapter string, nc NodeConfig) *Topology {
	t.Helper()
	nc.Adapter, nc.DSN = adapter, closedPostgresDSN
	dialect := "postgres"
	if adapter == "mysql" {
		nc.DSN, dialect = closedMySQLDSN, "mysql"
	}
	topo, err := Build(Config{Databases: map[string]DatabaseConfig{"primary": {}, "vault": {Writer: &nc}}},
		Handle{Dialect: dialect, Logger: logger.Discard})
	require.NoError(t, err)
	t.Cleanup(func() { _ = topo.Close() })
	return topo
}

func writerOf(t *testing.T, topo *Topology, database string) *Node {
	t.Helper()
	d, err := topo.Database(database)
	require.NoError(t, err)
	return d.writer
}

// Through a real pool: the hook runs for each new connection, not when the
// pool opens; its error is the statement's, and a good answer goes on to
// the (refused) dial.
func TestCredentialsRunForEveryNewConnection(t *testing.T) {
	for _, adapter := range []string{"postgres", "mysql"} {
		t.Run(adapter, func(t *testing.T) {
			var calls atomic.Int64
			var fail atomic.Bool
			hookErr := errors.New("secret store down")
			topo := closedTopology(t, adapter, NodeConfig{Credentials: func(context.Context) (Credentials, error) {
				calls.Add(1)
				if fail.Load() {
					return Credentials{}, hookErr
				}
				return Credentials{Password: "rotated"}, nil
			}})
			n := writerOf(t, topo, "vault")
			pool, err := n.Pool(false)
			require.NoError(t, err)
			require.True(t, n.Opened())
			assert.Zero(t, calls.Load(), "opening the pool connects nothing")

			_, err = pool.ExecContext(context.Background(), "SELECT 1")
			require.Error(t, err)
			assert.ErrorIs(t, err, syscall.ECONNREFUSED, "the hook answered; the dial was refused")
			assert.NotContains(t, err.Error(), "rotated")
			first := calls.Load()
			assert.GreaterOrEqual(t, first, int64(1))

			fail.Store(true)
			_, err = pool.ExecContext(context.Background(), "SELECT 1")
			require.ErrorIs(t, err, hookErr)
			var ne *NodeError
			require.ErrorAs(t, err, &ne)
			assert.Equal(t, "vault/writing/writer", ne.Node)
			assert.Greater(t, calls.Load(), first, "each attempt asks again")
		})
	}
}

// A password file is read for each new connection, never at Build or when
// the pool opens: missing at open time, it fails the statement with an
// error naming the file and the node.
func TestPasswordFileIsReadForEveryNewConnection(t *testing.T) {
	for _, adapter := range []string{"postgres", "mysql"} {
		t.Run(adapter, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "db-password")
			topo := closedTopology(t, adapter, NodeConfig{PasswordFile: path})
			pool, err := writerOf(t, topo, "vault").Pool(false)
			require.NoError(t, err)

			_, err = pool.ExecContext(context.Background(), "SELECT 1")
			require.ErrorIs(t, err, fs.ErrNotExist)
			require.ErrorIs(t, err, ErrNodeUnavailable)
			assert.Contains(t, err.Error(), path)
			assert.Contains(t, err.Error(), "vault/writing/writer")
			assert.NotContains(t, err.Error(), "dsn-s3cret")

			writeFile(t, path, "from-the-file\n")
			_, err = pool.ExecContext(context.Background(), "SELECT 1")
			assert.ErrorIs(t, err, syscall.ECONNREFUSED, "the file is there now: on to the dial")
			assert.NotContains(t, err.Error(), "from-the-file")

			writeFile(t, path, "")
			_, err = pool.ExecContext(context.Background(), "SELECT 1")
			require.ErrorIs(t, err, ErrNodeUnavailable)
			assert.Contains(t, err.Error(), "is empty")
		})
	}
}

// Building a topology of many nodes with credentials opens nothing, starts
// no goroutine and calls no hook.
func TestBuildWithCredentialsIsLazy(t *testing.T) {
	const shards = 20000
	var calls atomic.Int64
	hook := func(context.Context) (Credentials, error) { calls.Add(1); return Credentials{}, nil }
	cluster := ClusterConfig{Shards: make([]ShardConfig, shards)}
	for i := range cluster.Shards {
		nc := NodeConfig{DSN: fmt.Sprintf("host=127.0.0.1 port=1 dbname=s%d", i), Adapter: "postgres"}
		if i%2 == 0 {
			nc.Credentials = hook
		} else {
			nc.PasswordFile = fmt.Sprintf("/nonexistent/grant/shard-%d", i)
		}
		cluster.Shards[i] = ShardConfig{Name: fmt.Sprintf("s%d", i), DatabaseConfig: DatabaseConfig{Writer: &nc}}
	}
	before := poolOpeners()
	topo, err := Build(Config{Clusters: map[string]ClusterConfig{"orders": cluster}}, Handle{Dialect: "postgres", Logger: logger.Discard})
	require.NoError(t, err)
	t.Cleanup(func() { _ = topo.Close() })
	assert.Zero(t, calls.Load())
	hooked := 0
	for _, n := range topo.AllNodes() {
		if n.dialector == nil {
			continue // the handle's own pool
		}
		if _, ok := n.dialector.(*credentialsDialector); ok {
			hooked++
		}
		assert.False(t, n.Opened())
	}
	assert.Equal(t, shards, hooked, "every shard's writer has its hook")

	// Opening one pool starts its database/sql goroutine: then the only
	// pool goroutine that was not there before Build is that pool's, so
	// Build made none. (A new goroutine shows in stack dumps once
	// scheduled: wait for it.)
	n := topo.AllNodes()[1]
	_, err = n.Pool(false)
	require.NoError(t, err)
	sqlDB, ok := n.SQLDB()
	require.True(t, ok)
	want := map[string]bool{fmt.Sprintf("%p", sqlDB): true}
	var started map[string]bool
	require.Eventually(t, func() bool {
		started = map[string]bool{}
		for db := range poolOpeners() {
			if !before[db] {
				started[db] = true
			}
		}
		return len(started) >= 1
	}, 10*time.Second, time.Millisecond)
	assert.Equal(t, want, started, "one pool opened, not one per node")
	assert.Zero(t, calls.Load(), "and still connects nothing")
}

// poolOpeners lists the *sql.DB pools whose database/sql connection
// opener goroutine is running, by address.
func poolOpeners() map[string]bool {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	dbs := map[string]bool{}
	for _, m := range openerFrame.FindAllSubmatch(buf, -1) {
		dbs[string(m[1])] = true
	}
	return dbs
}

var openerFrame = regexp.MustCompile(`database/sql\.\(\*DB\)\.connectionOpener\((0x[0-9a-f]+)`)

func TestValidateCredentialsNeedAHookableDialector(t *testing.T) {
	hook := func(context.Context) (Credentials, error) { return Credentials{}, nil }
	node := func(adapter string, nc NodeConfig) Config {
		nc.DSN, nc.Adapter = "host=db", adapter
		return Config{
			Adapters: map[string]Adapter{
				"sqlite": func(dsn string) gorm.Dialector { return sqlite.Open(dsn) },
				"simple-postgres": func(dsn string) gorm.Dialector {
					return postgres.New(postgres.Config{DSN: dsn, PreferSimpleProtocol: true})
				},
				"cloudsql": func(dsn string) gorm.Dialector {
					return postgres.New(postgres.Config{DSN: dsn, DriverName: "cloudsqlpostgres"})
				},
				"mysql-pool": func(string) gorm.Dialector { return mysql.New(mysql.Config{Conn: &fakeConnPool{}}) },
				"later":      func(string) gorm.Dialector { return nil }, // config.Parse's stand-in
			},
			Databases: map[string]DatabaseConfig{"primary": {Replicas: []NodeConfig{nc}}},
		}
	}
	for adapter, want := range map[string]string{
		"sqlite":     `adapter "sqlite" cannot take password_file: a sqlite dialector (*sqlite.Dialector) has no logins`,
		"cloudsql":   `database/sql driver "cloudsqlpostgres"; credentials need pgx`,
		"mysql-pool": `wraps an open pool (Conn)`,
	} {
		cfg := node(adapter, NodeConfig{PasswordFile: "/run/secrets/db"})
		err := cfg.Validate()
		var ce *ConfigError
		require.ErrorAs(t, err, &ce, adapter)
		assert.Equal(t, "databases.primary.replicas[0].adapter", ce.Path)
		assert.Contains(t, ce.Problem, want)
	}
	cfg := node("sqlite", NodeConfig{Credentials: hook})
	assert.ErrorContains(t, cfg.Validate(), `adapter "sqlite" cannot take credentials`)
	for _, adapter := range []string{"postgres", "mysql", "mariadb", "postgresql", "simple-postgres", "later"} {
		cfg := node(adapter, NodeConfig{Credentials: hook})
		assert.NoError(t, cfg.Validate(), adapter)
	}
	cfg = node("sqlite", NodeConfig{})
	assert.NoError(t, cfg.Validate(), "no credentials, nothing to check")

	// An adapter registered after loading grant.yml (config.Parse validates
	// with a stand-in for it) is checked at Use.
	parsed := Config{Databases: map[string]DatabaseConfig{"primary": {
		Writer: &NodeConfig{DSN: "app.db", Adapter: "sqlite", PasswordFile: "/run/secrets/db"},
	}}}
	parsed.Adapters = map[string]Adapter{"sqlite": func(dsn string) gorm.Dialector { return sqlite.Open(dsn) }}
	_, err := Build(parsed, Handle{Dialect: "sqlite"})
	require.ErrorIs(t, err, ErrInvalidConfig)
	assert.ErrorContains(t, err, "databases.primary.writer.adapter: adapter \"sqlite\" cannot take password_file")
}

// fakeConnPool is a pool that is not a *sql.DB.
type fakeConnPool struct{ gorm.ConnPool }

// The read-only pool of a node with credentials asks them too: its
// dialector is the same wrapper over the DSN with the setting added.
func TestReadOnlyDialectorKeepsTheCredentials(t *testing.T) {
	nc := NodeConfig{PasswordFile: "/run/secrets/db"}
	for _, adapter := range []string{"postgres", "mysql"} {
		n := writerOf(t, closedTopology(t, adapter, nc), "vault")
		w, ok := n.dialector.(*credentialsDialector)
		require.True(t, ok, "%T", n.dialector)
		dsn, err := n.baseDSN()
		require.NoError(t, err)
		assert.Equal(t, mustDSN(t, w.inner), dsn)
		ro, err := n.withDSN(dsn + "?x=1")
		require.NoError(t, err)
		rw, ok := ro.(*credentialsDialector)
		require.True(t, ok, "%T", ro)
		assert.Equal(t, dsn+"?x=1", mustDSN(t, rw.inner))
		assert.Equal(t, w.node, rw.node)
		assert.Equal(t, w.adapter, rw.adapter)
		assert.NotNil(t, rw.get)
		assert.Equal(t, dsn, mustDSN(t, w.inner), "the original is unchanged")
	}
}

func mustDSN(t *testing.T, d gorm.Dialector) string {
	t.Helper()
	dsn, err := dialectAdapter(d.Name()).DSNOf(d)
	require.NoError(t, err)
	return dsn
}

// NodeDialector is the node's dialector as grant opens it: the wrapper
// with credentials, the adapter's without, nil for an unknown adapter.
// The wrapper can be a handle's dialector: gorm.Open connects nothing
// and GORM finds savepoints and error translation on it.
func TestNodeDialector(t *testing.T) {
	cfg := Config{}
	plain := cfg.NodeDialector("primary/writing/writer", NodeConfig{DSN: closedPostgresDSN, Adapter: "postgres"})
	assert.IsType(t, &postgres.Dialector{}, plain)
	assert.Nil(t, cfg.NodeDialector("x", NodeConfig{DSN: "x", Adapter: "oracle"}))
	given := postgres.Open("host=given")
	assert.Same(t, given, cfg.NodeDialector("x", NodeConfig{Dialector: given}))

	path := filepath.Join(t.TempDir(), "pw")
	writeFile(t, path, "from-file")
	for _, nc := range []NodeConfig{
		{DSN: closedPostgresDSN, Adapter: "postgres", PasswordFile: path},
		{DSN: closedMySQLDSN, Adapter: "mysql", PasswordFile: path},
	} {
		d := cfg.NodeDialector("primary/writing/writer", nc)
		require.IsType(t, &credentialsDialector{}, d)
		db, err := gorm.Open(d, &gorm.Config{Logger: logger.Discard, DisableAutomaticPing: true})
		require.NoError(t, err, nc.Adapter)
		assert.Equal(t, nc.Adapter, db.Dialector.Name())
		assert.Implements(t, (*gorm.SavePointerDialectorInterface)(nil), db.Dialector)
		assert.Implements(t, (*gorm.ErrorTranslator)(nil), db.Dialector)
		err = db.Exec("SELECT 1").Error
		assert.ErrorIs(t, err, syscall.ECONNREFUSED, "the file was read; the dial was refused")
		sqlDB, err := db.DB()
		require.NoError(t, err)
		require.NoError(t, sqlDB.Close())
	}
}

// fakeConnector stands for a driver's connector: each Connect asks the
// credentials, as pgx's and go-sql-driver's do, and fails with
// answer(password, refused) or opens a connection.
type fakeConnector struct {
	creds   func(context.Context) (Credentials, error)
	answer  func(password string) error
	calls   atomic.Int64
	refused []int // CredentialsRefused of each call
}

func (f *fakeConnector) Connect(ctx context.Context) (driver.Conn, error) {
	f.calls.Add(1)
	f.refused = append(f.refused, CredentialsRefused(ctx))
	c, err := f.creds(ctx)
	if err != nil {
		return nil, err
	}
	if err := f.answer(c.Password); err != nil {
		return nil, err
	}
	return retryConn{}, nil
}

func (f *fakeConnector) Driver() driver.Driver { return nil }

type retryConn struct{ driver.Conn }

// A connection the server refuses for its credentials is retried, asking
// them again, until they are accepted; anything else is not retried; the
// attempts are bounded; and the last refusal reaches the statement as a
// *NodeError naming the node, never the password.
func TestConnectRetriesRefusedCredentials(t *testing.T) {
	pgRefused := &pgconn.PgError{Severity: "FATAL", Code: "28P01", Message: `password authentication failed for user "app"`}
	myRefused := &mysqldriver.MySQLError{Number: 1045, Message: "Access denied for user 'app'@'localhost' (using password: YES)"}
	refusedBy := func(dialect string) func(error) bool {
		a := dialectAdapter(dialect)
		return func(err error) bool { return a.Classify(err).Has(LoginRefused) }
	}
	postgresRefused, mysqlRefused := refusedBy("postgres"), refusedBy("mysql")
	assert.True(t, postgresRefused(fmt.Errorf("failed to connect: %w", pgRefused)))
	assert.True(t, postgresRefused(&pgconn.PgError{Code: "28000"}))
	assert.False(t, postgresRefused(&pgconn.PgError{Code: "3D000"}), "no such database")
	assert.False(t, postgresRefused(syscall.ECONNREFUSED))
	assert.True(t, mysqlRefused(myRefused))
	assert.False(t, mysqlRefused(&mysqldriver.MySQLError{Number: 1049}), "no such database")
	assert.False(t, mysqlRefused(pgRefused))

	var current atomic.Pointer[string]
	setPassword := func(p string) { current.Store(&p) }
	hook := func(context.Context) (Credentials, error) { return Credentials{Password: *current.Load()}, nil }
	fast := func(f *fakeConnector) *authRetryConnector {
		c := retryingAuth(f, postgresRefused)
		c.backoff = time.Millisecond
		return c
	}

	t.Run("retried until the hook changes", func(t *testing.T) {
		setPassword("old")
		var f *fakeConnector
		f = &fakeConnector{creds: hook, answer: func(pw string) error {
			if f.calls.Load() == 3 {
				setPassword("new") // the secret store catches up
			}
			if pw != "new" {
				return pgRefused
			}
			return nil
		}}
		conn, err := fast(f).Connect(context.Background())
		require.NoError(t, err)
		assert.NotNil(t, conn)
		assert.Equal(t, int64(4), f.calls.Load(), "refused three times, then the new password")
		assert.Equal(t, []int{0, 1, 2, 3}, f.refused, "the hook learns it is a retry")
	})

	t.Run("other errors are not retried", func(t *testing.T) {
		setPassword("new")
		for _, e := range []error{syscall.ECONNREFUSED, &pgconn.PgError{Code: "3D000"}, errors.New("secret store down")} {
			f := &fakeConnector{creds: hook, answer: func(string) error { return e }}
			_, err := fast(f).Connect(context.Background())
			assert.Equal(t, e, err)
			assert.Equal(t, int64(1), f.calls.Load(), "%v", e)
		}
	})

	t.Run("bounded", func(t *testing.T) {
		setPassword("old")
		f := &fakeConnector{creds: hook, answer: func(string) error { return pgRefused }}
		start := time.Now()
		_, err := retryingAuth(f, postgresRefused).Connect(context.Background())
		elapsed := time.Since(start)
		assert.Same(t, pgRefused, err, "the last refusal, as it was")
		assert.Equal(t, int64(CredentialsAttempts), f.calls.Load())
		assert.GreaterOrEqual(t, elapsed, 750*time.Millisecond, "50+100+200+400 ms of backoff")
		assert.Less(t, elapsed, 5*time.Second)

		ctx, cancel := context.WithCancel(context.Background())
		f = &fakeConnector{creds: hook, answer: func(string) error {
			cancel() // the statement gives up during the first attempt
			return pgRefused
		}}
		_, err = retryingAuth(f, postgresRefused).Connect(ctx)
		assert.Same(t, pgRefused, err)
		assert.Equal(t, int64(1), f.calls.Load(), "no retry past the context")
	})

	t.Run("through a pool", func(t *testing.T) {
		setPassword("s3cret-old")
		f := &fakeConnector{creds: hook, answer: func(string) error { return myRefused }}
		c := retryingAuth(f, mysqlRefused)
		c.backoff = time.Millisecond
		pool := sql.OpenDB(c)
		t.Cleanup(func() { _ = pool.Close() })
		err := pool.PingContext(context.Background())
		assert.Same(t, myRefused, err, "the driver's refusal, as before")
		assert.Equal(t, int64(CredentialsAttempts), f.calls.Load(), "and database/sql does not retry it on top")
		assert.NotContains(t, err.Error(), "s3cret-old")
	})
}
