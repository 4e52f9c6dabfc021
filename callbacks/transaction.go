package callbacks

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"reflect"
	"sync"

	"gorm.io/gorm"

	"github.com/grant-go/grant/resolver"
)

// lazyTx is what db.Begin and db.Transaction return under grant: a
// transaction whose BEGIN waits for the first statement, so that it begins on
// the writer that statement routes to (its scope, context or model) rather
// than on the default database. Savepoints issued before that are replayed
// after BEGIN. A lazyTx is used by one goroutine at a time, as *sql.Tx is;
// the mutex only keeps a misuse from corrupting it.
type lazyTx struct {
	router *Router
	ctx    context.Context
	opts   *sql.TxOptions

	mu       sync.Mutex
	database *resolver.Database
	node     *resolver.Node
	tx       gorm.ConnPool // *sql.Tx or *gorm.PreparedStmtTX once begun
	pending  []string      // savepoint statements issued before BEGIN
	done     bool
	wrote    bool // a write ran: a session in ctx learns of it at commit
}

// errNotBegun is returned by a lazyTx used directly before any statement
// routed it; GORM's callbacks never do that.
var errNotBegun = errors.New("grant: transaction has not begun: no statement has chosen its database yet")

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

// begin starts the real transaction on database's writer and replays
// savepoints taken before it. Called with tx.mu held.
func (tx *lazyTx) begin(database *resolver.Database, prepared bool) error {
	node := database.Writer()
	pool, err := node.Pool(prepared)
	if err != nil {
		return err
	}
	var begun gorm.ConnPool
	switch b := pool.(type) {
	case gorm.TxBeginner:
		begun, err = b.BeginTx(tx.ctx, tx.opts)
	case gorm.ConnPoolBeginner:
		begun, err = b.BeginTx(tx.ctx, tx.opts)
	default:
		err = gorm.ErrInvalidTransaction
	}
	if err != nil {
		return fmt.Errorf("grant: BEGIN on %s: %w", node.Key(), err)
	}
	for _, q := range tx.pending {
		if _, err := begun.ExecContext(tx.ctx, q); err != nil {
			_ = begun.(gorm.TxCommitter).Rollback()
			return fmt.Errorf("grant: replaying %q on %s: %w", q, node.Key(), err)
		}
	}
	tx.database, tx.node, tx.tx, tx.pending = database, node, begun, nil
	return nil
}

// Commit commits the real transaction; with none begun there is nothing to
// commit. A session in the transaction's context learns of its writes.
func (tx *lazyTx) Commit() error {
	if err := tx.finish(gorm.TxCommitter.Commit); err != nil {
		return err
	}
	if tx.wrote && tx.router.consistency.Mode != resolver.Eventual {
		if s, ok := resolver.SessionFrom(tx.ctx); ok {
			tx.router.recordWrite(tx.ctx, s, tx.database)
		}
	}
	return nil
}

// Rollback rolls the real transaction back, if one began.
func (tx *lazyTx) Rollback() error { return tx.finish(gorm.TxCommitter.Rollback) }

func (tx *lazyTx) finish(end func(gorm.TxCommitter) error) error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.done {
		return sql.ErrTxDone
	}
	tx.done = true
	if tx.tx == nil {
		return nil
	}
	return end(tx.tx.(gorm.TxCommitter))
}

// ExecContext records savepoint statements until the transaction begins;
// afterwards it runs on the real transaction.
func (tx *lazyTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if tx.tx == nil {
		if tx.done {
			return nil, sql.ErrTxDone
		}
		tx.pending = append(tx.pending, query)
		return driver.RowsAffected(0), nil
	}
	return tx.tx.ExecContext(ctx, query, args...)
}

// PrepareContext needs a begun transaction.
func (tx *lazyTx) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	if tx.tx == nil {
		return nil, errNotBegun
	}
	return tx.tx.PrepareContext(ctx, query)
}

// QueryContext needs a begun transaction.
func (tx *lazyTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if tx.tx == nil {
		return nil, errNotBegun
	}
	return tx.tx.QueryContext(ctx, query, args...)
}

// QueryRowContext needs a begun transaction.
func (tx *lazyTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if tx.tx == nil {
		return &sql.Row{}
	}
	return tx.tx.QueryRowContext(ctx, query, args...)
}

// StmtContext makes lazyTx a gorm.Tx, which GORM's PrepareStmt mode requires.
func (tx *lazyTx) StmtContext(ctx context.Context, stmt *sql.Stmt) *sql.Stmt {
	if t, ok := tx.tx.(interface {
		StmtContext(context.Context, *sql.Stmt) *sql.Stmt
	}); ok {
		return t.StmtContext(ctx, stmt)
	}
	return stmt
}

// GetDBConn lets db.DB() work inside a grant transaction.
func (tx *lazyTx) GetDBConn() (*sql.DB, error) {
	if tx.node != nil {
		if db, ok := tx.node.SQLDB(); ok {
			return db, nil
		}
	}
	return tx.router.entry.GetDBConn()
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
