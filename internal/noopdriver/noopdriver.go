// Package noopdriver is a database/sql driver that answers every statement
// instantly with a fixed result, so benchmarks measure only the CPU spent in
// GORM and its plugins, not in a network, a server or a real driver.
//
// Every query returns the same single row (by default columns id, name, age
// with values int64(1), "name", int64(30)); every exec reports
// LastInsertId 1 and RowsAffected 1. Statements are not parsed, arguments are
// accepted as they are (driver.Valuer is not called) and nothing is stored.
// An optional Delay simulates a slow database.
//
// Each *sql.DB returned by Open has its own driver instance and statement
// counter. Everything in this package is safe for concurrent use.
package noopdriver

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"sync/atomic"
	"time"

	"gorm.io/driver/mysql"
	"gorm.io/gorm"
)

// defaultColumns and defaultRow are the row every query returns unless
// Options says otherwise.
var (
	defaultColumns = []string{"id", "name", "age"}
	defaultRow     = []driver.Value{int64(1), "name", int64(30)}
)

// Options configures Open. The zero value gives an instant driver whose
// queries return columns ["id", "name", "age"] with values
// int64(1), "name", int64(30).
type Options struct {
	// Delay, when > 0, makes every Exec and Query (prepared or not) sleep
	// this long before answering. The sleep ends early when the statement's
	// context is done, and the statement then fails with ctx.Err(). Begin,
	// Commit, Rollback, Prepare and Ping never sleep.
	Delay time.Duration

	// Columns and Row, when either is non-nil, replace the default row.
	// They must have the same length, and Row may hold only driver.Value
	// types (nil, int64, float64, bool, []byte, string, time.Time). Open
	// copies both slices; a []byte value is shared by all queries and must
	// not be modified by whoever scans it.
	Columns []string
	Row     []driver.Value

	// Answer, when set, answers each query instead of the fixed row: the
	// columns and rows for the query's SQL text (as for a catalog lookup or
	// a shard returning several rows). It must be safe for concurrent use;
	// the returned slices are not modified.
	Answer func(query string, args []driver.NamedValue) Answer
}

// Answer is a query's result when Options.Answer is set: Rows, or, when
// Gen is set, rows made one at a time (so that a long result holds no
// memory): Gen fills dest with row i and reports false past the last row.
type Answer struct {
	Columns []string
	Rows    [][]driver.Value
	Gen     func(i int, dest []driver.Value) bool
	// Types are the columns' database type names; by default each is
	// named after the Go type of its first non-NULL value in Rows.
	Types []string
}

// Open returns a *sql.DB backed by a new no-op driver instance configured by
// opts. It never fails to connect. It panics if Columns and Row differ in
// length (a programming error).
//
// The pool keeps up to 4×GOMAXPROCS idle connections (instead of database/sql's
// 2) so that parallel benchmarks do not measure connection churn; callers may
// change the pool settings. Close the *sql.DB when done.
func Open(opts Options) *sql.DB {
	cols, row := defaultColumns, defaultRow
	if opts.Columns != nil || opts.Row != nil {
		cols, row = opts.Columns, opts.Row
	}
	if len(cols) != len(row) {
		panic(fmt.Sprintf("noopdriver: %d Columns but %d Row values", len(cols), len(row)))
	}
	d := &drv{
		answer:  opts.Answer,
		delay:   opts.Delay,
		columns: append([]string(nil), cols...),
		row:     append([]driver.Value(nil), row...),
	}
	d.scanTypes = make([]reflect.Type, len(d.row))
	for i, v := range d.row {
		if v == nil {
			d.scanTypes[i] = reflect.TypeFor[any]()
		} else {
			d.scanTypes[i] = reflect.TypeOf(v)
		}
	}
	db := sql.OpenDB(d)
	db.SetMaxIdleConns(4 * runtime.GOMAXPROCS(0))
	return db
}

// Dialector returns a GORM MySQL dialector over db
// (mysql.New(mysql.Config{Conn: db, SkipInitializeWithVersion: true})): GORM
// builds MySQL SQL and, since no server version is known, creates rows with a
// plain INSERT and reads the key from LastInsertId (always 1). db should come
// from Open, though any *sql.DB works.
func Dialector(db *sql.DB) gorm.Dialector {
	return mysql.New(mysql.Config{Conn: db, SkipInitializeWithVersion: true})
}

// Statements returns how many Exec and Query calls (prepared or not, inside
// transactions or not, including ones that failed because their context was
// done) the driver behind db has received since Open. Begin, Commit,
// Rollback, Prepare and Ping are not counted. It is a single atomic load and
// does not allocate. It panics if db was not returned by Open.
func Statements(db *sql.DB) int64 {
	d, ok := db.Driver().(*drv)
	if !ok {
		panic("noopdriver: Statements called with a *sql.DB not returned by noopdriver.Open")
	}
	return d.statements.Load()
}

// drv is both the driver.Connector and the driver.Driver of one Open call.
type drv struct {
	answer     func(string, []driver.NamedValue) Answer
	statements atomic.Int64
	delay      time.Duration
	columns    []string
	row        []driver.Value
	scanTypes  []reflect.Type
}

var (
	_ driver.Connector = (*drv)(nil)
	_ driver.Driver    = (*drv)(nil)
)

func (d *drv) Connect(context.Context) (driver.Conn, error) { return &conn{d: d}, nil }
func (d *drv) Driver() driver.Driver                        { return d }
func (d *drv) Open(string) (driver.Conn, error)             { return &conn{d: d}, nil }

// statement counts one Exec/Query and applies the delay.
func (d *drv) statement(ctx context.Context) error {
	d.statements.Add(1)
	if d.delay <= 0 {
		return nil
	}
	if ctx == nil {
		ctx = context.Background()
	}
	timer := time.NewTimer(d.delay)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (d *drv) query(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if err := d.statement(ctx); err != nil {
		return nil, err
	}
	if d.answer != nil {
		a := d.answer(query, args)
		return &answerRows{a: a}, nil
	}
	return &rows{d: d}, nil
}

func (d *drv) exec(ctx context.Context) (driver.Result, error) {
	if err := d.statement(ctx); err != nil {
		return nil, err
	}
	return result{}, nil
}

// conn is one pooled connection. database/sql never uses a connection from
// two goroutines at once, and conn has no mutable state anyway.
type conn struct{ d *drv }

var (
	_ driver.Conn               = (*conn)(nil)
	_ driver.ConnBeginTx        = (*conn)(nil)
	_ driver.ConnPrepareContext = (*conn)(nil)
	_ driver.ExecerContext      = (*conn)(nil)
	_ driver.QueryerContext     = (*conn)(nil)
	_ driver.NamedValueChecker  = (*conn)(nil)
	_ driver.Pinger             = (*conn)(nil)
	_ driver.SessionResetter    = (*conn)(nil)
	_ driver.Validator          = (*conn)(nil)
)

func (c *conn) Prepare(query string) (driver.Stmt, error) { return stmt{c.d, query}, nil }
func (c *conn) PrepareContext(_ context.Context, query string) (driver.Stmt, error) {
	return stmt{c.d, query}, nil
}
func (c *conn) Close() error                                                 { return nil }
func (c *conn) Begin() (driver.Tx, error)                                    { return tx{}, nil }
func (c *conn) BeginTx(context.Context, driver.TxOptions) (driver.Tx, error) { return tx{}, nil }
func (c *conn) ExecContext(ctx context.Context, _ string, _ []driver.NamedValue) (driver.Result, error) {
	return c.d.exec(ctx)
}
func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.d.query(ctx, query, args)
}

// CheckNamedValue accepts every argument as is, skipping database/sql's
// reflection-based conversion (and any driver.Valuer).
func (c *conn) CheckNamedValue(*driver.NamedValue) error { return nil }
func (c *conn) Ping(context.Context) error               { return nil }
func (c *conn) ResetSession(context.Context) error       { return nil }
func (c *conn) IsValid() bool                            { return true }

// stmt is a prepared statement: the driver and its text.
type stmt struct {
	d     *drv
	query string
}

var (
	_ driver.Stmt              = stmt{}
	_ driver.StmtExecContext   = stmt{}
	_ driver.StmtQueryContext  = stmt{}
	_ driver.NamedValueChecker = stmt{}
)

func (s stmt) Close() error  { return nil }
func (s stmt) NumInput() int { return -1 }
func (s stmt) Exec([]driver.Value) (driver.Result, error) {
	return s.d.exec(context.Background())
}
func (s stmt) Query(args []driver.Value) (driver.Rows, error) {
	named := make([]driver.NamedValue, len(args))
	for i, a := range args {
		named[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	return s.d.query(context.Background(), s.query, named)
}
func (s stmt) ExecContext(ctx context.Context, _ []driver.NamedValue) (driver.Result, error) {
	return s.d.exec(ctx)
}
func (s stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return s.d.query(ctx, s.query, args)
}
func (s stmt) CheckNamedValue(*driver.NamedValue) error { return nil }

// tx commits and rolls back instantly.
type tx struct{}

func (tx) Commit() error   { return nil }
func (tx) Rollback() error { return nil }

// result is the static answer to every Exec.
type result struct{}

func (result) LastInsertId() (int64, error) { return 1, nil }
func (result) RowsAffected() (int64, error) { return 1, nil }

// rows yields the driver's single row once.
type rows struct {
	d    *drv
	done bool
}

var (
	_ driver.Rows                           = (*rows)(nil)
	_ driver.RowsColumnTypeScanType         = (*rows)(nil)
	_ driver.RowsColumnTypeDatabaseTypeName = (*rows)(nil)
)

// Columns returns the driver's shared column slice; callers must not modify it.
func (r *rows) Columns() []string { return r.d.columns }
func (r *rows) Close() error      { return nil }
func (r *rows) Next(dest []driver.Value) error {
	if r.done {
		return io.EOF
	}
	if len(dest) != len(r.d.row) {
		return errors.New("noopdriver: destination has the wrong number of columns")
	}
	r.done = true
	copy(dest, r.d.row)
	return nil
}
func (r *rows) ColumnTypeScanType(i int) reflect.Type   { return r.d.scanTypes[i] }
func (r *rows) ColumnTypeDatabaseTypeName(i int) string { return typeName(r.d.row[i]) }

func typeName(v driver.Value) string {
	switch v.(type) {
	case int64:
		return "BIGINT"
	case float64:
		return "DOUBLE"
	case bool:
		return "BOOL"
	case []byte:
		return "BLOB"
	case string:
		return "VARCHAR"
	case time.Time:
		return "DATETIME"
	default:
		return "NULL"
	}
}

// answerRows yields an Options.Answer.
type answerRows struct {
	a   Answer
	pos int
}

var _ driver.RowsColumnTypeDatabaseTypeName = (*answerRows)(nil)

func (r *answerRows) Columns() []string { return r.a.Columns }
func (r *answerRows) Close() error      { return nil }
func (r *answerRows) Next(dest []driver.Value) error {
	if r.a.Gen != nil {
		if !r.a.Gen(r.pos, dest) {
			return io.EOF
		}
		r.pos++
		return nil
	}
	if r.pos >= len(r.a.Rows) {
		return io.EOF
	}
	copy(dest, r.a.Rows[r.pos])
	r.pos++
	return nil
}
func (r *answerRows) ColumnTypeDatabaseTypeName(i int) string {
	if r.a.Types != nil {
		return r.a.Types[i]
	}
	if r.a.Gen != nil {
		row := make([]driver.Value, len(r.a.Columns))
		if r.a.Gen(0, row) && row[i] != nil {
			return typeName(row[i])
		}
	}
	for _, row := range r.a.Rows {
		if row[i] != nil {
			return typeName(row[i])
		}
	}
	return "NULL"
}
