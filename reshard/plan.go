package reshard

import (
	"context"
	"fmt"

	"github.com/grant-go/grant/topology"
)

// PlanReport says, per table and source shard, how many rows move and
// where.
type PlanReport struct {
	Cluster  string
	From, To []string
	Tables   []TablePlan
}

// TablePlan is one table on one source shard.
type TablePlan struct {
	Table, Shard string
	Rows         int64            // rows of the shard's under the current placement
	Moves        map[string]int64 // target shard → rows that go there
}

// Plan reads every source shard's keys and counts the rows the target
// placement would move. It changes nothing.
func Plan(ctx context.Context, topo *topology.Topology, opts Options) (*PlanReport, error) {
	w, r, err := prepare(ctx, topo, opts)
	if err != nil {
		return nil, err
	}
	report := &PlanReport{Cluster: r.Cluster, From: r.From, To: r.To}
	dir := placements{auth: r.From, mirror: r.To}
	for _, t := range w.tables {
		narrow := t.narrow()
		for _, name := range r.From {
			tp := TablePlan{Table: t.Name, Shard: name, Moves: map[string]int64{}}
			err := scan(ctx, w.shards[name].db, w.d, narrow, nil, 10000, func(rows [][]any) error {
				for _, row := range rows {
					mirror, auth, err := w.homes(ctx, narrow, dir, row)
					if err != nil {
						return err
					}
					if auth != name {
						continue
					}
					tp.Rows++
					if mirror != name {
						tp.Moves[mirror]++
					}
				}
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("planning %s on shard %q: %w", t.Name, name, err)
			}
			report.Tables = append(report.Tables, tp)
		}
	}
	return report, nil
}

// narrow is t reduced to its primary key and shard key, for scans that
// only need to place rows.
func (t *table) narrow() *table {
	n := &table{Table: Table{Name: t.Name, Key: t.Key, PK: t.PK}, strategy: t.strategy, keyInt: t.keyInt}
	n.Columns = append(n.Columns, t.PK...)
	n.keyAt = -1
	for i, c := range n.Columns {
		if c == t.Key {
			n.keyAt = i
		}
	}
	if n.keyAt < 0 {
		n.Columns = append(n.Columns, t.Key)
		n.keyAt = len(n.Columns) - 1
	}
	for i := range t.PK {
		n.pkAt = append(n.pkAt, i)
	}
	return n
}
