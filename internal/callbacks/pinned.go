package callbacks

import (
	"database/sql"
	"reflect"

	"gorm.io/gorm"

	"github.com/grant-go/grant/internal/route"
	"github.com/grant-go/grant/topology"
)

// routeInLazyTx routes a statement inside a grant transaction: the first
// statement that chooses a database begins the transaction on its writer;
// later ones must agree. The decision is made under the transaction's lock,
// so that two statements cannot both begin it.
func (r *Router) routeInLazyTx(db *gorm.DB, f *route.Facts, target *route.Target, tx *lazyTx) {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.done {
		r.refuse(db, sql.ErrTxDone)
		return
	}
	if tx.failed != nil { // a failed BEGIN poisoned it: every statement reports that
		r.refuse(db, tx.failed)
		return
	}
	f.Tx.State = route.Unbegun
	if tx.tx != nil {
		f.Tx = route.Tx{State: route.Begun, Database: tx.database}
	}
	d, err := r.decide(db, f, target)
	if err != nil {
		r.refuse(db, err)
		return
	}
	if d.Defer {
		db.Statement.ConnPool = tx // SAVEPOINT before anything chose the database: kept for replay
		return
	}
	if d.Begin {
		err = tx.begin(d.Database, db.Statement.DB.PrepareStmt)
	}
	if err == nil && d.AssignIDs {
		err = r.assignIDs(db, &d)
	}
	if err != nil {
		r.refuse(db, err)
		return
	}
	db.Statement.ConnPool = tx.tx
	tx.wrote = tx.wrote || f.Kind.Has(route.Writes)
	if r.trace || len(r.observers) > 0 {
		route := d.Route(f)
		route.Database, route.Shard, route.Node = tx.database.Name(), tx.database.Shard(), tx.node.Label()
		r.noteRoute(db, route)
	}
}

// routePinned applies the decision for a statement whose pool is a
// transaction or connection grant did not begin itself — GORM's default
// write transaction (seen by associations and hooks), or db.Connection.
// Nothing is swapped: the statement runs where it is pinned (route.Decide
// refused it if it belongs elsewhere or writes under prevent-writes).
func (r *Router) routePinned(db *gorm.DB, f *route.Facts, d *route.Decision) {
	if d.AssignIDs {
		if err := r.assignIDs(db, d); err != nil {
			r.refuse(db, err)
			return
		}
	}
	if r.trace || len(r.observers) > 0 {
		route := d.Route(f)
		if n := f.Tx.Node; n != nil {
			route.Node = n.Label()
		}
		r.noteRoute(db, route)
	}
}

// nodeOf finds the node a pinned transaction or connection belongs to, or nil.
func (r *Router) nodeOf(pool gorm.ConnPool) *topology.Node {
	if n, ok := topology.NodeOf(pool); ok { // a replica's failover pool (health checks on)
		return n
	}
	sqlDB := sqlDBOf(pool)
	if sqlDB == nil {
		return nil
	}
	if n, ok := r.bySQLDB.Load(sqlDB); ok {
		return n.(*topology.Node)
	}
	for _, n := range r.topology.Nodes() {
		if n.Holds(sqlDB) {
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
