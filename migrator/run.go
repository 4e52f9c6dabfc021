package migrator

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pressly/goose/v3"
	"golang.org/x/sync/errgroup"
)

// Report is the outcome of Up or Down: one Result per writer of the target,
// in target order (databases by name, then clusters by name with their
// shards in cluster order).
type Report struct {
	Results []Result
}

// Result is the outcome on one writer.
type Result struct {
	Target   string // "primary", or "orders/shard1"
	Database string // the database's name; for a shard, its cluster's (as topology.Database.Name)
	Cluster  string // the shard's cluster, "" for a database
	Shard    string // the shard's name, "" for a database
	// Applied lists the versions this run applied (Up) or rolled back
	// (Down), in the order it did so. A failed or stopped target lists those
	// done before it failed or stopped: they stay done.
	Applied  []int64
	Duration time.Duration
	// Skipped: not run, or stopped between two migrations, because another
	// target failed under WithStopOnError(true). Err is nil then.
	Skipped bool
	// Err is why the target failed: a *TargetError, a *LockError or an
	// *UnsafeLockError, each naming the target. A failed migration is not
	// recorded as applied.
	Err error
}

// Err returns nil when every target succeeded or was skipped, and otherwise
// errors.Join of the failed targets' errors, each naming its target.
func (r *Report) Err() error {
	if r == nil {
		return nil
	}
	var errs []error
	for _, res := range r.Results {
		if res.Err != nil {
			errs = append(errs, res.Err)
		}
	}
	return errors.Join(errs...)
}

// Up applies every pending migration, in version order, on each writer of
// target: "" for every database and cluster that has migrations (disabled
// ones are skipped), a database's name for its writer, a cluster's name for
// every shard's writer, "cluster/shard" for one shard. Replicas are never
// migrated. Shards of a cluster run concurrently (WithParallel); databases
// and clusters run one after another.
//
// Each migration runs in a transaction (unless its file says "-- +goose NO
// TRANSACTION") under the database's migrations lock, and is recorded as
// applied in the same transaction; a writer's version table is created, under
// the lock, if it is missing. On MariaDB and MySQL, DDL commits implicitly,
// so a failing migration may leave its earlier DDL statements applied (see
// the package documentation). A writer stops at its first failure; a later
// Up resumes from where it stands. Cancelling ctx interrupts the migration
// running at that moment (its transaction is rolled back); WithStopOnError
// never does.
//
// The lock is taken for each migration, and the next pending migration is
// chosen under it, so runs on one database at once — from two processes or
// two calls — never apply a migration twice: the first run normally applies
// everything while the second waits for the lock, then finds nothing
// pending, but two runs may also share the work. Waiting longer than
// WithLockTimeout for the lock fails the writer with a *LockError.
//
// The error is nil, an error about target itself (ErrUnknownTarget,
// ErrNoMigrations, ErrDisabled) with a nil Report, or Report.Err() when
// some writers failed; the Report then says what each writer did.
func (m *Migrator) Up(ctx context.Context, target string) (*Report, error) {
	return m.run(ctx, target, func(ctx context.Context, w *writer, r *result) error { return m.up(ctx, w, r) })
}

// Down rolls back the last steps applied migrations (most recent first) on
// each writer of target, which is resolved as for Up; steps must be at least
// 1, and a writer with fewer applied migrations rolls back what it has.
// Before rolling back anything on a writer it checks that each of those
// migrations has a Down section with at least one statement (or, for a Go
// migration, a down function); if one does not, that writer fails with an
// error wrapping ErrNoDownMigration that names the file, and nothing is
// rolled back there. Concurrency, locking and errors are as for Up.
func (m *Migrator) Down(ctx context.Context, target string, steps int) (*Report, error) {
	if steps < 1 {
		return nil, fmt.Errorf("migrator: Down: steps must be at least 1, got %d", steps)
	}
	return m.run(ctx, target, func(ctx context.Context, w *writer, r *result) error { return m.down(ctx, w, r, steps) })
}

// result is a Result being built, with what events need.
type result struct {
	*Result
	start time.Time
	total int
}

// runState is shared by the targets of one run.
type runState struct {
	stopOnError bool
	once        sync.Once
	stop        chan struct{} // closed when a target failed under stopOnError
}

func (s *runState) failed() {
	if s.stopOnError {
		s.once.Do(func() { close(s.stop) })
	}
}

func (s *runState) stopped() bool {
	select {
	case <-s.stop:
		return true
	default:
		return false
	}
}

func (m *Migrator) run(ctx context.Context, name string, op func(context.Context, *writer, *result) error) (*Report, error) {
	groups, err := m.resolve(name)
	if err != nil {
		return nil, err
	}
	report := &Report{}
	state := &runState{stopOnError: m.opts.stopOnError, stop: make(chan struct{})}
	for _, g := range groups {
		first := len(report.Results)
		for _, t := range g.targets {
			report.Results = append(report.Results, Result{Target: t.name, Database: t.database, Cluster: t.cluster, Shard: t.shard})
		}
		if g.cluster == "" {
			m.runTarget(ctx, g.targets[0], &report.Results[first], state, op)
			continue
		}
		var eg errgroup.Group
		eg.SetLimit(m.parallelism(len(g.targets)))
		for i, t := range g.targets {
			res := &report.Results[first+i]
			eg.Go(func() error {
				m.runTarget(ctx, t, res, state, op)
				return nil
			})
		}
		_ = eg.Wait()
	}
	return report, report.Err()
}

func (m *Migrator) parallelism(shards int) int {
	if m.opts.parallel > 0 {
		return m.opts.parallel
	}
	return max(1, min(shards, DefaultMaxParallel))
}

// runTarget runs op on one writer and fills res.
func (m *Migrator) runTarget(ctx context.Context, t *target, res *Result, state *runState, op func(context.Context, *writer, *result) error) {
	r := &result{Result: res, start: time.Now()}
	if state.stopped() {
		res.Skipped = true
		m.emit(Event{Target: t.name, Kind: Skipped})
		return
	}
	w, err := m.open(ctx, t, state.stop)
	if err == nil {
		err = op(ctx, w, r)
		w.close()
	}
	res.Duration = time.Since(r.start)
	switch {
	case err == nil:
		m.emit(Event{Target: t.name, Kind: Finished, Done: len(res.Applied), Total: r.total, Duration: res.Duration})
	case errors.Is(err, errStopped):
		res.Skipped = true
		m.emit(Event{Target: t.name, Kind: Skipped, Done: len(res.Applied), Total: r.total, Duration: res.Duration})
	default:
		res.Err = err
		state.failed()
		e := Event{Target: t.name, Kind: Failed, Done: len(res.Applied), Total: r.total, Duration: res.Duration, Err: err}
		var te *TargetError
		if errors.As(err, &te) {
			e.Version, e.Source = te.Version, te.Source
		}
		m.emit(e)
	}
}

// targetError turns an error from goose into one naming the target and, for
// a failed migration, its file. A *LockError and an *UnsafeLockError already
// name the target and errStopped is not a failure: they pass unchanged.
func (w *writer) targetError(err error, version int64) error {
	var lockErr *LockError
	if errors.As(err, &lockErr) {
		return lockErr
	}
	var unsafe *UnsafeLockError
	if errors.As(err, &unsafe) {
		return unsafe
	}
	if errors.Is(err, errStopped) {
		return errStopped
	}
	te := &TargetError{Target: w.t.name, Err: err}
	var partial *goose.PartialError
	if errors.As(err, &partial) && partial.Failed != nil && partial.Failed.Source != nil {
		version = partial.Failed.Source.Version
		te.Err = partial.Err
	}
	if version != 0 {
		te.Version, te.Source = version, w.name(version)
	}
	return te
}

// between is checked before each migration: the run goes on unless ctx is
// done or another target failed under WithStopOnError(true).
func between(ctx context.Context, state <-chan struct{}) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case <-state:
		return errStopped
	default:
		return nil
	}
}

func (m *Migrator) up(ctx context.Context, w *writer, r *result) error {
	if w.provider == nil {
		m.emit(Event{Target: w.t.name, Kind: Started})
		return nil
	}
	// Create the version table, if missing, under the lock: two migrators
	// starting at once must not both create it.
	if _, err := w.provider.GetDBVersion(ctx); err != nil {
		return w.targetError(err, 0)
	}
	applied, _, err := w.applied(ctx)
	if err != nil {
		return w.targetError(err, 0)
	}
	r.total = len(w.pending(applied))
	m.emit(Event{Target: w.t.name, Kind: Started, Total: r.total})
	for {
		if err := between(ctx, w.stop); err != nil {
			return w.targetError(err, 0)
		}
		// One migration per call, each under the lock: a run can stop
		// between two migrations, and another migrator's run interleaves
		// safely (goose picks the next pending version under the lock).
		res, err := w.provider.UpByOne(ctx)
		if errors.Is(err, goose.ErrNoNextVersion) {
			return nil
		}
		if err != nil {
			return w.targetError(err, 0)
		}
		r.Applied = append(r.Applied, res.Source.Version)
		m.emit(Event{Target: w.t.name, Kind: Applied, Version: res.Source.Version, Source: w.name(res.Source.Version),
			Done: len(r.Applied), Total: r.total, Duration: res.Duration})
	}
}

func (m *Migrator) down(ctx context.Context, w *writer, r *result, steps int) error {
	applied, _, err := w.applied(ctx)
	if err != nil {
		return w.targetError(err, 0)
	}
	todo := applied[:min(steps, len(applied))]
	for _, v := range todo {
		if err := w.checkDown(v); err != nil {
			return err
		}
	}
	r.total = len(todo)
	m.emit(Event{Target: w.t.name, Kind: Started, Total: r.total})
	for _, v := range todo {
		if err := between(ctx, w.stop); err != nil {
			return w.targetError(err, 0)
		}
		res, err := w.provider.ApplyVersion(ctx, v, false)
		if errors.Is(err, goose.ErrNotApplied) {
			continue // another migrator rolled it back meanwhile
		}
		if err != nil {
			return w.targetError(err, v)
		}
		r.Applied = append(r.Applied, v)
		m.emit(Event{Target: w.t.name, Kind: Applied, Version: v, Source: w.name(v),
			Done: len(r.Applied), Total: r.total, Duration: res.Duration})
	}
	return nil
}

// checkDown fails unless version can be rolled back: it must be known, and
// its Down section (or down function) must do something.
func (w *writer) checkDown(version int64) error {
	src, ok := w.sources[version]
	if !ok || w.provider == nil {
		return &TargetError{Target: w.t.name, Version: version, Source: sourceName("", version),
			Err: fmt.Errorf("version %d is recorded as applied but no migration file or Go migration has it", version)}
	}
	name := sourceName(src.Path, version)
	if src.Type == goose.TypeGo {
		g := w.goMigs[version]
		if g == nil || (g.DownFnContext == nil && g.DownFnNoTxContext == nil) {
			return &TargetError{Target: w.t.name, Version: version, Source: name,
				Err: fmt.Errorf("%w: the Go migration has no down function", ErrNoDownMigration)}
		}
		return nil
	}
	has, err := hasDownStatements(w.t.config.Dir, src.Path)
	if err != nil {
		return &TargetError{Target: w.t.name, Version: version, Source: name, Err: err}
	}
	if !has {
		return &TargetError{Target: w.t.name, Version: version, Source: name,
			Err: fmt.Errorf("%w: its \"-- +goose Down\" section has no statement; nothing was rolled back", ErrNoDownMigration)}
	}
	return nil
}
