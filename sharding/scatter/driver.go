package scatter

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"reflect"
	"slices"

	"gorm.io/gorm"
)

// Target is one shard a scatter-gather statement runs on.
type Target struct {
	// Name names the shard in errors and in Result, e.g. "orders/shard2".
	Name string
	// Pool is where the statement runs: a *sql.DB, or anything with
	// QueryContext and ExecContext. It must be safe for concurrent use, as
	// every gorm.ConnPool of a *gorm.DB is; it is never closed by scatter.
	Pool gorm.ConnPool
}

// Open returns a *sql.DB whose every query runs on all targets in parallel
// (at most plan.Concurrency at once) and returns their rows merged by plan,
// and whose every Exec runs on all targets and returns the sum of their
// RowsAffected (LastInsertId fails with ErrNoLastInsertID).
//
// The *sql.DB holds no real connection: Open and Close together cost about
// a microsecond and 7 allocations, plus the goroutine database/sql runs per
// *sql.DB until Close. Create one per statement and Close it afterwards. Close stops that goroutine; it does
// not close the targets' pools. Use it as a gorm.ConnPool (the glue sets it
// as the statement's ConnPool) or directly. It is safe for concurrent use;
// concurrent statements share plan.Result.
//
// Arguments are passed to every target unchanged (no driver.Valuer is
// called and no conversion happens here; each target's driver converts
// them), named arguments (sql.Named) stay named. Each shard's rows are read
// completely into memory before the merge, so the memory used is that of
// every row every shard returns: push LIMIT down (see Plan.Limit).
//
// Errors: a failing shard fails the statement with a *ShardError naming it,
// unless plan.AllowPartial (see Plan). For a query, the first failure
// cancels the context of the other shards' queries; cancelling ctx cancels
// every shard's query and the statement returns ctx's error. An Exec is not
// cancelled by a sibling's failure (only by ctx), so that each shard's
// outcome is known: shards not named in the error applied the statement
// and keep it — there is no transaction across shards, and BeginTx fails
// with ErrNoTransaction. Prepare is supported: the prepared statement runs
// the same fan-out on each execution.
func Open(targets []Target, plan Plan) *sql.DB {
	return sql.OpenDB(&connector{targets: slices.Clone(targets), plan: plan})
}

type connector struct {
	targets []Target
	plan    Plan
}

func (c *connector) Connect(context.Context) (driver.Conn, error) { return &conn{c: c}, nil }
func (c *connector) Driver() driver.Driver                        { return drv{} }

type drv struct{}

func (drv) Open(string) (driver.Conn, error) {
	return nil, errors.New("scatter: the driver opens no DSN; use scatter.Open")
}

// conn is one database/sql connection of the pool; it is stateless.
type conn struct{ c *connector }

var (
	_ driver.QueryerContext     = (*conn)(nil)
	_ driver.ExecerContext      = (*conn)(nil)
	_ driver.ConnBeginTx        = (*conn)(nil)
	_ driver.NamedValueChecker  = (*conn)(nil)
	_ driver.ConnPrepareContext = (*conn)(nil)
)

func (cn *conn) Prepare(query string) (driver.Stmt, error) {
	return &stmt{cn: cn, query: query}, nil
}

func (cn *conn) PrepareContext(_ context.Context, query string) (driver.Stmt, error) {
	return cn.Prepare(query)
}

func (cn *conn) Close() error              { return nil }
func (cn *conn) Begin() (driver.Tx, error) { return nil, ErrNoTransaction }
func (cn *conn) BeginTx(context.Context, driver.TxOptions) (driver.Tx, error) {
	return nil, ErrNoTransaction
}

// CheckNamedValue accepts every argument unchanged: the targets' drivers
// convert them.
func (cn *conn) CheckNamedValue(*driver.NamedValue) error { return nil }

func (cn *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return gather(ctx, cn.c.targets, &cn.c.plan, query, toArgs(args))
}

func (cn *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return execAll(ctx, cn.c.targets, &cn.c.plan, query, toArgs(args))
}

func toArgs(nv []driver.NamedValue) []any {
	if len(nv) == 0 {
		return nil
	}
	args := make([]any, len(nv))
	for i, v := range nv {
		if v.Name != "" {
			args[i] = sql.Named(v.Name, v.Value)
		} else {
			args[i] = v.Value
		}
	}
	return args
}

// stmt is a prepared statement: it only remembers the query.
type stmt struct {
	cn    *conn
	query string
}

func (s *stmt) Close() error  { return nil }
func (s *stmt) NumInput() int { return -1 }

func (s *stmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.cn.ExecContext(context.Background(), s.query, values(args))
}

func (s *stmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.cn.QueryContext(context.Background(), s.query, values(args))
}

func (s *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return s.cn.ExecContext(ctx, s.query, args)
}

func (s *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return s.cn.QueryContext(ctx, s.query, args)
}

func values(args []driver.Value) []driver.NamedValue {
	nv := make([]driver.NamedValue, len(args))
	for i, a := range args {
		nv[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	return nv
}

// execResult is the summed result of an Exec.
type execResult struct{ affected int64 }

func (r execResult) LastInsertId() (int64, error) { return 0, ErrNoLastInsertID }
func (r execResult) RowsAffected() (int64, error) { return r.affected, nil }

// rows are the merged rows, with the first answering shard's column types.
type rows struct {
	cols  []string
	types []*sql.ColumnType // nil when unknown
	data  [][]any
	pos   int
}

var (
	_ driver.RowsColumnTypeScanType         = (*rows)(nil)
	_ driver.RowsColumnTypeDatabaseTypeName = (*rows)(nil)
	_ driver.RowsColumnTypeNullable         = (*rows)(nil)
	_ driver.RowsColumnTypeLength           = (*rows)(nil)
	_ driver.RowsColumnTypePrecisionScale   = (*rows)(nil)
)

func (r *rows) Columns() []string { return r.cols }
func (r *rows) Close() error      { r.data = nil; return nil }

func (r *rows) Next(dest []driver.Value) error {
	if r.pos >= len(r.data) {
		return io.EOF
	}
	for i, v := range r.data[r.pos] {
		dest[i] = v
	}
	r.pos++
	return nil
}

func (r *rows) ColumnTypeScanType(i int) reflect.Type {
	if r.types == nil {
		return reflect.TypeFor[any]()
	}
	return r.types[i].ScanType()
}

func (r *rows) ColumnTypeDatabaseTypeName(i int) string {
	if r.types == nil {
		return ""
	}
	return r.types[i].DatabaseTypeName()
}

func (r *rows) ColumnTypeNullable(i int) (nullable, ok bool) {
	if r.types == nil {
		return false, false
	}
	return r.types[i].Nullable()
}

func (r *rows) ColumnTypeLength(i int) (int64, bool) {
	if r.types == nil {
		return 0, false
	}
	return r.types[i].Length()
}

func (r *rows) ColumnTypePrecisionScale(i int) (precision, scale int64, ok bool) {
	if r.types == nil {
		return 0, 0, false
	}
	return r.types[i].DecimalSize()
}
