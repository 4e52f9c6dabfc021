package topology

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"time"
)

// PlacementRecord is what the default database holds for one cluster's
// placement (table grant_placement, as JSON): which shards keyed reads
// and writes map over, and what a reshard in progress asks of routing.
// Online resharding (package reshard) publishes it with
// PlacementStore.Publish; every watching instance installs it
// (Cluster.SetPlacement).
type PlacementRecord struct {
	Cluster string
	// Version grows by one with each publication; 0 is the placement
	// taken from the configuration.
	Version int64
	// Workflow is the reshard workflow that published it ("" = none).
	Workflow string
	// Active: a workflow is in progress. Instances then count their
	// writes in flight (so that acknowledging a newer placement means no
	// write under the older one is still running) and refuse writes when
	// they cannot read the placement (ErrPlacementStale).
	Active bool
	// Read and Write list the shards keyed reads and keyed writes map
	// over, in order: a subset of the configured shards, none twice.
	// grant.AllShards reads go to Read's shards, updates and deletes to
	// Write's.
	Read  []string
	Write []string
	// Frozen: writes whose key maps to different shards over FrozenFrom
	// and FrozenTo (and writes without a key, or spanning shards) wait up
	// to ReshardConfig.FreezeWait for a newer placement, then fail with
	// ErrWritesFrozen.
	Frozen               bool
	FrozenFrom, FrozenTo []string
	// Unclean lists shards holding rows that are not theirs under Read
	// and Write: a statement spanning several shards that includes one of
	// them fails with ErrReshardInProgress. A statement on one shard
	// (keyed, or named with grant.Shard) is not affected.
	Unclean []string
}

// ShardPlacement is a cluster's placement as routing uses it: the record
// plus what each statement needs precomputed. It is immutable once
// published (Cluster.SetPlacement); a newer one replaces it, and Changed
// is closed then. Do not modify the slices its methods return.
type ShardPlacement struct {
	cluster *Cluster
	rec     PlacementRecord
	read    []int // configured shard indexes, in Read's order
	write   []int
	unclean []bool // by configured index; nil when none
	// plain: not active, not frozen, nothing unclean, not fenced — routing
	// has nothing to check beyond mapping keys.
	plain    bool
	fenced   bool
	lastRead time.Time // fenced: when the placement was last read (zero: never)
	cause    error     // fenced: the last failure reading it

	readDBs, writeDBs atomic.Pointer[[]*Database]

	changed    chan struct{} // closed when replaced
	superseded atomic.Bool
	inflight   atomic.Int64
	idle       chan struct{} // signalled when inflight drops to 0 once superseded
}

// newShardPlacement makes a placement of c from rec, which must be valid
// (see checkRecord).
func newShardPlacement(c *Cluster, rec PlacementRecord, fenced bool, lastRead time.Time) *ShardPlacement {
	p := &ShardPlacement{cluster: c, rec: rec, fenced: fenced, lastRead: lastRead,
		changed: make(chan struct{}), idle: make(chan struct{}, 1)}
	p.read = c.indexes(rec.Read)
	p.write = c.indexes(rec.Write)
	if len(rec.Unclean) > 0 {
		p.unclean = make([]bool, len(c.names))
		for _, i := range c.indexes(rec.Unclean) {
			p.unclean[i] = true
		}
	}
	p.plain = !rec.Active && !rec.Frozen && p.unclean == nil && !fenced
	return p
}

func (c *Cluster) indexes(names []string) []int {
	out := make([]int, len(names))
	for i, n := range names {
		out[i] = c.index[n]
	}
	return out
}

// Placement returns the cluster's current placement: one atomic load.
func (c *Cluster) Placement() *ShardPlacement { return c.placement.Load() }

// SetPlacement installs rec as the cluster's placement, if its version is
// newer than the current one (an older or equal version is ignored, so
// placements never go backwards). It refuses a record naming a shard the
// cluster does not have, naming one twice, or with no Read or Write
// shard.
func (c *Cluster) SetPlacement(rec PlacementRecord) error {
	_, err := c.install(rec, false, time.Time{}, nil)
	return err
}

// install swaps in a placement made from rec. A fenced placement (or the
// unfenced one replacing it) may keep the current version; otherwise a
// version not newer than the current one is ignored. It returns the
// placement replaced, nil when nothing was installed.
func (c *Cluster) install(rec PlacementRecord, fenced bool, lastRead time.Time, cause error) (*ShardPlacement, error) {
	if err := c.checkRecord(&rec); err != nil {
		return nil, err
	}
	c.setMu.Lock()
	defer c.setMu.Unlock()
	old := c.placement.Load()
	switch {
	case rec.Version < old.rec.Version:
		return nil, nil
	case rec.Version == old.rec.Version && fenced == old.fenced:
		return nil, nil
	}
	p := newShardPlacement(c, rec, fenced, lastRead)
	p.cause = cause
	c.placement.Store(p)
	old.supersede()
	return old, nil
}

// checkRecord validates rec against the cluster's shards.
func (c *Cluster) checkRecord(rec *PlacementRecord) error {
	if rec.Cluster == "" {
		rec.Cluster = c.name
	}
	if rec.Cluster != c.name {
		return fmt.Errorf("%w: placement for cluster %q given to cluster %q", ErrInvalidConfig, rec.Cluster, c.name)
	}
	for _, l := range []struct {
		what     string
		names    []string
		nonEmpty bool
	}{{"read", rec.Read, true}, {"write", rec.Write, true}, {"frozen_from", rec.FrozenFrom, rec.Frozen}, {"frozen_to", rec.FrozenTo, rec.Frozen}, {"unclean", rec.Unclean, false}} {
		if l.nonEmpty && len(l.names) == 0 {
			return fmt.Errorf("%w: placement version %d of cluster %q has no %s shards", ErrInvalidConfig, rec.Version, c.name, l.what)
		}
		for i, n := range l.names {
			if _, ok := c.index[n]; !ok {
				return fmt.Errorf("%w: placement version %d of cluster %q names shard %q (%s), which this instance's configuration does not have (shards: %v): update the configuration",
					ErrUnknownShard, rec.Version, c.name, n, l.what, c.names)
			}
			if slices.Contains(l.names[:i], n) {
				return fmt.Errorf("%w: placement version %d of cluster %q names shard %q twice in %s", ErrInvalidConfig, rec.Version, c.name, n, l.what)
			}
		}
	}
	return nil
}

// Cluster is the cluster placed.
func (p *ShardPlacement) Cluster() *Cluster { return p.cluster }

// Record returns the placement's record.
func (p *ShardPlacement) Record() PlacementRecord { return p.rec }

// Version is the record's version; 0 for the configuration's placement.
func (p *ShardPlacement) Version() int64 { return p.rec.Version }

// Workflow is the reshard workflow that published it, "" when none.
func (p *ShardPlacement) Workflow() string { return p.rec.Workflow }

// Plain reports that routing has nothing to check but mapping keys: not
// active, not frozen, nothing unclean, not fenced.
func (p *ShardPlacement) Plain() bool { return p.plain }

// Active reports that a reshard workflow is in progress.
func (p *ShardPlacement) Active() bool { return p.rec.Active }

// Frozen reports that moving writes are frozen.
func (p *ShardPlacement) Frozen() bool { return p.rec.Frozen }

// Fenced reports that this instance could not read the placement for
// half the lease while a reshard is active (or at start): writes fail
// with the error Stale returns.
func (p *ShardPlacement) Fenced() bool { return p.fenced }

// Stale is the error a write gets on a fenced placement.
func (p *ShardPlacement) Stale() error {
	e := &PlacementStaleError{Cluster: p.cluster.name, Cause: p.cause}
	if !p.lastRead.IsZero() {
		e.Since = time.Since(p.lastRead)
	}
	return e
}

// ReadNames and WriteNames are the shards keyed reads and writes map over.
func (p *ShardPlacement) ReadNames() []string { return p.rec.Read }

// WriteNames is the shards keyed writes map over (see ReadNames).
func (p *ShardPlacement) WriteNames() []string { return p.rec.Write }

// ReadIndexes are ReadNames' positions among the configured shards.
func (p *ShardPlacement) ReadIndexes() []int { return p.read }

// WriteIndexes are WriteNames' positions among the configured shards.
func (p *ShardPlacement) WriteIndexes() []int { return p.write }

// FrozenFrom and FrozenTo are the shard lists whose mappings decide which
// writes are moving while Frozen.
func (p *ShardPlacement) FrozenFrom() []string { return p.rec.FrozenFrom }

// FrozenTo is the shard list a frozen write would move to (see FrozenFrom).
func (p *ShardPlacement) FrozenTo() []string { return p.rec.FrozenTo }

// ReadShards are the shards AllShards and scatter reads go to.
func (p *ShardPlacement) ReadShards() []*Database { return p.shards(&p.readDBs, p.read) }

// WriteShards are the shards AllShards updates and deletes run on.
func (p *ShardPlacement) WriteShards() []*Database { return p.shards(&p.writeDBs, p.write) }

func (p *ShardPlacement) shards(cache *atomic.Pointer[[]*Database], indexes []int) []*Database {
	if dbs := cache.Load(); dbs != nil {
		return *dbs
	}
	dbs := make([]*Database, len(indexes))
	for i, at := range indexes {
		dbs[i] = p.cluster.ShardAt(at)
	}
	cache.Store(&dbs)
	return dbs
}

// Unclean reports whether the configured shard at index holds rows that
// are not its own (PlacementRecord.Unclean).
func (p *ShardPlacement) Unclean(index int) bool { return p.unclean != nil && p.unclean[index] }

// UncleanAmong returns the unclean shards among those at indexes.
func (p *ShardPlacement) UncleanAmong(indexes []int) []string {
	var out []string
	for _, i := range indexes {
		if p.Unclean(i) {
			out = append(out, p.cluster.names[i])
		}
	}
	return out
}

// Changed is closed when a newer placement replaces this one.
func (p *ShardPlacement) Changed() <-chan struct{} { return p.changed }

// Current reports whether p is still the cluster's placement.
func (p *ShardPlacement) Current() bool { return p.cluster.placement.Load() == p }

func (p *ShardPlacement) supersede() {
	p.superseded.Store(true)
	close(p.changed)
	p.signalIdle()
}

// Enter counts a write in flight under p. The caller must then check that
// p is still Current (else Leave and route again), and call Leave once the
// write has finished executing: a placement's successor is acknowledged
// only when no write entered under it is in flight.
func (p *ShardPlacement) Enter() { p.inflight.Add(1) }

// Leave ends a write Enter counted.
func (p *ShardPlacement) Leave() {
	if p.inflight.Add(-1) == 0 && p.superseded.Load() {
		p.signalIdle()
	}
}

// InFlight is the number of writes in flight under p.
func (p *ShardPlacement) InFlight() int64 { return p.inflight.Load() }

func (p *ShardPlacement) signalIdle() {
	select {
	case p.idle <- struct{}{}:
	default:
	}
}

// WaitIdle waits, once p has been replaced, until no write entered under
// it is in flight, or ctx ends.
func (p *ShardPlacement) WaitIdle(ctx context.Context) error {
	for p.inflight.Load() != 0 {
		select {
		case <-p.idle:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
