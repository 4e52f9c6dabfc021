package callbacks

import (
	"sync/atomic"

	"github.com/grant-go/grant/internal/route"
	"github.com/grant-go/grant/topology"
)

// route.Decide is a pure function of a statement's facts, so its answer can
// be kept. Most statements run outside any transaction, with no shard lock,
// on a model in one unsharded database, and no table is mapped: their facts
// are then the model, the kind of statement and the Connections its scope
// and context carry, and so is the decision. Each model keeps, per builder
// kind, the decisions for the first few Connection pairs it meets, and a
// statement that matches one skips Resolve and Decide. Anything else —
// keys, a cluster, raw SQL, a transaction, a failed decision — is decided
// afresh every time.

// maxKept bounds the decisions kept per model and kind: a program that
// meets more Connection pairs decides the others afresh, so that keeping
// never allocates per statement.
const maxKept = 4

// keptDecision is a decision and the facts beyond model and kind it was
// made for.
type keptDecision struct {
	scope, context       topology.Connection
	hasScope, hasContext bool
	decision             route.Decision
}

// decisions holds a model's kept decisions, per builder kind; each list is
// copied on write.
type decisions [5]atomic.Pointer[[]keptDecision]

// decided returns where the decisions for f's model and kind are kept, or
// nil when f has facts they cannot stand for.
func (r *Router) decided(f *route.Facts, m *modelRoute, tx *lazyTx) *atomic.Pointer[[]keptDecision] {
	if m == nil || tx != nil || f.Tx.State != route.NoTx || f.Locked || r.topology.HasTableMappings() {
		return nil
	}
	switch f.Kind {
	case 0:
		return &m.decided[0]
	case builderWrite:
		return &m.decided[1]
	case builderCreate:
		return &m.decided[2]
	case builderUpdate:
		return &m.decided[3]
	case builderDelete:
		return &m.decided[4]
	}
	return nil
}

// keptFor returns the decision kept for f's scope and context, or nil.
func keptFor(kept *atomic.Pointer[[]keptDecision], f *route.Facts) *route.Decision {
	list := kept.Load()
	if list == nil {
		return nil
	}
	for i := range *list {
		k := &(*list)[i]
		if sameConnection(f.Scope, k.hasScope, &k.scope) && sameConnection(f.Context, k.hasContext, &k.context) {
			return &k.decision
		}
	}
	return nil
}

func sameConnection(c *topology.Connection, has bool, kept *topology.Connection) bool {
	if c == nil {
		return !has
	}
	return has && *c == *kept
}

// keep keeps d, decided for f, if it was for an unsharded database with
// nothing left to do but pick a node (no IDs to assign, nothing to prove
// or split), and fewer than maxKept are kept.
func keep(kept *atomic.Pointer[[]keptDecision], f *route.Facts, target *route.Target, d *route.Decision) {
	if target.Cluster != nil || d.Database == nil || d.Shards != nil || d.Split || d.AssignIDs || d.CheckSubqueries || d.Begin || d.Defer {
		return
	}
	k := keptDecision{decision: *d}
	if f.Scope != nil {
		k.scope, k.hasScope = *f.Scope, true
	}
	if f.Context != nil {
		k.context, k.hasContext = *f.Context, true
	}
	for {
		old := kept.Load()
		var list []keptDecision
		if old != nil {
			if len(*old) >= maxKept || keptFor(kept, f) != nil {
				return
			}
			list = append(list, *old...)
		}
		list = append(list, k)
		if kept.CompareAndSwap(old, &list) {
			return
		}
	}
}
