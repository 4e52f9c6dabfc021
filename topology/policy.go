package topology

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"gorm.io/gorm"
	"gorm.io/plugin/dbresolver"
)

// grant's policies are safe for concurrent use without a lock; the marker
// method tells the topology not to serialize calls to them.
type concurrentSafe interface{ safeForConcurrentUse() }

// RandomPolicy picks uniformly at random. It uses math/rand/v2's per-thread
// source: no lock and no shared counter, so it scales with goroutines.
func RandomPolicy() Policy { return randomPolicy{} }

type randomPolicy struct{}

func (randomPolicy) safeForConcurrentUse() {}

func (randomPolicy) Resolve(pools []gorm.ConnPool) gorm.ConnPool {
	return pools[rand.IntN(len(pools))]
}

// RoundRobinPolicy cycles through the pools in order with an atomic counter:
// unlike dbresolver.RoundRobinPolicy it is free of data races.
func RoundRobinPolicy() Policy { return &roundRobinPolicy{} }

type roundRobinPolicy struct{ next atomic.Uint64 }

func (*roundRobinPolicy) safeForConcurrentUse() {}

func (p *roundRobinPolicy) Resolve(pools []gorm.ConnPool) gorm.ConnPool {
	return pools[(p.next.Add(1)-1)%uint64(len(pools))]
}

// WeightedPolicy gives each node a share of reads proportional to its
// NodeConfig.Weight (0 counts as 1), deterministically: over any run of
// sum(weights) consecutive reads each node serves exactly its weight.
func WeightedPolicy() Policy { return &weightedPolicy{} }

type weightedPolicy struct{ next atomic.Uint64 }

func (*weightedPolicy) safeForConcurrentUse() {}

func (p *weightedPolicy) Resolve(pools []gorm.ConnPool) gorm.ConnPool {
	total := 0
	for _, pool := range pools {
		total += weightOf(pool)
	}
	ticket := int((p.next.Add(1) - 1) % uint64(total))
	for _, pool := range pools {
		if ticket -= weightOf(pool); ticket < 0 {
			return pool
		}
	}
	return pools[len(pools)-1]
}

func weightOf(pool gorm.ConnPool) int {
	if n, ok := pool.(*Node); ok {
		return n.weight
	}
	return 1
}

// LeastInUsePolicy picks the node with the fewest connections in use right
// now (from database/sql's live pool stats); ties rotate so that an idle
// system still spreads reads. A node not opened yet counts as zero in use.
func LeastInUsePolicy() Policy { return &leastInUsePolicy{} }

type leastInUsePolicy struct{ start atomic.Uint64 }

func (*leastInUsePolicy) safeForConcurrentUse() {}

func (p *leastInUsePolicy) Resolve(pools []gorm.ConnPool) gorm.ConnPool {
	offset := int(p.start.Add(1) % uint64(len(pools)))
	best, bestInUse := pools[offset], inUse(pools[offset])
	for i := 1; i < len(pools); i++ {
		pool := pools[(offset+i)%len(pools)]
		if n := inUse(pool); n < bestInUse {
			best, bestInUse = pool, n
		}
	}
	return best
}

func inUse(pool gorm.ConnPool) int {
	if n, ok := pool.(*Node); ok {
		if db, open := n.SQLDB(); open {
			return db.Stats().InUse
		}
	}
	return 0
}

// serialPolicy guards a Policy grant cannot vouch for. dbresolver's
// RoundRobinPolicy increments a plain int from every goroutine; behind this
// mutex it is race-free, at the price of a lock on the read path.
type serialPolicy struct {
	mu     sync.Mutex
	policy Policy
}

func (p *serialPolicy) Resolve(pools []gorm.ConnPool) gorm.ConnPool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.policy.Resolve(pools)
}

// guardPolicy returns p ready for concurrent calls.
func guardPolicy(p Policy) Policy {
	switch p.(type) {
	case nil:
		return RandomPolicy()
	case concurrentSafe, dbresolver.RandomPolicy, *dbresolver.RandomPolicy:
		return p
	default:
		return &serialPolicy{policy: p}
	}
}
