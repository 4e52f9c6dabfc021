package migrator

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/grant-go/grant/topology"
)

// The migrations lock is a session lock (PostgreSQL's pg_try_advisory_lock,
// MariaDB's GET_LOCK): it belongs to the server session that took it, and
// holds only if every statement of the run is that session's. A
// transaction-pooling PgBouncer breaks both halves: after each transaction
// it hands the server session to whichever client comes next, so the lock
// stays behind on a session other clients use (and take again: advisory
// locks are re-entrant), and the migration itself may run on another
// session that holds nothing.
//
// MigrationsConfig.DSN (grant.yml migrations_dsn) is the way out: the
// migrator then does everything for that database over a pool of its own
// opened from that DSN — the lock, the version table, the migrations —
// and trusts it to give sessions of their own (a direct connection to the
// server, or a session-pooling bouncer). Without it, on PostgreSQL the
// migrator checks each session before taking the lock (checkSession) and
// refuses, with an *UnsafeLockError, one it cannot prove is the server's
// own.

// migrationsPingTimeout bounds the first connection of a migrations DSN's
// pool and the check that it reaches the writer's database.
const migrationsPingTimeout = 30 * time.Second

// UnsafeLockError is returned when the migrator, having no migrations DSN
// for a PostgreSQL database, finds that the writer's connection is not a
// server session of its own — it goes through a connection pooler such as
// a transaction-pooling PgBouncer — or cannot tell. It wraps ErrUnsafeLock.
// The check runs before the lock is taken: nothing was written on that
// target, not even the version table.
//
// The connection's cancel key (the BackendKeyData message a server sends
// at startup) carries the process id of the server backend it cancels. A
// direct connection's is its backend's, pg_backend_pid(); a pooler
// answers the startup itself, with a key of its own, since the server
// session behind a client changes (PgBouncer's is random in every pooling
// mode). The migrator proceeds only when the two are equal.
type UnsafeLockError struct {
	Target string // "primary", or "orders/shard1"
	// KeyPID is the process id in the connection's cancel key; 0 when the
	// driver does not show it (it is not pgx), in which case Driver names
	// the driver connection's type.
	KeyPID     uint32
	BackendPID uint32 // pg_backend_pid() as the server answered
	Driver     string
}

// Error names the target and the migrations_dsn setting that fixes it.
func (e *UnsafeLockError) Error() string {
	where := "migrations_dsn (MigrationsConfig.DSN) for this database"
	if strings.Contains(e.Target, "/") {
		where = "migrations_dsn (its ShardConfig's Migrations.DSN) for this shard"
	}
	var why string
	if e.KeyPID == 0 {
		why = fmt.Sprintf("grant cannot tell whether the writer's connection is a server session of its own (its driver, %s, does not show the cancel key)", e.Driver)
	} else {
		why = fmt.Sprintf("the writer's connection goes through a connection pooler such as PgBouncer (its cancel key names backend %d, the server's is %d)", e.KeyPID, e.BackendPID)
	}
	return fmt.Sprintf("%s: refusing to migrate: %s, and the migrations lock is a session advisory lock, which transaction pooling shares with other clients: "+
		"two migrators could apply a migration twice. Set %s to a direct connection to the server", e.Target, why, where)
}

// Unwrap returns ErrUnsafeLock.
func (e *UnsafeLockError) Unwrap() error { return ErrUnsafeLock }

// checkSession returns the backend pid of conn's session when its cancel
// key proves that it is a session of its own on the server, and an
// *UnsafeLockError otherwise. It sends one query.
func checkSession(ctx context.Context, target string, conn *sql.Conn) (uint32, error) {
	var keyPID uint32
	var driverType string
	if err := conn.Raw(func(dc any) error {
		keyPID, _ = topology.CancelKeyPID(dc) // pgx's, through adapter/postgres
		driverType = fmt.Sprintf("%T", dc)
		return nil
	}); err != nil {
		return 0, fmt.Errorf("%s: checking the connection before taking the migrations lock: %w", target, err)
	}
	var backendPID uint32
	if err := conn.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&backendPID); err != nil {
		return 0, fmt.Errorf("%s: checking the connection before taking the migrations lock: %w", target, err)
	}
	if keyPID == 0 || keyPID != backendPID {
		return 0, &UnsafeLockError{Target: target, KeyPID: keyPID, BackendPID: backendPID, Driver: driverType}
	}
	return backendPID, nil
}

// openMigrationsDSN opens the pool of a target's migrations DSN with the
// adapter registered for the writer's dialect, connects it, and checks that it
// reaches the database the writer does. The caller closes the pool.
// Errors never contain the DSN's password.
func openMigrationsDSN(ctx context.Context, t *target, node *topology.Node) (*sql.DB, error) {
	dsn := t.config.DSN
	redacted := topology.RedactDSN(dsn)
	// fail wraps cause (nil for none) in a message about the DSN, with its
	// password scrubbed should a driver quote it.
	fail := func(cause error, format string, args ...any) (*sql.DB, error) {
		msg := fmt.Sprintf(format, args...)
		if cause != nil {
			msg += ": " + cause.Error()
		}
		if pw := topology.PasswordOf(dsn); pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
		return nil, &scrubbedError{msg: msg, err: cause}
	}
	dialect := node.Dialect()
	if dialect != "postgres" && dialect != "mysql" {
		return fail(nil, "migrations_dsn %s: the writer's dialect is %q; a migrations DSN is for PostgreSQL and MySQL/MariaDB writers", redacted, dialect)
	}
	adapter := (&topology.Config{}).LookupAdapter(dialect)
	if adapter == nil {
		return fail(nil, "migrations_dsn %s: no %q adapter is registered: import _ \"github.com/grant-go/grant/adapter/%s\"", redacted, dialect, dialect)
	}
	gdb, err := gorm.Open(adapter(dsn), &gorm.Config{Logger: logger.Discard, DisableAutomaticPing: true})
	if err != nil {
		return fail(err, "migrations_dsn %s", redacted)
	}
	db, err := gdb.DB()
	if err != nil {
		return fail(err, "migrations_dsn %s", redacted)
	}
	ctx, cancel := context.WithTimeout(ctx, migrationsPingTimeout)
	defer cancel()
	mine, err := currentDatabase(ctx, db, dialect)
	if err != nil {
		_ = db.Close()
		return fail(err, "migrations_dsn %s", redacted)
	}
	writerDB, err := node.DB()
	if err == nil {
		var theirs string
		if theirs, err = currentDatabase(ctx, writerDB, dialect); err == nil && theirs != mine {
			_ = db.Close()
			return fail(nil, "migrations_dsn %s connects to database %q, the writer to %q: it must reach the writer's database", redacted, mine, theirs)
		}
	}
	if err != nil {
		_ = db.Close()
		return fail(err, "checking that migrations_dsn %s reaches the writer's database", redacted)
	}
	return db, nil
}

// scrubbedError is an error whose message had a password removed; it still
// unwraps to its cause.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// currentDatabase asks the server which database a pool's sessions use.
func currentDatabase(ctx context.Context, db *sql.DB, dialect string) (string, error) {
	q := "SELECT current_database()"
	if dialect == "mysql" {
		q = "SELECT DATABASE()"
	}
	var name sql.NullString
	err := db.QueryRowContext(ctx, q).Scan(&name)
	return name.String, err
}
