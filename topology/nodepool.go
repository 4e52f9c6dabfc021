package topology

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// ErrPoolExhausted means a statement waited PoolConfig.CheckoutTimeout for a
// connection of a node's pool, all MaxOpenConns of which stayed in use.
// Nothing was sent. The *NodeError wrapping it names the node.
var ErrPoolExhausted = errors.New("grant: no free connection in the pool")

// nodePool is what Node.Pool hands out for a node whose pool may be closed
// under it (Config.MaxOpenPools) or whose checkouts are bounded
// (PoolConfig.CheckoutTimeout). It is made once per node and pool kind, and
// finds the node's current *sql.DB on every call, opening it if it was
// evicted. Without either setting Node.Pool hands out the *sql.DB itself
// and none of this costs anything.
//
// An evicted pool is closed only when no connection of it is in use, but a
// statement may have taken the pool just before: database/sql then answers
// "database is closed" before sending anything, so the statement runs
// again on the reopened pool. That is safe for writes too.
type nodePool struct {
	node     *Node
	readOnly bool
	checkout time.Duration // PoolConfig.CheckoutTimeout; 0: unbounded
}

// maxReopen bounds the retries of a statement whose pool was evicted under
// it: each retry finds a freshly opened pool, so a second eviction in
// between is already unlikely.
const maxReopen = 3

// db returns the node's current pool of the kind, opening it if needed,
// and marks the node used for eviction's sake.
func (p *nodePool) db() (*sql.DB, error) {
	p.node.touch()
	o := p.node.opened.Load()
	if p.readOnly {
		o = p.node.readOnly.Load()
	}
	if o == nil {
		var err error
		if p.readOnly {
			o, err = p.node.openReadOnly()
		} else {
			o, err = p.node.open()
		}
		if err != nil {
			return nil, err
		}
	}
	return o.sqlDB, nil
}

// closedUnder reports whether err is database/sql's answer for a pool
// closed before the statement got a connection, and db is no longer the
// node's pool: the statement was not sent and may run on the new pool.
func (p *nodePool) closedUnder(db *sql.DB, err error) bool {
	if err == nil || err.Error() != errDBClosed {
		return false
	}
	o := p.node.opened.Load()
	if p.readOnly {
		o = p.node.readOnly.Load()
	}
	return o == nil || o.sqlDB != db
}

// errDBClosed is the text of database/sql's unexported errDBClosed.
const errDBClosed = "sql: database is closed"

// conn checks out a connection within the checkout timeout. A wait cut
// short by the timeout (not by ctx) is ErrPoolExhausted, naming the node.
func (p *nodePool) conn(ctx context.Context, db *sql.DB) (*sql.Conn, error) {
	wait, cancel := context.WithTimeout(ctx, p.checkout)
	conn, err := db.Conn(wait)
	cancel()
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		stats := db.Stats()
		return nil, p.node.errorf(fmt.Errorf("%w: waited %s (checkout_timeout) with all %d connections in use",
			ErrPoolExhausted, p.checkout, stats.MaxOpenConnections))
	}
	return conn, err
}

// release gives conn back to the pool once whatever the statement returned
// (rows, a row, a transaction) is done with it: sql.Conn.Close waits for
// them, so it runs on its own goroutine.
func release(conn *sql.Conn) { go conn.Close() }

// QueryContext runs the query on the node's current pool.
func (p *nodePool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	for try := 1; ; try++ {
		db, err := p.db()
		if err != nil {
			return nil, err
		}
		var rows *sql.Rows
		if p.checkout > 0 {
			var conn *sql.Conn
			if conn, err = p.conn(ctx, db); err == nil {
				if rows, err = conn.QueryContext(ctx, query, args...); err != nil {
					conn.Close()
				} else {
					release(conn)
				}
			}
		} else {
			rows, err = db.QueryContext(ctx, query, args...)
		}
		if try < maxReopen && p.closedUnder(db, err) {
			continue
		}
		return rows, err
	}
}

// ExecContext runs the statement on the node's current pool.
func (p *nodePool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	for try := 1; ; try++ {
		db, err := p.db()
		if err != nil {
			return nil, err
		}
		var res sql.Result
		if p.checkout > 0 {
			var conn *sql.Conn
			if conn, err = p.conn(ctx, db); err == nil {
				res, err = conn.ExecContext(ctx, query, args...)
				conn.Close()
			}
		} else {
			res, err = db.ExecContext(ctx, query, args...)
		}
		if try < maxReopen && p.closedUnder(db, err) {
			continue
		}
		return res, err
	}
}

// QueryRowContext runs the query on the node's current pool; a pool that
// cannot be opened gives a row whose Scan and Err return the *NodeError.
func (p *nodePool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	for try := 1; ; try++ {
		db, err := p.db()
		if err != nil {
			return errorRow(ctx, err)
		}
		var row *sql.Row
		if p.checkout > 0 {
			conn, err := p.conn(ctx, db)
			if err != nil {
				if try < maxReopen && p.closedUnder(db, err) {
					continue
				}
				return errorRow(ctx, err)
			}
			row = conn.QueryRowContext(ctx, query, args...)
			release(conn)
		} else {
			row = db.QueryRowContext(ctx, query, args...)
		}
		if try < maxReopen && p.closedUnder(db, row.Err()) {
			continue
		}
		return row
	}
}

// PrepareContext prepares on the node's current pool. The statement takes
// connections itself when run, so the checkout timeout bounds only this
// call's wait.
func (p *nodePool) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	for try := 1; ; try++ {
		db, err := p.db()
		if err != nil {
			return nil, err
		}
		if p.checkout > 0 {
			var conn *sql.Conn
			if conn, err = p.conn(ctx, db); err == nil {
				conn.Close() // proves a connection was free in time
			}
		}
		var stmt *sql.Stmt
		if err == nil {
			stmt, err = db.PrepareContext(ctx, query)
		}
		if try < maxReopen && p.closedUnder(db, err) {
			continue
		}
		return stmt, err
	}
}

// BeginTx begins a transaction on the node's current pool; the pool is not
// evicted while the transaction holds its connection.
func (p *nodePool) BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error) {
	for try := 1; ; try++ {
		db, err := p.db()
		if err != nil {
			return nil, err
		}
		var tx *sql.Tx
		if p.checkout > 0 {
			var conn *sql.Conn
			if conn, err = p.conn(ctx, db); err == nil {
				if tx, err = conn.BeginTx(ctx, opts); err != nil {
					conn.Close()
				} else {
					release(conn)
				}
			}
		} else {
			tx, err = db.BeginTx(ctx, opts)
		}
		if try < maxReopen && p.closedUnder(db, err) {
			continue
		}
		return tx, err
	}
}

// GetDBConn returns the node's current *sql.DB (gorm.GetDBConnector), for
// db.DB() on a statement routed here.
func (p *nodePool) GetDBConn() (*sql.DB, error) { return p.db() }

var (
	_ gorm.ConnPool       = (*nodePool)(nil)
	_ gorm.TxBeginner     = (*nodePool)(nil)
	_ gorm.GetDBConnector = (*nodePool)(nil)
)

// preparedNodePool is a guarded node's prepared-statement cache: the cache
// sits over the node's nodePool, and a statement that was prepared on a
// pool since evicted (database/sql answers "database is closed" before
// sending anything) is dropped from the cache and runs again, prepared on
// the reopened pool.
type preparedNodePool struct {
	node     *Node
	readOnly bool
	base     *nodePool
}

func (p *preparedNodePool) cache() *gorm.PreparedStmtDB {
	return p.node.preparedCache(p.readOnly, p.base)
}

// stale reports whether err says query's cached statement belongs to a
// closed pool, and if so drops it from c.
func stale(c *gorm.PreparedStmtDB, query string, err error) bool {
	if err == nil || err.Error() != errDBClosed {
		return false
	}
	c.Mux.Lock()
	c.Stmts.Delete(query)
	c.Mux.Unlock()
	return true
}

// QueryContext runs the query through the node's statement cache.
func (p *preparedNodePool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	for try := 1; ; try++ {
		c := p.cache()
		rows, err := c.QueryContext(ctx, query, args...)
		if try < maxReopen && stale(c, query, err) {
			continue
		}
		return rows, err
	}
}

// ExecContext runs the statement through the node's statement cache.
func (p *preparedNodePool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	for try := 1; ; try++ {
		c := p.cache()
		res, err := c.ExecContext(ctx, query, args...)
		if try < maxReopen && stale(c, query, err) {
			continue
		}
		return res, err
	}
}

// QueryRowContext runs the query through the node's statement cache.
func (p *preparedNodePool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	for try := 1; ; try++ {
		c := p.cache()
		row := c.QueryRowContext(ctx, query, args...)
		if try < maxReopen && stale(c, query, row.Err()) {
			continue
		}
		return row
	}
}

// PrepareContext prepares through the node's statement cache.
func (p *preparedNodePool) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return p.cache().PrepareContext(ctx, query)
}

// BeginTx begins a transaction whose statements use the node's cache
// (gorm.ConnPoolBeginner, as *gorm.PreparedStmtDB is).
func (p *preparedNodePool) BeginTx(ctx context.Context, opts *sql.TxOptions) (gorm.ConnPool, error) {
	return p.cache().BeginTx(ctx, opts)
}

// GetDBConn returns the node's current *sql.DB.
func (p *preparedNodePool) GetDBConn() (*sql.DB, error) { return p.base.db() }

var _ gorm.ConnPoolBeginner = (*preparedNodePool)(nil)

// guardedPools returns the node's guarded pools, made on first use: a
// node never used costs nothing more for having them.
func (n *Node) guardedPools() *guardedPools {
	if g := n.guarded.Load(); g != nil {
		return g
	}
	n.guarded.CompareAndSwap(nil, newGuardedPools(n))
	return n.guarded.Load()
}

// newGuardedPools makes the pools a guarded node hands out.
func newGuardedPools(n *Node) *guardedPools {
	plain := &nodePool{node: n, checkout: n.pool.CheckoutTimeout}
	readOnly := &nodePool{node: n, readOnly: true, checkout: n.pool.CheckoutTimeout}
	return &guardedPools{
		plain: plain, readOnly: readOnly,
		preparedPlain:    &preparedNodePool{node: n, base: plain},
		preparedReadOnly: &preparedNodePool{node: n, readOnly: true, base: readOnly},
	}
}
