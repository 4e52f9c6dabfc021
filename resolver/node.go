package resolver

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Node is one physical server of a database role. Its pool opens on first use;
// until then a Node costs a few hundred bytes and no connection. A Node is
// safe for concurrent use.
//
// Node implements gorm.ConnPool so that a Policy can choose among Nodes; its
// methods open the pool if needed and delegate to it.
type Node struct {
	owner                *Database
	database, role, name string // database is the owner's qualified name
	label                string // "primary/reading#1": what trace mode prints
	key                  string // "primary/reading/1": Stats keys
	weight               int
	dialector            gorm.Dialector // nil for the handle's own pool (adopted)
	dialect              string         // the adopted pool's dialect name
	dsn                  string         // redacted, for errors
	password             string         // scrubbed from driver errors
	pool                 PoolConfig
	settings             *openSettings

	mu     sync.Mutex
	opened atomic.Pointer[openNode]
	// readOnly is the node's second pool, of sessions the server keeps read
	// only (strict write prevention); opened on first use.
	readOnly atomic.Pointer[openNode]

	// health is the last check's snapshot; nil before the first check.
	health atomic.Pointer[NodeHealth]
	// good counts consecutive passed checks while out of rotation; guarded
	// by owner.healthMu.
	good int
	// failover is non-nil for a replica of a database with health checks
	// configured; Pool hands it out while the checks run.
	failover *failoverPools
}

// openNode is a Node's pool once opened. prepared shares the pool and keeps
// the node's own prepared-statement cache, so a statement prepared on this
// node is only ever run on this node.
type openNode struct {
	sqlDB    *sql.DB
	pool     gorm.ConnPool
	prepared *gorm.PreparedStmtDB
	owned    bool // grant opened it and closes it; false for the handle's own pool
}

// openSettings are what every lazily opened node copies from the handle.
type openSettings struct {
	// handle is the handle's dialector: the default writer's read-only pool
	// is opened from its DSN.
	handle     gorm.Dialector
	logger     logger.Interface
	nowFunc    func() time.Time
	prepareMax int
	prepareTTL time.Duration
	onOpen     func(*Node, *sql.DB)
}

// DSN is the node's DSN with its password replaced by "xxxxx"; "" for the
// handle's own pool, whose DSN grant never sees.
func (n *Node) DSN() string { return n.dsn }

// Dialect is the node's dialect name ("postgres", "mysql", "sqlite").
func (n *Node) Dialect() string {
	if n.dialector != nil {
		return n.dialector.Name()
	}
	return n.dialect
}

// Label is "database/writing" for a writer, else "database/role#N".
func (n *Node) Label() string { return n.label }

// Key is "database/role/name", unique in a topology; Stats is keyed by it.
func (n *Node) Key() string { return n.key }

// Database is the qualified name of the node's database: "primary", or
// "orders/shard1" for a shard.
func (n *Node) Database() string { return n.database }

// Owner is the database (or shard) the node serves.
func (n *Node) Owner() *Database { return n.owner }

// Role is the role the node serves.
func (n *Node) Role() string { return n.role }

// Name is the node's configured or default name.
func (n *Node) Name() string { return n.name }

// Weight is the node's share under WeightedPolicy (at least 1).
func (n *Node) Weight() int { return n.weight }

// Opened reports whether the node's pool has been opened.
func (n *Node) Opened() bool { return n.opened.Load() != nil }

// Pool returns the node's connection pool, opening it on first use. With
// prepared true it returns the pool wrapped in the node's own
// prepared-statement cache. The error is a *NodeError naming the node with
// its DSN redacted.
//
// For a replica whose database runs health checks, Pool returns instead a
// pool with read failover, made once per node: queries that fail with a
// connection error before returning rows run once more on another replica
// in rotation or the writer, and the replica leaves the rotation; writes
// (Exec, Begin, Prepare) are never retried. That pool opens the node on
// first use, so its open errors surface (and fail over) on the query.
func (n *Node) Pool(prepared bool) (gorm.ConnPool, error) {
	if o := n.opened.Load(); o != nil && !prepared && n.failover == nil {
		return o.pool, nil // the common case, kept small enough to inline
	}
	return n.failoverPool(prepared)
}

func (n *Node) failoverPool(prepared bool) (gorm.ConnPool, error) {
	if f := n.failover; f != nil && n.owner.checking.Load() {
		return f.pool(prepared, false), nil
	}
	return n.rawPool(prepared, false)
}

// rawPool is Pool (or, readOnly, ReadOnlyPool) without failover.
func (n *Node) rawPool(prepared, readOnly bool) (gorm.ConnPool, error) {
	o := n.opened.Load()
	if readOnly {
		o = n.readOnly.Load()
	}
	if o == nil {
		var err error
		if readOnly {
			o, err = n.openReadOnly()
		} else {
			o, err = n.open()
		}
		if err != nil {
			return nil, err
		}
	}
	if prepared {
		return o.prepared, nil
	}
	return o.pool, nil
}

// DB opens the node's pool if needed and returns its *sql.DB, for work
// outside GORM's statements (migrations). The pool stays the node's: do not
// close it. Errors are *NodeError with the DSN redacted.
func (n *Node) DB() (*sql.DB, error) {
	o, err := n.open()
	if err != nil {
		return nil, err
	}
	if o.sqlDB == nil {
		return nil, n.errorf(errors.New("the handle's connection pool is not a *sql.DB"))
	}
	return o.sqlDB, nil
}

// SQLDB returns the node's *sql.DB if it is open.
func (n *Node) SQLDB() (*sql.DB, bool) {
	if o := n.opened.Load(); o != nil && o.sqlDB != nil {
		return o.sqlDB, true
	}
	return nil, false
}

// Holds reports whether db is one of the node's pools: its own, or its
// read-only one.
func (n *Node) Holds(db *sql.DB) bool {
	for _, o := range [...]*openNode{n.opened.Load(), n.readOnly.Load()} {
		if o != nil && o.sqlDB == db {
			return true
		}
	}
	return false
}

func (n *Node) open() (*openNode, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if o := n.opened.Load(); o != nil {
		return o, nil
	}
	sqlDB, err := n.openSQLDB(n.dialector)
	if err != nil {
		return nil, err
	}
	o := n.adopt(sqlDB, sqlDB, true)
	if n.settings.onOpen != nil {
		n.settings.onOpen(n, sqlDB)
	}
	return o, nil
}

// openSQLDB opens a pool of the node's sessions through dialector, sized
// by the node's PoolConfig.
func (n *Node) openSQLDB(dialector gorm.Dialector) (*sql.DB, error) {
	// A fresh gorm.Config, not a copy of the handle's: a copy carries the
	// handle's plugins, and gorm.Open would initialize them (grant included)
	// on this throw-away handle.
	db, err := gorm.Open(dialector, &gorm.Config{
		Logger:               n.settings.logger,
		NowFunc:              n.settings.nowFunc,
		DisableAutomaticPing: true,
	})
	if err != nil {
		return nil, n.errorf(err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, n.errorf(err)
	}
	applyPool(sqlDB, n.pool)
	return sqlDB, nil
}

// adopt installs an already open pool (the handle's own, for the default
// writer) without taking ownership of it.
// sqlDB is nil when the handle's pool is not a *sql.DB.
func (n *Node) adopt(pool gorm.ConnPool, sqlDB *sql.DB, owned bool) *openNode {
	o := &openNode{
		sqlDB:    sqlDB,
		pool:     pool,
		prepared: gorm.NewPreparedStmtDB(pool, n.settings.prepareMax, n.settings.prepareTTL),
		owned:    owned,
	}
	n.opened.Store(o)
	return o
}

func applyPool(db *sql.DB, p PoolConfig) {
	if p.MaxOpenConns > 0 {
		db.SetMaxOpenConns(p.MaxOpenConns)
	}
	if p.MaxIdleConns > 0 {
		db.SetMaxIdleConns(p.MaxIdleConns)
	}
	if p.ConnMaxLifetime > 0 {
		db.SetConnMaxLifetime(p.ConnMaxLifetime)
	}
	if p.ConnMaxIdleTime > 0 {
		db.SetConnMaxIdleTime(p.ConnMaxIdleTime)
	}
}

func (n *Node) errorf(cause error) error {
	msg := cause.Error()
	if n.password != "" {
		msg = strings.ReplaceAll(msg, n.password, redactedPassword)
	}
	return &NodeError{Node: n.key, DSN: n.dsn, message: msg, cause: cause}
}

func (n *Node) close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	var errs []error
	if o := n.readOnly.Swap(nil); o != nil {
		o.prepared.Close()
		errs = append(errs, o.sqlDB.Close())
	}
	o := n.opened.Load()
	if o == nil {
		return errors.Join(errs...)
	}
	o.prepared.Close()
	if !o.owned {
		return errors.Join(errs...) // the handle's pool: its owner closes it, and it stays usable
	}
	n.opened.Store(nil)
	return errors.Join(append(errs, o.sqlDB.Close())...)
}

func (n *Node) String() string { return n.key }

// The gorm.ConnPool methods let a Policy hold Nodes; grant itself unwraps the
// chosen Node and uses its pool directly.

// PrepareContext prepares on the node's pool.
func (n *Node) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	p, err := n.Pool(false)
	if err != nil {
		return nil, err
	}
	return p.PrepareContext(ctx, query)
}

// ExecContext executes on the node's pool.
func (n *Node) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	p, err := n.Pool(false)
	if err != nil {
		return nil, err
	}
	return p.ExecContext(ctx, query, args...)
}

// QueryContext queries on the node's pool.
func (n *Node) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	p, err := n.Pool(false)
	if err != nil {
		return nil, err
	}
	return p.QueryContext(ctx, query, args...)
}

// QueryRowContext queries one row on the node's pool. If the pool cannot be
// opened, the row's Scan and Err return the *NodeError.
func (n *Node) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	p, err := n.Pool(false)
	if err != nil {
		return errorRow(ctx, err)
	}
	return p.QueryRowContext(ctx, query, args...)
}

var _ gorm.ConnPool = (*Node)(nil)

// nodeLabel names the node of a role that can have several, so a trace line
// says which replica served it: "primary/writing", "primary/reading#1" for
// the node whose Stats key is "primary/reading/1".
func nodeLabel(database, role, name string) string {
	if role == Writing {
		return database + "/" + role
	}
	return database + "/" + role + "#" + name
}
