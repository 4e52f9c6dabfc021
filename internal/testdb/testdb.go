// Package testdb creates throw-away databases for tests: files for the
// embedded SQLite backend, and real databases on the PostgreSQL and MariaDB
// servers named by the environment. Tests use it to prove routing by where
// rows physically land.
//
// Server backends are looked up at most once per test binary: the first call
// to Postgres or MariaDB for a given DSN opens one admin connection pool and
// pings it with a 3s deadline; every later call reuses that result. When the
// server is unreachable the calling test is skipped, or fails when
// GRANT_REQUIRE_SERVERS=1 (set it in CI so a missing server cannot silently
// turn the server tests into skips).
//
// Environment:
//
//	GRANT_POSTGRES_DSN     PostgreSQL admin DSN (pgx key=value or URL form)
//	                       default "host=127.0.0.1 port=5432 user=postgres dbname=test sslmode=disable"
//	GRANT_MYSQL_DSN        MariaDB/MySQL admin DSN (go-sql-driver/mysql form)
//	                       default "root@tcp(127.0.0.1:3306)/test?parseTime=true"
//	GRANT_REQUIRE_SERVERS  "1": an unreachable server fails the test instead of skipping it
//	GRANT_PGBOUNCER        host:port of a PgBouncer the PostgreSQL Databases connect
//	                       through (see pgbouncer.go); unset: directly
//
// The admin user must be allowed to CREATE and DROP databases.
//
// All functions are safe for concurrent use, including from parallel tests and
// from several test binaries running at once (database names are random).
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	mysqldriver "github.com/go-sql-driver/mysql"
	"github.com/grant-go/grant/internal/dsnredact"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib" // also registers the "pgx" database/sql driver
	"gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Environment variables read by this package.
const (
	// EnvPostgresDSN names the PostgreSQL admin DSN variable.
	EnvPostgresDSN = "GRANT_POSTGRES_DSN"
	// EnvMySQLDSN names the MariaDB admin DSN variable.
	EnvMySQLDSN = "GRANT_MYSQL_DSN"
	// EnvRequireServers names the variable that turns skips into failures.
	EnvRequireServers = "GRANT_REQUIRE_SERVERS"

	// DefaultPostgresDSN is used when GRANT_POSTGRES_DSN is unset or empty.
	DefaultPostgresDSN = "host=127.0.0.1 port=5432 user=postgres dbname=test sslmode=disable"
	// DefaultMySQLDSN is used when GRANT_MYSQL_DSN is unset or empty.
	DefaultMySQLDSN = "root@tcp(127.0.0.1:3306)/test?parseTime=true"
)

// Backend names, as found in Backend.Name and used as subtest names by Each.
const (
	NameSQLite   = "sqlite"
	NamePostgres = "postgres"
	NameMariaDB  = "mariadb"
)

// reachTimeout bounds the one-time reachability check of a server.
const reachTimeout = 3 * time.Second

// dropTimeout bounds the CREATE DATABASE of CreateDatabase and the DROP
// DATABASE run in cleanup. On PostgreSQL 15 every DROP DATABASE waits for
// a checkpoint, which syncs every file written since the last one, those
// of other test processes' databases included: on a busy shared server
// that has taken over 30s (the bound this replaces).
const dropTimeout = 3 * time.Minute

// maxSuffix keeps generated names within PostgreSQL's 63-byte identifier
// limit (MariaDB allows 64): "grant_t_" + 8 hex + "_" is 17 bytes.
const maxSuffix = 63 - 17

// Backend is a kind of database server tests run against.
//
// A *Backend is obtained from SQLite, Postgres or MariaDB and is safe for
// concurrent use. Server backends are shared process-wide (one per DSN); do
// not modify their fields.
type Backend struct {
	Name string // "sqlite", "postgres", "mariadb"

	adminDSN string  // DSN of the admin connection (servers only)
	admin    *sql.DB // admin pool used for CREATE/DROP DATABASE (servers only); never closed
	bouncer  string  // host:port of the PgBouncer Databases connect through; "" for none
}

// Database is one throw-away database created by Backend.CreateDatabase.
// It is safe for concurrent use. It must not be used after the test that
// created it has finished: by then the database has been dropped.
type Database struct {
	Backend *Backend
	Name    string // the physical database name (sqlite: the suffix)
	DSN     string // a DSN that connects to exactly this database, in the backend driver's own format
	// DirectDSN connects to the same database directly: it differs from
	// DSN only when DSN goes through PgBouncer (GRANT_PGBOUNCER). Open and
	// Count use it.
	DirectDSN string

	mu     sync.Mutex
	direct *gorm.DB // lazily opened pool used by Count; closed before the drop
	closed bool
}

// RequireServers reports whether GRANT_REQUIRE_SERVERS is "1", in which case
// an unreachable server fails the test (t.Fatalf) instead of skipping it.
func RequireServers() bool { return os.Getenv(EnvRequireServers) == "1" }

// SQLite returns the embedded SQLite backend. It never skips: the driver is
// pure Go and each database is a file in a fresh t.TempDir() of the test that
// creates it.
func SQLite(t testing.TB) *Backend {
	t.Helper()
	return &Backend{Name: NameSQLite}
}

// Postgres returns the PostgreSQL backend whose admin DSN is read from
// GRANT_POSTGRES_DSN (default DefaultPostgresDSN). The server is pinged once
// per test binary and DSN, with a 3s deadline; when it does not answer, the
// test is skipped with t.Skipf naming the DSN (password redacted), or fails
// with t.Fatalf when GRANT_REQUIRE_SERVERS=1. Later calls return the cached
// result without contacting the server again.
//
// With GRANT_PGBOUNCER set, the Databases it creates connect through that
// PgBouncer (their DSN and Dialector; DirectDSN, Open and Count stay direct),
// and the reachability check also asks the server through the bouncer.
func Postgres(t testing.TB) *Backend {
	t.Helper()
	return server(t, NamePostgres, envOr(EnvPostgresDSN, DefaultPostgresDSN), PgBouncer())
}

// MariaDB returns the MariaDB backend whose admin DSN is read from
// GRANT_MYSQL_DSN (default DefaultMySQLDSN), with the same once-per-binary
// reachability check and skip/fail rule as Postgres.
func MariaDB(t testing.TB) *Backend {
	t.Helper()
	return server(t, NameMariaDB, envOr(EnvMySQLDSN, DefaultMySQLDSN), "")
}

// Each runs fn as a subtest per backend: "sqlite", "postgres" and "mariadb",
// in that order. The server lookups happen inside the subtests, so a missing
// server skips (or, with GRANT_REQUIRE_SERVERS=1, fails) only its subtest.
// fn may call t.Parallel.
func Each(t *testing.T, fn func(t *testing.T, b *Backend)) {
	t.Helper()
	t.Run(NameSQLite, func(t *testing.T) { fn(t, SQLite(t)) })
	Servers(t, fn)
}

// Servers is like Each but runs only the "postgres" and "mariadb" subtests,
// for tests that must prove behaviour on real servers.
func Servers(t *testing.T, fn func(t *testing.T, b *Backend)) {
	t.Helper()
	t.Run(NamePostgres, func(t *testing.T) { fn(t, Postgres(t)) })
	t.Run(NameMariaDB, func(t *testing.T) { fn(t, MariaDB(t)) })
}

// CreateDatabase creates a fresh, empty database and arranges, with
// t.Cleanup, for it to be removed when t finishes.
//
// On the servers the database is named grant_t_<8 random lowercase hex>_<suffix>
// and dropped with DROP DATABASE ... WITH (FORCE) (PostgreSQL) or DROP DATABASE
// IF EXISTS (MariaDB); a failed drop is reported with t.Errorf. In a test
// binary run by MainParallel the drop is only started when t finishes, and
// MainParallel waits for it (and fails the run if it fails). On SQLite it is
// the file <dir>/<suffix>.db in a new t.TempDir() (so two calls never share a
// file, even with the same suffix), opened with busy_timeout 5000 and WAL
// journal mode via DSN pragmas, and removed with the temp dir.
//
// suffix must match [a-z0-9_]+ and be at most 46 bytes; otherwise, or when the
// database cannot be created, the test fails with t.Fatalf.
func (b *Backend) CreateDatabase(t testing.TB, suffix string) *Database {
	t.Helper()
	if err := checkSuffix(suffix); err != nil {
		t.Fatalf("testdb: CreateDatabase: %v", err)
	}
	d := &Database{Backend: b}
	switch b.Name {
	case NameSQLite:
		d.Name = suffix
		d.DSN = sqliteDSN(filepath.Join(t.TempDir(), suffix+".db"))
		d.DirectDSN = d.DSN
	case NamePostgres, NameMariaDB:
		d.Name = "grant_t_" + randomHex(4) + "_" + suffix
		dsn, err := b.databaseDSN(d.Name)
		if err == nil {
			d.DirectDSN = dsn
			d.DSN, err = bounce(dsn, b.bouncer)
		}
		if err != nil {
			t.Fatalf("testdb: CreateDatabase: %v", err)
		}
		if err := b.create(d.Name); err != nil {
			t.Fatalf("testdb: CreateDatabase %s on %s (%s): %v", d.Name, b.Name, redactDSN(b.Name, b.adminDSN), scrub(err, b.Name, b.adminDSN))
		}
		t.Cleanup(func() {
			if dropLater(b, d.Name) {
				return
			}
			if err := b.drop(d.Name); err != nil {
				t.Errorf("testdb: dropping database %s on %s: %v", d.Name, b.Name, scrub(err, b.Name, b.adminDSN))
			}
		})
	default:
		t.Fatalf("testdb: CreateDatabase: unknown backend %q", b.Name)
	}
	// Registered after the drop, so it runs before it (cleanups are LIFO).
	t.Cleanup(d.closeDirect)
	return d
}

// Dialector returns a new gorm.Dialector for this database: postgres.Open,
// mysql.Open (the DSN includes parseTime=true) or the pure-Go
// github.com/glebarez/sqlite Open. Each call returns a fresh dialector, so
// every gorm.Open on it gets its own connection pool, which the caller closes.
// It opens DSN, through PgBouncer when GRANT_PGBOUNCER is set.
func (d *Database) Dialector() gorm.Dialector { return d.dialector(d.DSN) }

// DirectDialector is Dialector on DirectDSN: never through PgBouncer.
func (d *Database) DirectDialector() gorm.Dialector { return d.dialector(d.DirectDSN) }

func (d *Database) dialector(dsn string) gorm.Dialector {
	switch d.Backend.Name {
	case NamePostgres:
		return postgres.Open(dsn)
	case NameMariaDB:
		return mysql.Open(dsn)
	default:
		return sqlite.Open(dsn)
	}
}

// Adapter returns the adapter name grant uses for this database's backend:
// "postgres", "mysql" (for MariaDB) or "sqlite".
func (d *Database) Adapter() string {
	switch d.Backend.Name {
	case NamePostgres:
		return "postgres"
	case NameMariaDB:
		return "mysql"
	default:
		return "sqlite"
	}
}

// Open returns a plain *gorm.DB (no plugins, silent logger) connected directly
// to this database (DirectDSN: never through PgBouncer), whose pool is
// closed in t.Cleanup. Tests use it to seed
// rows and to check where rows physically landed. It fails the test with
// t.Fatalf when the connection cannot be opened.
func (d *Database) Open(t testing.TB) *gorm.DB {
	t.Helper()
	db, err := d.open()
	if err != nil {
		t.Fatalf("testdb: opening %s database %s: %v", d.Backend.Name, d.Name, err)
	}
	t.Cleanup(func() {
		if sqlDB, err := db.DB(); err == nil {
			_ = sqlDB.Close()
		}
	})
	return db
}

// Count returns SELECT COUNT(*) FROM table, run directly on this database
// (bypassing any plugin). table is quoted by GORM and may be "schema.table".
// Errors, such as a missing table, fail the test with t.Fatalf. The
// connection pool behind it is opened on first use and closed before the
// database is dropped.
func (d *Database) Count(t testing.TB, table string) int64 {
	t.Helper()
	db, err := d.directDB()
	if err != nil {
		t.Fatalf("testdb: Count(%q) on %s database %s: %v", table, d.Backend.Name, d.Name, err)
	}
	var n int64
	if err := db.Table(table).Count(&n).Error; err != nil {
		t.Fatalf("testdb: Count(%q) on %s database %s: %v", table, d.Backend.Name, d.Name, err)
	}
	return n
}

func (d *Database) open() (*gorm.DB, error) {
	return gorm.Open(d.DirectDialector(), &gorm.Config{Logger: logger.Default.LogMode(logger.Silent)})
}

func (d *Database) directDB() (*gorm.DB, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, errors.New("database already cleaned up")
	}
	if d.direct == nil {
		db, err := d.open()
		if err != nil {
			return nil, err
		}
		d.direct = db
	}
	return d.direct, nil
}

func (d *Database) closeDirect() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	if d.direct != nil {
		if sqlDB, err := d.direct.DB(); err == nil {
			_ = sqlDB.Close()
		}
		d.direct = nil
	}
}

// ---- servers ----------------------------------------------------------------

type serverKey struct{ name, dsn, bouncer string }

type serverEntry struct {
	once    sync.Once
	backend *Backend
	err     error
}

var (
	serversMu sync.Mutex
	servers   = map[serverKey]*serverEntry{}
)

// server returns the cached backend for (name, dsn, bouncer), checking
// reachability the first time: of the server, and through the bouncer when
// there is one.
func server(t testing.TB, name, dsn, bouncer string) *Backend {
	t.Helper()
	key := serverKey{name, dsn, bouncer}
	serversMu.Lock()
	e := servers[key]
	if e == nil {
		e = &serverEntry{}
		servers[key] = e
	}
	serversMu.Unlock()

	e.once.Do(func() {
		e.backend, e.err = connect(name, dsn)
		if e.err == nil && bouncer != "" {
			if e.err = pingPgBouncer(dsn, bouncer); e.err != nil {
				_ = e.backend.admin.Close()
				e.backend = nil
				return
			}
			e.backend.bouncer = bouncer
		}
	})
	if e.err != nil {
		msg := fmt.Sprintf("testdb: %s server at %s is not reachable (ping deadline %s): %v", name, redactDSN(name, dsn), reachTimeout, e.err)
		if RequireServers() {
			t.Fatalf("%s (%s=1)", msg, EnvRequireServers)
		} else {
			t.Skipf("%s (set %s=1 to fail instead of skipping)", msg, EnvRequireServers)
		}
		return nil // only reached with a testing.TB whose Skipf/Fatalf return
	}
	return e.backend
}

func connect(name, dsn string) (*Backend, error) {
	driverName := "pgx"
	if name == NameMariaDB {
		driverName = "mysql"
		if _, err := mysqldriver.ParseDSN(dsn); err != nil {
			return nil, scrub(err, name, dsn)
		}
	}
	var db *sql.DB
	if name == NamePostgres {
		// The admin sessions create and drop throw-away databases: they
		// commit without waiting for the WAL flush (synchronous_commit=off,
		// a session setting). CREATE DATABASE copies template1 into the
		// WAL, and waiting for that flush was most of its time (about 0.5s
		// of 0.6s on the CI machine). Visibility is unchanged: a committed
		// CREATE DATABASE is there for every session at once; only a crash
		// of the server could lose it, and with it a database nobody needs.
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			return nil, scrub(err, name, dsn)
		}
		cfg.RuntimeParams["synchronous_commit"] = "off"
		db = stdlib.OpenDB(*cfg)
	} else {
		var err error
		if db, err = sql.Open(driverName, dsn); err != nil {
			return nil, scrub(err, name, dsn)
		}
	}
	return ping(db, name, dsn)
}

// openPgx opens a pgx pool on dsn without connecting.
func openPgx(dsn string) (*sql.DB, error) {
	db, err := sql.Open("pgx", dsn)
	return db, scrub(err, NamePostgres, dsn)
}

func ping(db *sql.DB, name, dsn string) (*Backend, error) {
	ctx, cancel := context.WithTimeout(context.Background(), reachTimeout)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, scrub(err, name, dsn)
	}
	db.SetMaxIdleConns(4)
	db.SetConnMaxIdleTime(time.Minute)
	return &Backend{Name: name, adminDSN: dsn, admin: db}, nil
}

func (b *Backend) databaseDSN(db string) (string, error) {
	if b.Name == NameMariaDB {
		cfg, err := mysqldriver.ParseDSN(b.adminDSN)
		if err != nil {
			return "", scrub(err, b.Name, b.adminDSN)
		}
		cfg.DBName = db
		cfg.ParseTime = true
		return cfg.FormatDSN(), nil
	}
	return postgresDSNWithDB(b.adminDSN, db)
}

func (b *Backend) create(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), dropTimeout)
	defer cancel()
	if b.Name == NameMariaDB {
		_, err := b.admin.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
		return err
	}
	// CREATE DATABASE copies template1 and fails with "source database
	// template1 is being accessed by other users" while anyone else is
	// connected to it (e.g. another test binary creating a database at the
	// same moment on an older server); that is transient, so retry.
	for {
		_, err := b.admin.ExecContext(ctx, `CREATE DATABASE "`+name+`"`)
		if err == nil || !strings.Contains(err.Error(), "being accessed by other users") {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (b *Backend) drop(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), dropTimeout)
	defer cancel()
	if b.Name == NameMariaDB {
		// A connection left inside a transaction holds metadata locks that
		// would make DROP wait for lock_wait_timeout (a year by default).
		_, err := b.admin.ExecContext(ctx, "SET STATEMENT lock_wait_timeout=20 FOR DROP DATABASE IF EXISTS `"+name+"`")
		return err
	}
	_, err := b.admin.ExecContext(ctx, `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`)
	return err
}

// ---- helpers ----------------------------------------------------------------

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func checkSuffix(s string) error {
	if s == "" || len(s) > maxSuffix {
		return fmt.Errorf("suffix %q must be 1 to %d bytes of [a-z0-9_]", s, maxSuffix)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return fmt.Errorf("suffix %q must match [a-z0-9_]+", s)
		}
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error (it crashes the program instead)
	return hex.EncodeToString(b)
}

// sqliteDSN is path plus pragmas in the glebarez/go-sqlite syntax. The path is
// not given a "file:" prefix, so the driver strips the query and SQLite takes
// the path literally (a '#' from a subtest name is not a URI fragment).
func sqliteDSN(path string) string {
	return path + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)"
}

func isPostgresURL(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// postgresDSNWithDB returns dsn (URL or key=value form) with its database
// replaced by db.
func postgresDSNWithDB(dsn, db string) (string, error) {
	if isPostgresURL(dsn) {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", errors.New("cannot parse PostgreSQL URL DSN " + redactDSN(NamePostgres, dsn))
		}
		u.Path = "/" + db
		u.RawPath = ""
		q := u.Query()
		if q.Has("dbname") {
			q.Del("dbname")
			u.RawQuery = q.Encode()
		}
		return u.String(), nil
	}
	kvs, err := parseKeyValue(dsn)
	if err != nil {
		return "", fmt.Errorf("cannot parse PostgreSQL DSN %s: %v", redactDSN(NamePostgres, dsn), err)
	}
	out := make([]string, 0, len(kvs)+1)
	for _, kv := range kvs {
		if kv[0] != "dbname" {
			out = append(out, kv[0]+"="+quoteValue(kv[1]))
		}
	}
	out = append(out, "dbname="+db)
	return strings.Join(out, " "), nil
}

// parseKeyValue parses libpq's key=value connection string syntax: keys and
// values separated by '=' with optional spaces, values optionally single
// quoted with \' and \\ escapes.
func parseKeyValue(s string) ([][2]string, error) {
	var kvs [][2]string
	i := 0
	skip := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
			i++
		}
	}
	for {
		skip()
		if i >= len(s) {
			return kvs, nil
		}
		start := i
		for i < len(s) && s[i] != '=' && s[i] != ' ' && s[i] != '\t' {
			i++
		}
		key := s[start:i]
		skip()
		if i >= len(s) || s[i] != '=' || key == "" {
			return nil, fmt.Errorf("missing '=' after %q", key)
		}
		i++
		skip()
		var val strings.Builder
		if i < len(s) && s[i] == '\'' {
			i++
			closed := false
			for i < len(s) {
				c := s[i]
				if c == '\\' && i+1 < len(s) {
					val.WriteByte(s[i+1])
					i += 2
					continue
				}
				i++
				if c == '\'' {
					closed = true
					break
				}
				val.WriteByte(c)
			}
			if !closed {
				return nil, fmt.Errorf("unterminated quoted value for %q", key)
			}
		} else {
			for i < len(s) && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r' {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				val.WriteByte(s[i])
				i++
			}
		}
		kvs = append(kvs, [2]string{key, val.String()})
	}
}

func quoteValue(v string) string {
	if v != "" && !strings.ContainsAny(v, " \t\r\n'\\") {
		return v
	}
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

const redacted = "xxxxx"

// passwordOf returns the password in dsn, or "".
func passwordOf(name, dsn string) string {
	if name == NameMariaDB {
		if cfg, err := mysqldriver.ParseDSN(dsn); err == nil {
			return cfg.Passwd
		}
		return ""
	}
	if isPostgresURL(dsn) {
		if u, err := url.Parse(dsn); err == nil {
			if pw, ok := u.User.Password(); ok {
				return pw
			}
			return u.Query().Get("password")
		}
		return ""
	}
	if kvs, err := parseKeyValue(dsn); err == nil {
		for _, kv := range kvs {
			if kv[0] == "password" {
				return kv[1]
			}
		}
	}
	return ""
}

// redactDSN returns dsn with its password replaced by "xxxxx", or
// "<unparsable DSN redacted>" when it may hold a password that cannot be
// placed. It is grant's redaction (topology.RedactDSN), which reads every
// DSN form, so the first argument, the backend's name, is not needed.
func redactDSN(_, dsn string) string { return dsnredact.Redact(dsn) }

// scrub removes the password of dsn (a name backend DSN) from err's text, in
// case a driver quotes it.
func scrub(err error, name, dsn string) error {
	if err == nil {
		return nil
	}
	if pw := passwordOf(name, dsn); pw != "" && strings.Contains(err.Error(), pw) {
		return errors.New(strings.ReplaceAll(err.Error(), pw, redacted))
	}
	return err
}

// ---- parallelism ------------------------------------------------------------

// Drops after the test. On PostgreSQL 15 every DROP DATABASE waits for a
// checkpoint, which syncs every file written since the last one: the
// files of every database created meanwhile, by this process and others
// (about 300 per database). On a busy server a drop waits seconds, and a
// test that drops four databases waited for four checkpoints in a row.
// Under MainParallel a test's databases are dropped behind it instead, a
// few at a time (the waits of concurrent drops share checkpoints), and
// MainParallel waits for the drops before the binary exits.
var drops struct {
	enabled atomic.Bool
	wg      sync.WaitGroup

	mu      sync.Mutex
	cond    sync.Cond // on mu: running or limit changed
	running int       // drops running now
	limit   int       // how many may run at once
	failed  []string
}

// Drops running at once: each holds an admin connection while it waits for
// its checkpoint, and the server's connections are shared with the tests
// (max_connections is 100), so only a few while tests run; once they have
// all finished, more, so that the drops left share fewer checkpoints.
const (
	concurrentDrops      = 4
	concurrentFinalDrops = 16
)

// dropLater starts dropping name on b in the background and reports true
// when MainParallel runs the tests; false: the caller drops it now.
func dropLater(b *Backend, name string) bool {
	if !drops.enabled.Load() {
		return false
	}
	drops.wg.Go(func() {
		drops.mu.Lock()
		for drops.running >= drops.limit {
			drops.cond.Wait()
		}
		drops.running++
		drops.mu.Unlock()
		err := b.drop(name)
		drops.mu.Lock()
		drops.running--
		drops.cond.Broadcast()
		if err != nil {
			drops.failed = append(drops.failed, fmt.Sprintf("dropping database %s on %s: %v", name, b.Name, scrub(err, b.Name, b.adminDSN)))
		}
		drops.mu.Unlock()
	})
	return true
}

// setDropLimit sets how many drops may run at once.
func setDropLimit(n int) {
	drops.mu.Lock()
	drops.limit = n
	drops.cond.Broadcast()
	drops.mu.Unlock()
}

// waitForDrops lets more drops run at once, waits for those dropLater
// started and returns their failures. The tests must have finished.
func waitForDrops() []string {
	setDropLimit(concurrentFinalDrops)
	drops.wg.Wait()
	drops.mu.Lock()
	defer drops.mu.Unlock()
	return drops.failed
}

// DefaultParallel is how many tests MainParallel lets run at once.
const DefaultParallel = 4

// MainParallel is a TestMain body for packages whose server tests wait on
// the servers (CREATE and DROP DATABASE, round trips, the checkpoint every
// DROP DATABASE forces) far more than they use the CPU: unless the command
// line sets -parallel (or -fuzz, whose workers -parallel also counts), it
// lets n tests that call t.Parallel run at once instead of GOMAXPROCS
// (2 on the CI machine), then runs the tests and returns m.Run's code:
//
//	func TestMain(m *testing.M) { os.Exit(testdb.MainParallel(m, testdb.DefaultParallel)) }
//
// Only tests that call t.Parallel are affected; a test that measures
// something process-wide (goroutines, allocations, the heap) or sets the
// environment must not call it.
//
// The server databases the tests create are dropped behind them (see
// CreateDatabase): MainParallel waits for those drops after the tests and
// turns a failed one into a failed run.
func MainParallel(m *testing.M, n int) int {
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) {
		if f.Name == "test.parallel" || f.Name == "test.fuzz" {
			given = true
		}
	})
	if !given {
		if err := flag.Set("test.parallel", strconv.Itoa(n)); err != nil {
			fmt.Fprintf(os.Stderr, "testdb: setting -test.parallel: %v\n", err)
		}
	}
	drops.cond.L = &drops.mu
	setDropLimit(concurrentDrops)
	drops.enabled.Store(true)
	code := m.Run()
	drops.enabled.Store(false)
	if failed := waitForDrops(); len(failed) > 0 {
		for _, f := range failed {
			fmt.Fprintf(os.Stderr, "testdb: %s\n", f)
		}
		fmt.Fprintf(os.Stderr, "FAIL: %d throw-away databases could not be dropped\n", len(failed))
		if code == 0 {
			code = 1
		}
	}
	return code
}
