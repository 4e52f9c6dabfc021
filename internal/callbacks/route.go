package callbacks

import (
	"context"
	"database/sql"
	"errors"

	"gorm.io/gorm"

	"github.com/grant-go/grant/internal/route"
	"github.com/grant-go/grant/sharding/scatter"
	"github.com/grant-go/grant/topology"
)

// Kinds of builder statements.
const (
	builderWrite  = route.Writes | route.WantsWriter
	builderCreate = builderWrite | route.Create
	builderUpdate = builderWrite | route.Update | route.FanOut
	builderDelete = builderWrite | route.FanOut
)

// onUpdate handles update.
func (r *Router) onUpdate(db *gorm.DB) { r.handle(db, builderUpdate) }

// onCreate handles create.
func (r *Router) onCreate(db *gorm.DB) { r.handle(db, builderCreate) }

// onDelete handles delete.
func (r *Router) onDelete(db *gorm.DB) { r.handle(db, builderDelete) }

// onQuery handles query: builder queries read unless they lock rows; raw
// SQL (db.Raw(...).Find) is classified by its text.
func (r *Router) onQuery(db *gorm.DB) { r.handle(db, r.readKind(db)) }

// onRow handles Row and Rows, classified like queries.
func (r *Router) onRow(db *gorm.DB) { r.handle(db, r.readKind(db)) }

func (r *Router) readKind(db *gorm.DB) route.Kind {
	if db.Statement.SQL.Len() > 0 {
		return r.classifyRaw(db.Statement.SQL.String(), false)
	}
	if _, locking := db.Statement.Clauses["FOR"]; locking {
		return builderWrite
	}
	return 0
}

// onExec handles db.Exec: it always goes to the writer (an Exec of SELECT is
// run for its side effects, e.g. pg_advisory_lock or setval), but only text
// that writes is refused under prevent-writes.
func (r *Router) onExec(db *gorm.DB) {
	r.handle(db, r.classifyRaw(db.Statement.SQL.String(), true))
}

// classifyRaw reads SQL text as the handle's server does (ClassifyIn).
func (r *Router) classifyRaw(sql string, exec bool) route.Kind {
	switch ClassifyIn(r.dialect, sql) {
	case SQLRead:
		if exec {
			return route.Raw | route.WantsWriter
		}
		return route.Raw
	case SQLSessionControl:
		return route.Raw | route.WantsWriter | route.SessionControl
	default:
		return route.Raw | builderWrite
	}
}

// handle routes one statement: it gathers the facts, lets package route
// decide, and applies the decision — on its own, in a transaction grant
// begins lazily, or on a transaction or connection pinned elsewhere.
func (r *Router) handle(db *gorm.DB, kind route.Kind) {
	if db.Error != nil {
		return // GORM will not run the statement; nothing to route
	}
	if db.DryRun {
		// Nothing will run: GORM only builds the SQL, as it does for a
		// *gorm.DB passed as a subquery. Knowing the model lets a
		// scatter-gather read prove that subquery co-located.
		if db.Statement.Schema != nil {
			r.model(db.Statement.Schema)
		}
		return
	}
	if len(r.observers) > 0 {
		r.startObserving(db)
	}
	f := route.Facts{Kind: kind}
	pool := db.Statement.ConnPool
	var tx *lazyTx
	switch p := pool.(type) {
	case *RoutingPool: // the common case: on its own
	case *scopedPool: // on its own, with a scope
		f.Scope = &p.scope.conn
	default:
		pool = unwrapPrepared(pool)
		switch p := pool.(type) {
		case *RoutingPool:
		case *lazyTx:
			tx = p
		case gorm.TxCommitter, *sql.Conn:
			f.Tx = route.Tx{State: route.Pinned, Node: r.nodeOf(pool)}
		}
	}
	m := r.gatherConnections(db, &f)
	decided := r.decided(&f, m, tx)
	if decided != nil {
		if d := keptFor(decided, &f); d != nil {
			r.route(db, &f, d)
			return
		}
	}
	var target route.Target
	if err := r.gather(db, &f, m, &target); err != nil {
		r.refuse(db, err)
		return
	}
	if tx != nil {
		r.routeInLazyTx(db, &f, &target, tx)
		return
	}
	d, err := r.decide(db, &f, &target)
	if err != nil {
		r.refuse(db, err)
		return
	}
	if f.Tx.State == route.Pinned {
		r.routePinned(db, &f, &d)
		return
	}
	if decided != nil {
		keep(decided, &f, &target, &d)
	}
	r.route(db, &f, &d)
}

// unwrapPrepared finds the pool under GORM's prepared-statement wrappers;
// a PrepareStmt session inside a transaction on a PrepareStmt handle wraps
// it twice.
func unwrapPrepared(pool gorm.ConnPool) gorm.ConnPool {
	for {
		switch p := pool.(type) {
		case *gorm.PreparedStmtDB:
			pool = p.ConnPool
		case *gorm.PreparedStmtTX:
			pool = p.Tx
		default:
			return pool
		}
	}
}

// gatherConnections fills f with the connections the statement carries
// (scope, context, shard lock) and its model's declaration, which it
// returns (nil without a model).
func (r *Router) gatherConnections(db *gorm.DB, f *route.Facts) *modelRoute {
	stmt := db.Statement
	if f.Scope == nil {
		f.Scope = scopeConnection(stmt)
	}
	f.Context = topology.ConnectionIn(stmt.Context)
	f.Lock, f.Locked = topology.ShardLockFrom(stmt.Context)
	if stmt.Schema == nil {
		return nil
	}
	m := r.model(stmt.Schema)
	f.Model = &m.route
	return m
}

// gather fills in the rest of f and resolves the statement's database or
// cluster; for a cluster, it gathers the shard key values too.
func (r *Router) gather(db *gorm.DB, f *route.Facts, m *modelRoute, target *route.Target) error {
	stmt := db.Statement
	if r.topology.HasTableMappings() {
		if f.Table = stmt.Table; f.Table == "" && stmt.SQL.Len() > 0 {
			f.Table = TableOfIn(r.dialect, stmt.SQL.String())
		}
	}
	if err := route.Resolve(f, r.topology, target); err != nil {
		var refusal *scatter.Refusal
		if errors.As(err, &refusal) && refusal.Reason == scatter.ReasonRawSQL {
			refusal.Fragment = stmt.SQL.String()
		}
		return err
	}
	if c := target.Cluster; c != nil {
		shard := target.Conn.Shard
		if shard == "" && !f.Kind.Has(route.Writes) && !f.Kind.Has(route.WantsWriter) {
			// A read started inside another statement's callbacks (Preload of
			// co-located children) may inherit that statement's shard.
			if n := r.nodeOf(stmt.ConnPool); n != nil && n.Owner().Cluster() == c {
				f.Inherit = n.Owner()
			}
		}
		target.Placement = c.Placement() // once per statement
		r.gatherKeys(db, m, f, c, target.Placement, shard == topology.AllShards)
	}
	return nil
}

// decide is route.Decide, then the proof the decision asks for before
// anything runs: the subqueries of a statement routed to one shard by its
// key read only rows of that shard.
func (r *Router) decide(db *gorm.DB, f *route.Facts, target *route.Target) (route.Decision, error) {
	var waited placementWait
	defer waited.stop() // however the loop ends, a regather included
	for {
		d, err := route.Decide(f, target)
		if err == nil && d.CheckSubqueries && mayHaveSubquery(db.Statement) {
			err = r.checkRoutedSubqueries(db, d.Database)
		}
		if err != nil || target.Placement == nil || target.Placement.Plain() || !f.Kind.Has(route.Writes) {
			return d, err
		}
		again, err := r.placementAllows(db, f, target, &d, &waited)
		if !again {
			return d, err
		}
		r.regather(db, f, target)
	}
}

// assignIDs gives the rows of a create routed to one shard the IDs that
// encode it (the decision's AssignIDs); it runs once nothing can refuse
// the statement any more.
func (r *Router) assignIDs(db *gorm.DB, d *route.Decision) error {
	return assignIDs(db.Statement, r.model(db.Statement.Schema).key, d.Database.Index())
}

// poolOf is the node's pool for a statement: under strict prevention, one
// of sessions the server keeps read only when the route prevents writes;
// for a statement that reads, the pool that may bound and retry it
// (ReadPool: a custom-role node's reads fail over under health checks).
func (r *Router) poolOf(node *topology.Node, preventWrites, reads, prepared bool) (gorm.ConnPool, error) {
	if preventWrites && r.strict {
		return node.ReadOnlyPool(prepared)
	}
	if reads {
		return node.ReadPool(prepared)
	}
	return node.Pool(prepared)
}

// route applies a decision for a statement outside any transaction.
func (r *Router) route(db *gorm.DB, f *route.Facts, d *route.Decision) {
	if d.Split {
		r.markSplit(db, splitOf(d.Database.Cluster(), f.Keys.Each))
		return
	}
	role := d.Role
	// A session that wrote reads its writes (see consistency.go).
	consistent := role == topology.Reading && !d.Asked && r.consistency.Mode != topology.Eventual
	if d.Shards != nil {
		if consistent && r.wroteToAny(db.Statement.Context, d.Shards) {
			role = topology.Writing
		}
		r.routeScatter(db, f, d, role)
		return
	}
	var node *topology.Node
	if consistent {
		node = r.consistentNode(db.Statement.Context, d.Database)
	}
	var err error
	if node == nil {
		if node, err = d.Database.Pick(role); err != nil {
			r.refuse(db, err)
			return
		}
	}
	pool, err := r.poolOf(node, d.PreventWrites, !f.Kind.Has(route.Writes), db.Statement.DB.PrepareStmt)
	if err == nil && d.AssignIDs {
		err = r.assignIDs(db, d)
	}
	if err != nil {
		r.refuse(db, err)
		return
	}
	if f.Kind.Has(route.Writes) {
		r.noteWrite(db, d.Database)
	}
	db.Statement.ConnPool = pool
	if r.trace || len(r.observers) > 0 {
		r.noteRoute(db, topology.Route{Database: d.Database.Name(), Shard: d.Database.Shard(), Role: role, Node: node.Label(), PreventWrites: d.PreventWrites})
	}
}

// refuse fails the statement so that nothing reaches a database. A
// refused Row() returns a *sql.Row whose Scan reports err, rather than nil.
func (r *Router) refuse(db *gorm.DB, err error) {
	if re, ok := err.(*topology.RouteError); ok && re.Table == "" {
		re.Table = tableOf(db.Statement)
	}
	db.Statement.ConnPool = refusedPool{err: err}
	if rows, ok := db.Get("rows"); ok && rows == false {
		db.Statement.Dest = refusedRow(db.Statement.Context, err)
	}
	_ = db.AddError(err)
}

// refusedRow is a *sql.Row carrying err: database/sql makes a *sql.Row with
// an error only from a failed query, so it runs one that fails at once.
func refusedRow(ctx context.Context, err error) *sql.Row {
	// Without the caller's cancellation: the row must carry err, not the
	// context's error.
	return refusalDB().QueryRowContext(withRefusal(context.WithoutCancel(ctx), err), "")
}

func tableOf(stmt *gorm.Statement) string {
	if stmt.Table != "" {
		return stmt.Table
	}
	if stmt.Schema != nil {
		return stmt.Schema.Table
	}
	return TableOf(stmt.SQL.String())
}

func (r *Router) traceRoute(db *gorm.DB, route topology.Route) {
	db.Statement.Context = context.WithValue(db.Statement.Context, routeKey{}, route)
}
