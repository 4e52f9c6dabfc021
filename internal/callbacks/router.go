// Package callbacks is grant's GORM glue: it registers one callback in front
// of every processor, turns each *gorm.Statement into a topology.Route,
// enforces write prevention and transaction rules, and swaps
// Statement.ConnPool to the chosen node's pool. It never opens connections
// itself; package topology does, lazily.
package callbacks

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"
	"gorm.io/gorm/schema"

	"github.com/grant-go/grant/sharding/scatter/sqlexpr"
	"github.com/grant-go/grant/topology"
)

// CallbackName is the name grant's callback has on every processor.
const CallbackName = "grant:route"

// Router routes the statements of one *gorm.DB. It is safe for concurrent
// use: its topology is immutable and its caches are sync.Maps.
type Router struct {
	topology *topology.Topology
	trace    bool
	models   atomic.Pointer[map[*schema.Schema]*modelRoute]
	modelsMu sync.Mutex // serializes writers of models
	bySQLDB  sync.Map   // *sql.DB → *topology.Node, for statements pinned to a transaction
	entry    *RoutingPool

	// Writes in flight under an active placement: statement → the
	// *topology.ShardPlacement it entered; tracked counts them, so that
	// the after-callback of every other statement is one atomic load.
	inflight sync.Map
	tracked  atomic.Int64

	consistency topology.ConsistencyConfig
	observers   []topology.Observer          // those that want Observations
	placements  []topology.PlacementObserver // told where statements run, while they run

	scatterOnce sync.Once
	scatter     *sql.DB // the scatter-gather handle, made on first use
	catalogs    catalogs
	maxDistinct int
	strict      bool // see Options.StrictPreventWrites
	// dialect is the handle's, for reading raw SQL as its server does (0,
	// unknown: every dialect's reading at once, the most writing wins).
	dialect sqlexpr.Dialect
}

// Options tune a Router.
type Options struct {
	// TraceRoutes puts each statement's Route in its context so that the
	// logger returned by TraceLogger can print it. Two allocations per statement.
	TraceRoutes bool
	// Consistency is the read-your-writes mode for statements whose context
	// carries a topology.Session.
	Consistency topology.ConsistencyConfig
	// Observers receive every statement's Observation (logs, metrics),
	// unless they are topology.Selective and want none; those that are
	// topology.PlacementObservers are also told where each statement runs
	// while it runs (span decoration). With no observer wanting
	// observations, observing costs nothing; with any, one allocation per
	// statement. Without placement observers no placement callback exists.
	Observers []topology.Observer
	// MaxDistinctValues bounds the values a scatter-gather COUNT(DISTINCT …)
	// holds while merging (0: scatter.DefaultMaxDistinct).
	MaxDistinctValues int
	// StrictPreventWrites runs statements under prevention on read-only
	// sessions (Node.ReadOnlyPool), and begins transactions whose context
	// prevents writes on one.
	StrictPreventWrites bool
}

// NewRouter returns a Router for topology, not yet installed on a handle:
// CheckModel works before Install, so a bad model can fail a plugin's
// Initialize without leaving callbacks behind.
func NewRouter(top *topology.Topology, opts Options) *Router {
	r := &Router{topology: top, trace: opts.TraceRoutes, consistency: opts.Consistency,
		maxDistinct: opts.MaxDistinctValues, strict: opts.StrictPreventWrites}
	for _, o := range opts.Observers {
		if s, ok := o.(topology.Selective); !ok || s.WantsObservations() {
			r.observers = append(r.observers, o)
		}
		if p, ok := o.(topology.PlacementObserver); ok {
			r.placements = append(r.placements, p)
		}
	}
	r.models.Store(&map[*schema.Schema]*modelRoute{})
	r.entry = &RoutingPool{router: r}
	return r
}

// Install puts r on db: the handle's ConnPool becomes a RoutingPool (so that
// db.Begin and db.Transaction begin where the first statement routes) and a
// callback named CallbackName runs before every other callback of every
// processor. GORM's shared prepared-statement cache becomes a view of every
// node's statements; under gorm.Config.PrepareStmt the handle's ConnPool
// stays a *gorm.PreparedStmtDB (that cache, over the RoutingPool). It
// returns an error if the cache or a callback cannot be installed.
func (r *Router) Install(db *gorm.DB) error {
	r.dialect, _ = sqlexpr.DialectOf(db.Dialector.Name())
	shared, err := r.entry.shareStatements(db)
	if err != nil {
		return err
	}
	db.Config.ConnPool = r.entry
	if db.Config.PrepareStmt {
		db.Config.ConnPool = shared
	}
	db.Statement.ConnPool = db.Config.ConnPool

	// GORM logs every replaced callback at Info level; wrapping its own
	// is how grant installs, not news for the application's log.
	quiet := db.Config.Logger
	db.Config.Logger = logger.Discard
	defer func() { db.Config.Logger = quiet }()

	cb := db.Callback()
	for _, reg := range []struct {
		register func(string, func(*gorm.DB)) error
		name     string
		handler  func(*gorm.DB)
	}{
		{cb.Create().Before("*").Register, CallbackName, r.onCreate},
		{cb.Update().Before("*").Register, CallbackName, r.onUpdate},
		{cb.Delete().Before("*").Register, CallbackName, r.onDelete},
		{cb.Query().Before("*").Register, CallbackName, r.onQuery},
		{cb.Row().Before("*").Register, CallbackName, r.onRow},
		{cb.Raw().Before("*").Register, CallbackName, r.onExec},
		{cb.Query().Register, dbresolverCallback, onDBResolverClause},
	} {
		if err := reg.register(reg.name, reg.handler); err != nil {
			return fmt.Errorf("grant: registering callback %s: %w", reg.name, err)
		}
	}
	if r.consistency.Mode != topology.Eventual {
		// Sessions learn of their writes after GORM's commit.
		for _, register := range []func(string, func(*gorm.DB)) error{
			cb.Create().After("*").Register, cb.Update().After("*").Register,
			cb.Delete().After("*").Register, cb.Raw().After("*").Register,
		} {
			if err := register("grant:session", r.afterWrite); err != nil {
				return fmt.Errorf("grant: registering callback grant:session: %w", err)
			}
		}
	}
	// Writes under an active placement leave its in-flight count once
	// they have run, after GORM's commit of a default transaction. Only
	// clusters have placements.
	if len(r.topology.Clusters()) > 0 {
		for _, register := range []func(string, func(*gorm.DB)) error{
			cb.Create().After("*").Register, cb.Update().After("*").Register, cb.Delete().After("*").Register,
			cb.Query().After("*").Register, cb.Row().After("*").Register, cb.Raw().After("*").Register,
		} {
			if err := register("grant:placement", r.afterPlacement); err != nil {
				return fmt.Errorf("grant: registering callback grant:placement: %w", err)
			}
		}
	}
	if err := r.registerPlacementHooks(db); err != nil {
		return err
	}
	if len(r.observers) > 0 {
		for operation, register := range map[string]func(string, func(*gorm.DB)) error{
			"create": cb.Create().After("*").Register, "query": cb.Query().After("*").Register,
			"update": cb.Update().After("*").Register, "delete": cb.Delete().After("*").Register,
			"row": cb.Row().After("*").Register, "raw": cb.Raw().After("*").Register,
		} {
			if err := register("grant:observe", r.observer(operation)); err != nil {
				return fmt.Errorf("grant: registering callback grant:observe: %w", err)
			}
		}
	}
	// GORM's own query, row and create callbacks are wrapped: grant plans a
	// scatter-gather read or splits a create right where GORM runs it.
	for _, w := range []struct {
		processor interface {
			Get(string) func(*gorm.DB)
			Replace(string, func(*gorm.DB)) error
		}
		name, otelName string
		run            func(*Router, *gorm.DB, func(*gorm.DB))
	}{
		{cb.Query(), "gorm:query", "otel:before:select", (*Router).query},
		{cb.Row(), "gorm:row", "otel:before:row", (*Router).query},
		{cb.Create(), "gorm:create", "otel:before:create", (*Router).create},
	} {
		if next := w.processor.Get(w.name); next != nil {
			placeBefore := w.processor.Get(w.otelName) != nil // as registerPlacementHooks decides
			if err := w.processor.Replace(w.name, r.wrapStatement(next, w.run, placeBefore)); err != nil {
				return fmt.Errorf("grant: wrapping %s: %w", w.name, err)
			}
		}
	}
	if r.trace {
		quiet = TraceLogger(quiet)
	}
	return nil
}

// Topology returns the router's topology.
func (r *Router) Topology() *topology.Topology { return r.topology }

// RoutingPool replaces the handle's ConnPool. Statements never run on it
// directly (grant's callback swaps in a node's pool first); its job is
// BeginTx, which returns a transaction that begins on the writer of wherever
// its first statement routes. Code that bypasses GORM's callbacks and uses it
// directly reaches the default database's writer.
type RoutingPool struct {
	router *Router
}

func (p *RoutingPool) defaultPool() gorm.ConnPool {
	pool, err := p.router.topology.Default().Writer().Pool(false)
	if err != nil {
		return refusedPool{err: err}
	}
	return pool
}

// PrepareContext prepares on the default writer.
func (p *RoutingPool) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return p.defaultPool().PrepareContext(ctx, query)
}

// ExecContext executes on the default writer.
func (p *RoutingPool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return p.defaultPool().ExecContext(ctx, query, args...)
}

// QueryContext queries the default writer.
func (p *RoutingPool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return p.defaultPool().QueryContext(ctx, query, args...)
}

// QueryRowContext queries the default writer.
func (p *RoutingPool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return p.defaultPool().QueryRowContext(ctx, query, args...)
}

// shareStatements takes over the *gorm.PreparedStmtDB that db's PrepareStmt
// sessions share (gorm.Open made it under Config.PrepareStmt; otherwise GORM
// makes it now, as a first PrepareStmt session would): its statements are
// closed, its ConnPool becomes p and its Stmts a view of the statements
// cached on every node (topology.SharePreparedStatements), so that GORM's
// Keys, Get and Close see and free what grant prepared. GORM keeps that
// cache private and hands it out only with a transaction, so a finished
// placeholder transaction asks for it; should GORM stop handing it out, the
// error says so and Install fails, rather than leave PrepareStmt sessions a
// cache that stays empty.
func (p *RoutingPool) shareStatements(db *gorm.DB) (*gorm.PreparedStmtDB, error) {
	saved := db.Statement.ConnPool
	db.Statement.ConnPool = &lazyTx{router: p.router, done: true}
	session := db.Session(&gorm.Session{PrepareStmt: true})
	db.Statement.ConnPool = saved
	ptx, ok := session.Statement.ConnPool.(*gorm.PreparedStmtTX)
	if !ok || ptx.PreparedStmtDB == nil || ptx.PreparedStmtDB.Mux == nil {
		return nil, fmt.Errorf("grant: cannot take over GORM's prepared-statement cache: a PrepareStmt session's ConnPool is %T, not *gorm.PreparedStmtTX (unsupported GORM version?)",
			session.Statement.ConnPool)
	}
	shared := ptx.PreparedStmtDB
	shared.Close()
	shared.Mux.Lock()
	defer shared.Mux.Unlock()
	shared.ConnPool = p
	top := p.router.topology
	topology.SharePreparedStatements(shared, top.Default().Writer(), top.Nodes())
	return shared, nil
}

// BeginTx returns a transaction that has not begun yet: it begins, with ctx
// and opts, on the writer its first statement routes to. It never fails;
// errors from the real BEGIN surface on that first statement.
func (p *RoutingPool) BeginTx(ctx context.Context, opts *sql.TxOptions) (gorm.ConnPool, error) {
	tx := &lazyTx{router: p.router, ctx: ctx, opts: opts}
	if c := topology.ConnectionIn(ctx); c != nil && c.PreventWrites && p.router.strict {
		tx.readOnly = true // begun on a read-only session: the server refuses its writes
	}
	return tx, nil
}

// GetDBConn returns the default writer's *sql.DB, so that db.DB() keeps
// working for pool tuning and Close as it did before grant.
func (p *RoutingPool) GetDBConn() (*sql.DB, error) {
	writer := p.router.topology.Default().Writer()
	if _, err := writer.Pool(false); err != nil {
		return nil, err
	}
	if db, ok := writer.SQLDB(); ok {
		return db, nil
	}
	return nil, gorm.ErrInvalidDB
}

// Ping pings the default writer.
func (p *RoutingPool) Ping() error {
	db, err := p.GetDBConn()
	if err != nil {
		return err
	}
	return db.Ping()
}

// refusedPool stands in for a statement grant refused: should any later
// callback ignore db.Error, it still cannot reach a database.
type refusedPool struct{ err error }

func (p refusedPool) PrepareContext(context.Context, string) (*sql.Stmt, error) { return nil, p.err }
func (p refusedPool) ExecContext(context.Context, string, ...any) (sql.Result, error) {
	return nil, p.err
}
func (p refusedPool) QueryContext(context.Context, string, ...any) (*sql.Rows, error) {
	return nil, p.err
}
func (p refusedPool) QueryRowContext(ctx context.Context, _ string, _ ...any) *sql.Row {
	return refusedRow(ctx, p.err)
}
func (p refusedPool) BeginTx(context.Context, *sql.TxOptions) (gorm.ConnPool, error) {
	return nil, p.err
}
