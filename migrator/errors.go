package migrator

import (
	"errors"
	"fmt"
	"path/filepath"
)

// Errors the migrator returns; test them with errors.Is. The errors that
// wrap them name the target (database, cluster or "cluster/shard") and, where
// one is involved, the migration file.
var (
	// ErrUnknownTarget: the target names no database, cluster or shard of
	// the topology. The error lists the valid names.
	ErrUnknownTarget = errors.New("migrator: unknown target")
	// ErrNoMigrations: a database or cluster named as a target has neither a
	// migrations directory nor Go migrations, or its MigrationsConfig.Dir
	// does not exist. The error names the database and the directory.
	ErrNoMigrations = errors.New("migrator: no migrations")
	// ErrDisabled: a database or cluster named as a target has
	// MigrationsConfig.Disabled set.
	ErrDisabled = errors.New("migrator: migrations are disabled for this database")
	// ErrLocked: another migrator held the database's migrations lock for
	// longer than the lock timeout. It is wrapped by a *LockError.
	ErrLocked = errors.New("migrator: migrations are locked by another migrator")
	// ErrUnsafeLock: a PostgreSQL database has no migrations DSN and its
	// writer's connection is not a server session of its own (it goes
	// through a connection pooler such as a transaction-pooling PgBouncer),
	// or grant cannot tell: the session lock could not hold, so nothing was
	// run. It is wrapped by an *UnsafeLockError; set migrations_dsn
	// (MigrationsConfig.DSN) to a direct connection.
	ErrUnsafeLock = errors.New("migrator: the writer's connection cannot hold the migrations lock; set migrations_dsn")
	// ErrNoDownMigration: Down was asked to roll back a migration whose Down
	// section is empty (or a Go migration without a down function). Nothing
	// was rolled back on that target.
	ErrNoDownMigration = errors.New("migrator: migration has no down section")
)

// errStopped is what a target's run ends with when WithStopOnError(true)
// stopped it because another target failed; its Result is marked Skipped.
var errStopped = errors.New("migrator: stopped because another target failed")

// TargetError is a failure on one target (a database's writer or a shard's
// writer): a migration that failed, a connection that could not be made, a
// version table that could not be read. Its message starts with the target
// and, for a migration, the file: "orders/shard3: 00002_add_col.sql: ...".
// It never contains a DSN's password: grant redacts node errors, and the
// drivers' connection errors do not quote passwords.
type TargetError struct {
	Target  string // "primary", or "orders/shard3"
	Source  string // the migration's file name, "" when no migration was involved
	Version int64  // the migration's version, 0 when no migration was involved
	Err     error  // the cause: the driver's error, a goose error, or a sentinel above
}

// Error reads "<target>: <source>: <cause>", the source omitted when unknown.
func (e *TargetError) Error() string {
	if e.Source != "" {
		return fmt.Sprintf("%s: %s: %v", e.Target, e.Source, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Target, e.Err)
}

// Unwrap returns the cause.
func (e *TargetError) Unwrap() error { return e.Err }

// sourceName is how a migration is named in events, results and errors: the
// base name of its file, or "Go migration N" for a Go migration registered
// without one.
func sourceName(path string, version int64) string {
	if path != "" {
		return filepath.Base(path)
	}
	return fmt.Sprintf("Go migration %d", version)
}
