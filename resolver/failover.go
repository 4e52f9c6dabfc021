package resolver

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
)

// Read failover. While health checks run, Node.Pool hands out, for a
// replica, one of two wrappers made once per node at Build (so no query
// allocates one): failoverDB over the node's *sql.DB, failoverPreparedDB
// over its prepared-statement cache. Their QueryContext and
// QueryRowContext retry a query once when the replica fails with a
// connection-level error before returning any row: on another replica in
// rotation, else on the writer (else, with FailWithoutReplica, they fail
// with ErrNoHealthyReplica). The failed replica leaves the rotation at once;
// the checks bring it back. ExecContext, PrepareContext and BeginTx are
// never retried: a write is never sent twice.
//
// GORM's Find, First, Take, Last, Scan, Pluck, Count and Rows use
// QueryContext; Row uses QueryRowContext, which is retried too (its error
// is read with sql.Row.Err before the caller sees the row).

type failoverPools struct {
	plain, readOnly            *failoverDB
	prepared, readOnlyPrepared *failoverPreparedDB
}

func newFailoverPools(n *Node) *failoverPools {
	return &failoverPools{
		plain: &failoverDB{node: n}, prepared: &failoverPreparedDB{failoverDB{node: n, prepared: true}},
		readOnly:         &failoverDB{node: n, readOnly: true},
		readOnlyPrepared: &failoverPreparedDB{failoverDB{node: n, prepared: true, readOnly: true}},
	}
}

// pool is the failover pool of the kind asked for.
func (f *failoverPools) pool(prepared, readOnly bool) gorm.ConnPool {
	switch {
	case prepared && readOnly:
		return f.readOnlyPrepared
	case prepared:
		return f.prepared
	case readOnly:
		return f.readOnly
	}
	return f.plain
}

// failoverDB is a replica's *sql.DB with read failover; the retry runs on
// the other node's pool of the same kind (prepared, read-only).
type failoverDB struct {
	node               *Node
	prepared, readOnly bool
}

// failoverPreparedDB is a replica's prepared-statement cache with read
// failover; the retry uses the other node's own cache.
type failoverPreparedDB struct{ failoverDB }

// Node is the replica the pool belongs to.
func (p *failoverDB) Node() *Node { return p.node }

// NodeOf returns the node behind pool when pool is a Node or a pool
// Node.Pool handed out with read failover; ok is false for any other pool
// (use the *sql.DB behind those to find their node). Statements started
// inside another statement's callbacks (Preload) inherit its pool, and the
// router uses NodeOf to learn which node (and shard) that was.
func NodeOf(pool gorm.ConnPool) (n *Node, ok bool) {
	switch p := pool.(type) {
	case *Node:
		return p, true
	case *failoverDB:
		return p.node, true
	case *failoverPreparedDB:
		return p.node, true
	case *nodePool:
		return p.node, true
	case *preparedNodePool:
		return p.node, true
	}
	return nil, false
}

// QueryContext runs the query on the replica, and once more elsewhere if
// the replica fails with a connection error before returning rows.
func (p *failoverDB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	pool, err := p.node.rawPool(p.prepared, p.readOnly)
	if err == nil {
		var rows *sql.Rows
		if rows, err = pool.QueryContext(ctx, query, args...); err == nil {
			return rows, nil
		}
	}
	alt, err := p.node.failoverTarget(ctx, err)
	if alt == nil {
		return nil, err
	}
	if pool, err = alt.rawPool(p.prepared, p.readOnly); err != nil {
		return nil, err
	}
	rows, err := pool.QueryContext(ctx, query, args...)
	alt.noteFailure(ctx, err)
	return rows, err
}

// QueryRowContext is QueryContext for one row.
func (p *failoverDB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	pool, err := p.node.rawPool(p.prepared, p.readOnly)
	if err == nil {
		row := pool.QueryRowContext(ctx, query, args...)
		if err = row.Err(); err == nil {
			return row
		}
		if !retriable(ctx, err) {
			return row
		}
	}
	alt, err := p.node.failoverTarget(ctx, err)
	if alt == nil {
		return errorRow(ctx, err)
	}
	if pool, err = alt.rawPool(p.prepared, p.readOnly); err != nil {
		return errorRow(ctx, err)
	}
	row := pool.QueryRowContext(ctx, query, args...)
	alt.noteFailure(ctx, row.Err())
	return row
}

// ExecContext runs on the replica, never retried.
func (p *failoverDB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	pool, err := p.node.rawPool(p.prepared, p.readOnly)
	if err != nil {
		return nil, err
	}
	return pool.ExecContext(ctx, query, args...)
}

// PrepareContext prepares on the replica, never retried.
func (p *failoverDB) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	pool, err := p.node.rawPool(p.prepared, p.readOnly)
	if err != nil {
		return nil, err
	}
	return pool.PrepareContext(ctx, query)
}

// GetDBConn returns the replica's *sql.DB, so that db.DB() works on a
// handle whose last statement read from it.
func (p *failoverDB) GetDBConn() (*sql.DB, error) { return p.node.DB() }

// BeginTx begins on the replica (gorm.TxBeginner), never retried.
func (p *failoverDB) BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error) {
	db, err := p.node.DB()
	if err != nil {
		return nil, err
	}
	return db.BeginTx(ctx, opts)
}

// BeginTx begins on the replica's prepared-statement cache
// (gorm.ConnPoolBeginner), never retried.
func (p *failoverPreparedDB) BeginTx(ctx context.Context, opts *sql.TxOptions) (gorm.ConnPool, error) {
	pool, err := p.node.rawPool(true, p.readOnly)
	if err != nil {
		return nil, err
	}
	return pool.(gorm.ConnPoolBeginner).BeginTx(ctx, opts)
}

var (
	_ gorm.ConnPool         = (*failoverDB)(nil)
	_ gorm.TxBeginner       = (*failoverDB)(nil)
	_ gorm.GetDBConnector   = (*failoverDB)(nil)
	_ gorm.ConnPoolBeginner = (*failoverPreparedDB)(nil)
)

// retriable: err says the connection failed, not the query, and the caller
// is still waiting.
func retriable(ctx context.Context, err error) bool {
	return err != nil && ctx.Err() == nil && isConnectionError(err)
}

// failoverTarget decides where a read that failed on n with err runs again:
// nil and err itself when it should not be retried; otherwise n leaves the
// rotation and the answer is another replica in rotation, else the writer
// (else nil and ErrNoHealthyReplica under FailWithoutReplica).
func (n *Node) failoverTarget(ctx context.Context, err error) (*Node, error) {
	if !retriable(ctx, err) {
		return nil, err
	}
	d := n.owner
	d.markDown(n, err)
	pools := *d.replicas.healthy.Load()
	var alt *Node
	switch len(pools) {
	case 0:
	case 1:
		alt = pools[0].(*Node)
	default:
		alt, _ = d.policy.Resolve(pools).(*Node)
	}
	if alt != nil && alt != n {
		return alt, nil
	}
	if d.health.FailWithoutReplica {
		return nil, d.noHealthyReplicaError(fmt.Sprintf("%s failed: %v", n.key, n.redact(err)))
	}
	return d.writer, nil
}

// noteFailure takes a replica that also failed the retry out of rotation.
func (n *Node) noteFailure(ctx context.Context, err error) {
	if n.role == Reading && retriable(ctx, err) {
		n.owner.markDown(n, err)
	}
}

// isConnectionError reports whether err says the connection to the server
// failed (refused, reset, closed, the server shutting down, a pool that
// cannot open) rather than that the server rejected the statement. Only
// such errors are worth trying on another node.
func isConnectionError(err error) bool {
	if err == nil {
		return false
	}
	for _, target := range []error{
		driver.ErrBadConn, io.EOF, io.ErrUnexpectedEOF, net.ErrClosed,
		syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EPIPE,
		syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.ETIMEDOUT,
		mysql.ErrInvalidConn, pgconn.ErrConnClosed, ErrNodeUnavailable,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	var (
		opErr      *net.OpError
		connectErr *pgconn.ConnectError
		pgErr      *pgconn.PgError
		myErr      *mysql.MySQLError
	)
	switch {
	case errors.As(err, &opErr), errors.As(err, &connectErr):
		return true
	case errors.As(err, &pgErr):
		// Class 08: connection exception. 57P01-57P03: the server is
		// shutting down, crashed, or not accepting connections yet.
		code := pgErr.Code
		return len(code) == 5 && code[:2] == "08" || code == "57P01" || code == "57P02" || code == "57P03"
	case errors.As(err, &myErr):
		// 1053 server shutdown, 1077 normal shutdown, 1927 connection
		// killed (MariaDB), 4031 disconnected by the server.
		switch myErr.Number {
		case 1053, 1077, 1927, 4031:
			return true
		}
	}
	return pgconn.SafeToRetry(err)
}

// errorRow returns a *sql.Row whose Scan and Err report err: database/sql
// builds Rows only through a driver, so it asks a closed-at-once pool whose
// connector fails with err. Used only when a read could not run anywhere.
func errorRow(ctx context.Context, err error) *sql.Row {
	db := sql.OpenDB(failingConnector{err: err})
	defer db.Close()
	return db.QueryRowContext(ctx, "")
}

type failingConnector struct{ err error }

func (c failingConnector) Connect(context.Context) (driver.Conn, error) { return nil, c.err }
func (c failingConnector) Driver() driver.Driver                        { return failingDriver(c) }

type failingDriver failingConnector

func (d failingDriver) Open(string) (driver.Conn, error) { return nil, d.err }
