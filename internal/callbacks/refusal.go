package callbacks

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"sync"
)

// refusalDB is the process's handle for refused rows (refusedRow): a
// database/sql driver whose every query fails with the error its context
// carries. It never connects anywhere.
var refusalDB = sync.OnceValue(func() *sql.DB { return sql.OpenDB(refusalConnector{}) })

type refusalKey struct{}

func withRefusal(ctx context.Context, err error) context.Context {
	return context.WithValue(ctx, refusalKey{}, err)
}

// errRefusedWithoutCause stands for a refusal whose context lost its error,
// which refusedRow never makes.
var errRefusedWithoutCause = errors.New("grant: statement refused")

type refusalConnector struct{}

func (refusalConnector) Connect(context.Context) (driver.Conn, error) { return refusalConn{}, nil }
func (refusalConnector) Driver() driver.Driver                        { return refusalDriver{} }

type refusalDriver struct{}

func (refusalDriver) Open(string) (driver.Conn, error) { return refusalConn{}, nil }

// refusalConn answers every query with the refusal in its context.
type refusalConn struct{}

func (refusalConn) QueryContext(ctx context.Context, _ string, _ []driver.NamedValue) (driver.Rows, error) {
	if err, ok := ctx.Value(refusalKey{}).(error); ok && err != nil {
		return nil, err
	}
	return nil, errRefusedWithoutCause
}
func (refusalConn) Prepare(string) (driver.Stmt, error) { return nil, errRefusedWithoutCause }
func (refusalConn) Close() error                        { return nil }
func (refusalConn) Begin() (driver.Tx, error)           { return nil, errRefusedWithoutCause }
