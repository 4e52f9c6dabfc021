package resolver

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"io"
	"sync/atomic"
	"testing"

	"gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// fakeServer is an in-memory database/sql driver standing in for one node:
// every query returns one row, column "node", holding the server's name;
// failures are switched on per server. It counts what it receives.
type fakeServer struct {
	name       string
	connectErr atomic.Pointer[error] // returned by Connect
	queryErr   atomic.Pointer[error] // returned by every query
	execErr    atomic.Pointer[error] // returned by every exec
	beginErr   atomic.Pointer[error] // returned by every BEGIN
	begins     atomic.Int64
	queries    atomic.Int64
	execs      atomic.Int64
	prepares   atomic.Int64
}

func newFakeServer(name string) *fakeServer { return &fakeServer{name: name} }

func (s *fakeServer) failConnect(err error) { s.connectErr.Store(&err) }
func (s *fakeServer) failQueries(err error) { s.queryErr.Store(&err) }
func (s *fakeServer) failExecs(err error)   { s.execErr.Store(&err) }
func (s *fakeServer) failBegins(err error)  { s.beginErr.Store(&err) }

// open returns a new pool on the server, closed with the test.
func (s *fakeServer) open(t *testing.T) *sql.DB {
	db := sql.OpenDB(s)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func (s *fakeServer) node(t *testing.T) NodeConfig {
	return NodeConfig{Name: s.name, Dialector: mysql.New(mysql.Config{Conn: s.open(t), SkipInitializeWithVersion: true})}
}

func (s *fakeServer) Connect(context.Context) (driver.Conn, error) {
	if e := s.connectErr.Load(); e != nil {
		return nil, *e
	}
	return &fakeConn{s: s}, nil
}

func (s *fakeServer) Driver() driver.Driver { return fakeDriver{s} }

type fakeDriver struct{ s *fakeServer }

func (d fakeDriver) Open(string) (driver.Conn, error) { return d.s.Connect(context.Background()) }

func (s *fakeServer) query() (driver.Rows, error) {
	s.queries.Add(1)
	if e := s.queryErr.Load(); e != nil {
		return nil, *e
	}
	return &fakeRows{name: s.name}, nil
}

func (s *fakeServer) exec() (driver.Result, error) {
	s.execs.Add(1)
	if e := s.execErr.Load(); e != nil {
		return nil, *e
	}
	return driver.RowsAffected(1), nil
}

type fakeConn struct{ s *fakeServer }

func (c *fakeConn) Prepare(string) (driver.Stmt, error) {
	c.s.prepares.Add(1)
	return fakeStmt{c.s}, nil
}
func (c *fakeConn) Close() error { return nil }
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
func (c *fakeConn) QueryContext(context.Context, string, []driver.NamedValue) (driver.Rows, error) {
	return c.s.query()
}
func (c *fakeConn) ExecContext(context.Context, string, []driver.NamedValue) (driver.Result, error) {
	return c.s.exec()
}

type fakeStmt struct{ s *fakeServer }

func (s fakeStmt) Close() error                               { return nil }
func (s fakeStmt) NumInput() int                              { return -1 }
func (s fakeStmt) Exec([]driver.Value) (driver.Result, error) { return s.s.exec() }
func (s fakeStmt) Query([]driver.Value) (driver.Rows, error)  { return s.s.query() }
func (s fakeStmt) CheckNamedValue(*driver.NamedValue) error   { return nil }

type fakeTx struct{}

func (fakeTx) Commit() error   { return nil }
func (fakeTx) Rollback() error { return nil }

type fakeRows struct {
	name string
	done bool
}

func (r *fakeRows) Columns() []string { return []string{"node"} }
func (r *fakeRows) Close() error      { return nil }
func (r *fakeRows) Next(dest []driver.Value) error {
	if r.done {
		return io.EOF
	}
	r.done, dest[0] = true, r.name
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
