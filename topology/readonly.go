package topology

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"
	"gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
)

// Strict write prevention runs statements under prevention on sessions the
// server itself keeps read only, so that what grant cannot see in SQL text
// — a function that writes, SELECT my_insert() — fails on the server. Each
// node then has a second pool, opened on first use from the node's DSN with
// one setting added:
//
//   - PostgreSQL: default_transaction_read_only=on (a startup parameter);
//   - MariaDB: tx_read_only=1, MySQL: transaction_read_only=1 (set by the
//     driver on each new connection; the server's name picks the variable);
//   - SQLite: _pragma=query_only(1).
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
// node's read-only pool can be made: a DSN to open it from, in a dialect
// grant knows. The error names the first node that cannot.
func (t *Topology) CheckReadOnlySessions() error {
	for _, n := range t.Nodes() {
		base := n.baseDialector()
		if _, err := dsnOf(base); err != nil {
			return n.errorf(err)
		}
		if err := knowsReadOnly(base.Name()); err != nil {
			return n.errorf(err)
		}
	}
	return nil
}

// knowsReadOnly reports whether grant knows how to make a dialect's
// sessions read only (openReadOnly has a case for each).
func knowsReadOnly(dialect string) error {
	switch dialect {
	case "postgres", "mysql", "sqlite":
		return nil
	}
	return fmt.Errorf("%w: dialect %q has no read-only session setting grant knows (postgres, mysql, sqlite)", ErrNoReadOnlySession, dialect)
}

func (n *Node) baseDialector() gorm.Dialector {
	if n.dialector != nil {
		return n.dialector
	}
	return n.settings.handle
}

// openReadOnly opens the node's read-only pool.
func (n *Node) openReadOnly() (*openNode, error) {
	base := n.baseDialector()
	var variable string
	if base.Name() == "mysql" {
		v, err := n.readOnlyVariable() // may open the node's own pool: not under n.mu
		if err != nil {
			return nil, n.errorf(err)
		}
		variable = v
	}
	n.reserve()
	n.mu.Lock()
	if o := n.readOnly.Load(); o != nil {
		n.mu.Unlock()
		n.unreserve()
		return o, nil
	}
	// Read under n.mu: opening the node's own pool initializes its
	// dialector, which writes to the dialector's Config.
	dialector, err := readOnlyDialector(base, variable)
	if err != nil {
		n.mu.Unlock()
		n.unreserve()
		return nil, n.errorf(err)
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

// readOnlyDialector is a copy of base that opens read-only sessions;
// variable is the MySQL-family session variable (readOnlyVariable).
func readOnlyDialector(base gorm.Dialector, variable string) (gorm.Dialector, error) {
	dsn, err := dsnOf(base)
	if err != nil {
		return nil, err
	}
	switch base.Name() {
	case "postgres":
		dsn, err = postgresReadOnly(dsn)
	case "mysql":
		dsn, err = mysqlReadOnly(dsn, variable)
	case "sqlite":
		dsn, err = sqliteReadOnly(dsn)
	default:
		err = knowsReadOnly(base.Name())
	}
	if err != nil {
		return nil, err
	}
	return withDSN(base, dsn)
}

// readOnlyVariable asks a MySQL-family server which session variable makes
// transactions read only: MariaDB kept tx_read_only (transaction_read_only
// came in 11.1), MySQL 8 has only transaction_read_only.
func (n *Node) readOnlyVariable() (string, error) {
	db, err := n.sqlDB()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var version string
	if err := db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version); err != nil {
		return "", fmt.Errorf("%w: asking the server its version: %v", ErrNoReadOnlySession, err)
	}
	if strings.Contains(strings.ToLower(version), "mariadb") {
		return "tx_read_only", nil
	}
	return "transaction_read_only", nil
}

// dsnOf reads the DSN a dialector opens its pool from; a dialector built
// over an open pool (Conn) has none.
func dsnOf(d gorm.Dialector) (string, error) {
	var dsn string
	var conn bool
	switch d := d.(type) {
	case *credentialsDialector:
		return dsnOf(d.inner)
	case *postgres.Dialector:
		dsn, conn = d.DSN, d.Conn != nil
	case *mysql.Dialector:
		dsn, conn = d.DSN, d.Conn != nil
		if dsn == "" && d.DSNConfig != nil {
			dsn = d.DSNConfig.FormatDSN()
		}
	case nil:
		return "", fmt.Errorf("%w: the handle's dialector is unknown", ErrNoReadOnlySession)
	default:
		s := reflect.Indirect(reflect.ValueOf(d))
		if s.Kind() == reflect.Struct {
			if f := s.FieldByName("DSN"); f.IsValid() && f.Kind() == reflect.String {
				dsn = f.String()
			}
			if f := s.FieldByName("Conn"); f.IsValid() && f.Kind() == reflect.Interface {
				conn = !f.IsNil()
			}
		}
	}
	if conn || dsn == "" {
		return "", fmt.Errorf("%w: the %s dialector (%T) wraps an open pool, not a DSN to open read-only sessions from", ErrNoReadOnlySession, d.Name(), d)
	}
	return dsn, nil
}

// withDSN returns a copy of d that opens a pool from dsn.
func withDSN(d gorm.Dialector, dsn string) (gorm.Dialector, error) {
	switch d := d.(type) {
	case *credentialsDialector:
		inner, err := withDSN(d.inner, dsn)
		if err != nil {
			return nil, err
		}
		return d.with(inner)
	case *postgres.Dialector:
		cfg := *d.Config
		cfg.DSN, cfg.Conn = dsn, nil
		return postgres.New(cfg), nil
	case *mysql.Dialector:
		cfg := *d.Config
		cfg.DSN, cfg.DSNConfig, cfg.Conn = dsn, nil, nil
		return mysql.New(cfg), nil
	}
	v := reflect.ValueOf(d)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("%w: cannot copy the %s dialector (%T)", ErrNoReadOnlySession, d.Name(), d)
	}
	clone := reflect.New(v.Elem().Type())
	clone.Elem().Set(v.Elem())
	field := clone.Elem().FieldByName("DSN")
	if !field.CanSet() || field.Kind() != reflect.String {
		return nil, fmt.Errorf("%w: the %s dialector (%T) has no DSN field", ErrNoReadOnlySession, d.Name(), d)
	}
	field.SetString(dsn)
	copied, ok := clone.Interface().(gorm.Dialector)
	if !ok {
		return nil, fmt.Errorf("%w: a copy of %T is not a gorm.Dialector", ErrNoReadOnlySession, d)
	}
	return copied, nil
}

// postgresReadOnly adds default_transaction_read_only=on, which pgx sends
// as a startup parameter, to a URL or key=value DSN.
func postgresReadOnly(dsn string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("%w: the DSN does not parse as a URL", ErrNoReadOnlySession)
		}
		q := u.Query()
		q.Set("default_transaction_read_only", "on")
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return strings.TrimSpace(dsn) + " default_transaction_read_only=on", nil
}

// mysqlReadOnly adds the session variable, which the driver sets on every
// new connection.
func mysqlReadOnly(dsn, variable string) (string, error) {
	cfg, err := mysqldriver.ParseDSN(dsn)
	if err != nil {
		return "", fmt.Errorf("%w: the DSN does not parse", ErrNoReadOnlySession)
	}
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params[variable] = "1"
	return cfg.FormatDSN(), nil
}

// sqliteReadOnly adds the query_only pragma. A private in-memory database
// would be a new, empty one for the second pool: refused.
func sqliteReadOnly(dsn string) (string, error) {
	lower := strings.ToLower(dsn)
	if (strings.Contains(lower, ":memory:") || strings.Contains(lower, "mode=memory")) && !strings.Contains(lower, "cache=shared") {
		return "", fmt.Errorf("%w: a private in-memory SQLite database cannot be opened twice (use cache=shared)", ErrNoReadOnlySession)
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "_pragma=query_only(1)", nil
}
