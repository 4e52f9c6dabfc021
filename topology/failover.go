package topology

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"syscall"
	"time"

	"gorm.io/gorm"
)

// Read failover. While health checks run, Node.Pool hands out, for a
// replica, one of two wrappers made once per node at Build (so no query
// allocates one): failoverDB over the node's *sql.DB, failoverPreparedDB
// over its prepared-statement cache. Their QueryContext and
// QueryRowContext retry a query once when the replica fails with a
// connection-level error before returning any row, or returns no first row
// within its role's read timeout (HealthConfig.ReadTimeout, which cancels
// it): on another replica in rotation, else on the writer (else, with
// FailWithoutReplica, they fail with ErrNoHealthyReplica). The failed
// replica leaves the rotation at once; the checks bring it back.
// ExecContext, PrepareContext and BeginTx are never retried nor bounded: a
// write is never sent twice.
//
// A custom-role node may serve writes too, and its pool cannot tell them
// from reads, so Node.Pool hands out a wrapper that only passes statements
// through; Node.ReadPool, which the router uses for statements it knows
// read, and Node.ReadOnlyPool (sessions the server keeps read only) hand
// out the failover wrappers. A custom role's read is retried on another
// node of the role in rotation, never on the writer (the role's rotation
// never falls back to the writer either).
//
// GORM's Find, First, Take, Last, Scan, Pluck, Count and Rows use
// QueryContext; Row uses QueryRowContext, which is retried too (its error
// is read with sql.Row.Err before the caller sees the row).

type failoverPools struct {
	plain, readOnly            *failoverDB
	prepared, readOnlyPrepared *failoverPreparedDB
	// reads and readsPrepared are what ReadPool hands out: plain and
	// prepared for a replica, failover wrappers of their own for a
	// custom-role node, whose plain and prepared wrappers pass through.
	reads         *failoverDB
	readsPrepared *failoverPreparedDB
}

func newFailoverPools(n *Node) *failoverPools {
	timeout := n.owner.health.readTimeout(n.role)
	replica := n.role == Reading
	f := &failoverPools{
		plain:            &failoverDB{node: n, reads: replica, timeout: timeout},
		prepared:         &failoverPreparedDB{failoverDB{node: n, prepared: true, reads: replica, timeout: timeout}},
		readOnly:         &failoverDB{node: n, readOnly: true, reads: true, timeout: timeout},
		readOnlyPrepared: &failoverPreparedDB{failoverDB{node: n, prepared: true, readOnly: true, reads: true, timeout: timeout}},
	}
	f.reads, f.readsPrepared = f.plain, f.prepared
	if !replica {
		f.reads = &failoverDB{node: n, reads: true, timeout: timeout}
		f.readsPrepared = &failoverPreparedDB{failoverDB{node: n, prepared: true, reads: true, timeout: timeout}}
	}
	return f
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

// readPool is the pool of the kind asked for, for statements that read.
func (f *failoverPools) readPool(prepared bool) gorm.ConnPool {
	if prepared {
		return f.readsPrepared
	}
	return f.reads
}

// ReadPool is Pool for a statement the caller knows only reads (grant's
// router uses it for every statement it does not classify as a write).
// It differs from Pool only for a custom-role node while health checks
// run: its reads then fail over and are bounded by the role's read
// timeout as a replica's are, which Pool cannot do for a node that may
// also receive writes.
func (n *Node) ReadPool(prepared bool) (gorm.ConnPool, error) {
	if f := n.failover; f != nil && n.owner.checking.Load() {
		return f.readPool(prepared), nil
	}
	return n.Pool(prepared)
}

// failoverDB is a replica's *sql.DB with read failover; the retry runs on
// the other node's pool of the same kind (prepared, read-only).
type failoverDB struct {
	node               *Node
	prepared, readOnly bool
	// reads: the wrapper carries only reads, which fail over and are
	// bounded; false (a custom-role node's Pool) passes everything through.
	reads bool
	// timeout is the node's role's read timeout; 0: unbounded.
	timeout time.Duration
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

// retryTimeout bounds the retry on alt: the role's read timeout on another
// node of the role; none on the writer, whose reads are never bounded.
func (p *failoverDB) retryTimeout(alt *Node) time.Duration {
	if alt.role == Writing {
		return 0
	}
	return p.timeout
}

// QueryContext runs the query on the replica, and once more elsewhere if
// the replica fails with a connection error, or returns no first row
// within the read timeout, before returning rows.
func (p *failoverDB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	pool, err := p.node.rawPool(p.prepared, p.readOnly)
	if !p.reads {
		if err != nil {
			return nil, err
		}
		return pool.QueryContext(ctx, query, args...)
	}
	if err == nil {
		var rows *sql.Rows
		if rows, err = p.node.boundedQuery(ctx, pool, p.timeout, query, args); err == nil {
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
	rows, err := alt.boundedQuery(ctx, pool, p.retryTimeout(alt), query, args)
	alt.noteFailure(ctx, err)
	return rows, err
}

// QueryRowContext is QueryContext for one row.
func (p *failoverDB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	pool, err := p.node.rawPool(p.prepared, p.readOnly)
	if !p.reads {
		if err != nil {
			return errorRow(ctx, err)
		}
		return pool.QueryRowContext(ctx, query, args...)
	}
	if err == nil {
		var row *sql.Row
		if row, err = p.node.boundedQueryRow(ctx, pool, p.timeout, query, args); !retriable(ctx, err) {
			if row == nil {
				return errorRow(ctx, err)
			}
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
	row, err := alt.boundedQueryRow(ctx, pool, p.retryTimeout(alt), query, args)
	alt.noteFailure(ctx, err)
	if row == nil {
		return errorRow(ctx, err)
	}
	return row
}

// boundedQuery runs the query on pool, cancelling it if it returns no first
// row within timeout (0: unbounded, and nothing is added to the call). The
// error of a read so cancelled is a *ReadTimeoutError naming n.
func (n *Node) boundedQuery(ctx context.Context, pool gorm.ConnPool, timeout time.Duration, query string, args []any) (*sql.Rows, error) {
	if timeout <= 0 {
		return pool.QueryContext(ctx, query, args...)
	}
	fc := newFirstRowCtx(ctx, timeout)
	rows, err := pool.QueryContext(fc, query, args...)
	if fc.firstRow(err == nil) || !fc.timedOut() {
		return rows, err
	}
	if rows != nil {
		_ = rows.Close()
	}
	return nil, &ReadTimeoutError{Node: n.key, Timeout: timeout}
}

// boundedQueryRow is boundedQuery for QueryRowContext: the row and its
// error; a nil row when the read timed out.
func (n *Node) boundedQueryRow(ctx context.Context, pool gorm.ConnPool, timeout time.Duration, query string, args []any) (*sql.Row, error) {
	if timeout <= 0 {
		row := pool.QueryRowContext(ctx, query, args...)
		return row, row.Err()
	}
	fc := newFirstRowCtx(ctx, timeout)
	row := pool.QueryRowContext(fc, query, args...)
	err := row.Err()
	if fc.firstRow(err == nil) || !fc.timedOut() {
		return row, err
	}
	// The timer cancelled fc: database/sql closes the row's result.
	return nil, &ReadTimeoutError{Node: n.key, Timeout: timeout}
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
func (p *failoverDB) GetDBConn() (*sql.DB, error) { return p.node.sqlDB() }

// BeginTx begins on the replica's pool of the kind (gorm.TxBeginner),
// never retried.
func (p *failoverDB) BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error) {
	pool, err := p.node.rawPool(false, p.readOnly)
	if err != nil {
		return nil, err
	}
	beginner, ok := pool.(gorm.TxBeginner)
	if !ok {
		return nil, p.node.errorf(fmt.Errorf("the pool (%T) cannot begin a transaction", pool))
	}
	return beginner.BeginTx(ctx, opts)
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

// retriable: err says the connection failed, not the query, or the read
// timed out, and the caller is still waiting.
func retriable(ctx context.Context, err error) bool {
	return err != nil && ctx.Err() == nil && (isConnectionError(err) || errors.Is(err, ErrReadTimeout))
}

// failoverTarget decides where a read that failed on n with err runs again:
// nil and err itself when it should not be retried; otherwise n leaves the
// rotation and the answer is another node of its role in rotation, else,
// for a replica, the writer (else nil and ErrNoHealthyReplica under
// FailWithoutReplica); a custom role's read with no other node fails with
// err.
func (n *Node) failoverTarget(ctx context.Context, err error) (*Node, error) {
	if !retriable(ctx, err) {
		return nil, err
	}
	d := n.owner
	d.markDown(n, err)
	if alt := d.otherInRotation(n); alt != nil {
		return alt, nil
	}
	switch {
	case n.role != Reading:
		return nil, err
	case d.health.FailWithoutReplica:
		return nil, d.noHealthyReplicaError(fmt.Sprintf("%s failed: %v", n.key, n.redact(err)), err)
	}
	return d.writer, nil
}

// otherInRotation picks, by the database's policy, a node of n's role in
// rotation other than n; nil when there is none.
func (d *Database) otherInRotation(n *Node) *Node {
	pools := *d.setOf(n).healthy.Load()
	var alt *Node
	switch len(pools) {
	case 0:
		return nil
	case 1:
		alt = pools[0].(*Node)
	default:
		alt, _ = d.policy.Resolve(pools).(*Node)
	}
	if alt != nil && alt != n {
		return alt
	}
	for _, p := range pools { // the policy chose n: a custom role keeps every node in rotation when none is healthy
		if p != n {
			return p.(*Node)
		}
	}
	return nil
}

// noteFailure takes a node that also failed the retry out of rotation.
func (n *Node) noteFailure(ctx context.Context, err error) {
	if n.role != Writing && retriable(ctx, err) {
		n.owner.markDown(n, err)
	}
}

// isConnectionError reports whether err says the connection to the server
// failed (refused, reset, closed, the server shutting down, a pool that
// cannot open) rather than that the server rejected the statement. Only
// such errors are worth trying on another node. The errors of the
// standard library are known here; a driver's own (PostgreSQL's class 08
// and 57P01-57P03, MySQL's 1053, 1077, 1927, 4031, pgx's SafeToRetry) are
// known to its adapter (ConnectionLost), which is registered for every
// node that runs health checks (Config.checkAdapters).
func isConnectionError(err error) bool {
	if err == nil {
		return false
	}
	for _, target := range []error{
		driver.ErrBadConn, io.EOF, io.ErrUnexpectedEOF, net.ErrClosed,
		syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EPIPE,
		syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.ETIMEDOUT,
		ErrNodeUnavailable,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return true
	}
	return ClassifyError(err).Has(ConnectionLost)
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

// firstRowCtx is the context of a read bounded by a read timeout. It is
// done when its parent is, or when its timer fires before firstRow — the
// query has returned its first row — stops the timer; from then on only
// the parent can end it, so rows that are flowing are never cancelled by
// the timer, and the caller's cancellation still reaches them.
//
// It is a context type of its own, rather than context.WithCancelCause's,
// for the way it leaves its parent. A child of a cancellable parent is
// registered with the parent until the child is cancelled, and the rows
// database/sql returns watch their query's context until they are closed,
// so a child cancelled at return would cancel the rows, and one never
// cancelled would stay registered — one entry per read — for as long as a
// long-lived parent lives. firstRowCtx implements AfterFunc (the
// afterFuncer interface package context looks for), so database/sql's own
// watcher of the rows (a context.WithCancel of this one, cancelled by
// Rows.Close) registers through it; when the rows close, that
// registration is stopped, and firstRowCtx unregisters from its parent.
type firstRowCtx struct {
	parent context.Context
	done   chan struct{}

	mu         sync.Mutex
	timer      *time.Timer
	stopParent func() bool // nil when the parent cannot be cancelled
	err        error       // non-nil once done
	ending     bool        // cancel has begun: c is done, or about to be
	byTimer    bool        // the read timeout ended c
	settled    bool        // firstRow ran: the timer no longer counts
	released   bool        // the timer is stopped and the parent left
	funcs      []*func()   // registered through AfterFunc, not yet stopped or run
}

func newFirstRowCtx(parent context.Context, timeout time.Duration) *firstRowCtx {
	c := &firstRowCtx{parent: parent, done: make(chan struct{})}
	c.mu.Lock() // the callbacks wait for both fields to be set
	if parent.Done() != nil {
		c.stopParent = context.AfterFunc(parent, func() { c.cancel(parent.Err(), false) })
	}
	c.timer = time.AfterFunc(timeout, func() { c.cancel(context.DeadlineExceeded, true) })
	c.mu.Unlock()
	return c
}

// Deadline is the parent's: the read timeout is no deadline of the rows,
// and a driver that set a socket deadline from it would cut them short.
func (c *firstRowCtx) Deadline() (time.Time, bool) { return c.parent.Deadline() }
func (c *firstRowCtx) Done() <-chan struct{}       { return c.done }

// Value is the parent's (context.Cause of c is therefore the parent's
// cause; c's own error is Err, or the *ReadTimeoutError of the read).
func (c *firstRowCtx) Value(key any) any { return c.parent.Value(key) }

func (c *firstRowCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// AfterFunc runs f once c is done, unless stop is called first; it is how
// contexts derived from c (database/sql's watcher of the rows) register.
// Once c has been settled, stopping the last registration releases c from
// its parent: the rows are closed.
func (c *firstRowCtx) AfterFunc(f func()) (stop func() bool) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	fp := &f
	c.funcs = append(c.funcs, fp)
	c.mu.Unlock()
	return func() bool { return c.stopFunc(fp) }
}

func (c *firstRowCtx) stopFunc(fp *func()) bool {
	c.mu.Lock()
	i := slices.Index(c.funcs, fp)
	if i < 0 {
		c.mu.Unlock()
		return false
	}
	c.funcs = slices.Delete(c.funcs, i, i+1)
	var leave func() bool
	if c.settled && len(c.funcs) == 0 {
		leave = c.releaseLocked()
	}
	c.mu.Unlock()
	if leave != nil {
		leave()
	}
	return true
}

// cancel ends c with err (byTimer: the read timeout), unless it is done
// or ending already, or the timer fires after firstRow. It leaves the
// parent before anyone sees c done, so that a read that ended because of
// it has nothing left registered there.
func (c *firstRowCtx) cancel(err error, byTimer bool) {
	c.mu.Lock()
	if c.ending || byTimer && c.settled {
		c.mu.Unlock()
		return
	}
	c.ending, c.byTimer = true, byTimer // firstRow now fails
	leave := c.releaseLocked()
	c.mu.Unlock()
	if leave != nil {
		leave()
	}
	c.mu.Lock()
	c.err = err
	close(c.done)
	funcs := c.funcs
	c.funcs = nil
	c.mu.Unlock()
	for _, f := range funcs {
		(*f)()
	}
}

// releaseLocked stops the timer and returns the function that leaves the
// parent, to be called without c.mu held; nil when nothing is left to do.
func (c *firstRowCtx) releaseLocked() func() bool {
	if c.released {
		return nil
	}
	c.released = true
	c.timer.Stop()
	return c.stopParent
}

// firstRow settles the read once its query call returned, ok when it
// returned rows: the timer stops counting. It reports whether the read may
// go on: false when c is done already (the timer or the parent was
// first), or the query failed (c then leaves its parent at once).
func (c *firstRowCtx) firstRow(ok bool) bool {
	c.mu.Lock()
	if c.ending {
		c.mu.Unlock()
		return false
	}
	c.settled = true
	var leave func() bool
	if !ok {
		leave = c.releaseLocked()
	} else {
		c.timer.Stop()
	}
	c.mu.Unlock()
	if leave != nil {
		leave()
	}
	return ok
}

// timedOut reports whether the read timeout cancelled c.
func (c *firstRowCtx) timedOut() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byTimer
}
