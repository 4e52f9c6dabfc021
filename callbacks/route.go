package callbacks

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"

	"gorm.io/gorm"

	"github.com/grant-go/grant/resolver"
	"github.com/grant-go/grant/sharding/scatter"
)

// statement is what grant needs to know about one statement's kind.
type statement struct {
	// writes: the statement changes data (or locks rows); refused under
	// prevent-writes.
	writes bool
	// wantsWriter: with no role asked for, the statement goes to the writer.
	wantsWriter bool
	// sessionControl: SAVEPOINT, SET and the like, which follow a
	// transaction instead of choosing its database.
	sessionControl bool
	// create: the shard key comes from the values, not from WHERE.
	create bool
	// update: assignments must not move a row to another shard.
	update bool
	// row: Row/Rows, whose rows outlive the callbacks.
	row bool
	// fanOut: an update or delete, which grant.AllShards may run on every shard.
	fanOut bool
}

var (
	builderWrite  = statement{writes: true, wantsWriter: true}
	builderCreate = statement{writes: true, wantsWriter: true, create: true}
	builderUpdate = statement{writes: true, wantsWriter: true, update: true, fanOut: true}
	builderDelete = statement{writes: true, wantsWriter: true, fanOut: true}
)

// onUpdate handles update.
func (r *Router) onUpdate(db *gorm.DB) { r.handle(db, builderUpdate) }

// onCreate handles create.
func (r *Router) onCreate(db *gorm.DB) { r.handle(db, builderCreate) }

// onDelete handles delete.
func (r *Router) onDelete(db *gorm.DB) { r.handle(db, builderDelete) }

// onQuery handles query: builder queries read unless they lock rows; raw
// SQL (db.Raw(...).Find) is classified by its text.
func (r *Router) onQuery(db *gorm.DB) { r.handle(db, readKind(db, false)) }

// onRow handles Row and Rows, classified like queries.
func (r *Router) onRow(db *gorm.DB) { r.handle(db, readKind(db, true)) }

func readKind(db *gorm.DB, row bool) statement {
	var kind statement
	if db.Statement.SQL.Len() > 0 {
		kind = classifyRaw(db.Statement.SQL.String(), false)
	} else if _, locking := db.Statement.Clauses["FOR"]; locking {
		kind = builderWrite
	}
	kind.row = row
	return kind
}

// onExec handles db.Exec: it always goes to the writer (an Exec of SELECT is
// run for its side effects, e.g. pg_advisory_lock or setval), but only text
// that writes is refused under prevent-writes.
func (r *Router) onExec(db *gorm.DB) {
	r.handle(db, classifyRaw(db.Statement.SQL.String(), true))
}

func classifyRaw(sql string, exec bool) statement {
	switch Classify(sql) {
	case SQLRead:
		return statement{wantsWriter: exec}
	case SQLSessionControl:
		return statement{wantsWriter: true, sessionControl: true}
	default:
		return builderWrite
	}
}

func (r *Router) handle(db *gorm.DB, kind statement) {
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
	pool := db.Statement.ConnPool
	switch p := pool.(type) {
	case *gorm.PreparedStmtDB:
		pool = p.ConnPool
	case *gorm.PreparedStmtTX:
		pool = p.Tx
	}
	switch p := pool.(type) {
	case *lazyTx:
		r.routeInLazyTx(db, kind, p)
	case gorm.TxCommitter, *sql.Conn:
		r.routePinned(db, kind, pool)
	default:
		r.route(db, kind)
	}
}

// decision is a statement's route before a node is chosen.
type decision struct {
	conn     resolver.Connection
	database *resolver.Database
	// shards, when set, are the several shards a read is scattered to
	// (database is then the first of them).
	shards []*resolver.Database
	// split, when set, is a create whose rows go to several shards.
	split *splitClause
	// explicit: the database was named by a scope, the context, the model or
	// a table mapping, rather than defaulted. Inside a transaction only an
	// explicit database can conflict with the transaction's.
	explicit bool
	// byKey: grant chose the shard(s) from the statement's shard keys or
	// IDs, not from a scope or context naming them, and the WHERE holds more
	// than the key condition: a subquery in it must be proven co-located
	// before the statement runs there.
	byKey bool
}

// decide applies the precedence scope → context → model → table mapping →
// default, field by field. It allocates nothing on the way to a route.
// checkShardLock refuses a decision that leaves the shard the statement's
// request is locked to (grant.LockShard): another shard of a cluster, or
// several. Without a lock in the program it is one atomic load.
func checkShardLock(db *gorm.DB, d *decision) error {
	shard, locked := resolver.ShardLockFrom(db.Statement.Context)
	if !locked || d.database == nil || d.database.Cluster() == nil {
		return nil
	}
	if d.shards == nil && d.split == nil && d.database.Shard() == shard {
		return nil
	}
	target := d.database.Shard()
	if d.shards != nil || d.split != nil {
		target = "several shards"
	}
	return &resolver.RouteError{Err: resolver.ErrShardLocked, Route: resolver.Route{Database: d.database.Name(), Shard: d.database.Shard()},
		Detail: fmt.Sprintf("the request is locked to shard %q; the statement goes to %s", shard, target)}
}

func (r *Router) decide(db *gorm.DB, kind statement) (decision, error) {
	stmt := db.Statement
	conn := scopeConnection(stmt)
	if conn.Shard == resolver.AllShards && stmt.SQL.Len() > 0 {
		// Raw SQL names its tables in text: grant cannot plan it across
		// shards, and must not quietly run it on one database instead.
		refusal := &scatter.Refusal{Reason: scatter.ReasonRawSQL, Fragment: stmt.SQL.String(),
			Detail: "grant.AllShards scatters builder queries, not raw SQL",
			Hint:   "use GORM's builder, or run the SQL on each shard with grant.Shard(name)"}
		return decision{}, &resolver.RouteError{Err: resolver.ErrSpansShards, Detail: refusal.Error(), Cause: refusal}
	}
	if outer, ok := resolver.ConnectionFrom(stmt.Context); ok {
		conn = conn.Over(outer)
	}
	explicit := conn.Database != ""
	if stmt.Schema != nil {
		m := r.model(stmt.Schema)
		if m.err != nil {
			return decision{}, m.err
		}
		conn = conn.Over(m.conn)
		// A builder statement's model says where its rows live, even when it
		// declares nothing (the default database). Raw SQL's schema is only
		// its destination (Raw(...).Find(&dto)): it counts only if declared.
		explicit = explicit || stmt.SQL.Len() == 0 || m.conn.Database != ""
	}
	if conn.Database == "" && r.topology.HasTableMappings() {
		table := stmt.Table
		if table == "" && stmt.SQL.Len() > 0 {
			table = TableOf(stmt.SQL.String())
		}
		if d := r.topology.ForTable(table); d != nil {
			return decision{conn: conn, database: d, explicit: true}, nil
		}
		if c := r.topology.ClusterForTable(table); c != nil {
			return r.decideShard(db, kind, conn, c)
		}
	}
	if conn.Database == "" {
		return decision{conn: conn, database: r.topology.Default(), explicit: explicit}, nil
	}
	if c, ok := r.topology.Cluster(conn.Database); ok {
		return r.decideShard(db, kind, conn, c)
	}
	d, err := r.topology.Database(conn.Database)
	return decision{conn: conn, database: d, explicit: explicit}, err
}

// decideShard picks the shard of a cluster: the one a scope or context
// names, else the one the model's shard key values map to. Without either
// the statement fails: grant never guesses a shard.
func (r *Router) decideShard(db *gorm.DB, kind statement, conn resolver.Connection, c *resolver.Cluster) (decision, error) {
	stmt := db.Statement
	if conn.Shard == resolver.AllShards {
		return decision{conn: conn, database: c.Shards()[0], shards: c.Shards(), explicit: true}, nil
	}
	if conn.Shard == "" && !kind.writes && !kind.wantsWriter {
		// A read started inside another statement's callbacks (Preload of
		// co-located children) inherits that statement's shard pool.
		if n := r.nodeOf(stmt.ConnPool); n != nil && n.Owner().Cluster() == c && !r.hasOwnKey(db, kind) {
			return decision{conn: conn, database: n.Owner(), explicit: true}, nil
		}
	}
	if conn.Shard == "" && stmt.Schema != nil {
		if m := r.model(stmt.Schema); m.key != nil {
			first, shards, onlyKey, err := r.shardByKey(db, kind, c, m.key)
			if err == errSplit {
				return r.decideSplit(db, conn, c, m.key)
			}
			if err != nil {
				return decision{}, err
			}
			return decision{conn: conn, database: first, shards: shards, explicit: true, byKey: !onlyKey}, nil
		}
	}
	if conn.Shard == "" {
		what := "the statement"
		if stmt.Schema != nil {
			what = "model " + stmt.Schema.Name
		}
		return decision{}, &resolver.RouteError{Err: resolver.ErrShardKeyMissing, Table: tableOf(stmt), Route: resolver.Route{Database: c.Name()},
			Detail: fmt.Sprintf("%s lives in cluster %q (shards: %s); name the shard with grant.Shard or grant.ConnectedTo",
				what, c.Name(), strings.Join(c.ShardNames(), ", "))}
	}
	d, err := c.Shard(conn.Shard)
	if err == nil && stmt.Schema != nil {
		if m := r.model(stmt.Schema); m.key != nil && m.conn.Database == c.Name() {
			err = r.checkNamedShard(db, kind, c, m.key, conn.Shard)
			if err == nil && kind.create && m.key.ids != nil {
				err = assignIDs(stmt, m.key, c.Index(conn.Shard))
			}
		}
	}
	return decision{conn: conn, database: d, explicit: true}, err
}

// decideSplit groups a create's rows by shard; each shard's part is
// inserted later, in place of GORM's create, in a transaction of its own.
func (r *Router) decideSplit(db *gorm.DB, conn resolver.Connection, c *resolver.Cluster, key *shardKey) (decision, error) {
	values, err := keysFromValues(db.Statement, key.field)
	if err != nil {
		return decision{}, err
	}
	parts, order, err := r.splitRows(db.Statement, key, c, values)
	if err != nil {
		return decision{}, err
	}
	first, _ := c.Shard(order[0])
	return decision{conn: conn, database: first, explicit: true, split: &splitClause{cluster: c, parts: parts, order: order}}, nil
}

// crossTransaction is the error for a statement routed to database inside a
// transaction on txDatabase: another shard of the same cluster, or another
// database altogether.
func crossTransaction(route resolver.Route, database, txDatabase *resolver.Database) error {
	err := resolver.ErrCrossDatabaseTransaction
	if database.Cluster() != nil && database.Cluster() == txDatabase.Cluster() {
		err = resolver.ErrCrossShardTransaction
	}
	what := "database"
	if txDatabase.Shard() != "" {
		what = "shard"
	}
	return &resolver.RouteError{Err: err, Route: route,
		Detail: fmt.Sprintf("the transaction is on %s %q", what, txDatabase.Qualified())}
}

// role returns the role a statement takes outside a transaction.
func (d *decision) role(kind statement) string {
	switch {
	case d.conn.Role != "":
		return d.conn.Role
	case kind.wantsWriter:
		return resolver.Writing
	default:
		return resolver.Reading
	}
}

// route handles a statement outside any transaction.
func (r *Router) route(db *gorm.DB, kind statement) {
	d, err := r.decide(db, kind)
	if err == nil {
		err = checkShardLock(db, &d)
	}
	if err != nil {
		r.refuse(db, err)
		return
	}
	if d.byKey && d.shards == nil && !kind.create && mayHaveSubquery(db.Statement) {
		if err := r.checkRoutedSubqueries(db, d); err != nil {
			r.refuse(db, err)
			return
		}
	}
	role := d.role(kind)
	preventWrites := d.conn.PreventWrites || role == resolver.Reading
	if kind.writes && preventWrites {
		r.refuse(db, r.readOnly(db, resolver.Route{Database: d.database.Name(), Shard: d.database.Shard(), Role: role, PreventWrites: true}))
		return
	}
	if d.split != nil {
		r.markSplit(db, d.split)
		return
	}
	// A session that wrote reads its writes (see consistency.go).
	var node *resolver.Node
	consistent := role == resolver.Reading && d.conn.Role == "" && r.consistency.Mode != resolver.Eventual
	if d.shards != nil {
		if consistent && r.wroteToAny(db.Statement.Context, d.shards) {
			role = resolver.Writing
		}
		r.routeScatter(db, kind, d, role)
		return
	}
	if consistent {
		node = r.consistentNode(db.Statement.Context, d.database)
	}
	if node == nil {
		if node, err = d.database.Pick(role); err != nil {
			r.refuse(db, err)
			return
		}
	}
	if kind.writes {
		r.noteWrite(db, d.database)
	}
	pool, err := node.Pool(db.Statement.DB.PrepareStmt)
	if err != nil {
		r.refuse(db, err)
		return
	}
	db.Statement.ConnPool = pool
	if r.trace || len(r.observers) > 0 {
		r.noteRoute(db, resolver.Route{Database: d.database.Name(), Shard: d.database.Shard(), Role: role, Node: node.Label(), PreventWrites: preventWrites})
	}
}

func (r *Router) readOnly(db *gorm.DB, route resolver.Route) error {
	return &resolver.RouteError{Err: resolver.ErrReadOnly, Table: tableOf(db.Statement), Route: route}
}

// refuse fails the statement so that nothing reaches a database. A
// refused Row() returns a *sql.Row whose Scan reports err, rather than nil.
func (r *Router) refuse(db *gorm.DB, err error) {
	if re, ok := err.(*resolver.RouteError); ok && re.Table == "" {
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
	return refusalDB().QueryRowContext(scatter.WithStatement(ctx, scatter.Refused(err)), "")
}

var refusalHandle = sync.OnceValue(scatter.NewDB)

// refusalDB is the process's handle for refused rows; it never connects.
func refusalDB() *sql.DB { return refusalHandle() }

func tableOf(stmt *gorm.Statement) string {
	if stmt.Table != "" {
		return stmt.Table
	}
	if stmt.Schema != nil {
		return stmt.Schema.Table
	}
	return TableOf(stmt.SQL.String())
}

func (r *Router) traceRoute(db *gorm.DB, route resolver.Route) {
	db.Statement.Context = context.WithValue(db.Statement.Context, routeKey{}, route)
}
