// Package migrator runs schema migrations on every database and every shard
// of a grant topology, on top of github.com/pressly/goose/v3.
//
// Each database (and each cluster) says where its migrations are in its
// MigrationsConfig: a directory of goose SQL files ("-- +goose Up" / "--
// +goose Down" sections), plus any Go migrations registered with
// WithGoMigrations. A database's migrations run on its writer; a cluster's
// run on the writer of every shard, several shards at once. Replicas and
// custom roles are never migrated.
//
//	m, err := migrator.New(db)                  // db has grant installed
//	report, err := m.Up(ctx, "")                // every database and cluster
//	report, err = m.Up(ctx, "orders")           // every shard of a cluster
//	report, err = m.Down(ctx, "orders/shard3", 1)
//	status, err := m.Status(ctx, "")            // versions, pending, drift
//
// Every writer gets its own goose.Provider over the writer's pool, which
// grant owns: the migrator never closes it (it never calls Provider.Close).
// A database or shard with a migrations DSN (MigrationsConfig.DSN, grant.yml
// migrations_dsn) is migrated over a pool of that DSN instead — the lock,
// the version table and the migrations alike — opened with grant's built-in
// adapter for the writer's dialect, checked to reach the writer's database,
// and closed when the run on it ends.
// Each migration runs in its own transaction unless its file says "--
// +goose NO TRANSACTION", and is recorded in the version table
// (MigrationsConfig.Table, default topology.DefaultMigrationsTable) in the
// same transaction, so a failed migration is never recorded as applied and
// a re-run resumes where each writer stands. MariaDB and MySQL commit DDL
// implicitly: there a failing migration with several DDL statements may
// leave the statements before the failing one applied; keep one DDL
// statement per migration on those servers.
//
// Migrations on one database are serialised across processes by a lock on
// that database (see LockError), taken for each migration, so two migrators
// started at once never apply a migration twice. The lock is a session
// lock, which a transaction-pooling PgBouncer hands to whichever client
// gets the server session next: behind one, give each PostgreSQL database
// a migrations DSN that connects directly to the server (docs/pgbouncer.md).
// Without one, the migrator checks each PostgreSQL session before taking
// the lock and refuses, with an *UnsafeLockError (ErrUnsafeLock) and
// nothing written, one it cannot prove is a server session of its own; a
// migrations DSN is trusted, so a session-pooling bouncer may serve it.
// MySQL and MariaDB sessions are not checked. SQLite gets no lock: a
// SQLite file belongs to one process, which migrates it; two processes
// migrating one file at the same moment are not serialised and may both run
// the same migration.
package migrator

import (
	"errors"
	"fmt"
	"time"

	"github.com/pressly/goose/v3"
	"gorm.io/gorm"

	"github.com/grant-go/grant/topology"
)

// pluginName is grant.PluginName. The root package is not imported so that
// it may one day use this package without an import cycle; a test checks
// that the two agree.
const pluginName = "grant"

// Defaults for the options.
const (
	// DefaultLockTimeout is how long a migrator waits for another
	// migrator's lock on a database before giving up with ErrLocked.
	DefaultLockTimeout = 30 * time.Second
	// DefaultMaxParallel caps the default number of shards migrated at once.
	DefaultMaxParallel = 8
)

// Migrator runs migrations on the databases and shards of the grant
// topology installed on a *gorm.DB. Its methods are safe for concurrent
// use; two calls on overlapping targets coordinate through the databases'
// migrations locks exactly like two processes (see Up).
type Migrator struct {
	topology *topology.Topology
	opts     options
}

type options struct {
	parallel    int
	stopOnError bool
	lockTimeout time.Duration
	goMigs      map[string][]*goose.Migration
	progress    func(Event)
}

// Option configures a Migrator; pass options to New.
type Option func(*options)

// WithParallel sets how many shards of a cluster are migrated at once. The
// default (n < 1) is the cluster's number of shards, at most 8. Databases
// that are not shards are always migrated one after another, and so are
// clusters.
func WithParallel(n int) Option { return func(o *options) { o.parallel = n } }

// WithStopOnError decides what happens to the other shards when one fails.
// With false (the default) every other shard still runs all its migrations,
// and so do the databases and clusters after it. With true, shards (and
// databases) not started yet are skipped, and shards running at that moment
// stop after the migration they are running: they are stopped between two
// migrations, never in the middle of one. Skipped and stopped targets have
// Result.Skipped set.
func WithStopOnError(stop bool) Option { return func(o *options) { o.stopOnError = stop } }

// WithLockTimeout sets how long to wait for another migrator's lock on a
// database before failing with a *LockError (ErrLocked). d <= 0 means
// DefaultLockTimeout (30s).
func WithLockTimeout(d time.Duration) Option { return func(o *options) { o.lockTimeout = d } }

// WithGoMigrations registers Go migrations (built with goose.NewGoMigration)
// for the named database or cluster; a cluster's run on every shard, in
// version order together with the SQL files of its directory. It may be
// given several times. New fails if the name is not a database or cluster
// of the topology, or if two migrations of one database share a version.
// The functions of a cluster's migrations are called from several
// goroutines at once, one per shard, and must be safe for that.
func WithGoMigrations(database string, migrations ...*goose.Migration) Option {
	return func(o *options) {
		if o.goMigs == nil {
			o.goMigs = map[string][]*goose.Migration{}
		}
		o.goMigs[database] = append(o.goMigs[database], migrations...)
	}
}

// WithProgress calls fn for every Event of a run. fn is called from the
// goroutines that migrate the shards, so several calls may be in progress
// at once: fn must be safe for concurrent use. A slow fn slows the
// migration it reports on.
func WithProgress(fn func(Event)) Option { return func(o *options) { o.progress = fn } }

// EventKind says what an Event reports.
type EventKind int

// The kinds of Event, in the order a target sees them.
const (
	// Started: the run on a target began; Total is the number of pending
	// migrations (Up) or of migrations to roll back (Down).
	Started EventKind = iota + 1
	// Applied: one migration was applied (Up) or rolled back (Down).
	Applied
	// Finished: the target has no more work; Duration is the whole run's.
	Finished
	// Failed: the target failed; Err says why.
	Failed
	// Skipped: the target was not run, or was stopped between two
	// migrations, because another failed under WithStopOnError(true).
	Skipped
)

// String is the kind's lower-case name ("started", ...), as progress lines print it.
func (k EventKind) String() string {
	switch k {
	case Started:
		return "started"
	case Applied:
		return "applied"
	case Finished:
		return "finished"
	case Failed:
		return "failed"
	case Skipped:
		return "skipped"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one step of a run, passed to the WithProgress callback.
type Event struct {
	Target   string        // "primary", or "orders/shard1" for a shard
	Kind     EventKind     // what happened
	Version  int64         // the migration concerned (Applied, Failed), else 0
	Source   string        // its file name, or "Go migration N"
	Done     int           // migrations applied (or rolled back) so far on this target
	Total    int           // migrations pending (or to roll back) on this target at its start
	Duration time.Duration // the migration's (Applied) or the target's run so far (others)
	Err      error         // why it failed (Failed)
}

// New returns a Migrator for the grant topology installed on db. It opens no
// connection. It fails when grant is not installed on db (db.Use(grant.New(
// cfg)) must have succeeded) and when a WithGoMigrations option names no
// database or cluster or repeats a version.
func New(db *gorm.DB, opts ...Option) (*Migrator, error) {
	if db == nil || db.Config == nil {
		return nil, errors.New("migrator: nil *gorm.DB")
	}
	p, ok := db.Config.Plugins[pluginName].(interface{ Topology() *topology.Topology })
	if !ok || p.Topology() == nil {
		return nil, errors.New("migrator: grant is not installed on this *gorm.DB (call db.Use(grant.New(cfg)) first)")
	}
	m := &Migrator{topology: p.Topology()}
	for _, opt := range opts {
		opt(&m.opts)
	}
	if m.opts.lockTimeout <= 0 {
		m.opts.lockTimeout = DefaultLockTimeout
	}
	for name, migs := range m.opts.goMigs {
		if _, isCluster := m.topology.Cluster(name); !isCluster {
			if _, err := m.topology.Database(name); err != nil {
				return nil, fmt.Errorf("%w: WithGoMigrations(%q): %s", ErrUnknownTarget, name, m.validNames())
			}
		}
		seen := map[int64]bool{}
		for i, g := range migs {
			switch {
			case g == nil:
				return nil, fmt.Errorf("migrator: WithGoMigrations(%q): migration %d is nil", name, i)
			case g.Type != goose.TypeGo:
				return nil, fmt.Errorf("migrator: WithGoMigrations(%q): version %d is not a Go migration (use goose.NewGoMigration)", name, g.Version)
			case g.Version < 1:
				return nil, fmt.Errorf("migrator: WithGoMigrations(%q): version %d must be at least 1", name, g.Version)
			case seen[g.Version]:
				return nil, fmt.Errorf("migrator: WithGoMigrations(%q): version %d is registered twice", name, g.Version)
			}
			seen[g.Version] = true
		}
	}
	return m, nil
}

// emit reports e to the progress callback, if any.
func (m *Migrator) emit(e Event) {
	if m.opts.progress != nil {
		m.opts.progress(e)
	}
}
