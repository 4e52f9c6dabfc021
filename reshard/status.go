package reshard

import (
	"context"

	"github.com/grant-go/grant/topology"
)

// Status is a workflow's state as the default database and the shards
// report it.
type Status struct {
	Workflow, Cluster string
	State             string // one of the State constants
	Direction         string // "forward", "reverse" or "none"
	From, To          []string
	Copy              []CopyStatus
	Lag               []ShardLag
	// Placement is the cluster's published placement.
	Placement topology.PlacementRecord
	// Instances are the application instances seen within the lease, with
	// the placement version each has acknowledged.
	Instances []topology.InstanceAck
	// LastFreeze is the last switch's freeze window.
	LastFreeze int64 // milliseconds
}

// CopyStatus is one table's copy from one source shard.
type CopyStatus struct {
	Table, Shard string
	Copied       int64 // rows read
	Moved        int64 // rows written to another shard
	Done         bool
}

// ShardLag is how much of a shard's change stream is not applied yet.
type ShardLag struct {
	Shard string
	Lag
}

// Status reads the workflow's state, copy progress, each shard's stream
// lag and the instances' acknowledgements. It changes nothing.
func (w *Workflow) Status(ctx context.Context) (*Status, error) {
	r, err := w.load(ctx)
	if err != nil {
		return nil, err
	}
	s := &Status{Workflow: r.Workflow, Cluster: r.Cluster, State: r.State, Direction: r.Direction, From: r.From, To: r.To, LastFreeze: r.FreezeMillis}
	progress, err := w.state.progress(ctx, w.state.db, r.Workflow)
	if err != nil {
		return nil, err
	}
	for _, p := range progress {
		s.Copy = append(s.Copy, CopyStatus{Table: p.Table, Shard: p.Shard, Copied: p.Copied, Moved: p.Moved, Done: p.Done})
	}
	if r.State != StateCompleted && r.State != StateCopying {
		for _, name := range union(r.From, r.To) {
			lag, err := w.shards[name].capture.Lag(ctx)
			if err != nil {
				return nil, err
			}
			s.Lag = append(s.Lag, ShardLag{Shard: name, Lag: lag})
		}
	}
	if s.Placement, err = w.current(ctx); err != nil {
		return nil, err
	}
	if s.Instances, err = w.store.Instances(ctx, r.Cluster, w.opts.Lease); err != nil {
		return nil, err
	}
	return s, nil
}
