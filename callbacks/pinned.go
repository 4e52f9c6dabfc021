package callbacks

import (
	"database/sql"
	"reflect"

	"gorm.io/gorm"

	"github.com/grant-go/grant/resolver"
)

// routeInLazyTx pins a statement inside a grant transaction: the first
// statement chooses the database; later ones must agree.
func (r *Router) routeInLazyTx(db *gorm.DB, kind statement, tx *lazyTx) {
	d, err := r.decide(db, kind)
	if err == nil {
		err = checkShardLock(db, &d)
	}
	if err != nil {
		r.refuse(db, err)
		return
	}
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.done {
		r.refuse(db, sql.ErrTxDone)
		return
	}
	route := resolver.Route{Database: d.database.Name(), Shard: d.database.Shard(), Role: resolver.Writing, PreventWrites: d.conn.PreventWrites, InTransaction: true}
	if d.shards != nil || d.split != nil {
		r.refuse(db, spanningTransaction(route))
		return
	}
	if tx.tx == nil && kind.sessionControl && !d.explicit {
		// SAVEPOINT before anything chose the database: keep it for replay.
		db.Statement.ConnPool = tx
		return
	}
	if tx.tx != nil && d.explicit && d.database != tx.database {
		r.refuse(db, crossTransaction(route, d.database, tx.database))
		return
	}
	if kind.writes && d.conn.PreventWrites {
		r.refuse(db, r.readOnly(db, route))
		return
	}
	if tx.tx == nil {
		if err := tx.begin(d.database, db.Statement.DB.PrepareStmt); err != nil {
			r.refuse(db, err)
			return
		}
	}
	db.Statement.ConnPool = tx.tx
	tx.wrote = tx.wrote || kind.writes
	if r.trace || len(r.observers) > 0 {
		route.Database, route.Shard, route.Node = tx.database.Name(), tx.database.Shard(), tx.node.Label()
		r.noteRoute(db, route)
	}
}

// spanningTransaction refuses a statement for several shards inside a
// transaction, which lives on one.
func spanningTransaction(route resolver.Route) error {
	route.Shard = resolver.AllShards
	return &resolver.RouteError{Err: resolver.ErrCrossShardTransaction, Route: route,
		Detail: "a transaction lives on one shard; a statement inside it cannot span several"}
}

// routePinned checks a statement whose pool is a transaction or connection
// grant did not begin itself — GORM's default write transaction (seen by
// associations and hooks), or db.Connection. Nothing is swapped: the
// statement runs where it is pinned, unless it belongs to another database or
// writes under prevent-writes.
func (r *Router) routePinned(db *gorm.DB, kind statement, pinned gorm.ConnPool) {
	d, err := r.decide(db, kind)
	if err == nil {
		err = checkShardLock(db, &d)
	}
	if err != nil {
		r.refuse(db, err)
		return
	}
	node := r.nodeOf(pinned)
	route := resolver.Route{Database: d.database.Name(), Shard: d.database.Shard(), Role: resolver.Writing, PreventWrites: d.conn.PreventWrites, InTransaction: true}
	if d.shards != nil || d.split != nil {
		r.refuse(db, spanningTransaction(route))
		return
	}
	if node != nil {
		if d.explicit && d.database != node.Owner() {
			r.refuse(db, crossTransaction(route, d.database, node.Owner()))
			return
		}
		route.Role, route.Node = node.Role(), node.Label()
	}
	if kind.writes && (d.conn.PreventWrites || route.Role == resolver.Reading) {
		route.PreventWrites = true
		r.refuse(db, r.readOnly(db, route))
		return
	}
	r.noteRoute(db, route)
}

// nodeOf finds the node a pinned transaction or connection belongs to, or nil.
func (r *Router) nodeOf(pool gorm.ConnPool) *resolver.Node {
	if n, ok := resolver.NodeOf(pool); ok { // a replica's failover pool (health checks on)
		return n
	}
	sqlDB := sqlDBOf(pool)
	if sqlDB == nil {
		return nil
	}
	if n, ok := r.bySQLDB.Load(sqlDB); ok {
		return n.(*resolver.Node)
	}
	for _, n := range r.topology.Nodes() {
		if db, ok := n.SQLDB(); ok && db == sqlDB {
			r.bySQLDB.Store(sqlDB, n)
			return n
		}
	}
	return nil
}

// sqlDBOf reads the *sql.DB behind a pool, transaction or connection; for
// *sql.Tx and *sql.Conn the way gorm.DB.DB does: database/sql keeps it in
// an unexported field named db.
func sqlDBOf(pool gorm.ConnPool) *sql.DB {
	switch p := pool.(type) {
	case *sql.DB:
		return p
	case *gorm.PreparedStmtDB:
		return sqlDBOf(p.ConnPool)
	case *gorm.PreparedStmtTX:
		return sqlDBOf(p.Tx)
	case *sql.Tx, *sql.Conn:
		field := reflect.ValueOf(p).Elem().FieldByName("db")
		if field.IsValid() && field.Kind() == reflect.Pointer {
			return (*sql.DB)(field.UnsafePointer())
		}
	}
	return nil
}
