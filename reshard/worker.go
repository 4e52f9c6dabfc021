package reshard

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"
)

// Run is the workflow's worker: it copies the rows that move, then keeps
// applying the change streams in the workflow's current direction until
// ctx ends or the workflow completes. Run it in one long-lived process
// (grant reshard start, or grant reshard run to resume): the steps that
// switch placement take the same lock, so they may run from other
// processes while it does, and a second Run waits for the first.
//
// Run returns nil when the workflow is completing or completed, ctx's
// error when ctx ends, and otherwise the error that stopped it; running it
// again resumes from the last checkpoint.
func (w *Workflow) Run(ctx context.Context) error {
	release, err := w.state.workerLock(ctx, w.opts.Workflow)
	if err != nil {
		return err
	}
	defer release()
	r, err := w.load(ctx)
	if err != nil {
		return err
	}
	if r.State == StateCopying {
		// Not under the workflow's row lock: on PostgreSQL that lock holds
		// a transaction id, and creating a slot waits for every running
		// transaction of the server to end — ours included.
		if err := w.copyAll(ctx, r); err != nil {
			return err
		}
		if err := w.state.locked(ctx, r.Workflow, func(_ *sql.Tx, rec *record) error {
			if rec.State == StateCopying {
				rec.State, rec.Direction = StateRunning, forward
			}
			return nil
		}); err != nil {
			return err
		}
		w.logf("copy done; applying changes")
	}
	for {
		applied, state, err := w.round(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if state == StateCompleting || state == StateCompleted {
			return nil
		}
		if applied == 0 {
			if err := sleep(ctx, w.opts.Poll); err != nil {
				return err
			}
		}
	}
}

// round reads one batch from every shard's stream and applies it in the
// workflow's direction: changes on the authoritative placement's shards
// are reconciled, the others are acknowledged unread (they are the
// mirror's own echoes, and would otherwise pile up). It takes the
// workflow's lock for each shard's batch, not for the round, so that a
// switch waiting for it waits one batch at most. It returns how many
// changes it read and the workflow's state.
func (w *Workflow) round(ctx context.Context) (int, string, error) {
	total, state := 0, ""
	r, err := w.load(ctx)
	if err != nil {
		return 0, "", err
	}
	for _, name := range union(r.From, r.To) {
		err := w.state.locked(ctx, w.opts.Workflow, func(_ *sql.Tx, rec *record) error {
			state = rec.State
			if rec.State == StateCompleting || rec.State == StateCompleted {
				return nil
			}
			dir, ok := w.direction(rec)
			n, err := w.applyBatch(ctx, w.shards[name], dir, ok && slices.Contains(dir.auth, name))
			total += n
			return err
		})
		if err != nil || state == StateCompleting || state == StateCompleted {
			return total, state, err
		}
	}
	return total, state, nil
}

// applyBatch reads one batch of a shard's changes, reconciles them when
// apply, and acknowledges them.
func (w *Workflow) applyBatch(ctx context.Context, sh *shard, dir placements, apply bool) (int, error) {
	changes, cursor, err := sh.capture.Read(ctx, w.opts.ApplyBatch)
	if err != nil {
		return 0, fmt.Errorf("reading the change stream of shard %q: %w", sh.name, err)
	}
	if apply && len(changes) > 0 {
		byTable := map[string][][]string{}
		for _, c := range changes {
			byTable[c.Table] = append(byTable[c.Table], c.PK)
		}
		for _, t := range w.tables {
			if pks := byTable[t.Name]; len(pks) > 0 {
				if _, err := w.reconcile(ctx, t, dir, pks); err != nil {
					return 0, fmt.Errorf("applying changes of shard %q: %w", sh.name, err)
				}
			}
		}
	}
	if err := sh.capture.Ack(ctx, cursor); err != nil {
		return 0, fmt.Errorf("acknowledging the change stream of shard %q: %w", sh.name, err)
	}
	return len(changes), nil
}

// drain applies the authoritative shards' streams until each has reached
// the position it had when drain began: every change committed before
// then is applied. The caller holds the workflow lock.
func (w *Workflow) drain(ctx context.Context, r *record, deadline time.Time) error {
	dir, _ := w.direction(r)
	for _, name := range dir.auth {
		sh := w.shards[name]
		mark, err := sh.capture.Mark(ctx)
		if err != nil {
			return err
		}
		for {
			reached, err := sh.capture.Reached(ctx, mark)
			if err != nil {
				return err
			}
			if reached {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%w: shard %q's change stream did not drain within %s", ErrBusy, name, w.opts.SettleTimeout)
			}
			n, err := w.applyBatch(ctx, sh, dir, true)
			if err != nil {
				return err
			}
			if n == 0 { // changes below the mark not yet committed (MariaDB)
				if err := sleep(ctx, time.Millisecond); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
