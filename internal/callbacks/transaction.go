package callbacks

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"

	"gorm.io/gorm"

	"github.com/grant-go/grant/internal/route"
	"github.com/grant-go/grant/topology"
)

// lazyTx is what db.Begin and db.Transaction return under grant: a
// transaction whose BEGIN waits for the first statement, so that it begins on
// the writer that statement routes to (its scope, context or model) rather
// than on the default database. Savepoints issued before that are replayed
// after BEGIN. A lazyTx is used by one goroutine at a time, as *sql.Tx is;
// the mutex only keeps a misuse from corrupting it.
//
// A BEGIN that fails poisons the transaction: its error is kept, and every
// later statement, Commit and Rollback return it, so db.Transaction returns
// it as GORM does when its own BEGIN fails, and nothing a caller runs after
// dropping that first error is ever committed.
type lazyTx struct {
	router *Router
	ctx    context.Context
	opts   *sql.TxOptions

	mu       sync.Mutex
	database *topology.Database
	node     *topology.Node
	tx       gorm.ConnPool // *sql.Tx or *gorm.PreparedStmtTX once begun
	pending  []string      // savepoint statements issued before BEGIN
	done     bool
	wrote    bool  // a write ran: a session in ctx learns of it at commit
	failed   error // the failed BEGIN (or savepoint replay): the transaction is poisoned
	readOnly bool  // strict prevention: begin on the writer's read-only session
}

// errNotBegun is returned by a lazyTx used directly before any statement
// routed it; GORM's callbacks never do that.
var errNotBegun = errors.New("grant: transaction has not begun: no statement has chosen its database yet")

// begin starts the real transaction on database's writer and replays
// savepoints taken before it. Called with tx.mu held. If it fails, the
// transaction is poisoned: this and every later begin return the same error,
// and the transaction never begins anywhere.
func (tx *lazyTx) begin(database *topology.Database, prepared bool) error {
	if tx.failed != nil {
		return tx.failed
	}
	if err := tx.beginOn(database, prepared); err != nil {
		tx.failed, tx.pending = err, nil
		return err
	}
	return nil
}

func (tx *lazyTx) beginOn(database *topology.Database, prepared bool) error {
	node := database.Writer()
	pool, err := node.Pool(prepared)
	if tx.readOnly {
		pool, err = node.ReadOnlyPool(prepared)
	}
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

// Commit commits the real transaction; one that ran no statement begins and
// commits, as GORM's would have, so that a server or context unable to
// begin fails the commit. A poisoned transaction returns its BEGIN's error.
// A session in the transaction's context learns of its writes.
func (tx *lazyTx) Commit() error {
	if err := tx.finish(gorm.TxCommitter.Commit, true); err != nil {
		return err
	}
	if tx.wrote && tx.router.consistency.Mode != topology.Eventual {
		if s, ok := topology.SessionFrom(tx.ctx); ok {
			tx.router.recordWrite(tx.ctx, s, tx.database)
		}
	}
	return nil
}

// Rollback rolls the real transaction back, if one began; one that ran
// nothing has nothing to undo and sends nothing. A poisoned transaction has
// nothing to roll back and returns its BEGIN's error, as GORM's Rollback
// does after its own BEGIN failed.
func (tx *lazyTx) Rollback() error { return tx.finish(gorm.TxCommitter.Rollback, false) }

// finish ends the transaction with end. If it never began, beginEmpty says
// whether to begin it first (Commit) or to end with nothing sent (Rollback).
func (tx *lazyTx) finish(end func(gorm.TxCommitter) error, beginEmpty bool) error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.done {
		return sql.ErrTxDone
	}
	tx.done = true
	if tx.failed != nil {
		return tx.failed
	}
	if tx.tx == nil {
		if !beginEmpty {
			return nil
		}
		// GORM sends BEGIN at db.Begin, so even a transaction that ran
		// nothing fails when its server or context cannot begin one (a
		// closed *sql.DB, a cancelled context). Begin now, where a statement
		// naming nothing would have gone, to end it the way GORM would.
		if err := tx.begin(tx.emptyTarget(), false); err != nil {
			return err
		}
	}
	return end(tx.tx.(gorm.TxCommitter))
}

// emptyTarget is the database a transaction that ran no statement ends on:
// the one its context names, else the default database.
func (tx *lazyTx) emptyTarget() *topology.Database {
	f := route.Facts{Kind: route.WantsWriter, Context: topology.ConnectionIn(tx.ctx)}
	var target route.Target
	if route.Resolve(&f, tx.router.topology, &target) == nil {
		if d, err := route.Decide(&f, &target); err == nil && d.Database != nil {
			return d.Database
		}
	}
	return tx.router.topology.Default()
}

// unusable is the error of a statement run on tx before it began: the
// transaction is finished, poisoned by a failed BEGIN, or has not chosen its
// database yet.
func (tx *lazyTx) unusable() error {
	switch {
	case tx.done:
		return sql.ErrTxDone
	case tx.failed != nil:
		return tx.failed
	default:
		return errNotBegun
	}
}

// ExecContext records savepoint statements until the transaction begins;
// afterwards it runs on the real transaction. A finished or poisoned
// transaction runs nothing and returns its error.
func (tx *lazyTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if tx.tx == nil {
		if tx.done || tx.failed != nil {
			return nil, tx.unusable()
		}
		tx.pending = append(tx.pending, query)
		return driver.RowsAffected(0), nil
	}
	return tx.tx.ExecContext(ctx, query, args...)
}

// PrepareContext needs a begun transaction.
func (tx *lazyTx) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	if tx.tx == nil {
		return nil, tx.unusable()
	}
	return tx.tx.PrepareContext(ctx, query)
}

// QueryContext needs a begun transaction.
func (tx *lazyTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if tx.tx == nil {
		return nil, tx.unusable()
	}
	return tx.tx.QueryContext(ctx, query, args...)
}

// QueryRowContext needs a begun transaction; before one, the returned row's
// Scan and Err report why (never a zero sql.Row, whose Scan panics), even
// when ctx is cancelled.
func (tx *lazyTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if tx.tx == nil {
		return refusedRow(ctx, tx.unusable())
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
