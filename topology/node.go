package topology

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
	adapter              DialectAdapter // its dialect's; nil when none is registered
	dsn                  string         // redacted, for errors
	password             string         // scrubbed from driver errors
	pool                 PoolConfig
	settings             *openSettings

	mu     sync.Mutex
	opened atomic.Pointer[openNode]
	// readOnly is the node's second pool, of sessions the server keeps read
	// only (strict write prevention); opened on first use.
	readOnly atomic.Pointer[openNode]
	// prepared and readOnlyPrepared are the node's prepared-statement
	// caches over each pool, made on a PrepareStmt statement's first use:
	// a cache costs GORM a goroutine when it has a TTL.
	prepared, readOnlyPrepared atomic.Pointer[gorm.PreparedStmtDB]
	// guard: the node's pools may be evicted (a limiter) or bound their
	// checkouts, so Pool hands out nodePools (nodepool.go), made on first
	// use into guarded, instead of the *sql.DB.
	guard   bool
	guarded atomic.Pointer[guardedPools]
	// plain: neither failover nor guard, so Pool may hand out the open
	// *sql.DB as it is; set once the node is made.
	plain bool
	// limiter caps the open pools of the node's set (Config.MaxOpenPools,
	// ClusterConfig.MaxOpenPools); nil when uncapped.
	limiter *poolLimiter
	// lastUse is the limiter's clock when the node was last used: eviction
	// closes the pool with the oldest.
	lastUse atomic.Uint64
	// held: Node.DB handed the *sql.DB out; grant cannot tell when its user
	// is done with it, so the pool is never evicted.
	held atomic.Bool

	// health is the last check's snapshot; nil before the first check.
	health atomic.Pointer[NodeHealth]
	// good counts consecutive passed checks while out of rotation; guarded
	// by owner.healthMu.
	good int
	// failover is non-nil for a replica of a database with health checks
	// configured; Pool hands it out while the checks run.
	failover *failoverPools
}

// guardedPools are a node's two nodePools, made once at Build.
type guardedPools struct {
	plain, readOnly, preparedPlain, preparedReadOnly gorm.ConnPool
}

// openNode is a Node's pool once opened.
type openNode struct {
	sqlDB *sql.DB
	pool  gorm.ConnPool
	owned bool // grant opened it and closes it; false for the handle's own pool
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
	counters   *poolCounters
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
	if o := n.opened.Load(); o != nil && !prepared && n.plain {
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

// Direct is the node's pool without read failover: a statement on it runs
// on this node or fails. Like Pool it opens the node on first use and,
// under Config.MaxOpenPools, reopens an evicted pool; use it rather than DB
// for single statements.
func (n *Node) Direct() (gorm.ConnPool, error) { return n.rawPool(false, false) }

// rawPool is Pool (or, readOnly, ReadOnlyPool) without failover.
func (n *Node) rawPool(prepared, readOnly bool) (gorm.ConnPool, error) {
	if n.guard {
		g := n.guardedPools()
		switch {
		case prepared && readOnly:
			return g.preparedReadOnly, nil
		case prepared:
			return g.preparedPlain, nil
		case readOnly:
			return g.readOnly, nil
		}
		return g.plain, nil
	}
	o, err := n.current(readOnly)
	if err != nil {
		return nil, err
	}
	if prepared {
		return n.preparedCache(readOnly, o.pool), nil
	}
	return o.pool, nil
}

// current is the node's open pool of the kind, opened if needed.
func (n *Node) current(readOnly bool) (*openNode, error) {
	if readOnly {
		if o := n.readOnly.Load(); o != nil {
			return o, nil
		}
		return n.openReadOnly()
	}
	if o := n.opened.Load(); o != nil {
		return o, nil
	}
	return n.open()
}

// preparedCache is the node's prepared-statement cache over pool (the
// *sql.DB, or the node's nodePool when it has one, which outlives
// evictions), made on first use. When the handle sets no PrepareStmtTTL the
// cache gets GORM's "no expiry" TTL, the one value for which GORM's cache
// starts no goroutine (its goroutines never exit); statements still leave
// it by PrepareStmtMaxSize and when the pool closes.
func (n *Node) preparedCache(readOnly bool, pool gorm.ConnPool) *gorm.PreparedStmtDB {
	slot := &n.prepared
	if readOnly {
		slot = &n.readOnlyPrepared
	}
	if c := slot.Load(); c != nil {
		return c
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if c := slot.Load(); c != nil {
		return c
	}
	ttl := n.settings.prepareTTL
	if ttl <= 0 {
		ttl = gormNoExpiryTTL
	}
	c := gorm.NewPreparedStmtDB(pool, n.settings.prepareMax, ttl)
	slot.Store(c)
	return c
}

// gormNoExpiryTTL is GORM's internal noEvictionTTL (internal/lru): a
// cache made with it has no expiry goroutine.
const gormNoExpiryTTL = 24 * time.Hour * 365 * 10

// DB opens the node's pool if needed and returns its *sql.DB, for work
// outside GORM's statements (migrations). The pool stays the node's: do not
// close it. Under Config.MaxOpenPools a node whose *sql.DB was handed out is
// never evicted, since grant cannot know when its user is done; use Direct
// for single statements. Errors are *NodeError with the DSN redacted.
func (n *Node) DB() (*sql.DB, error) {
	n.held.Store(true)
	return n.sqlDB()
}

// sqlDB is DB without holding the pool: for grant's own statements, which
// retry on a reopened pool.
func (n *Node) sqlDB() (*sql.DB, error) {
	o, err := n.current(false)
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
	if o := n.opened.Load(); o != nil {
		return o, nil
	}
	n.reserve()
	n.mu.Lock()
	if o := n.opened.Load(); o != nil {
		n.mu.Unlock()
		n.unreserve()
		return o, nil
	}
	sqlDB, err := n.openSQLDB(n.dialector)
	if err != nil {
		n.mu.Unlock()
		n.unreserve()
		return nil, err
	}
	o := n.adopt(sqlDB, sqlDB, true)
	n.mu.Unlock()
	n.counted()
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
	o := &openNode{sqlDB: sqlDB, pool: pool, owned: owned}
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

// close closes the node's pools (Topology.Close): statements already
// running finish on their connections; the next one reopens the node.
func (n *Node) close() error {
	n.mu.Lock()
	closed := n.detach()
	n.mu.Unlock()
	var errs []error
	for _, db := range closed {
		errs = append(errs, db.Close())
	}
	n.closed(len(closed))
	return errors.Join(errs...)
}

// detach forgets the node's pools and frees its prepared statements,
// returning the pools grant owns for the caller to close outside n.mu.
// The handle's own pool stays installed (its owner closes it). Callers hold
// n.mu.
func (n *Node) detach() []*sql.DB {
	var closed []*sql.DB
	for _, c := range [...]*gorm.PreparedStmtDB{n.prepared.Load(), n.readOnlyPrepared.Load()} {
		if c != nil {
			c.Close()
		}
	}
	if o := n.readOnly.Swap(nil); o != nil {
		closed = append(closed, o.sqlDB)
	}
	if o := n.opened.Load(); o != nil && o.owned {
		n.opened.Store(nil)
		closed = append(closed, o.sqlDB)
	}
	if !n.guard { // a cache over a closed *sql.DB is useless; a nodePool's outlives it
		n.prepared.Store(nil)
		n.readOnlyPrepared.Store(nil)
	}
	return closed
}

// String is the node's key, "database/role/node" ("primary/reading/1").
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
