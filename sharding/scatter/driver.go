package scatter

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"

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

// Statement is one scatter-gather statement: the shards it runs on and, for
// a query, how their rows merge. A Statement is used by one query or Exec
// at a time and must not change while it runs.
type Statement struct {
	Targets []Target
	// Program merges a query's rows (from PlanQuery). A query without one
	// fails; an Exec ignores it.
	Program *Program
	// Concurrency bounds how many shards run at once (<= 0: all at once).
	Concurrency int
	// AllowPartial lets a query or Exec succeed when some shards fail: the
	// failing shards' errors are recorded in Result.Failed instead. It
	// still fails when every shard fails, when the context is done, or
	// when shards disagree on the result's columns. Set Result too, or
	// partial results cannot be told from complete ones.
	AllowPartial bool
	// Result, when not nil, is filled when the statement finishes (for a
	// query: when its rows are closed): which shards failed and how many
	// rows each returned or affected.
	Result *Result
	// Ranker is where text under a collation grant cannot compare itself is
	// ranked (one round trip per merge that needs it); nil: the first
	// target's pool.
	Ranker gorm.ConnPool
}

type statementKey struct{}

// WithStatement returns a context that makes a query or Exec on a handle
// from NewDB run st. The query text and arguments are sent to every target
// as given (the planner's ShardQuery, built into SQL by the caller).
func WithStatement(ctx context.Context, st *Statement) context.Context {
	return context.WithValue(ctx, statementKey{}, st)
}

// ErrNoStatement is returned by a query or Exec on a NewDB handle whose
// context carries no Statement (see WithStatement).
var ErrNoStatement = errors.New("scatter: no statement in the context (use scatter.WithStatement)")

// NewDB returns the *sql.DB through which scatter-gather statements run:
// each query or Exec runs the Statement its context carries (WithStatement)
// on every target in parallel, and a query returns the merged rows. It
// holds no connection of its own; one handle serves a whole process and
// is safe for concurrent use. Close it when done (it does not close the
// targets' pools).
//
// The rows of a query stream: an ungrouped query whose ORDER BY compares
// natively is merged as the shards' rows arrive, holding about one row per
// shard, so Rows() over many rows runs in bounded memory; grouped queries
// and text ranked through the database read every shard's rows first.
// Each shard's statement keeps its connection until the rows are closed.
//
// Errors: a failing shard fails the statement with a *ShardError naming it,
// unless AllowPartial. For a query, the first failure cancels the other
// shards' queries; cancelling ctx cancels them all and the statement
// returns ctx's error. An Exec is not cancelled by a sibling's failure
// (only by ctx), so that each shard's outcome is known: shards not named in
// the error applied the statement and keep it — there is no transaction
// across shards, and BeginTx fails with ErrNoTransaction.
func NewDB() *sql.DB {
	db := sql.OpenDB(connector{})
	// The connections are stateless: keep enough idle ones that concurrent
	// statements never make database/sql open and close them.
	db.SetMaxIdleConns(64)
	return db
}

// Open returns a handle that runs st for every query and Exec, whatever
// their context carries: NewDB for a single statement, used by tests and
// by callers that build their own SQL.
func Open(st *Statement) *sql.DB {
	return sql.OpenDB(connector{fixed: st})
}

type connector struct{ fixed *Statement }

func (c connector) Connect(context.Context) (driver.Conn, error) { return conn(c), nil }
func (c connector) Driver() driver.Driver                        { return drv{} }

type drv struct{}

func (drv) Open(string) (driver.Conn, error) {
	return nil, errors.New("scatter: the driver opens no DSN; use scatter.NewDB")
}

// conn is one database/sql connection of the handle; it holds no state.
type conn struct{ fixed *Statement }

var (
	_ driver.QueryerContext     = conn{}
	_ driver.ExecerContext      = conn{}
	_ driver.ConnBeginTx        = conn{}
	_ driver.NamedValueChecker  = conn{}
	_ driver.ConnPrepareContext = conn{}
)

func (cn conn) statement(ctx context.Context) (*Statement, error) {
	if cn.fixed != nil {
		return cn.fixed, nil
	}
	if st, ok := ctx.Value(statementKey{}).(*Statement); ok && st != nil {
		return st, nil
	}
	return nil, ErrNoStatement
}

func (cn conn) Prepare(query string) (driver.Stmt, error) { return &stmt{cn: cn, query: query}, nil }
func (cn conn) PrepareContext(_ context.Context, query string) (driver.Stmt, error) {
	return cn.Prepare(query)
}
func (cn conn) Close() error              { return nil }
func (cn conn) Begin() (driver.Tx, error) { return nil, ErrNoTransaction }
func (cn conn) BeginTx(context.Context, driver.TxOptions) (driver.Tx, error) {
	return nil, ErrNoTransaction
}

// CheckNamedValue accepts every argument unchanged: the targets' drivers
// convert them.
func (cn conn) CheckNamedValue(*driver.NamedValue) error { return nil }

func (cn conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	st, err := cn.statement(ctx)
	if err != nil {
		return nil, err
	}
	if refused, ok := st.refused(); ok {
		return nil, refused
	}
	return runQuery(ctx, st, query, toArgs(args))
}

func (cn conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	st, err := cn.statement(ctx)
	if err != nil {
		return nil, err
	}
	if refused, ok := st.refused(); ok {
		return nil, refused
	}
	return execAll(ctx, st, query, toArgs(args))
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
	cn    conn
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

// Refused returns a Statement every query and Exec of which fails with err
// before contacting anything: so that a refused *sql.Row carries its error
// (Row().Scan returns it) instead of being nil.
func Refused(err error) *Statement { return &Statement{Program: &Program{refusal: err}} }

func (st *Statement) refused() (error, bool) {
	if st.Program != nil && st.Program.refusal != nil {
		return st.Program.refusal, true
	}
	return nil, false
}

// execResult is the summed result of an Exec.
type execResult struct{ affected int64 }

func (r execResult) LastInsertId() (int64, error) { return 0, ErrNoLastInsertID }
func (r execResult) RowsAffected() (int64, error) { return r.affected, nil }
