package grant_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"regexp"
	"sync"
	"sync/atomic"
)

// The oracle's shards are reached through a counting database/sql driver,
// so a refusal can be checked to have happened before any shard was
// contacted. It counts at the driver, below everything grant and GORM do
// (plain queries, prepared statements, transactions), and wraps the real
// driver without changing what it sees: every optional interface is
// forwarded, or answered with driver.ErrSkip so database/sql falls back to
// exactly what it does for the real driver.
//
// A gorm.ConnPool wrapper would not do: grant opens each node with
// gorm.Open and then uses the node's *sql.DB, so a wrapper around the pool
// is bypassed. A *sql.DB over this driver is what grant gets instead.

// oracleTableSQL matches a statement that reads or writes the oracle's
// tables; oracleCatalogSQL one that reads the catalog (grant may look up
// columns and collations there, naming the table in a literal).
var (
	oracleTableSQL   = regexp.MustCompile(`(?i)\boracle_(items|payments)\b`)
	oracleCatalogSQL = regexp.MustCompile(`(?i)information_schema|pg_catalog|pg_attribute|pg_class|sqlite_master|sqlite_schema|pragma_|\bpragma\b`)
)

// oracleCounter counts statements about the oracle's tables that reached a
// shard, and keeps the last few for the report.
type oracleCounter struct {
	n    atomic.Int64
	mu   sync.Mutex
	last []string
}

func (c *oracleCounter) note(query string) {
	if !oracleTableSQL.MatchString(query) || oracleCatalogSQL.MatchString(query) {
		return
	}
	c.n.Add(1)
	c.mu.Lock()
	if len(c.last) == 3 {
		c.last = c.last[1:]
	}
	c.last = append(c.last, query)
	c.mu.Unlock()
}

// reset returns the count since the last reset and the last statements.
func (c *oracleCounter) reset() (int64, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	last := c.last
	c.last = nil
	return c.n.Swap(0), last
}

// oracleCountingDB opens a *sql.DB on dsn through the registered driver
// driverName ("pgx", "mysql", "sqlite"), counting into c.
func oracleCountingDB(driverName, dsn string, c *oracleCounter) (*sql.DB, error) {
	probe, err := sql.Open(driverName, dsn) // does not connect
	if err != nil {
		return nil, err
	}
	drv := probe.Driver()
	_ = probe.Close()
	var base driver.Connector = oracleDSNConnector{drv: drv, dsn: dsn}
	if dc, ok := drv.(driver.DriverContext); ok {
		if base, err = dc.OpenConnector(dsn); err != nil {
			return nil, err
		}
	}
	return sql.OpenDB(oracleConnector{base: base, c: c}), nil
}

type oracleDSNConnector struct {
	drv driver.Driver
	dsn string
}

func (k oracleDSNConnector) Connect(context.Context) (driver.Conn, error) { return k.drv.Open(k.dsn) }
func (k oracleDSNConnector) Driver() driver.Driver                        { return k.drv }

type oracleConnector struct {
	base driver.Connector
	c    *oracleCounter
}

func (k oracleConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := k.base.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &oracleConn{Conn: conn, c: k.c}, nil
}

func (k oracleConnector) Driver() driver.Driver { return k.base.Driver() }

// oracleConn counts every statement text the connection receives. Prepared
// statements, transactions and rows are the real driver's.
type oracleConn struct {
	driver.Conn
	c *oracleCounter
}

func (o *oracleConn) Prepare(query string) (driver.Stmt, error) {
	o.c.note(query)
	return o.Conn.Prepare(query)
}

func (o *oracleConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	o.c.note(query)
	if p, ok := o.Conn.(driver.ConnPrepareContext); ok {
		return p.PrepareContext(ctx, query)
	}
	return o.Conn.Prepare(query)
}

func (o *oracleConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if b, ok := o.Conn.(driver.ConnBeginTx); ok {
		return b.BeginTx(ctx, opts)
	}
	//lint:ignore SA1019 a driver without BeginTx has only Begin (database/sql falls back the same way)
	return o.Conn.Begin()
}

func (o *oracleConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := o.Conn.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip // database/sql prepares instead, which counts
	}
	o.c.note(query)
	return q.QueryContext(ctx, query, args)
}

func (o *oracleConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	e, ok := o.Conn.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	o.c.note(query)
	return e.ExecContext(ctx, query, args)
}

func (o *oracleConn) Ping(ctx context.Context) error {
	if p, ok := o.Conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (o *oracleConn) ResetSession(ctx context.Context) error {
	if r, ok := o.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (o *oracleConn) IsValid() bool {
	if v, ok := o.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

func (o *oracleConn) CheckNamedValue(nv *driver.NamedValue) error {
	if c, ok := o.Conn.(driver.NamedValueChecker); ok {
		return c.CheckNamedValue(nv)
	}
	return driver.ErrSkip // database/sql's default conversion, as for the real driver
}

var (
	_ driver.ConnPrepareContext = (*oracleConn)(nil)
	_ driver.ConnBeginTx        = (*oracleConn)(nil)
	_ driver.QueryerContext     = (*oracleConn)(nil)
	_ driver.ExecerContext      = (*oracleConn)(nil)
	_ driver.Pinger             = (*oracleConn)(nil)
	_ driver.SessionResetter    = (*oracleConn)(nil)
	_ driver.Validator          = (*oracleConn)(nil)
	_ driver.NamedValueChecker  = (*oracleConn)(nil)
)
