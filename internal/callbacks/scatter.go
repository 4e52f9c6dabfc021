package callbacks

import (
	"context"
	"database/sql"
	"errors"
	"sync/atomic"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/grant-go/grant/internal/route"
	"github.com/grant-go/grant/sharding/scatter"
	"github.com/grant-go/grant/sharding/scatter/sqlexpr"
	"github.com/grant-go/grant/topology"
)

// scatterKey marks a statement that runs on several shards at once.
const scatterKey = "grant:scatter"

// scatterClause is what routing decided for a scatter-gather statement;
// for a read, the planner (in the wrapped gorm:query and gorm:row) adds
// the merge to st once GORM has put the statement's clauses together.
type scatterClause struct {
	st      *scatter.Statement
	route   topology.Route // for errors and span attributes
	read    bool
	cluster *topology.Cluster
	key     *shardKey // the model's shard key, nil when it has none
}

func (scatterClause) Build(clause.Builder) {}

// partialKey holds a statement's opt-in to partial scatter-gather results.
const partialKey = "grant:partial"

type partialClause struct{ result *scatter.Result }

func (partialClause) Build(clause.Builder) {}

// WithPartialResults lets the statement's scatter-gather read succeed when
// some shards fail, recording which in result. It is what grant's scope calls.
func WithPartialResults(db *gorm.DB, result *scatter.Result) *gorm.DB {
	db.Statement.Clauses[partialKey] = clause.Clause{Expression: partialClause{result: result}}
	return db
}

// scatterPool runs a statement's scatter-gather Statement on the router's
// scatter handle. It has no BeginTx: a pool that cannot begin makes GORM
// skip its default write transaction (gorm.ErrInvalidTransaction is ignored
// there), so an update or delete on every shard runs as one auto-committed
// statement per shard.
type scatterPool struct {
	db *sql.DB
	st *scatter.Statement
}

func (p scatterPool) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return p.db.PrepareContext(scatter.WithStatement(ctx, p.st), query)
}
func (p scatterPool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return p.db.ExecContext(scatter.WithStatement(ctx, p.st), query, args...)
}
func (p scatterPool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return p.db.QueryContext(scatter.WithStatement(ctx, p.st), query, args...)
}
func (p scatterPool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return p.db.QueryRowContext(scatter.WithStatement(ctx, p.st), query, args...)
}

// ScatterEngine is the part of package scatter that plans and runs
// statements across shards. The router reaches it only through what
// RegisterScatterEngine installed, so that a program which never imports
// package sharding/scatter/engine does not link the planner and the merge
// (half of grant's code).
type ScatterEngine struct {
	PlanQuery func(scatter.Query) (*scatter.Planned, error)
	NewDB     func() *sql.DB
}

var scatterEngine atomic.Pointer[ScatterEngine]

// RegisterScatterEngine installs the scatter-gather engine for every
// router of the process; package sharding/scatter/engine calls it from its
// init. Safe for concurrent use; the last registration wins.
func RegisterScatterEngine(e ScatterEngine) { scatterEngine.Store(&e) }

// engineImport is what an error tells a program without the engine to add.
const engineImport = `import _ "github.com/grant-go/grant/sharding/scatter/engine"`

// scatterDB returns the router's scatter-gather handle, made on first use:
// one *sql.DB (and its one database/sql goroutine) serves every statement.
// routeScatter has checked that the engine is registered.
func (r *Router) scatterDB() *sql.DB {
	r.scatterOnce.Do(func() { r.scatter = scatterEngine.Load().NewDB() })
	return r.scatter
}

// Close releases what the router holds beyond the topology: the
// scatter-gather handle. The topology's pools are closed by its owner.
func (r *Router) Close() error {
	r.scatterOnce.Do(func() {}) // no handle made after Close
	if r.scatter != nil {
		return r.scatter.Close()
	}
	return nil
}

// routeScatter sends a statement to several shards in parallel. A read is
// planned later, once GORM has put its clauses together (see query):
// its rows are merged as one database holding every shard's rows would
// have returned them, or it is refused before any shard is contacted. An
// update or delete under AllShards runs on every shard's writer, each shard
// committing its own part, with RowsAffected summed. (route.Decide refused
// creates, updates of the shard key, locking reads and raw SQL.)
func (r *Router) routeScatter(db *gorm.DB, f *route.Facts, d *route.Decision, role string) {
	stmt := db.Statement
	span := topology.Route{Database: d.Database.Name(), Shard: topology.AllShards, Role: role}
	if scatterEngine.Load() == nil {
		r.refuse(db, &topology.RouteError{Err: topology.ErrNoScatterEngine, Route: span,
			Detail: "statements on every shard need the scatter-gather engine; add " + engineImport + " to the program"})
		return
	}
	fanOutWrite := f.Kind.Has(route.FanOut)
	st := &scatter.Statement{}
	if p, ok := stmt.Clauses[partialKey].Expression.(partialClause); ok && !fanOutWrite {
		st.AllowPartial, st.Result = true, p.result
	}
	st.Targets = make([]scatter.Target, len(d.Shards))
	for i, shard := range d.Shards {
		node, err := shard.Pick(role)
		if err != nil {
			r.refuse(db, err)
			return
		}
		pool, err := r.poolOf(node, d.PreventWrites, !fanOutWrite, false)
		if err != nil {
			r.refuse(db, err)
			return
		}
		st.Targets[i] = scatter.Target{Name: shard.Qualified(), Pool: pool}
	}
	c := scatterClause{st: st, route: span, read: !fanOutWrite, cluster: d.Database.Cluster()}
	if stmt.Schema != nil {
		c.key = r.model(stmt.Schema).key
	}
	if fanOutWrite && mayHaveSubquery(stmt) {
		// An update or delete on every shard runs its subqueries per shard.
		if dialect, ok := sqlexpr.DialectOf(stmt.Dialector.Name()); ok {
			where, _ := stmt.Clauses["WHERE"].Expression.(clause.Where)
			if err := r.checkSubqueries(dialect, capture(stmt, where.Build), r.outerOf(stmt, c)); err != nil {
				var refusal *scatter.Refusal
				if errors.As(err, &refusal) {
					err = &topology.RouteError{Err: topology.ErrSpansShards, Route: span, Detail: refusal.Error(), Cause: refusal}
				}
				r.refuse(db, err)
				return
			}
		}
	}
	stmt.Clauses[scatterKey] = clause.Clause{Expression: c}
	stmt.ConnPool = scatterPool{db: r.scatterDB(), st: st}
	r.noteRoute(db, span) // trace: "[orders/*/reading]", every shard of the cluster
	r.noteScatter(db, len(st.Targets))
}

// query runs next, GORM's query or row callback. A scatter-gather read is
// planned right where GORM builds its SQL, after every other callback has
// shaped the statement, and the statement's clauses are restored after it
// ran (GORM reuses a statement's clauses when a chain is reused).
func (r *Router) query(db *gorm.DB, next func(*gorm.DB)) {
	if _, scattered := db.Statement.ConnPool.(scatterPool); !scattered {
		next(db) // a statement on one node pays one type assertion here
		return
	}
	c, ok := db.Statement.Clauses[scatterKey].Expression.(scatterClause)
	if !ok || !c.read || db.Error != nil || db.DryRun {
		next(db)
		return
	}
	restore, err := r.planScatter(db, c)
	if err != nil {
		var refusal *scatter.Refusal
		if errors.As(err, &refusal) {
			err = &topology.RouteError{Err: topology.ErrSpansShards, Route: c.route, Detail: refusal.Error(), Cause: refusal}
		}
		r.refuse(db, err)
		return
	}
	next(db)
	restore()

}
