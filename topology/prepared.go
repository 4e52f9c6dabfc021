package topology

import (
	"context"
	"sync"

	"gorm.io/gorm"
)

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

// caches yields the cache of each opened pool, writer first (each node's
// own pool, then its read-only one).
func (v *nodeStatements[S, C]) caches(yield func(stmtStore[S, C], *sync.RWMutex) bool) {
	for _, n := range v.nodes {
		for _, c := range [...]*gorm.PreparedStmtDB{n.prepared.Load(), n.readOnlyPrepared.Load()} {
			if c != nil && !yield(any(c.Stmts).(stmtStore[S, C]), c.Mux) {
				return
			}
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
	c, err := v.writer.statementCache()
	if err != nil {
		locker.Unlock()
		var none S
		return none, err
	}
	c.Mux.Lock()
	both := unlockBoth{locker, c.Mux}
	return any(c.Stmts).(stmtStore[S, C]).New(ctx, key, isTransaction, conn, both)
}

// Set caches value on the writer; if the writer cannot open, value is
// closed rather than leaked.
func (v *nodeStatements[S, C]) Set(key string, value S) {
	c, err := v.writer.statementCache()
	if err != nil {
		go value.Close()
		return
	}
	any(c.Stmts).(stmtStore[S, C]).Set(key, value)
}

// statementCache is the node's prepared-statement cache over its own
// (not read-only) pool, made if needed.
func (n *Node) statementCache() (*gorm.PreparedStmtDB, error) {
	if n.guard {
		return n.guardedPools().preparedPlain.(*preparedNodePool).cache(), nil
	}
	o, err := n.current(false)
	if err != nil {
		return nil, err
	}
	return n.preparedCache(false, o.pool), nil
}

// unlockBoth is the locker GORM's store unlocks once a statement is cached.
type unlockBoth [2]sync.Locker

func (u unlockBoth) Lock()   { u[0].Lock(); u[1].Lock() }
func (u unlockBoth) Unlock() { u[1].Unlock(); u[0].Unlock() }
