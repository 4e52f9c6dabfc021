package reshard

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/grant-go/grant/topology"
)

// Start creates a workflow that moves opts.Cluster from its current
// placement to opts.To, after checking that every shard of both has every
// table with the same columns and primary key. It installs nothing and
// copies nothing yet: Run does, and may be started right after, in this
// process or another. It publishes the cluster's placement as active, so
// that watching instances track their writes from now on.
func Start(ctx context.Context, topo *topology.Topology, opts Options) (*Workflow, error) {
	w, r, err := prepare(ctx, topo, opts)
	if err != nil {
		return nil, err
	}
	if err := w.state.ensure(ctx); err != nil {
		return nil, err
	}
	if err := w.store.Ensure(ctx); err != nil {
		return nil, err
	}
	if _, err := w.state.load(ctx, w.state.db, r.Workflow, false); err == nil {
		return nil, fmt.Errorf("%w: workflow %q already exists; grant reshard run resumes it", ErrState, r.Workflow)
	}
	if err := w.state.create(ctx, r); err != nil {
		return nil, fmt.Errorf("grant/reshard: recording workflow %q: %w", r.Workflow, err)
	}
	before, err := w.current(ctx)
	if err != nil {
		return nil, err
	}
	rec := w.record(r, r.From, r.From)
	rec.Unclean = unclean(r, r.From)
	version, err := w.store.Publish(ctx, rec)
	if err != nil {
		return nil, err
	}
	// Every instance must count its writes from here on (an
	// acknowledgement of a later freeze means nothing otherwise): wait for
	// them all, or undo.
	if _, err := w.waitAcks(ctx, version); err != nil {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		before.Workflow, before.Active = "", false
		if _, uerr := w.store.Publish(actx, before); uerr != nil {
			err = fmt.Errorf("%w; and restoring the placement failed: %v", err, uerr)
		}
		if derr := w.state.remove(actx, r.Workflow); derr != nil {
			err = fmt.Errorf("%w; and removing the workflow failed: %v", err, derr)
		}
		return nil, fmt.Errorf("start refused, nothing changed: %w", err)
	}
	w.warnPrepared()
	w.logf("workflow %s: %s → %s, tables %s", r.Workflow, strings.Join(r.From, ", "), strings.Join(r.To, ", "), tableNames(r))
	return w, nil
}

// Open returns a handle on an existing workflow (opts.Workflow, or the
// cluster's default name), to run, inspect or switch it.
func Open(ctx context.Context, topo *topology.Topology, opts Options) (*Workflow, error) {
	w, err := open(ctx, topo, opts)
	if err != nil {
		return nil, err
	}
	if err := w.state.ensure(ctx); err != nil {
		return nil, err
	}
	r, err := w.load(ctx)
	if err != nil {
		return nil, err
	}
	if err := w.connect(ctx, r); err != nil {
		return nil, err
	}
	return w, nil
}

// prepare checks opts against the cluster and its shards and builds the
// record a new workflow would start from.
func prepare(ctx context.Context, topo *topology.Topology, opts Options) (*Workflow, *record, error) {
	w, err := open(ctx, topo, opts)
	if err != nil {
		return nil, nil, err
	}
	cur, err := w.current(ctx)
	if err != nil {
		return nil, nil, err
	}
	// Starting the same workflow again (after a crash of grant reshard
	// start, typically) must point at run, not at finishing "another"
	// workflow first.
	if cur.Active && cur.Workflow == w.opts.Workflow {
		return nil, nil, fmt.Errorf("%w: workflow %q already exists on cluster %q; grant reshard run resumes it, grant reshard status shows where it is", ErrState, cur.Workflow, w.opts.Cluster)
	}
	if cur.Active {
		return nil, nil, fmt.Errorf("%w: cluster %q has workflow %q in progress; finish it (grant reshard complete) first", ErrState, w.opts.Cluster, cur.Workflow)
	}
	if err := w.checkTarget(cur.Write); err != nil {
		return nil, nil, err
	}
	specs, err := w.specs()
	if err != nil {
		return nil, nil, err
	}
	r := &record{Workflow: w.opts.Workflow, Cluster: w.opts.Cluster, State: StateCopying, Direction: forward,
		From: slices.Clone(cur.Write), To: slices.Clone(w.opts.To), Tables: specs}
	if err := w.connect(ctx, r); err != nil {
		return nil, nil, err
	}
	return w, r, nil
}

func (w *Workflow) checkTarget(from []string) error {
	to := w.opts.To
	if len(to) == 0 {
		return fmt.Errorf("%w: no target shards: list them in order (Options.To, --to)", ErrUnsupported)
	}
	seen := map[string]bool{}
	for _, name := range to {
		if w.cluster.Index(name) < 0 {
			return fmt.Errorf("%w: %q is not a shard of cluster %q (configured: %s); add it to the configuration, marked pending, first",
				ErrUnsupported, name, w.opts.Cluster, strings.Join(w.cluster.ShardNames(), ", "))
		}
		if seen[name] {
			return fmt.Errorf("%w: shard %q is listed twice in the target", ErrUnsupported, name)
		}
		seen[name] = true
	}
	if slices.Equal(from, to) {
		return fmt.Errorf("%w: the target placement (%s) is the current one", ErrUnsupported, strings.Join(to, ", "))
	}
	return nil
}

func (w *Workflow) load(ctx context.Context) (*record, error) {
	return w.state.load(ctx, w.state.db, w.opts.Workflow, false)
}

func tableNames(r *record) string {
	names := make([]string, len(r.Tables))
	for i, t := range r.Tables {
		names[i] = t.Name
	}
	return strings.Join(names, ", ")
}

// Complete finishes a switched workflow: the change streams stop, the
// moved rows are deleted from their old shards in batches, every capture
// is removed (slots, publications, triggers, changelogs), and the target
// placement is published as the cluster's, no longer active. There is no
// way back after it. Interrupted, it resumes when run again.
func (w *Workflow) Complete(ctx context.Context) error {
	var r *record
	err := w.state.locked(ctx, w.opts.Workflow, func(_ *sql.Tx, rec *record) error {
		if rec.State != StateWritesSwitched && rec.State != StateCompleting {
			return fmt.Errorf("%w: workflow %q is %s; complete needs switched writes (grant reshard switch-writes)", ErrState, rec.Workflow, rec.State)
		}
		rec.State, rec.Direction = StateCompleting, stopped
		r = rec
		return nil
	})
	if err != nil {
		return err
	}
	start := time.Now()
	deleted, err := w.deleteMoved(ctx, r)
	if err != nil {
		return err
	}
	for _, name := range union(r.From, r.To) {
		if err := w.shards[name].capture.Uninstall(ctx); err != nil {
			return fmt.Errorf("removing change capture from shard %q: %w", name, err)
		}
	}
	if err := w.state.drop(ctx, r.Workflow); err != nil {
		return err
	}
	err = w.state.locked(ctx, r.Workflow, func(tx *sql.Tx, rec *record) error {
		rec.State = StateCompleted
		final := topology.PlacementRecord{Cluster: r.Cluster, Workflow: r.Workflow, Read: r.To, Write: r.To}
		_, err := w.store.PublishTx(ctx, tx, final)
		return err
	})
	w.logf("completed: %d moved rows deleted from their old shards, captures removed (%s)", deleted, time.Since(start).Round(time.Millisecond))
	return err
}

// deleteMoved deletes, on every source shard, the rows the target
// placement maps elsewhere.
func (w *Workflow) deleteMoved(ctx context.Context, r *record) (int64, error) {
	var total int64
	dir := placements{auth: r.From, mirror: r.To}
	for _, name := range r.From {
		sh := w.shards[name]
		for _, t := range w.tables {
			nt := t.narrow() // a row's key and primary key say whether it moved
			err := scan(ctx, sh.db, w.d, nt, nil, w.opts.BatchSize, func(rows [][]any) error {
				var gone [][]any
				for _, row := range rows {
					if _, side, err := w.side(ctx, nt, dir, name, row); err != nil {
						return err
					} else if side == authoritative {
						gone = append(gone, nt.pkValues(row))
					}
				}
				n, err := deleteRows(ctx, sh.db, w.d, t, gone)
				total += n
				return err
			})
			if err != nil {
				return total, fmt.Errorf("deleting moved %s rows from shard %q: %w", t.Name, name, err)
			}
		}
	}
	return total, nil
}

// warnPrepared says when a MariaDB/MySQL shard's DSN lets the driver
// prepare statements on the server: MariaDB fails such a statement with
// "changelog doesn't exist" when the capture's triggers appear or go
// between its prepare and execute. Nodes given as a Dialector show no DSN
// and cannot be checked.
func (w *Workflow) warnPrepared() {
	if w.d.postgres() {
		return
	}
	for _, sh := range w.shards {
		if dsn := sh.dsn; dsn != "" && !strings.Contains(dsn, "interpolateParams=true") {
			w.logf("warning: shard %s's DSN lacks interpolateParams=true: on MariaDB, statements the driver prepares on the server while start installs (or complete removes) the change capture can fail once with error 1146 (docs/resharding.md)", sh.name)
		}
	}
}
