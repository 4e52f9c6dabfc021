package scatter_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
)

// failSafe bounds every wait of these tests on another goroutine's state:
// reached only when the library hangs, never by a slow machine.
const failSafe = time.Minute

// state is what tests wait for: values guarded by mu, whose every change
// (through update) wakes the waiters.
type state struct {
	mu      sync.Mutex
	changed chan struct{} // closed at the next change
}

// update changes the state under its lock and wakes the waiters.
func (s *state) update(change func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	change()
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
}

// wait waits until holds (run under the lock) is true, or ctx is done.
func (s *state) wait(ctx context.Context, holds func() bool) error {
	for {
		s.mu.Lock()
		if holds() {
			s.mu.Unlock()
			return nil
		}
		if s.changed == nil {
			s.changed = make(chan struct{})
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// tally is a counter whose value tests can wait for.
type tally struct {
	state
	n int
}

func (c *tally) add(d int) { c.update(func() { c.n += d }) }

func (c *tally) load() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// await waits until the count is n.
func (c *tally) await(t testing.TB, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), failSafe)
	defer cancel()
	if err := c.wait(ctx, func() bool { return c.n == n }); err != nil {
		t.Fatalf("the count stayed at %d, not %d", c.load(), n)
	}
}

// receive waits for a value from ch.
func receive[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(failSafe):
		t.Fatalf("%s never happened", what)
		panic("unreachable")
	}
}

// slowPool delays every query by d (or until the context is done).
type slowPool struct {
	gorm.ConnPool
	d time.Duration
}

func (p slowPool) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	select {
	case <-time.After(p.d):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return p.ConnPool.QueryContext(ctx, q, args...)
}

// blockPool blocks every query until its context is done, and counts the
// queries that started and those that saw the cancellation.
type blockPool struct {
	gorm.ConnPool
	started, cancelled *tally
}

func (p blockPool) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	p.started.add(1)
	<-ctx.Done()
	p.cancelled.add(1)
	return nil, ctx.Err()
}

// failPool fails every statement with err.
type failPool struct {
	gorm.ConnPool
	err error
}

func (p failPool) QueryContext(context.Context, string, ...any) (*sql.Rows, error) {
	return nil, p.err
}

func (p failPool) ExecContext(context.Context, string, ...any) (sql.Result, error) {
	return nil, p.err
}

// crowd is shared by the crowdPools of one statement: it records the most
// queries in flight at once, and holds each query until that most has
// reached want, so that queries that may overlap are seen to overlap
// however slowly goroutines start.
type crowd struct {
	state
	want      int
	now, most int
}

func (c *crowd) enter(ctx context.Context) error {
	c.update(func() {
		c.now++
		c.most = max(c.most, c.now)
	})
	wait, cancel := context.WithTimeout(ctx, failSafe)
	defer cancel()
	err := c.wait(wait, func() bool { return c.most >= c.want })
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("at most %d of the %d queries were ever in flight at once", c.max(), c.want)
	}
	return err
}

func (c *crowd) leave() { c.update(func() { c.now-- }) }

func (c *crowd) max() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.most
}

// crowdPool counts its queries in c, then waits d.
type crowdPool struct {
	gorm.ConnPool
	c *crowd
	d time.Duration
}

func (p crowdPool) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if err := p.c.enter(ctx); err != nil {
		p.c.leave()
		return nil, err
	}
	defer p.c.leave()
	if p.d > 0 {
		time.Sleep(p.d)
	}
	return p.ConnPool.QueryContext(ctx, q, args...)
}

// capturePool records the arguments its queries receive.
type capturePool struct {
	gorm.ConnPool
	got *[]any
}

func (p capturePool) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	*p.got = args
	return p.ConnPool.QueryContext(ctx, q, args...)
}

// cannedCol is a column of a canned answer, typed as a dialect's driver
// types it.
type cannedCol struct {
	name, typ    string
	prec, scale  int64
	hasPrecScale bool
}

// canned is a database/sql connector whose every query, whatever its text,
// answers the same rows: a shard of a dialect the tests have no server of,
// answering what that server would.
type canned struct {
	cols []cannedCol
	rows [][]driver.Value
}

// openCanned returns a pool that answers rows with columns cols.
func openCanned(t testing.TB, cols []cannedCol, rows ...[]driver.Value) *sql.DB {
	db := sql.OpenDB(&canned{cols: cols, rows: rows})
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	return db
}

func (c *canned) Connect(context.Context) (driver.Conn, error) { return cannedConn{c}, nil }
func (c *canned) Driver() driver.Driver                        { return cannedDriver{} }

type cannedDriver struct{}

func (cannedDriver) Open(string) (driver.Conn, error) { return nil, errors.New("canned: no DSN") }

type cannedConn struct{ c *canned }

func (cn cannedConn) Prepare(string) (driver.Stmt, error) {
	return nil, errors.New("canned: no Prepare")
}
func (cn cannedConn) Close() error              { return nil }
func (cn cannedConn) Begin() (driver.Tx, error) { return nil, errors.New("canned: no Begin") }
func (cn cannedConn) QueryContext(context.Context, string, []driver.NamedValue) (driver.Rows, error) {
	return &cannedRows{c: cn.c}, nil
}

type cannedRows struct {
	c   *canned
	pos int
}

func (r *cannedRows) Columns() []string {
	out := make([]string, len(r.c.cols))
	for i, c := range r.c.cols {
		out[i] = c.name
	}
	return out
}

func (r *cannedRows) Close() error { return nil }

func (r *cannedRows) Next(dest []driver.Value) error {
	if r.pos >= len(r.c.rows) {
		return io.EOF
	}
	copy(dest, r.c.rows[r.pos])
	r.pos++
	return nil
}

func (r *cannedRows) ColumnTypeDatabaseTypeName(i int) string { return r.c.cols[i].typ }

func (r *cannedRows) ColumnTypePrecisionScale(i int) (int64, int64, bool) {
	c := r.c.cols[i]
	return c.prec, c.scale, c.hasPrecScale
}
