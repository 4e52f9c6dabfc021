package topology

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// fakeServer is an in-memory database/sql driver standing in for one node:
// every query returns one row, column "node", holding the server's name,
// unless an answer says otherwise; failures and hangs are switched on per
// server. It counts what it receives.
type fakeServer struct {
	name       string
	connectErr atomic.Pointer[error] // returned by Connect
	queryErr   atomic.Pointer[error] // returned by every query
	execErr    atomic.Pointer[error] // returned by every exec
	beginErr   atomic.Pointer[error] // returned by every BEGIN
	// hangConnect, hangQueries and hangExecs, when set, make new
	// connections, queries and execs wait until the channel is closed or
	// their context is done, as a frozen server does.
	hangConnect atomic.Pointer[chan struct{}]
	hangQueries atomic.Pointer[chan struct{}]
	hangExecs   atomic.Pointer[chan struct{}]
	// answer, when set, answers the queries it knows (ok) instead of the
	// one-row "node" answer.
	answer atomic.Pointer[func(query string) (cols []string, rows [][]driver.Value, ok bool)]
	// rowGate, when set, makes every row after the first of a multi-row
	// answer wait for a receive from it.
	rowGate atomic.Pointer[chan struct{}]

	begins   atomic.Int64
	queries  atomic.Int64
	execs    atomic.Int64
	prepares atomic.Int64
	connects atomic.Int64 // connections made
	live     atomic.Int64 // connections made and not closed
}

func newFakeServer(name string) *fakeServer { return &fakeServer{name: name} }

func (s *fakeServer) failConnect(err error) { s.connectErr.Store(&err) }
func (s *fakeServer) failQueries(err error) { s.queryErr.Store(&err) }
func (s *fakeServer) failExecs(err error)   { s.execErr.Store(&err) }
func (s *fakeServer) failBegins(err error)  { s.beginErr.Store(&err) }

// hang makes what *p gates wait until the returned function (which the
// test's cleanup calls too) releases it.
func hang(t *testing.T, p *atomic.Pointer[chan struct{}]) (release func()) {
	ch := make(chan struct{})
	p.Store(&ch)
	var once sync.Once
	release = func() {
		once.Do(func() {
			p.Store(nil)
			close(ch)
		})
	}
	t.Cleanup(release)
	return release
}

// wait blocks while *p gates, until released or ctx is done.
func wait(ctx context.Context, p *atomic.Pointer[chan struct{}]) error {
	ch := p.Load()
	if ch == nil {
		return nil
	}
	select {
	case <-*ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// open returns a new pool on the server, closed with the test.
func (s *fakeServer) open(t *testing.T) *sql.DB {
	db := sql.OpenDB(s)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func (s *fakeServer) node(t *testing.T) NodeConfig {
	return NodeConfig{Name: s.name, Dialector: mysql.New(mysql.Config{Conn: s.open(t), SkipInitializeWithVersion: true})}
}

// fakeServers are the servers reachable by DSN through the registered
// driver "grant-fake" (the DSN is the server's name), for nodes whose
// dialector opens pools of its own, as a DSN's does.
var (
	fakeServersMu sync.Mutex
	fakeServers   = map[string]*fakeServer{}
	registerFake  sync.Once
)

type fakeRegistry struct{}

func (fakeRegistry) Open(name string) (driver.Conn, error) {
	fakeServersMu.Lock()
	s := fakeServers[name]
	fakeServersMu.Unlock()
	return s.Connect(context.Background())
}

func (fakeRegistry) OpenConnector(name string) (driver.Connector, error) {
	fakeServersMu.Lock()
	defer fakeServersMu.Unlock()
	return fakeServers[name], nil
}

// dsnNode is the server as a node opened from a DSN (through the
// "grant-fake" driver): every pool grant opens on it is a pool of its own.
func (s *fakeServer) dsnNode(t *testing.T) NodeConfig {
	registerFake.Do(func() { sql.Register("grant-fake", fakeRegistry{}) })
	dsn := s.name + "@" + t.Name()
	fakeServersMu.Lock()
	fakeServers[dsn] = s
	fakeServersMu.Unlock()
	t.Cleanup(func() {
		fakeServersMu.Lock()
		delete(fakeServers, dsn)
		fakeServersMu.Unlock()
	})
	return NodeConfig{Name: s.name, Dialector: mysql.New(mysql.Config{DriverName: "grant-fake", DSN: dsn, SkipInitializeWithVersion: true})}
}

func (s *fakeServer) Connect(ctx context.Context) (driver.Conn, error) {
	if err := wait(ctx, &s.hangConnect); err != nil {
		return nil, err
	}
	if e := s.connectErr.Load(); e != nil {
		return nil, *e
	}
	s.connects.Add(1)
	s.live.Add(1)
	return &fakeConn{s: s}, nil
}

func (s *fakeServer) Driver() driver.Driver { return fakeDriver{s} }

type fakeDriver struct{ s *fakeServer }

func (d fakeDriver) Open(string) (driver.Conn, error) { return d.s.Connect(context.Background()) }

func (s *fakeServer) query(ctx context.Context, query string) (driver.Rows, error) {
	s.queries.Add(1)
	if err := wait(ctx, &s.hangQueries); err != nil {
		return nil, err
	}
	if e := s.queryErr.Load(); e != nil {
		return nil, *e
	}
	if a := s.answer.Load(); a != nil {
		if cols, rows, ok := (*a)(query); ok {
			return &fakeRows{s: s, cols: cols, rows: rows}, nil
		}
	}
	return &fakeRows{cols: []string{"node"}, rows: [][]driver.Value{{s.name}}}, nil
}

func (s *fakeServer) exec(ctx context.Context) (driver.Result, error) {
	s.execs.Add(1)
	if err := wait(ctx, &s.hangExecs); err != nil {
		return nil, err
	}
	if e := s.execErr.Load(); e != nil {
		return nil, *e
	}
	return driver.RowsAffected(1), nil
}

// answerRows makes the server answer a query whose text contains key with
// n rows of the server's name, each after the first waiting for rowGate
// when set.
func (s *fakeServer) answerRows(key string, n int) {
	a := func(query string) ([]string, [][]driver.Value, bool) {
		if !strings.Contains(query, key) {
			return nil, nil, false
		}
		rows := make([][]driver.Value, n)
		for i := range rows {
			rows[i] = []driver.Value{s.name}
		}
		return []string{"node"}, rows, true
	}
	s.answer.Store(&a)
}

type fakeConn struct {
	s      *fakeServer
	closed atomic.Bool
}

func (c *fakeConn) Prepare(query string) (driver.Stmt, error) {
	c.s.prepares.Add(1)
	return fakeStmt{c.s, query}, nil
}
func (c *fakeConn) Close() error {
	if !c.closed.Swap(true) {
		c.s.live.Add(-1)
	}
	return nil
}
func (c *fakeConn) Begin() (driver.Tx, error) {
	c.s.begins.Add(1)
	if e := c.s.beginErr.Load(); e != nil {
		return nil, *e
	}
	return fakeTx{}, nil
}
func (c *fakeConn) Ping(context.Context) error { return nil }
func (c *fakeConn) CheckNamedValue(*driver.NamedValue) error {
	return nil
}
func (c *fakeConn) QueryContext(ctx context.Context, query string, _ []driver.NamedValue) (driver.Rows, error) {
	return c.s.query(ctx, query)
}
func (c *fakeConn) ExecContext(ctx context.Context, _ string, _ []driver.NamedValue) (driver.Result, error) {
	return c.s.exec(ctx)
}

type fakeStmt struct {
	s     *fakeServer
	query string
}

func (s fakeStmt) Close() error  { return nil }
func (s fakeStmt) NumInput() int { return -1 }
func (s fakeStmt) Exec([]driver.Value) (driver.Result, error) {
	return s.s.exec(context.Background())
}
func (s fakeStmt) Query([]driver.Value) (driver.Rows, error) {
	return s.s.query(context.Background(), s.query)
}
func (s fakeStmt) ExecContext(ctx context.Context, _ []driver.NamedValue) (driver.Result, error) {
	return s.s.exec(ctx)
}
func (s fakeStmt) QueryContext(ctx context.Context, _ []driver.NamedValue) (driver.Rows, error) {
	return s.s.query(ctx, s.query)
}
func (s fakeStmt) CheckNamedValue(*driver.NamedValue) error { return nil }

type fakeTx struct{}

func (fakeTx) Commit() error   { return nil }
func (fakeTx) Rollback() error { return nil }

// fakeRows yields rows; with a gate set on the server, every row after the
// first waits for it.
type fakeRows struct {
	s    *fakeServer
	cols []string
	rows [][]driver.Value
	next int
}

func (r *fakeRows) Columns() []string { return r.cols }
func (r *fakeRows) Close() error      { return nil }
func (r *fakeRows) Next(dest []driver.Value) error {
	if r.next >= len(r.rows) {
		return io.EOF
	}
	if r.next > 0 && r.s != nil {
		if g := r.s.rowGate.Load(); g != nil {
			<-*g
		}
	}
	copy(dest, r.rows[r.next])
	r.next++
	return nil
}

// fakeTopology builds a topology whose default database has a writer and
// the given replicas, all fake servers, with health configuration hc.
func fakeTopology(t *testing.T, hc HealthConfig, writer *fakeServer, replicas ...*fakeServer) (*Topology, *Database) {
	t.Helper()
	dc := DatabaseConfig{Health: &hc}
	for _, r := range replicas {
		dc.Replicas = append(dc.Replicas, r.node(t))
	}
	w := writer.open(t)
	top, err := Build(Config{Databases: map[string]DatabaseConfig{"primary": dc}},
		Handle{Dialect: "mysql", Pool: w, SQLDB: w, Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = top.Close() })
	return top, top.Default()
}

// serving runs a read through the pool and returns the name of the server
// that answered.
func serving(ctx context.Context, pool gorm.ConnPool) (string, error) {
	rows, err := pool.QueryContext(ctx, "SELECT node")
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var name string
	if rows.Next() {
		err = rows.Scan(&name)
	}
	if err == nil {
		err = rows.Err()
	}
	return name, err
}
