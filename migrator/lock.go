package migrator

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/pressly/goose/v3/lock"
)

// lockPollInterval is how often a migrator waiting for a lock asks again.
const lockPollInterval = 50 * time.Millisecond

// LockError is returned when a database's migrations lock stayed held by
// someone else for the whole lock timeout (WithLockTimeout). It wraps
// ErrLocked. Nothing was run on that target.
//
// The lock is per database: on PostgreSQL a session-level advisory lock
// (pg_try_advisory_lock) whose key is derived from the version table's name,
// which PostgreSQL scopes to the database; on MariaDB and MySQL a named lock
// (GET_LOCK) whose name includes the database's name, since those names are
// server-wide and shards often share a server. SQLite takes no lock (see
// the package documentation).
type LockError struct {
	Target   string        // "primary", or "orders/shard1"
	Database string        // the physical database's name, as the server reports it
	Waited   time.Duration // how long the migrator waited
	// Holder describes the session holding the lock, as far as the server
	// tells: PostgreSQL's pid, application_name, user and client address;
	// MariaDB's connection id, user and host. "" when unknown.
	Holder string
}

// Error names the lock, who holds it and how long grant waited.
func (e *LockError) Error() string {
	holder := e.Holder
	if holder == "" {
		holder = "unknown"
	}
	return fmt.Sprintf("%s: migrations lock on database %q still held by another migrator after waiting %s (holder: %s)",
		e.Target, e.Database, e.Waited.Round(time.Millisecond), holder)
}

// Unwrap returns ErrLocked.
func (e *LockError) Unwrap() error { return ErrLocked }

// sessionLocker is goose's lock.SessionLocker for one target: it polls for
// the lock on the connection goose runs the migration on, until the timeout.
type sessionLocker struct {
	target  string
	dialect string // "postgres" or "mysql"
	table   string
	timeout time.Duration
	poll    time.Duration
	abort   <-chan struct{} // closed: give up waiting (errStopped)
	// verify: before taking a PostgreSQL lock, check that the session is
	// the server's own (checkSession); set when the connection is the
	// writer's, not a migrations DSN's.
	verify bool

	name string // the MariaDB lock name of the last SessionLock
}

var _ lock.SessionLocker = (*sessionLocker)(nil)

// pgLockKey is the advisory lock key for a version table: a hash of its
// name. PostgreSQL scopes advisory locks to the current database, so shards
// on one server do not share it.
func pgLockKey(table string) int64 {
	h := fnv.New64a()
	h.Write([]byte("grant-migrations:" + table))
	return int64(h.Sum64())
}

// mysqlLockName is the GET_LOCK name for a version table of a database.
// Names are server-wide, so it includes the database; MariaDB allows 64
// characters, so a longer name is replaced by a hash.
func mysqlLockName(database, table string) string {
	name := "grant-migrations:" + database + "." + table
	if len(name) <= 64 {
		return name
	}
	sum := sha256.Sum256([]byte(database + "." + table))
	return "grant-migrations:" + hex.EncodeToString(sum[:])[:46]
}

// SessionLock takes the lock on conn, polling every l.poll until l.timeout.
func (l *sessionLocker) SessionLock(ctx context.Context, conn *sql.Conn) error {
	start := time.Now()
	var try func() (bool, error)
	switch l.dialect {
	case "postgres":
		key := pgLockKey(l.table)
		var pid uint32
		if l.verify {
			var err error
			if pid, err = checkSession(ctx, l.target, conn); err != nil {
				return err
			}
		}
		try = func() (ok bool, err error) {
			var got uint32
			err = conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1), pg_backend_pid()", key).Scan(&ok, &got)
			if err == nil && l.verify && got != pid {
				// The session changed under a key that named it: no
				// pooler known does that, but a lock on a session that is
				// not ours must not be trusted.
				return false, &UnsafeLockError{Target: l.target, KeyPID: pid, BackendPID: got}
			}
			return ok, err
		}
	case "mysql":
		var database sql.NullString
		if err := conn.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&database); err != nil {
			return fmt.Errorf("%s: reading the database name for the migrations lock: %w", l.target, err)
		}
		l.name = mysqlLockName(database.String, l.table)
		try = func() (bool, error) {
			var got sql.NullInt64 // 1 taken, 0 held by another, NULL error
			err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 0)", l.name).Scan(&got)
			return got.Valid && got.Int64 == 1, err
		}
	default:
		return fmt.Errorf("%s: no migrations lock for dialect %q", l.target, l.dialect)
	}
	for {
		ok, err := try()
		var unsafe *UnsafeLockError
		if errors.As(err, &unsafe) {
			return unsafe
		}
		if err != nil {
			return fmt.Errorf("%s: taking the migrations lock: %w", l.target, err)
		}
		if ok {
			return nil
		}
		waited := time.Since(start)
		if waited >= l.timeout {
			return l.timeoutError(context.WithoutCancel(ctx), conn, waited)
		}
		timer := time.NewTimer(min(l.poll, l.timeout-waited))
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("%s: waiting for the migrations lock: %w", l.target, ctx.Err())
		case <-l.abort:
			timer.Stop()
			return errStopped
		case <-timer.C:
		}
	}
}

// SessionUnlock releases the lock taken on conn.
func (l *sessionLocker) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	var released sql.NullBool
	var err error
	switch l.dialect {
	case "postgres":
		err = conn.QueryRowContext(ctx, "SELECT pg_advisory_unlock($1)", pgLockKey(l.table)).Scan(&released)
	case "mysql":
		err = conn.QueryRowContext(ctx, "SELECT RELEASE_LOCK(?)", l.name).Scan(&released)
	}
	if err != nil {
		return fmt.Errorf("%s: releasing the migrations lock: %w", l.target, err)
	}
	if !released.Valid || !released.Bool {
		return fmt.Errorf("%s: releasing the migrations lock: this session did not hold it", l.target)
	}
	return nil
}

// timeoutError builds the *LockError, asking the server who holds the lock.
func (l *sessionLocker) timeoutError(ctx context.Context, conn *sql.Conn, waited time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	e := &LockError{Target: l.target, Waited: waited}
	switch l.dialect {
	case "postgres":
		_ = conn.QueryRowContext(ctx, "SELECT current_database()").Scan(&e.Database)
		e.Holder = pgHolder(ctx, conn, pgLockKey(l.table))
	case "mysql":
		var database sql.NullString
		_ = conn.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&database)
		e.Database = database.String
		e.Holder = mysqlHolder(ctx, conn, l.name)
	}
	return e
}

// pgHolder describes the backend holding advisory lock key in the current
// database, from pg_locks and pg_stat_activity ("" if it cannot tell).
func pgHolder(ctx context.Context, conn *sql.Conn, key int64) string {
	const q = `SELECT a.pid, COALESCE(a.application_name, ''), COALESCE(a.usename::text, ''),
	       COALESCE(host(a.client_addr), 'local socket')
	FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
	WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
	  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
	  AND l.classid::bigint = $1 AND l.objid::bigint = $2
	LIMIT 1`
	u := uint64(key)
	var pid int64
	var app, user, client string
	if err := conn.QueryRowContext(ctx, q, int64(u>>32), int64(u&0xffffffff)).Scan(&pid, &app, &user, &client); err != nil {
		return ""
	}
	parts := []string{fmt.Sprintf("pid %d", pid)}
	if app != "" {
		parts = append(parts, fmt.Sprintf("application_name %q", app))
	}
	if user != "" {
		parts = append(parts, "user "+user)
	}
	return strings.Join(append(parts, "client "+client), ", ")
}

// mysqlHolder describes the connection holding the named lock: its id from
// IS_USED_LOCK and, if the process list is visible, its user and host.
func mysqlHolder(ctx context.Context, conn *sql.Conn, name string) string {
	var id sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT IS_USED_LOCK(?)", name).Scan(&id); err != nil || !id.Valid {
		return ""
	}
	holder := fmt.Sprintf("connection id %d", id.Int64)
	var user, host sql.NullString
	if conn.QueryRowContext(ctx, "SELECT USER, HOST FROM information_schema.PROCESSLIST WHERE ID = ?", id.Int64).Scan(&user, &host) == nil {
		holder += fmt.Sprintf(", user %s, host %s", user.String, host.String)
	}
	return holder
}
