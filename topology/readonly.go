package topology

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Strict write prevention runs statements under prevention on sessions the
// server itself keeps read only, so that what grant cannot see in SQL text
// — a function that writes, SELECT my_insert() — fails on the server. Each
// node then has a second pool, opened on first use from the node's DSN with
// one setting added by the node's adapter (DialectAdapter.ReadOnlyDSN):
//
//   - PostgreSQL: default_transaction_read_only=on (a startup parameter);
//   - MariaDB: tx_read_only=1, MySQL: transaction_read_only=1 (set by the
//     driver on each new connection; the server's name picks the variable);
//   - SQLite: _pragma=query_only(1) (built in: it needs no driver of
//     grant's).
//
// Every statement on such a session, autocommitted or in a transaction, is
// read only: the per-statement cost is nil (the same round trips), the
// price is a second pool of connections on the nodes that serve both.

// ErrNoReadOnlySession is returned (wrapped in a *NodeError) when strict
// write prevention cannot open read-only sessions on a node: its dialector
// wraps an open pool rather than a DSN, or its dialect is not one grant
// knows how to make read only.
var ErrNoReadOnlySession = errors.New("grant: cannot open read-only sessions")

// ReadOnlyPool is Pool on sessions the server keeps read only: writes fail
// on the server, whatever their text. It opens the node's read-only pool on
// first use (for MySQL-family servers, after asking the server its name).
// Replicas with health checks fail over as Pool does, to read-only pools.
// Errors are *NodeError values; ErrNoReadOnlySession says why none can be
// opened.
func (n *Node) ReadOnlyPool(prepared bool) (gorm.ConnPool, error) {
	if f := n.failover; f != nil && n.owner.checking.Load() {
		return f.pool(prepared, true), nil
	}
	return n.rawPool(prepared, true)
}

// CheckReadOnlySessions reports, without opening anything, whether each
// node's read-only pool can be made: an adapter registered for its
// dialect, and a DSN to open the pool from. The error names the first node
// that cannot, and, when the adapter is missing, the import to add.
func (t *Topology) CheckReadOnlySessions() error {
	for _, n := range t.Nodes() {
		if _, err := n.readOnlyDialector(context.Background(), nil); err != nil {
			return err
		}
	}
	return nil
}

// strictFeature names strict write prevention in errors.
const strictFeature = "strict write prevention (strict_prevent_writes)"

func (n *Node) baseDialector() gorm.Dialector {
	if n.dialector != nil {
		return n.dialector
	}
	return n.settings.handle
}

// openReadOnly opens the node's read-only pool.
func (n *Node) openReadOnly() (*openNode, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The adapter may ask the server (through the node's own pool, which
	// takes n.mu to open): not under n.mu.
	dialector, err := n.readOnlyDialector(ctx, ownPool{n})
	if err != nil {
		return nil, err
	}
	n.reserve()
	n.mu.Lock()
	if o := n.readOnly.Load(); o != nil {
		n.mu.Unlock()
		n.unreserve()
		return o, nil
	}
	sqlDB, err := n.openSQLDB(dialector)
	if err != nil {
		n.mu.Unlock()
		n.unreserve()
		return nil, err
	}
	o := &openNode{sqlDB: sqlDB, pool: sqlDB, owned: true}
	n.readOnly.Store(o)
	n.mu.Unlock()
	n.counted()
	return o, nil
}

// readOnlyDialector is a copy of the node's dialector that opens read-only
// sessions; with server nil it only checks that one can be made. Errors
// are *NodeError values wrapping ErrNoReadOnlySession.
func (n *Node) readOnlyDialector(ctx context.Context, server Querier) (gorm.Dialector, error) {
	fail := func(err error) (gorm.Dialector, error) {
		if !errors.Is(err, ErrNoReadOnlySession) {
			err = fmt.Errorf("%w: %w", ErrNoReadOnlySession, err)
		}
		return nil, n.errorf(err)
	}
	if n.adapter == nil {
		dialect := n.Dialect()
		if _, shipped := adapterImports[dialect]; shipped {
			return fail(errors.New(needsAdapter(dialect, strictFeature)))
		}
		return fail(fmt.Errorf("dialect %q has no read-only session setting grant knows: no adapter is registered for it (built in: sqlite; %s)", dialect, importHint(dialect)))
	}
	dsn, err := n.baseDSN()
	if err != nil {
		return fail(err)
	}
	if dsn, err = n.adapter.ReadOnlyDSN(ctx, dsn, server); err != nil {
		return fail(err)
	}
	d, err := n.withDSN(dsn)
	if err != nil {
		return fail(err)
	}
	return d, nil
}

// baseDSN reads the DSN the node's dialector opens its pool from, through a
// credentials wrapper. Read under n.mu: opening the node's own pool
// initializes its dialector, which writes to the dialector's Config.
func (n *Node) baseDSN() (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	inner, _ := unwrapCredentials(n.baseDialector())
	if inner == nil {
		return "", errors.New("the handle's dialector is unknown")
	}
	return n.dsnAdapter().DSNOf(inner)
}

// withDSN is a copy of the node's dialector that opens its own pool from
// dsn, with the node's credentials if it has any. Made under n.mu, as baseDSN.
func (n *Node) withDSN(dsn string) (gorm.Dialector, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	inner, creds := unwrapCredentials(n.baseDialector())
	if inner == nil {
		return nil, errors.New("the handle's dialector is unknown")
	}
	d, err := n.dsnAdapter().WithDSN(inner, dsn)
	if err != nil || creds == nil {
		return d, err
	}
	return creds.with(d)
}

// dsnAdapter is what reads and changes the DSN of the node's dialector:
// its adapter, and, for a dialector the adapter does not know (another
// type reporting the dialect's name) or without an adapter, the fields a
// dialector struct usually has (DSN, Conn), so that such a node still
// gets a probe pool of its own.
func (n *Node) dsnAdapter() interface {
	DSNOf(gorm.Dialector) (string, error)
	WithDSN(gorm.Dialector, string) (gorm.Dialector, error)
} {
	if n.adapter != nil {
		return orStruct{n.adapter}
	}
	return structDSN{}
}

// orStruct is an adapter's DSNOf and WithDSN, falling back to structDSN's
// when the adapter fails and structDSN does not.
type orStruct struct{ a DialectAdapter }

func (o orStruct) DSNOf(d gorm.Dialector) (string, error) {
	dsn, err := o.a.DSNOf(d)
	if err != nil {
		if s, serr := (structDSN{}).DSNOf(d); serr == nil {
			return s, nil
		}
	}
	return dsn, err
}

func (o orStruct) WithDSN(d gorm.Dialector, dsn string) (gorm.Dialector, error) {
	c, err := o.a.WithDSN(d, dsn)
	if err != nil {
		if s, serr := (structDSN{}).WithDSN(d, dsn); serr == nil {
			return s, nil
		}
	}
	return c, err
}

// unwrapCredentials returns the dialector a credentials wrapper wraps, and
// the wrapper; d itself and nil for any other dialector.
func unwrapCredentials(d gorm.Dialector) (gorm.Dialector, *credentialsDialector) {
	if c, ok := d.(*credentialsDialector); ok {
		if u, ok := c.inner.(unhookable); ok {
			return u.Dialector, c
		}
		return c.inner, c
	}
	return d, nil
}

// ownPool is a node's own pool as a Querier, opened on first use: what an
// adapter asks while it prepares the node's read-only sessions.
type ownPool struct{ n *Node }

func (p ownPool) PingContext(ctx context.Context) error {
	db, err := p.n.sqlDB()
	if err != nil {
		return err
	}
	return db.PingContext(ctx)
}

func (p ownPool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	db, err := p.n.sqlDB()
	if err != nil {
		return nil, err
	}
	return db.QueryContext(ctx, query, args...)
}

func (p ownPool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	db, err := p.n.sqlDB()
	if err != nil {
		return errorRow(ctx, err)
	}
	return db.QueryRowContext(ctx, query, args...)
}

// structDSN reads and copies a dialector through the fields gorm's
// dialectors have (a DSN string, a Conn holding an open pool): for
// dialects grant has no adapter of, and SQLite's built-in one.
type structDSN struct{}

func (structDSN) DSNOf(d gorm.Dialector) (string, error) {
	var dsn string
	var conn bool
	s := reflect.Indirect(reflect.ValueOf(d))
	if s.Kind() == reflect.Struct {
		if f := s.FieldByName("DSN"); f.IsValid() && f.Kind() == reflect.String {
			dsn = f.String()
		}
		if f := s.FieldByName("Conn"); f.IsValid() && f.Kind() == reflect.Interface {
			conn = !f.IsNil()
		}
	}
	if conn || dsn == "" {
		return "", fmt.Errorf("the %s dialector (%T) wraps an open pool, not a DSN to open sessions from", d.Name(), d)
	}
	return dsn, nil
}

func (structDSN) WithDSN(d gorm.Dialector, dsn string) (gorm.Dialector, error) {
	v := reflect.ValueOf(d)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("cannot copy the %s dialector (%T)", d.Name(), d)
	}
	clone := reflect.New(v.Elem().Type())
	clone.Elem().Set(v.Elem())
	field := clone.Elem().FieldByName("DSN")
	if !field.CanSet() || field.Kind() != reflect.String {
		return nil, fmt.Errorf("the %s dialector (%T) has no DSN field", d.Name(), d)
	}
	field.SetString(dsn)
	copied, ok := clone.Interface().(gorm.Dialector)
	if !ok {
		return nil, fmt.Errorf("a copy of %T is not a gorm.Dialector", d)
	}
	return copied, nil
}

// builtinDialects are the adapters grant has for dialects that need no
// driver of grant's: a registered adapter for the dialect wins.
var builtinDialects = map[string]DialectAdapter{"sqlite": sqliteDialect{}}

// sqliteDialect knows SQLite's read-only sessions (the query_only pragma,
// as github.com/glebarez/sqlite and modernc.org/sqlite take it); SQLite
// has no logins and no replication. Nodes name their SQLite adapter in
// Config.Adapters: this value only serves their dialect.
type sqliteDialect struct{ structDSN }

func (sqliteDialect) Dialect() string              { return "sqlite" }
func (sqliteDialect) Open(string) gorm.Dialector   { return nil }
func (sqliteDialect) Classify(error) ErrorClass    { return 0 }
func (sqliteDialect) DSNSecrets(string) DSNReading { return DSNReading{} }
func (sqliteDialect) Replication() ReplicationReader {
	return nil
}

func (sqliteDialect) Credentials(d gorm.Dialector) (CredentialsHook, error) {
	return nil, fmt.Errorf("a %s dialector (%T) has no logins: credentials work with the postgres and mysql adapters", d.Name(), d)
}

// ReadOnlyDSN adds the query_only pragma. A private in-memory database
// would be a new, empty one for the second pool: refused.
func (sqliteDialect) ReadOnlyDSN(_ context.Context, dsn string, _ Querier) (string, error) {
	lower := strings.ToLower(dsn)
	if (strings.Contains(lower, ":memory:") || strings.Contains(lower, "mode=memory")) && !strings.Contains(lower, "cache=shared") {
		return "", errors.New("a private in-memory SQLite database cannot be opened twice (use cache=shared)")
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "_pragma=query_only(1)", nil
}
