package topology

import (
	"database/sql"
	"sync"
	"sync/atomic"
)

// Bounded pools. A topology of thousands of shards (or a database per
// tenant) cannot keep a pool open for every database it has touched: each
// holds idle connections and a goroutine. Under Config.MaxOpenPools (or a
// cluster's own ClusterConfig.MaxOpenPools) the nodes of each capped set
// share a poolLimiter; opening a pool past the cap first closes the least
// recently used pool that has no connection in use.
//
// Recency is a logical clock, not time: the clock ticks once per pool
// opened, and a statement records the current tick on its node only when
// it differs from the node's (a load and, rarely, a store, so busy nodes do
// not write a shared cache line on every statement). Eviction, which runs
// only when a pool opens, closes the pool with the oldest tick: nodes used
// since the last open tie, and any of them may go.

// PoolCounts are the numbers of node pools grant has open, has opened and
// has evicted since Build (a node under strict write prevention may have
// two pools). The handle's own pool is not counted.
type PoolCounts struct {
	Open, Opened, Evicted int64
}

type poolCounters struct {
	open, opened, evicted atomic.Int64
}

func (c *poolCounters) snapshot() PoolCounts {
	return PoolCounts{Open: c.open.Load(), Opened: c.opened.Load(), Evicted: c.evicted.Load()}
}

// PoolCounts reports how many pools are open, were opened and were
// evicted. Safe for concurrent use.
func (t *Topology) PoolCounts() PoolCounts { return t.counters.snapshot() }

// poolLimiter caps the open pools of a set of nodes.
type poolLimiter struct {
	max   int
	clock atomic.Uint64

	// over: more pools are open than max, because all were busy when the
	// last one opened; the next statement on a capped node trims.
	over atomic.Bool

	mu    sync.Mutex
	nodes map[*Node]int // open pools per node
	count int           // their sum
}

func newPoolLimiter(max int) *poolLimiter {
	return &poolLimiter{max: max, nodes: map[*Node]int{}}
}

// touch records that the node is being used now, and brings the set back
// under its cap if an earlier open had to exceed it.
func (n *Node) touch() {
	if l := n.limiter; l != nil {
		if c := l.clock.Load(); n.lastUse.Load() != c {
			n.lastUse.Store(c)
		}
		if l.over.Load() {
			l.trim(n)
		}
	}
}

// reserve makes room for a pool the node is about to open: past the cap,
// the least recently used idle pools are closed first, so that their
// connections are gone before the new pool makes its own. A pool with a
// connection in use (a statement, a transaction, open rows) is never
// evicted, and neither is one whose *sql.DB was handed out by Node.DB; when
// every pool is busy the cap is exceeded until a statement finds one idle.
// Every reserve is followed by opened or unreserve.
func (n *Node) reserve() {
	l := n.limiter
	if l == nil {
		return
	}
	n.lastUse.Store(l.clock.Add(1))
	l.mu.Lock()
	l.nodes[n]++
	l.count++
	l.mu.Unlock()
	l.trim(n)
}

// unreserve gives back a reservation whose pool was not opened.
func (n *Node) unreserve() {
	if l := n.limiter; l != nil {
		l.mu.Lock()
		l.forget(n, 1)
		l.mu.Unlock()
	}
}

// counted counts a pool the node opened.
func (n *Node) counted() {
	n.settings.counters.open.Add(1)
	n.settings.counters.opened.Add(1)
}

// forget removes count pools of n from the set. Callers hold l.mu.
func (l *poolLimiter) forget(n *Node, count int) {
	l.count -= count
	if l.nodes[n] -= count; l.nodes[n] <= 0 {
		delete(l.nodes, n)
	}
}

// trim evicts the least recently used idle pools, other than except's,
// until the set is within its cap or every remaining pool is busy.
//
// An evicted pool stays counted until its connections are closed: were it
// forgotten first, another goroutine's reserve could find room and open a
// connection while the victim's is still open, one over the cap.
func (l *poolLimiter) trim(except *Node) {
	type eviction struct {
		node *Node
		dbs  []*sql.DB
	}
	var evictions []eviction
	detached := 0
	l.mu.Lock()
	for l.count-detached > l.max {
		victim := l.oldestIdle(except)
		if victim == nil {
			break
		}
		closed := victim.evict()
		if closed == nil {
			break // busy after all: taken since oldestIdle looked
		}
		detached += len(closed)
		evictions = append(evictions, eviction{victim, closed})
	}
	if len(evictions) == 0 {
		l.over.Store(l.count > l.max)
		l.mu.Unlock()
		return
	}
	l.mu.Unlock()
	for _, e := range evictions {
		for _, db := range e.dbs {
			db.Close()
		}
	}
	l.mu.Lock()
	for _, e := range evictions {
		l.forget(e.node, len(e.dbs))
	}
	l.over.Store(l.count > l.max)
	l.mu.Unlock()
	except.settings.counters.open.Add(-int64(detached))
	except.settings.counters.evicted.Add(int64(detached))
}

// oldestIdle is the least recently used node of the set, other than except,
// that has a pool open (not just reserved), that Node.DB has not handed out
// and whose pools have no connection in use. Callers hold l.mu.
func (l *poolLimiter) oldestIdle(except *Node) *Node {
	var oldest *Node
	for v := range l.nodes {
		if v == except || v.held.Load() || v.openPools() == 0 || !v.idle() {
			continue
		}
		if oldest == nil || v.lastUse.Load() < oldest.lastUse.Load() {
			oldest = v
		}
	}
	return oldest
}

// idle reports whether none of the node's pools has a connection in use.
func (n *Node) idle() bool {
	for _, o := range [...]*openNode{n.opened.Load(), n.readOnly.Load()} {
		if o != nil && o.sqlDB != nil && o.sqlDB.Stats().InUse > 0 {
			return false
		}
	}
	return true
}

// openPools counts the pools grant opened for the node that are open.
func (n *Node) openPools() int {
	count := 0
	if o := n.opened.Load(); o != nil && o.owned {
		count++
	}
	if n.readOnly.Load() != nil {
		count++
	}
	return count
}

// evict detaches the node's pools if they are still idle and returns them
// for the caller to close; nil if the node became busy.
func (n *Node) evict() []*sql.DB {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.idle() {
		return nil
	}
	return n.detach()
}

// closed records that Topology.Close closed count pools of the node.
func (n *Node) closed(count int) {
	n.settings.counters.open.Add(-int64(count))
	if l := n.limiter; l != nil && count > 0 {
		l.mu.Lock()
		l.forget(n, count)
		l.mu.Unlock()
	}
}
