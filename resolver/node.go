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
	if f := n.failover; f != nil && n.owner.checking.Load() {
		if prepared {
			return f.prepared, nil
		}
		return f.plain, nil
	}
	return n.rawPool(prepared)
}

// rawPool is Pool without failover.
func (n *Node) rawPool(prepared bool) (gorm.ConnPool, error) {
	o := n.opened.Load()
	if o == nil {
		var err error
		if o, err = n.open(); err != nil {
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

func (n *Node) open() (*openNode, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if o := n.opened.Load(); o != nil {
		return o, nil
	}
	// A fresh gorm.Config, not a copy of the handle's: a copy carries the
	// handle's plugins, and gorm.Open would initialize them (grant included)
	// on this throw-away handle.
	db, err := gorm.Open(n.dialector, &gorm.Config{
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
	o := n.adopt(sqlDB, sqlDB, true)
	if n.settings.onOpen != nil {
		n.settings.onOpen(n, sqlDB)
	}
	return o, nil
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
	o := n.opened.Load()
	if o == nil {
		return nil
	}
	o.prepared.Close()
	if !o.owned {
		return nil // the handle's pool: its owner closes it, and it stays usable
	}
	n.opened.Store(nil)
	return o.sqlDB.Close()
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

// SharePreparedStatements makes p.Stmts a view of the statements cached on
// nodes, each in its node's own cache (the same SQL prepared on two nodes is
// two statements). Keys lists each cached SQL once; Get returns writer's
// statement for it, else the first other node's; Delete closes it on every
// node, so p.Close frees every node's statements; New and Set, used only
// when p itself prepares (SQL run on p directly), cache on writer. Whatever
// p cached before is forgotten: close it first.
func SharePreparedStatements(p *gorm.PreparedStmtDB, writer *Node, nodes []*Node) {
	p.Stmts = newNodeStatements(p.Stmts, writer, nodes)
}

// stmtStore is GORM's statement store interface (gorm.io/gorm/internal/
// stmt_store.Store), whose Stmt and ConnPool types an outside package cannot
// name: S and C are inferred from a PreparedStmtDB's Stmts, and the
// instance has exactly that interface's methods.
type stmtStore[S, C any] interface {
	New(ctx context.Context, key string, isTransaction bool, connPool C, locker sync.Locker) (S, error)
	Keys() []string
	Get(key string) (S, bool)
	Set(key string, value S)
	Delete(key string)
}

// nodeStatements is the view SharePreparedStatements installs; instantiated
// by inference it implements GORM's store interface.
type nodeStatements[S interface{ Close() error }, C any] struct {
	writer *Node
	nodes  []*Node // writer first
}

func newNodeStatements[S interface{ Close() error }, C any](_ stmtStore[S, C], writer *Node, nodes []*Node) *nodeStatements[S, C] {
	v := &nodeStatements[S, C]{writer: writer, nodes: []*Node{writer}}
	for _, n := range nodes {
		if n != writer {
			v.nodes = append(v.nodes, n)
		}
	}
	return v
}

// caches yields the cache of each opened node, writer first.
func (v *nodeStatements[S, C]) caches(yield func(stmtStore[S, C], *sync.RWMutex) bool) {
	for _, n := range v.nodes {
		if o := n.opened.Load(); o != nil && !yield(any(o.prepared.Stmts).(stmtStore[S, C]), o.prepared.Mux) {
			return
		}
	}
}

// Keys lists each cached SQL once, whatever the number of nodes holding it.
func (v *nodeStatements[S, C]) Keys() []string {
	seen := map[string]bool{}
	var keys []string
	for cache := range v.caches {
		for _, k := range cache.Keys() {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	return keys
}

// Get returns the writer's statement for key, else the first node's.
func (v *nodeStatements[S, C]) Get(key string) (S, bool) {
	for cache := range v.caches {
		if s, ok := cache.Get(key); ok {
			return s, true
		}
	}
	var none S
	return none, false
}

// Delete removes and closes key's statement on every node.
func (v *nodeStatements[S, C]) Delete(key string) {
	for cache, mu := range v.caches {
		mu.Lock()
		cache.Delete(key)
		mu.Unlock()
	}
}

// New prepares key through conn and caches it on the writer, holding the
// writer's cache lock as GORM's own prepare does; it unlocks locker once
// the statement is cached, as GORM's store does.
func (v *nodeStatements[S, C]) New(ctx context.Context, key string, isTransaction bool, conn C, locker sync.Locker) (S, error) {
	o, err := v.writer.open()
	if err != nil {
		locker.Unlock()
		var none S
		return none, err
	}
	o.prepared.Mux.Lock()
	both := unlockBoth{locker, o.prepared.Mux}
	return any(o.prepared.Stmts).(stmtStore[S, C]).New(ctx, key, isTransaction, conn, both)
}

// Set caches value on the writer; if the writer cannot open, value is
// closed rather than leaked.
func (v *nodeStatements[S, C]) Set(key string, value S) {
	o, err := v.writer.open()
	if err != nil {
		go value.Close()
		return
	}
	any(o.prepared.Stmts).(stmtStore[S, C]).Set(key, value)
}

// unlockBoth is the locker GORM's store unlocks once a statement is cached.
type unlockBoth [2]sync.Locker

func (u unlockBoth) Lock()   { u[0].Lock(); u[1].Lock() }
func (u unlockBoth) Unlock() { u[1].Unlock(); u[0].Unlock() }
