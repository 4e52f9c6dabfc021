package migrator

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
)

// writer is a target opened for work: its pool, its goose provider and a
// read-only view of its version table.
type writer struct {
	t       *target
	dialect string // the node's: "postgres", "mysql", "sqlite"
	// db is the writer's pool (grant's), or the pool of the target's
	// migrations DSN, which the migrator opened and close closes.
	db    *sql.DB
	own   bool // db is the migrations DSN's
	store database.Store
	// provider is nil when the target has no migration at all (an empty
	// directory and no Go migrations): there is nothing to run.
	provider *goose.Provider
	locker   *sessionLocker  // nil on SQLite
	stop     <-chan struct{} // closed when the run must stop (WithStopOnError)
	// migrations by version, as the provider knows them
	sources map[int64]*goose.Source
	goMigs  map[int64]*goose.Migration
}

// gooseDialect maps a grant node dialect to goose's.
func gooseDialect(dialect string) (goose.Dialect, error) {
	switch dialect {
	case "postgres":
		return goose.DialectPostgres, nil
	case "mysql":
		return goose.DialectMySQL, nil
	case "sqlite":
		return goose.DialectSQLite3, nil
	}
	return "", fmt.Errorf("the migrator supports postgres, mysql and sqlite writers, not %q", dialect)
}

// open opens the target's pool and builds its goose provider: the writer's
// pool (grant's: never closed here), or, when the target has a migrations
// DSN, a pool of that DSN's, which w.close closes. abort, when closed, makes
// a wait for the lock give up (WithStopOnError). Errors are *TargetError.
func (m *Migrator) open(ctx context.Context, t *target, abort <-chan struct{}) (*writer, error) {
	fail := func(err error) (*writer, error) { return nil, &TargetError{Target: t.name, Err: err} }
	node := t.db.Writer()
	dialect, err := gooseDialect(node.Dialect())
	if err != nil {
		return fail(err)
	}
	store, err := database.NewStore(dialect, t.table())
	if err != nil {
		return fail(err)
	}
	var db *sql.DB
	own := t.config.DSN != ""
	if own {
		db, err = openMigrationsDSN(ctx, t, node)
	} else {
		db, err = node.DB() // a *topology.NodeError with the DSN redacted
	}
	if err != nil {
		return fail(err)
	}
	w := &writer{t: t, dialect: node.Dialect(), db: db, own: own, store: store, stop: abort,
		sources: map[int64]*goose.Source{}, goMigs: map[int64]*goose.Migration{}}
	opts := []goose.ProviderOption{
		goose.WithDisableGlobalRegistry(true),
		goose.WithTableName(t.table()),
		goose.WithLogger(goose.NopLogger()),
	}
	if len(t.goMigs) > 0 {
		clones := make([]*goose.Migration, len(t.goMigs))
		for i, g := range t.goMigs {
			clones[i] = cloneGo(g)
			w.goMigs[g.Version] = g
		}
		opts = append(opts, goose.WithGoMigrations(clones...))
	}
	if w.dialect != "sqlite" {
		// Without a migrations DSN the writer's sessions are checked (on
		// PostgreSQL) before the lock is taken: they may go through a
		// transaction-pooling bouncer. A migrations DSN is trusted.
		w.locker = &sessionLocker{target: t.name, dialect: w.dialect, table: t.table(), timeout: m.opts.lockTimeout,
			poll: lockPollInterval, abort: abort, verify: !own}
		opts = append(opts, goose.WithSessionLocker(w.locker))
	}
	var fsys fs.FS
	if t.config.Dir != "" {
		fsys = os.DirFS(t.config.Dir)
	}
	// goose.Provider.Close would close grant's pool: it is never called.
	p, err := goose.NewProvider(dialect, db, fsys, opts...)
	if errors.Is(err, goose.ErrNoMigrations) {
		return w, nil
	}
	if err != nil {
		w.close()
		return fail(fmt.Errorf("reading migrations in %q: %w", t.config.Dir, err))
	}
	w.provider = p
	for _, s := range p.ListSources() {
		w.sources[s.Version] = s
	}
	return w, nil
}

// close closes the pool of the target's migrations DSN, if it opened one;
// the writer's pool is grant's and stays open.
func (w *writer) close() {
	if w.own {
		_ = w.db.Close()
	}
}

// cloneGo copies a Go migration, so that the providers of several shards
// never share one (goose writes to a registered migration's Source).
func cloneGo(g *goose.Migration) *goose.Migration {
	c := goose.NewGoMigration(g.Version,
		&goose.GoFunc{RunTx: g.UpFnContext, RunDB: g.UpFnNoTxContext},
		&goose.GoFunc{RunTx: g.DownFnContext, RunDB: g.DownFnNoTxContext})
	c.Source = g.Source
	return c
}

// versions lists the versions the provider knows, ascending.
func (w *writer) versions() []int64 {
	out := make([]int64, 0, len(w.sources))
	for v := range w.sources {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

// name is the display name of a known version.
func (w *writer) name(version int64) string {
	if s, ok := w.sources[version]; ok {
		return sourceName(s.Path, version)
	}
	return sourceName("", version)
}

// applied reads the version table without writing anything (it is not
// created when missing): the applied versions in the order they were
// applied, most recent first, version 0 left out. exists is false when
// there is no version table yet.
func (w *writer) applied(ctx context.Context) (versions []int64, exists bool, err error) {
	exists, err = w.tableExists(ctx)
	if err != nil || !exists {
		return nil, exists, err
	}
	rows, err := w.store.ListMigrations(ctx, w.db)
	if err != nil {
		return nil, true, fmt.Errorf("reading version table %s: %w", w.t.table(), err)
	}
	for _, r := range rows {
		if r.Version != 0 && r.IsApplied {
			versions = append(versions, r.Version)
		}
	}
	return versions, true, nil
}

func (w *writer) tableExists(ctx context.Context) (bool, error) {
	if ext, ok := w.store.(database.StoreExtender); ok {
		exists, err := ext.TableExists(ctx, w.db)
		if !errors.Is(err, errors.ErrUnsupported) {
			return exists, err
		}
	}
	// SQLite's goose store cannot tell; ask sqlite_master.
	var n int
	err := w.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?", w.t.table()).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("checking for version table %s: %w", w.t.table(), err)
	}
	return n > 0, nil
}

// pending lists the known versions not in applied, ascending.
func (w *writer) pending(applied []int64) []int64 {
	var out []int64
	for _, v := range w.versions() {
		if !slices.Contains(applied, v) {
			out = append(out, v)
		}
	}
	return out
}
