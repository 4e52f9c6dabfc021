package callbacks

import (
	"time"

	"gorm.io/gorm"

	"github.com/grant-go/grant/internal/route"
	"github.com/grant-go/grant/sharding"
	"github.com/grant-go/grant/topology"
)

// A cluster's placement can change while the program runs (online
// resharding, topology.Config.Reshard). Each statement on a cluster loads
// it once (gather); when it is plain — no reshard active — that load is
// all it costs. Otherwise a write is checked here after route.Decide:
// fenced (the instance lost track of the placement), frozen (its rows are
// moving), and counted in flight under the placement until it has run, so
// that the watcher acknowledges a newer placement only once no write under
// the older one is still running.

// placementWait is how long a frozen write has waited so far.
type placementWait struct {
	start time.Time
	timer *time.Timer
}

func (w *placementWait) stop() {
	if w.timer != nil {
		w.timer.Stop()
	}
}

// placementAllows checks a write decided under a placement that is not
// plain. again: the placement changed, so the statement must be routed
// afresh (regather, Decide); otherwise err says whether it may run.
func (r *Router) placementAllows(db *gorm.DB, f *route.Facts, target *route.Target, d *route.Decision, w *placementWait) (again bool, err error) {
	p := target.Placement
	if p.Fenced() {
		return false, p.Stale()
	}
	if p.Frozen() && r.moving(db, f, p, d) {
		if f.Tx.State != route.NoTx {
			// Never wait while holding a transaction's locks.
			return false, &topology.FrozenError{Cluster: p.Cluster().Name(), Version: p.Version()}
		}
		wait := r.freezeWait()
		if w.timer == nil {
			w.start, w.timer = time.Now(), time.NewTimer(wait)
		}
		select {
		case <-p.Changed():
			return true, nil
		case <-w.timer.C:
			return false, &topology.FrozenError{Cluster: p.Cluster().Name(), Version: p.Version(), Waited: time.Since(w.start)}
		case <-db.Statement.Context.Done():
			return false, db.Statement.Context.Err()
		}
	}
	if p.Active() && !d.Defer {
		// Counted, then checked still current: the watcher swaps the
		// placement, then waits for the old one's count to reach zero, so
		// either it sees this write or this write sees the new placement.
		p.Enter()
		if !p.Current() {
			p.Leave()
			return true, nil
		}
		r.tracked.Add(1)
		if old, loaded := r.inflight.Swap(db.Statement, p); loaded {
			r.tracked.Add(-1)
			old.(*topology.ShardPlacement).Leave()
		}
	}
	return false, nil
}

// freezeWait is ReshardConfig.FreezeWait, or its default.
func (r *Router) freezeWait() time.Duration {
	if s, ok := r.topology.ReshardSettings(); ok {
		return s.FreezeWait
	}
	return topology.DefaultFreezeWait
}

// regather maps the statement's keys again under the cluster's current
// placement.
func (r *Router) regather(db *gorm.DB, f *route.Facts, target *route.Target) {
	f.Keys = route.Keys{}
	target.Placement = target.Cluster.Placement()
	var m *modelRoute
	if db.Statement.Schema != nil {
		m = r.model(db.Statement.Schema)
	}
	r.gatherKeys(db, m, f, target.Cluster, target.Placement, target.Conn.Shard == topology.AllShards)
}

// moving reports whether a write's rows may move under a frozen
// placement: it spans shards, has no key (or routes by IDs), or a key of
// it maps to different shards over FrozenFrom and FrozenTo.
func (r *Router) moving(db *gorm.DB, f *route.Facts, p *topology.ShardPlacement, d *route.Decision) bool {
	k := &f.Keys
	if d.Shards != nil || d.Split || !k.Declared || k.ByID || !(k.One || k.Shards != nil) || db.Statement.Schema == nil {
		return true
	}
	key := r.model(db.Statement.Schema).key
	if key == nil {
		return true
	}
	differs := func(v sharding.Key) bool {
		from, err1 := sharding.MapOne(db.Statement.Context, key.strategy, p.FrozenFrom(), v)
		to, err2 := sharding.MapOne(db.Statement.Context, key.strategy, p.FrozenTo(), v)
		return err1 != nil || err2 != nil || from != to
	}
	if k.Values == nil {
		if differs(k.Key) {
			return true
		}
	}
	for _, v := range k.Values {
		nk, err := sharding.Normalize(v)
		if err != nil || differs(nk) {
			return true
		}
	}
	if k.Assigns {
		nk, err := sharding.Normalize(k.AssignedValue)
		if err != nil || differs(nk) {
			return true
		}
	}
	return false
}

// afterPlacement ends the in-flight count of a write under an active
// placement, once it has run (after GORM's commit). With none counted it
// is one atomic load.
func (r *Router) afterPlacement(db *gorm.DB) {
	if r.tracked.Load() == 0 {
		return
	}
	if v, ok := r.inflight.LoadAndDelete(db.Statement); ok {
		r.tracked.Add(-1)
		v.(*topology.ShardPlacement).Leave()
	}
}
