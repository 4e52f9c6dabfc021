package reshard

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// copyAll copies, for every table and source shard, the rows whose shard
// changes, in primary-key order and in batches, at most Parallel pairs at
// once. Each batch's last key is checkpointed, so a killed copy resumes
// where it stopped. The change streams are installed first and read only
// after the copy: every change since a stream's start is applied then,
// whatever the copy saw.
func (w *Workflow) copyAll(ctx context.Context, r *record) error {
	done, err := w.state.progress(ctx, w.state.db, r.Workflow)
	if err != nil {
		return err
	}
	checkpoints := map[[2]string]copyProgress{}
	for _, c := range done {
		checkpoints[[2]string{c.Table, c.Shard}] = c
	}
	// Targets first, so that nothing written to them goes uncaptured;
	// then each source, whose stream starts at the copy's snapshot.
	for _, name := range r.To {
		if !slices.Contains(r.From, name) {
			if err := w.shards[name].capture.Install(ctx, w.plainTables()); err != nil {
				return fmt.Errorf("installing change capture on shard %q: %w", name, err)
			}
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(w.opts.Parallel)
	for _, source := range r.From {
		sh := w.shards[source]
		snapshot, release, err := w.installAt(ctx, sh)
		if err != nil {
			return fmt.Errorf("installing change capture on shard %q: %w", source, err)
		}
		var pending sync.WaitGroup
		for _, t := range w.tables {
			c := checkpoints[[2]string{t.Name, source}]
			c.Table, c.Shard = t.Name, source
			if c.Done {
				continue
			}
			pending.Add(1)
			g.Go(func() error {
				defer pending.Done()
				return w.copyOne(gctx, r, t, sh, snapshot, c)
			})
		}
		// The snapshot lives as long as its replication connection: free
		// it once this shard's copies have imported it and finished.
		go func() { pending.Wait(); release() }()
	}
	return g.Wait()
}

func (w *Workflow) installAt(ctx context.Context, sh *shard) (string, func(), error) {
	if s, ok := sh.capture.(Snapshotter); ok {
		return s.InstallAt(ctx, w.plainTables())
	}
	return "", func() {}, sh.capture.Install(ctx, w.plainTables())
}

func (w *Workflow) plainTables() []Table {
	out := make([]Table, len(w.tables))
	for i, t := range w.tables {
		out[i] = t.Table
	}
	return out
}

// copyOne copies one table from one source shard, from checkpoint c on.
func (w *Workflow) copyOne(ctx context.Context, r *record, t *table, source *shard, snapshot string, c copyProgress) error {
	var q querier = source.db
	if snapshot != "" && c.After == nil {
		tx, err := source.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
		if err != nil {
			return err
		}
		defer tx.Rollback() //nolint:errcheck // read-only
		if _, err := tx.ExecContext(ctx, "SET TRANSACTION SNAPSHOT '"+snapshot+"'"); err != nil {
			return fmt.Errorf("importing the copy snapshot on shard %q: %w", source.name, err)
		}
		q = tx
	}
	start, copiedBefore := time.Now(), c.Copied
	dir := placements{auth: r.From, mirror: r.To}
	err := scan(ctx, q, w.d, t, c.After, w.opts.BatchSize, func(rows [][]any) error {
		moving := map[string][][]any{}
		for _, row := range rows {
			// Only this shard's rows under the source placement, and of
			// those the ones the target places elsewhere.
			to, side, err := w.side(ctx, t, dir, source.name, row)
			if err != nil {
				return err
			}
			if side == authoritative {
				moving[to] = append(moving[to], row)
			}
		}
		for target, batch := range moving {
			if err := upsertRows(ctx, w.shards[target].db, w.d, t, batch); err != nil {
				return fmt.Errorf("to %q: %w", target, err)
			}
			c.Moved += int64(len(batch))
		}
		c.Copied += int64(len(rows))
		c.After = t.pkValues(rows[len(rows)-1])
		if err := w.state.saveProgress(ctx, w.state.db, r.Workflow, c); err != nil {
			return err
		}
		if w.opts.CopyRate > 0 && len(rows) == w.opts.BatchSize {
			due := time.Duration(float64(c.Copied-copiedBefore) / float64(w.opts.CopyRate) * float64(time.Second))
			return sleep(ctx, due-time.Since(start))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("copying %s from shard %q: %w", t.Name, source.name, err)
	}
	c.Done = true
	if err := w.state.saveProgress(ctx, w.state.db, r.Workflow, c); err != nil {
		return err
	}
	w.logf("copied %s from %s: %d rows read, %d moved, %s", t.Name, source.name, c.Copied, c.Moved, time.Since(start).Round(time.Millisecond))
	return nil
}
