package reshard

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/grant-go/grant/topology"
)

// SwitchReport is what a switch did.
type SwitchReport struct {
	// Version is the placement version published at the end.
	Version int64
	// FreezeWindow is how long writes to moving keys were frozen: from the
	// frozen placement's publication to the switched one's. Zero for
	// SwitchReads, which freezes nothing.
	FreezeWindow time.Duration
	// Instances lists the application instances that acknowledged.
	Instances []string
	// Where the freeze window went: waiting for acknowledgements, for
	// open transactions on the authoritative shards, for the worker to
	// finish the batch it was applying, draining the change streams, and
	// the exact verification.
	Acks, Transactions, Lock, Drain, Verify time.Duration
}

// SwitchReads points keyed reads at the target placement; writes stay on
// the source, whose changes reach the target through the change stream, so
// a read right after a write may not see it yet (like a replica). Nothing
// is frozen. Statements that span several shards are refused while shards
// hold rows that are not theirs (see docs/resharding.md).
func (w *Workflow) SwitchReads(ctx context.Context) (*SwitchReport, error) {
	var report *SwitchReport
	err := w.state.locked(ctx, w.opts.Workflow, func(tx *sql.Tx, r *record) error {
		if r.State != StateRunning {
			return fmt.Errorf("%w: workflow %q is %s; switch-reads needs it running (copy done, writes on the source)", ErrState, r.Workflow, r.State)
		}
		rec := w.record(r, r.To, r.From)
		rec.Unclean = unclean(r, r.To)
		v, err := w.store.PublishTx(ctx, tx, rec)
		if err != nil {
			return err
		}
		r.State = StateReadsSwitched
		report = &SwitchReport{Version: v}
		w.logf("reads switched to %s (placement version %d)", strings.Join(r.To, ", "), v)
		return nil
	})
	return report, err
}

// SwitchWrites moves writes (and reads) to the target placement:
//
//  1. verify, while the application runs; diverged rows refuse the switch;
//  2. freeze writes to moving keys on every instance, and wait until every
//     live instance has acknowledged (none still runs a write routed
//     before the freeze);
//  3. wait for transactions already open on the source shards to end, and
//     drain the change streams to the sources' current positions;
//  4. verify again, exactly (moving keys cannot change now);
//  5. publish the target placement, which unfreezes, and keep the source
//     current from the target from then on (Reverse can go back).
//
// If any step fails, the previous placement is published again unfrozen
// and nothing else changes; the error says which step and why.
func (w *Workflow) SwitchWrites(ctx context.Context) (*SwitchReport, error) {
	return w.cutOver(ctx, "switch-writes", StateRunning, StateReadsSwitched)
}

// Reverse undoes SwitchWrites the same way: freeze, acknowledgements,
// drain from the target to the source, exact verification, and then the
// source placement serves again, kept current toward the target so that
// the switch can be made again.
func (w *Workflow) Reverse(ctx context.Context) (*SwitchReport, error) {
	return w.cutOver(ctx, "reverse", StateWritesSwitched)
}

// cutOver switches writes between the workflow's placements, in the
// direction its state says.
func (w *Workflow) cutOver(ctx context.Context, step string, from ...string) (*SwitchReport, error) {
	r, err := w.load(ctx)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(from, r.State) {
		return nil, fmt.Errorf("%w: workflow %q is %s; %s needs it %s", ErrState, r.Workflow, r.State, step, strings.Join(from, " or "))
	}
	// 1. Verify before freezing: a divergence found now costs no freeze.
	pre, err := w.Verify(ctx)
	if err != nil {
		return nil, err
	}
	if err := pre.Err(); err != nil {
		return nil, fmt.Errorf("switch refused, nothing changed: %w", err)
	}
	dir, _ := w.direction(r)
	before, err := w.current(ctx)
	if err != nil {
		return nil, err
	}
	// 2. Freeze.
	frozen := before
	frozen.Workflow, frozen.Active = r.Workflow, true
	frozen.Frozen, frozen.FrozenFrom, frozen.FrozenTo = true, dir.auth, dir.mirror
	frozen.Write = dir.auth
	start := time.Now()
	version, err := w.store.Publish(ctx, frozen)
	if err != nil {
		return nil, err
	}
	w.logf("writes to moving keys frozen (placement version %d)", version)
	report := &SwitchReport{}
	abort := func(cause error) (*SwitchReport, error) {
		undo := before
		undo.Workflow, undo.Active, undo.Frozen, undo.FrozenFrom, undo.FrozenTo = r.Workflow, true, false, nil, nil
		// A fresh context: the caller's may be what ended.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := w.store.Publish(actx, undo); err != nil {
			return nil, fmt.Errorf("%w; and unfreezing failed too, run the step again or grant reshard status: %v", cause, err)
		}
		w.logf("aborted, writes unfrozen: %v", cause)
		return nil, fmt.Errorf("switch aborted, placement unchanged: %w", cause)
	}
	acked, err := w.waitAcks(ctx, version)
	if err != nil {
		return abort(err)
	}
	report.Instances = acked
	report.Acks = time.Since(start)
	deadline := time.Now().Add(w.opts.SettleTimeout)
	for _, name := range dir.auth {
		if err := w.waitOpenTransactions(ctx, w.shards[name], deadline); err != nil {
			return abort(err)
		}
	}
	report.Transactions = time.Since(start) - report.Acks
	locking := time.Now()
	// 3–5 under the workflow lock, so the worker is between rounds.
	var final *VerifyReport
	err = w.state.locked(ctx, r.Workflow, func(tx *sql.Tx, rec *record) error {
		if rec.State != r.State {
			return fmt.Errorf("%w: workflow %q changed to %s meanwhile", ErrState, rec.Workflow, rec.State)
		}
		began := time.Now()
		report.Lock = began.Sub(locking)
		if err := w.drain(ctx, rec, deadline); err != nil {
			return err
		}
		report.Drain = time.Since(began)
		var err error
		if final, err = w.compare(ctx, rec, dir); err != nil {
			return err
		}
		report.Verify = time.Since(began) - report.Drain
		if err := final.Err(); err != nil {
			return err
		}
		after := before
		after.Workflow, after.Active, after.Frozen, after.FrozenFrom, after.FrozenTo = rec.Workflow, true, false, nil, nil
		after.Read, after.Write = dir.mirror, dir.mirror
		if rec.State == StateWritesSwitched { // going back to the source
			after.Unclean = unclean(rec, rec.From)
			rec.State, rec.Direction = StateRunning, forward
		} else {
			after.Unclean = unclean(rec, rec.To)
			rec.State, rec.Direction = StateWritesSwitched, reverse
		}
		// In the transaction that records the workflow's new state: a
		// crash between the two would leave the placement switched and the
		// streams running the old way, losing what the new shards get.
		v, err := w.store.PublishTx(ctx, tx, after)
		if err != nil {
			return err
		}
		report.Version, report.FreezeWindow = v, time.Since(start)
		rec.FreezeMillis = report.FreezeWindow.Milliseconds()
		rec.Switches++
		return nil
	})
	if err != nil {
		return abort(err)
	}
	w.logf("writes switched (placement version %d); frozen for %s", report.Version, report.FreezeWindow.Round(time.Millisecond))
	return report, nil
}

// waitAcks waits until every instance seen within the lease has
// acknowledged version.
func (w *Workflow) waitAcks(ctx context.Context, version int64) ([]string, error) {
	deadline := time.Now().Add(w.opts.AckTimeout)
	for {
		instances, err := w.store.Instances(ctx, w.opts.Cluster, w.opts.Lease)
		if err != nil {
			return nil, err
		}
		var waiting, acked []string
		for _, in := range instances {
			if in.Acked >= version {
				acked = append(acked, in.Instance)
			} else {
				waiting = append(waiting, fmt.Sprintf("%s (host %s, pid %d, at version %d)", in.Instance, in.Host, in.PID, in.Acked))
			}
		}
		if len(waiting) == 0 {
			return acked, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%w: %s did not acknowledge placement version %d within %s (an instance acknowledges once it has read the placement and its writes routed before it have finished; one whose configuration lacks a shard of the new placement never does)",
				ErrNoAck, strings.Join(waiting, ", "), version, w.opts.AckTimeout)
		}
		if err := sleep(ctx, 5*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

// waitOpenTransactions waits until every write transaction open on the
// shard now has ended: a write routed before the freeze may sit in one,
// and its commit would come after the drain's mark.
func (w *Workflow) waitOpenTransactions(ctx context.Context, sh *shard, deadline time.Time) error {
	if !w.d.postgres() {
		return w.waitTableWriters(ctx, sh, deadline)
	}
	query := `SELECT pid::text || '@' || xact_start::text, 'pid ' || pid || ' since ' || xact_start || ': ' || COALESCE(query, '')
FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL`
	open := func() (map[string]string, error) {
		rows, err := sh.db.QueryContext(ctx, query)
		if err != nil {
			return nil, fmt.Errorf("listing open transactions on shard %q: %w", sh.name, err)
		}
		defer rows.Close()
		out := map[string]string{}
		for rows.Next() {
			var id, what string
			if err := rows.Scan(&id, &what); err != nil {
				return nil, err
			}
			out[id] = what
		}
		return out, rows.Err()
	}
	first, err := open()
	if err != nil {
		return err
	}
	pause := time.Millisecond
	for len(first) > 0 {
		now, err := open()
		if err != nil {
			return err
		}
		for id := range first {
			if _, ok := now[id]; !ok {
				delete(first, id)
			}
		}
		if len(first) == 0 {
			break
		}
		if time.Now().After(deadline) {
			var which []string
			for _, what := range first {
				which = append(which, what)
			}
			slices.Sort(which)
			return fmt.Errorf("%w: %d transaction(s) open on shard %q since before the freeze did not end within %s: %s", ErrBusy, len(first), sh.name, w.opts.SettleTimeout, strings.Join(which[:min(3, len(which))], "; "))
		}
		pause = min(2*pause, 20*time.Millisecond)
		if err := sleep(ctx, pause); err != nil {
			return err
		}
	}
	return nil
}

// waitTableWriters is waitOpenTransactions on MariaDB/MySQL: LOCK TABLES
// … READ waits for every transaction that has written one of the tables
// (each holds the table's write metadata lock until it ends) and is
// released at once. Polling information_schema.innodb_trx instead was
// tried: it stalled the commits it waited for (MariaDB 10.11, a COMMIT
// stuck for 20 s while the poll ran).
func (w *Workflow) waitTableWriters(ctx context.Context, sh *shard, deadline time.Time) error {
	conn, err := sh.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	wait := max(1, int(time.Until(deadline).Seconds()+0.5))
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("SET SESSION lock_wait_timeout = %d", wait)); err != nil {
		return err
	}
	names := make([]string, len(w.tables))
	for i, t := range w.tables {
		names[i] = w.d.quote(t.Name) + " READ"
	}
	if _, err := conn.ExecContext(ctx, "LOCK TABLES "+strings.Join(names, ", ")); err != nil {
		return fmt.Errorf("%w: transactions that wrote on shard %q before the freeze did not end within %s: %v", ErrBusy, sh.name, w.opts.SettleTimeout, err)
	}
	if _, err := conn.ExecContext(context.WithoutCancel(ctx), "UNLOCK TABLES"); err != nil {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn }) // never hand a locked session back to the pool
		return err
	}
	return nil
}

// current is the cluster's placement now: the last published, or the
// configuration's.
func (w *Workflow) current(ctx context.Context) (topology.PlacementRecord, error) {
	rec, ok, err := w.store.Load(ctx, w.opts.Cluster)
	if err != nil {
		return rec, err
	}
	if !ok {
		rec = w.cluster.Placement().Record()
		rec.Cluster = w.opts.Cluster
	}
	return rec, nil
}

// record is the placement to publish with reads on read and writes on
// write, nothing frozen.
func (w *Workflow) record(r *record, read, write []string) topology.PlacementRecord {
	return topology.PlacementRecord{Cluster: r.Cluster, Workflow: r.Workflow, Active: true, Read: read, Write: write}
}

// unclean lists the shards of serving (r.From or r.To) that hold rows
// the serving placement maps elsewhere, while both placements' rows
// exist: a statement spanning several shards would see such rows twice.
// The old shards keep their moved rows until Complete, so under the target
// placement every shard of both is unclean. Under the source placement the
// mirror copies are the question: jump hash over appended shards, modulo
// over a multiple of the shard count with the old shards first, and ranges
// (a key's innermost range whose shard is listed is, under the longer list,
// the same old range or a new shard's) only ever move a key to a new
// shard, so the source stays clean; for
// any other strategy the shards of both placements are assumed not to be.
func unclean(r *record, serving []string) []string {
	if slices.Equal(serving, r.From) && onlyToNewShards(r) {
		return nil
	}
	var out []string
	for _, s := range serving {
		if slices.Contains(r.From, s) && slices.Contains(r.To, s) {
			out = append(out, s)
		}
	}
	return out
}

func onlyToNewShards(r *record) bool {
	if len(r.To) <= len(r.From) || !slices.Equal(r.To[:len(r.From)], r.From) {
		return false
	}
	for _, t := range r.Tables {
		switch {
		case t.Strategy == "jump":
		case t.Strategy == "range": // a key's innermost listed range is an old one under both, or new
		case t.Strategy == "modulo" && len(r.To)%len(r.From) == 0:
		default:
			return false
		}
	}
	return true
}
