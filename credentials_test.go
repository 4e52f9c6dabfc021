package grant_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	mysqldriver "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/testdb"
)

// passwordGroup is the PostgreSQL group role whose members must give a
// password on 127.0.0.1 (scripts/pg-password-auth.sh).
const passwordGroup = "grant_password_users"

// RotRow is what the rotation workers write through grant.
type RotRow struct {
	ID     uint `gorm:"primaryKey"`
	Worker int
	N      int
}

// loginServer makes and checks logins on one server, for one test
// database: users with passwords, direct connections that bypass grant,
// and a session stamp that tells whether a session was opened after a
// moment of the server's.
type loginServer struct {
	b     *testdb.Backend
	db    *testdb.Database
	admin *gorm.DB // postgres / root, on db
}

func newLoginServer(t *testing.T, b *testdb.Backend) *loginServer {
	t.Helper()
	s := &loginServer{b: b, db: b.CreateDatabase(t, "creds")}
	s.admin = s.db.Open(t)
	require.NoError(t, s.admin.AutoMigrate(&RotRow{}))
	return s
}

func (s *loginServer) postgres() bool { return s.b.Name == testdb.NamePostgres }

func randomName(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func randomPassword() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "pw-" + hex.EncodeToString(b)
}

// createLogin creates a login that checks its password and may read and
// write rot_rows, dropped when the test ends (after grant's pools close:
// register the plugin's cleanup after this).
func (s *loginServer) createLogin(t *testing.T, user, password string) {
	t.Helper()
	if s.postgres() {
		var group int64
		require.NoError(t, s.admin.Raw("SELECT count(*) FROM pg_roles WHERE rolname = ?", passwordGroup).Scan(&group).Error)
		if group == 0 {
			needPasswordChecks(t, "the group role "+passwordGroup+" does not exist")
		}
		require.NoError(t, s.admin.Exec(fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s' IN ROLE %s", user, password, passwordGroup)).Error)
		t.Cleanup(func() {
			// Privileges live in the test database: DROP OWNED clears them.
			assert.NoError(t, s.admin.Exec("DROP OWNED BY "+user).Error)
			assert.NoError(t, s.admin.Exec("DROP ROLE "+user).Error)
		})
		require.NoError(t, s.admin.Exec("GRANT SELECT, INSERT ON rot_rows TO "+user).Error)
		require.NoError(t, s.admin.Exec("GRANT USAGE ON SEQUENCE rot_rows_id_seq TO "+user).Error)
		return
	}
	require.NoError(t, s.admin.Exec(fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", user, password)).Error)
	t.Cleanup(func() { assert.NoError(t, s.admin.Exec(fmt.Sprintf("DROP USER IF EXISTS '%s'@'%%'", user)).Error) })
	require.NoError(t, s.admin.Exec(fmt.Sprintf("GRANT SELECT, INSERT ON `%s`.* TO '%s'@'%%'", s.db.Name, user)).Error)
}

// needPasswordChecks skips (or, with GRANT_REQUIRE_SERVERS=1, fails) a test
// that cannot prove anything because the server accepts any password.
func needPasswordChecks(t *testing.T, why string) {
	t.Helper()
	msg := fmt.Sprintf("the tests' PostgreSQL server does not check the passwords of %s members (%s): run `bash scripts/pg-password-auth.sh` as root", passwordGroup, why)
	if testdb.RequireServers() {
		t.Fatalf("%s (%s=1)", msg, testdb.EnvRequireServers)
	}
	t.Skip(msg)
}

// dsn connects to the test database as user with password ("" for none).
func (s *loginServer) dsn(t *testing.T, user, password string) string {
	t.Helper()
	if s.postgres() {
		cfg, err := pgx.ParseConfig(s.db.DSN)
		require.NoError(t, err)
		dsn := fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable connect_timeout=10", cfg.Host, cfg.Port, user, cfg.Database)
		if password != "" {
			dsn += " password=" + password
		}
		return dsn
	}
	cfg, err := mysqldriver.ParseDSN(s.db.DSN)
	require.NoError(t, err)
	cfg.User, cfg.Passwd, cfg.Timeout = user, password, 10*time.Second
	return cfg.FormatDSN()
}

// stampQuery returns the session's user and its stamp: PostgreSQL's
// backend start (µs since the epoch), MariaDB's connection id (ids grow
// with each accepted connection).
func (s *loginServer) stampQuery() string {
	if s.postgres() {
		return "SELECT current_user::text AS login, (EXTRACT(EPOCH FROM backend_start) * 1000000)::bigint AS stamp FROM pg_stat_activity WHERE pid = pg_backend_pid()"
	}
	return "SELECT SUBSTRING_INDEX(CURRENT_USER(), '@', 1) AS login, CONNECTION_ID() AS stamp"
}

// login connects directly (no grant), runs stampQuery and closes. The
// error is the server's answer to the credentials.
func (s *loginServer) login(t *testing.T, user, password string) (int64, error) {
	t.Helper()
	var db *sql.DB
	if s.postgres() {
		cfg, err := pgx.ParseConfig(s.dsn(t, user, password))
		require.NoError(t, err)
		db = stdlib.OpenDB(*cfg)
	} else {
		cfg, err := mysqldriver.ParseDSN(s.dsn(t, user, password))
		require.NoError(t, err)
		connector, err := mysqldriver.NewConnector(cfg)
		require.NoError(t, err)
		db = sql.OpenDB(connector)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var login string
	var stamp int64
	err := db.QueryRowContext(ctx, s.stampQuery()).Scan(&login, &stamp)
	if err == nil && login != user {
		err = fmt.Errorf("logged in as %q, not %q", login, user)
	}
	return stamp, err
}

// now is a stamp every session opened from here on exceeds: PostgreSQL's
// clock, or the id of a connection accepted now (as the server's own
// root/postgres login).
func (s *loginServer) now(t *testing.T) int64 {
	t.Helper()
	if s.postgres() {
		var stamp int64
		require.NoError(t, s.admin.Raw("SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::bigint").Scan(&stamp).Error)
		return stamp
	}
	probe := s.db.Open(t) // a new pool: its first connection is accepted now
	var stamp int64
	require.NoError(t, probe.Raw("SELECT CONNECTION_ID()").Scan(&stamp).Error)
	sqlDB, err := probe.DB()
	require.NoError(t, err)
	require.NoError(t, sqlDB.Close())
	return stamp
}

// setPassword makes password user's only password.
func (s *loginServer) setPassword(t *testing.T, user, password string) {
	t.Helper()
	if s.postgres() {
		require.NoError(t, s.admin.Exec(fmt.Sprintf("ALTER ROLE %s PASSWORD '%s'", user, password)).Error)
		return
	}
	require.NoError(t, s.admin.Exec(fmt.Sprintf("ALTER USER '%s'@'%%' IDENTIFIED BY '%s'", user, password)).Error)
}

// acceptBoth makes MariaDB accept either password for user (an
// authentication chain of two mysql_native_password methods).
func (s *loginServer) acceptBoth(t *testing.T, user, old, next string) {
	t.Helper()
	require.NoError(t, s.admin.Exec(fmt.Sprintf(
		"ALTER USER '%s'@'%%' IDENTIFIED VIA mysql_native_password USING PASSWORD('%s') OR mysql_native_password USING PASSWORD('%s')",
		user, old, next)).Error)
}

// refused reports whether err is the server refusing the credentials.
func (s *loginServer) refused(err error) bool {
	if err == nil {
		return false
	}
	text := err.Error()
	return strings.Contains(text, "password authentication failed for user") || // PostgreSQL, SQLSTATE 28P01
		strings.Contains(text, "Access denied for user") // MariaDB, error 1045
}

// requirePasswordChecks proves the server refuses a wrong password for
// user, or skips (fails under GRANT_REQUIRE_SERVERS=1): under trust auth
// every rotation test would pass whatever grant sent.
func (s *loginServer) requirePasswordChecks(t *testing.T, user, password string) {
	t.Helper()
	_, err := s.login(t, user, password)
	require.NoError(t, err, "the right password")
	_, err = s.login(t, user, "wrong-"+password)
	if err == nil {
		needPasswordChecks(t, "a wrong password was accepted")
	}
	require.True(t, s.refused(err), "a wrong password is refused as such: %v", err)
}

// rotationCase is one way of rotating a password under load.
type rotationCase struct {
	server string // testdb backend name
	source string // "hook" or "password_file"
	// scheme: "alternating users" (two logins, the idle one rotated),
	// "dual password" (MariaDB accepts old and new while the secret store
	// changes), "in place" (ALTER, then the secret store), "in place, store
	// first" (the secret store, then ALTER). In place, the server and the
	// secret store disagree for a moment: grant retries the connections
	// refused then (topology.CredentialsAttempts).
	scheme string
}

var rotationCases = []rotationCase{
	{testdb.NamePostgres, "hook", "alternating users"},
	{testdb.NamePostgres, "password_file", "in place"},
	{testdb.NamePostgres, "hook", "in place"},
	{testdb.NamePostgres, "password_file", "in place, store first"},
	{testdb.NamePostgres, "hook", "in place, store first"},
	{testdb.NameMariaDB, "hook", "dual password"},
	{testdb.NameMariaDB, "password_file", "dual password"},
	{testdb.NameMariaDB, "password_file", "in place"},
	{testdb.NameMariaDB, "hook", "in place"},
	{testdb.NameMariaDB, "password_file", "in place, store first"},
	{testdb.NameMariaDB, "hook", "in place, store first"},
}

const (
	rotations       = 5
	rotationWorkers = 8
)

// TestCredentialRotationUnderLoad rotates a login's password several times
// while 8 goroutines run statements through grant on the node, whose
// connections live 50ms so that new ones keep opening, each asking the
// credentials hook (or reading the password file) for the current secret.
// After each rotation the old password is refused by a direct connection,
// and statements keep running on sessions opened after that: they logged
// in with the new password. Every scheme must see 0 failed statements:
// those that keep the old credential valid while the secret store changes
// have no window; rotating in place has one (the server has changed and
// the secret store not yet, or the other way round), in which the server
// refuses new connections and grant retries them, asking the credentials
// again, until they agree. The hook counts those retries.
func TestCredentialRotationUnderLoad(t *testing.T) {
	for _, c := range rotationCases {
		name := strings.NewReplacer(", ", "_", " ", "_").Replace(c.scheme)
		t.Run(c.server+"/"+c.source+"/"+name, func(t *testing.T) {
			var b *testdb.Backend
			if c.server == testdb.NamePostgres {
				b = testdb.Postgres(t)
			} else {
				b = testdb.MariaDB(t)
			}
			runRotation(t, newLoginServer(t, b), c)
		})
	}
}

// secret is what the secret store holds: version n is the n-th rotation's.
type secret struct {
	version  int
	user     string
	password string
}

type rotationRun struct {
	t      *testing.T
	s      *loginServer
	c      rotationCase
	file   string
	secret atomic.Pointer[secret]
	calls  [rotations + 1]atomic.Int64 // hook calls, by the version they returned
	// retries are the hook calls for a connection the server had refused.
	retries atomic.Int64

	// inflight[w] is the version published when worker w's current
	// statement began, -1 between statements.
	inflight [rotationWorkers]atomic.Int64

	statements, failed atomic.Int64
	mu                 sync.Mutex
	failures           []string         // the failed statements' errors
	newest             map[string]int64 // per login, the newest session stamp a statement ran on
	written            int64            // rows created
	cut                int64            // creates the stop cancelled: committed or not
}

func runRotation(t *testing.T, s *loginServer, c rotationCase) {
	r := &rotationRun{t: t, s: s, c: c, newest: map[string]int64{}}
	users := []string{randomName("grant_rot_")}
	if c.scheme == "alternating users" {
		users = append(users, randomName("grant_rot_"))
	}
	passwords := map[string]string{}
	for _, u := range users {
		passwords[u] = randomPassword()
		s.createLogin(t, u, passwords[u])
	}
	s.requirePasswordChecks(t, users[0], passwords[users[0]])

	node := grant.NodeConfig{Name: "rotating", DSN: s.dsn(t, users[0], ""), Adapter: s.db.Adapter(),
		// Unlimited open connections: database/sql then opens every
		// connection in the goroutine of the statement that needs it, never
		// in its background opener, so once the statements that began
		// before a version was published have returned, nothing can still
		// be logging in with an older one.
		Pool: &grant.PoolConfig{MaxIdleConns: rotationWorkers, ConnMaxLifetime: 50 * time.Millisecond}}
	if c.source == "hook" {
		node.Credentials = func(ctx context.Context) (grant.Credentials, error) {
			sec := r.secret.Load()
			r.calls[sec.version].Add(1)
			if grant.CredentialsRefused(ctx) > 0 {
				r.retries.Add(1)
			}
			return grant.Credentials{User: sec.user, Password: sec.password}, nil
		}
	} else {
		r.file = filepath.Join(t.TempDir(), "db-password")
		node.PasswordFile = r.file
	}
	r.publish(&secret{version: 0, user: users[0], password: passwords[users[0]]})

	db, err := gorm.Open(s.db.Dialector(), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err)
	plugin := grant.New(grant.Config{Databases: map[string]grant.DatabaseConfig{"primary": {Writer: &node}}})
	require.NoError(t, db.Use(plugin))
	t.Cleanup(func() {
		_ = plugin.Close()
		if sqlDB, err := db.DB(); err == nil {
			_ = sqlDB.Close()
		}
	})

	ctx, stop := context.WithCancel(context.Background())
	var workers sync.WaitGroup
	for w := range rotationWorkers {
		r.inflight[w].Store(-1)
		workers.Add(1)
		go func() {
			defer workers.Done()
			r.work(ctx, db, w)
		}()
	}
	stopped := false
	stopWorkers := func() {
		if !stopped {
			stopped = true
			stop()
			workers.Wait()
		}
	}
	defer stopWorkers()

	// Before the first rotation, the workers run on the first secret.
	r.waitForSession(users[0], 0, "a first session")

	type rotationLog struct {
		version            int
		user               string
		statements, failed int64
		newPasswordCalls   int64
		retries            int64
	}
	var log []rotationLog
	for v := 1; v <= rotations; v++ {
		prev := r.secret.Load()
		user := prev.user
		if c.scheme == "alternating users" {
			user = users[v%2] // the idle login
		}
		old, next := passwords[user], randomPassword()
		startStatements, startFailed, startRetries := r.statements.Load(), r.failed.Load(), r.retries.Load()

		var since int64
		switch c.scheme {
		case "alternating users":
			// user's password was last published two versions ago: wait
			// until nothing begun before the version after it is running.
			r.drain(v - 1)
			s.setPassword(t, user, next)
			r.publish(&secret{version: v, user: user, password: next})
			since = s.now(t)
		case "dual password":
			s.acceptBoth(t, user, old, next)
			r.publish(&secret{version: v, user: user, password: next})
			r.drain(v)
			s.setPassword(t, user, next)
			since = s.now(t)
		case "in place":
			// The secret store follows as soon as the server has changed;
			// the stamp is read after, which only makes it later.
			s.setPassword(t, user, next)
			r.publish(&secret{version: v, user: user, password: next})
			since = s.now(t)
		case "in place, store first":
			// The server follows as soon as the secret store has changed.
			r.publish(&secret{version: v, user: user, password: next})
			s.setPassword(t, user, next)
			since = s.now(t)
		}
		passwords[user] = next

		_, err := s.login(t, user, old)
		require.True(t, s.refused(err), "rotation %d: the old password of %s is refused now: %v", v, user, err)
		_, err = s.login(t, user, next)
		require.NoError(t, err, "rotation %d: the new password works", v)
		r.waitForSession(user, since, fmt.Sprintf("rotation %d: a statement on a session %s opened after its old password was refused", v, user))
		if c.source == "hook" {
			assert.Positive(t, r.calls[v].Load(), "rotation %d: the hook handed out the new password", v)
		}
		log = append(log, rotationLog{version: v, user: user,
			statements: r.statements.Load() - startStatements, failed: r.failed.Load() - startFailed,
			newPasswordCalls: r.calls[v].Load(), retries: r.retries.Load() - startRetries})
	}
	stopWorkers()

	r.mu.Lock()
	defer r.mu.Unlock()
	var hookCalls int64
	for v := range r.calls {
		hookCalls += r.calls[v].Load()
	}
	calls := "password file read per connection"
	if c.source == "hook" {
		calls = fmt.Sprintf("%d hook calls (%d retrying a refused connection)", hookCalls, r.retries.Load())
	}
	t.Logf("%s, %s, %s: %d statements, %d failed, %d rotations, %s, %d rows written",
		c.server, c.source, c.scheme, r.statements.Load(), r.failed.Load(), rotations, calls, r.written)
	for _, l := range log {
		line := fmt.Sprintf("  rotation %d (%s): %d statements, %d failed", l.version, l.user, l.statements, l.failed)
		if c.source == "hook" {
			line += fmt.Sprintf(", %d hook calls returned the new password before a session proved it, %d retries", l.newPasswordCalls, l.retries)
		}
		t.Log(line)
	}
	for i, f := range r.failures {
		if i < 5 {
			t.Logf("  failure: %s", f)
		}
	}
	assert.Zero(t, r.failed.Load(), "no statement may fail: both credentials valid, or refused connections retried")
	var rows int64
	require.NoError(t, s.admin.Model(&RotRow{}).Count(&rows).Error)
	assert.GreaterOrEqual(t, rows, r.written, "every create that succeeded is there")
	assert.LessOrEqual(t, rows, r.written+r.cut, "and no other, but for creates the stop cut short")
}

// publish makes sec the secret new connections get.
func (r *rotationRun) publish(sec *secret) {
	if r.file != "" {
		// Renamed first: a statement that sees the new version in its
		// bookkeeping must not read the old file.
		tmp := r.file + ".new"
		require.NoError(r.t, os.WriteFile(tmp, []byte(sec.password+"\n"), 0o600))
		require.NoError(r.t, os.Rename(tmp, r.file))
	}
	r.secret.Store(sec)
}

// work runs statements until ctx ends, alternately a create and a read of
// the session's login and stamp.
func (r *rotationRun) work(ctx context.Context, db *gorm.DB, w int) {
	for i := 0; ctx.Err() == nil; i++ {
		r.inflight[w].Store(int64(r.secret.Load().version))
		var err error
		if i%2 == 0 {
			err = db.WithContext(ctx).Create(&RotRow{Worker: w, N: i}).Error
			if err == nil {
				r.mu.Lock()
				r.written++
				r.mu.Unlock()
			}
		} else {
			var got struct {
				Login string
				Stamp int64
			}
			err = db.WithContext(ctx).Raw(r.s.stampQuery()).Scan(&got).Error
			if err == nil {
				r.mu.Lock()
				r.newest[got.Login] = max(r.newest[got.Login], got.Stamp)
				r.mu.Unlock()
			}
		}
		r.inflight[w].Store(-1)
		if ctx.Err() != nil && err != nil {
			if i%2 == 0 {
				r.mu.Lock()
				r.cut++ // its COMMIT may have reached the server
				r.mu.Unlock()
			}
			return // cut short by the stop: neither run nor failed
		}
		r.statements.Add(1)
		if err != nil {
			r.failed.Add(1)
			r.mu.Lock()
			r.failures = append(r.failures, err.Error())
			r.mu.Unlock()
		}
	}
}

// drain waits until no statement begun before version v was published is
// running.
func (r *rotationRun) drain(v int) {
	r.t.Helper()
	waitFor(r.t, 30*time.Second, fmt.Sprintf("statements begun before version %d to return", v), func() bool {
		for w := range r.inflight {
			if got := r.inflight[w].Load(); got >= 0 && got < int64(v) {
				return false
			}
		}
		return true
	})
}

// waitForSession waits until a statement ran as user on a session whose
// stamp is after since.
func (r *rotationRun) waitForSession(user string, since int64, what string) {
	r.t.Helper()
	waitFor(r.t, 30*time.Second, what, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.newest[user] > since
	})
}

// TestCredentialPasswordFileMissing: a password file that does not exist
// when the pool needs a connection fails the statement with an error
// naming the file and the node, never the password, and nothing is
// written.
func TestCredentialPasswordFileMissing(t *testing.T) {
	t.Parallel()
	testdb.Servers(t, func(t *testing.T, b *testdb.Backend) {
		d := b.CreateDatabase(t, "nofile")
		admin := d.Open(t)
		require.NoError(t, admin.AutoMigrate(&RotRow{}))
		missing := filepath.Join(t.TempDir(), "secrets", "db-password")
		db, err := gorm.Open(d.Dialector(), &gorm.Config{Logger: logger.Discard})
		require.NoError(t, err)
		plugin := grant.New(grant.Config{Databases: map[string]grant.DatabaseConfig{
			"primary": {Writer: &grant.NodeConfig{DSN: d.DSN, Adapter: d.Adapter(), PasswordFile: missing}},
		}})
		require.NoError(t, db.Use(plugin), "nothing is read at Use")
		t.Cleanup(func() { _ = plugin.Close() })

		err = db.Create(&RotRow{N: 1}).Error
		require.Error(t, err)
		assert.ErrorIs(t, err, fs.ErrNotExist)
		assert.ErrorIs(t, err, grant.ErrNodeUnavailable)
		var ne *grant.NodeError
		require.ErrorAs(t, err, &ne)
		assert.Equal(t, "primary/writing/writer", ne.Node)
		assert.Contains(t, err.Error(), missing)
		assert.Contains(t, err.Error(), "primary/writing/writer")
		assert.Zero(t, d.Count(t, "rot_rows"), "nothing was written")

		// The file appears: the next connection reads it.
		require.NoError(t, os.MkdirAll(filepath.Dir(missing), 0o700))
		require.NoError(t, os.WriteFile(missing, []byte("unused-under-trust-or-root\n"), 0o600))
		if b.Name == testdb.NameMariaDB {
			// root has no password on the test server: an empty file is
			// refused by grant, so the root login cannot be proven here.
			return
		}
		require.NoError(t, db.Create(&RotRow{N: 2}).Error, "PostgreSQL trusts postgres: any password passes")
		assert.Equal(t, int64(1), d.Count(t, "rot_rows"))
	})
}

// TestCredentialsOnReadOnlySessions: under strict write prevention the
// node's second pool, of read-only sessions, asks the credentials too.
func TestCredentialsOnReadOnlySessions(t *testing.T) {
	t.Parallel()
	testdb.Servers(t, func(t *testing.T, b *testdb.Backend) {
		s := newLoginServer(t, b)
		user, password := randomName("grant_rot_"), randomPassword()
		s.createLogin(t, user, password)
		s.requirePasswordChecks(t, user, password)
		var calls atomic.Int64
		db, err := gorm.Open(s.db.Dialector(), &gorm.Config{Logger: logger.Discard})
		require.NoError(t, err)
		plugin := grant.New(grant.Config{StrictPreventWrites: true, Databases: map[string]grant.DatabaseConfig{
			"primary": {Writer: &grant.NodeConfig{DSN: s.dsn(t, user, ""), Adapter: s.db.Adapter(),
				Credentials: func(context.Context) (grant.Credentials, error) {
					calls.Add(1)
					return grant.Credentials{Password: password}, nil
				}}},
		}})
		require.NoError(t, db.Use(plugin))
		t.Cleanup(func() { _ = plugin.Close() })

		require.NoError(t, db.Create(&RotRow{N: 1}).Error)
		writer := calls.Load()
		require.Positive(t, writer)

		guarded := db.WithContext(grant.PreventWrites(context.Background()))
		var got struct {
			Login string
			Stamp int64
		}
		require.NoError(t, guarded.Raw(s.stampQuery()).Scan(&got).Error)
		assert.Equal(t, user, got.Login)
		assert.Greater(t, calls.Load(), writer, "the read-only pool's connection asked too")
		assert.Contains(t, plugin.Stats(), "primary/writing/writer/read-only")
		var setting string
		require.NoError(t, guarded.Raw(readOnlySetting[b.Name]).Scan(&setting).Error)
		assert.Contains(t, []string{"on", "1"}, strings.ToLower(setting), "the session is read only")
	})
}

// TestCredentialsNeedAnAdapterThatTakesThem: a custom adapter's dialector
// that opens its own pool (SQLite) cannot call credentials; Use says which
// node and why.
func TestCredentialsNeedAnAdapterThatTakesThem(t *testing.T) {
	d := testdb.SQLite(t).CreateDatabase(t, "primary")
	db, err := gorm.Open(d.Dialector(), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err)
	err = db.Use(grant.New(grant.Config{
		Adapters: map[string]grant.Adapter{"sqlite": func(dsn string) gorm.Dialector { return sqlite.Open(dsn) }},
		Databases: map[string]grant.DatabaseConfig{
			"analytics": {Writer: &grant.NodeConfig{DSN: d.DSN, Adapter: "sqlite", PasswordFile: "/run/secrets/db"}},
		},
	}))
	require.ErrorIs(t, err, grant.ErrInvalidConfig)
	var ce *grant.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "databases.analytics.writer.adapter", ce.Path)
	assert.Contains(t, ce.Problem, `adapter "sqlite" cannot take password_file`)
}
