package migrator

import (
	"context"
	"errors"
	"slices"

	"golang.org/x/sync/errgroup"
)

// StatusReport is the state of each writer of a target, and the clusters
// whose shards disagree.
type StatusReport struct {
	Targets []TargetStatus // in target order, as Report.Results
	Drift   []Drift        // one per cluster whose shards differ, by cluster name
}

// TargetStatus is the state of one writer's version table.
type TargetStatus struct {
	Target   string // "primary", or "orders/shard1"
	Database string // the database's name; for a shard, its cluster's
	Cluster  string // "" for a database
	Shard    string // "" for a database
	Current  int64  // the highest applied version; 0 when none
	Applied  []int64
	Pending  []int64
	Err      error // the version table could not be read; the fields above are empty
}

// Drift reports a cluster whose shards are not all at the same current
// version, or have not applied the same migrations: typically a run in
// which some shards failed. Versions maps each shard whose status could be
// read to its current version.
type Drift struct {
	Cluster  string
	Versions map[string]int64
}

// HasDrift reports whether some cluster's shards differ.
func (s *StatusReport) HasDrift() bool { return s != nil && len(s.Drift) > 0 }

// Status reads the version table of each writer of target (resolved as for
// Up) and compares it with the known migrations: Applied and Pending
// versions, ascending. It writes nothing — a missing version table means
// nothing is applied — and takes no lock, so during a run it shows the
// migrations committed so far. Shards are read concurrently (WithParallel).
//
// The report is nil only when target does not resolve (then err says why).
// Otherwise err is nil, or errors.Join of the TargetStatus errors, each
// naming its target.
func (m *Migrator) Status(ctx context.Context, target string) (*StatusReport, error) {
	groups, err := m.resolve(target)
	if err != nil {
		return nil, err
	}
	report := &StatusReport{}
	var errs []error
	for _, g := range groups {
		statuses := make([]TargetStatus, len(g.targets))
		var eg errgroup.Group
		eg.SetLimit(m.parallelism(len(g.targets)))
		for i, t := range g.targets {
			eg.Go(func() error {
				statuses[i] = m.status(ctx, t)
				return nil
			})
		}
		_ = eg.Wait()
		for _, s := range statuses {
			if s.Err != nil {
				errs = append(errs, s.Err)
			}
		}
		report.Targets = append(report.Targets, statuses...)
		if g.cluster != "" {
			if d, ok := drift(g.cluster, statuses); ok {
				report.Drift = append(report.Drift, d)
			}
		}
	}
	return report, errors.Join(errs...)
}

func (m *Migrator) status(ctx context.Context, t *target) TargetStatus {
	s := TargetStatus{Target: t.name, Database: t.database, Cluster: t.cluster, Shard: t.shard}
	w, err := m.open(ctx, t, nil)
	if err != nil {
		s.Err = err
		return s
	}
	defer w.close()
	applied, _, err := w.applied(ctx)
	if err != nil {
		s.Err = w.targetError(err, 0)
		return s
	}
	s.Pending = w.pending(applied)
	s.Applied = slices.Sorted(slices.Values(applied))
	if len(s.Applied) > 0 {
		s.Current = s.Applied[len(s.Applied)-1]
	}
	return s
}

// drift compares the shards of a cluster that could be read.
func drift(cluster string, statuses []TargetStatus) (Drift, bool) {
	d := Drift{Cluster: cluster, Versions: map[string]int64{}}
	var first *TargetStatus
	differ := false
	for i := range statuses {
		s := &statuses[i]
		if s.Err != nil {
			continue
		}
		d.Versions[s.Shard] = s.Current
		if first == nil {
			first = s
		} else if s.Current != first.Current || !slices.Equal(s.Applied, first.Applied) {
			differ = true
		}
	}
	if !differ {
		return Drift{}, false
	}
	return d, true
}
