package postgres

import (
	"context"
	"database/sql"
	"github.com/grant-go/grant/adapter/internal/serverlag"
	"time"

	"github.com/grant-go/grant/topology"
)

// Replication reads a PostgreSQL server's replication state: a standby's
// lag by WAL positions (health checks), and the WAL positions of causal
// consistency.
func (Adapter) Replication() topology.ReplicationReader { return replication{} }

type replication struct{}

// NewProbe returns a probe measuring a standby's lag (lag).
func (replication) NewProbe(measure time.Duration) topology.ReplicationProbe {
	return &lag{bound: max(measure, 0), once: measure == 0}
}

// Position is the server's current WAL location: at or past the commit
// just made (with synchronous commit the commit record is flushed before
// COMMIT returns).
func (replication) Position(ctx context.Context, writer topology.Querier) (topology.Position, error) {
	var lsn string
	if err := writer.QueryRowContext(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&lsn); err != nil {
		return topology.Position{}, err
	}
	v, err := topology.ParseLSN(lsn)
	return topology.Position{LSN: v}, err
}

// replayedPoll is how often Replayed asks a standby again while it waits
// for it to catch up.
const replayedPoll = 5 * time.Millisecond

// Replayed asks the standby for its replayed WAL location until it reaches
// pos.LSN, for up to wait.
func (replication) Replayed(ctx context.Context, replica topology.Querier, pos topology.Position, wait time.Duration) (bool, error) {
	if pos.LSN == 0 {
		return false, topology.ErrNoPosition
	}
	deadline := time.Now().Add(wait)
	for {
		var lsn sql.NullString
		if err := replica.QueryRowContext(ctx, "SELECT pg_last_wal_replay_lsn()::text").Scan(&lsn); err != nil {
			return false, err
		}
		if !lsn.Valid { // not in recovery: not a replica of anything
			return false, topology.ErrNoPosition
		}
		v, err := topology.ParseLSN(lsn.String)
		if err != nil || v >= pos.LSN {
			return err == nil, err
		}
		if !time.Now().Before(deadline) {
			return false, nil
		}
		timer := time.NewTimer(replayedPoll)
		select {
		case <-ctx.Done():
			timer.Stop()
			return false, ctx.Err()
		case <-timer.C:
		}
	}
}

// healthQuery reads a PostgreSQL node's replication state: whether it is
// a standby, the age of its last replayed transaction (by the primary's
// clock), and the WAL positions it has replayed and received.
const healthQuery = `SELECT pg_is_in_recovery(),
	EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8,
	pg_last_wal_replay_lsn()::text,
	pg_last_wal_receive_lsn()::text`

// lag measures a PostgreSQL standby's lag by WAL positions, and carries
// a measurement in progress from one check to the next.
//
// A standby that has replayed all it received is caught up: lag 0,
// however long ago its last transaction (an idle primary sends nothing to
// replay). A standby behind what it received is sampled again until its
// replay reaches the position it had received at the first sample (the
// target). If it does at time t1, everything received by the time the
// target was seen is visible at t1, so the lag is at most t1 minus that
// time; it is also at most the age of the last replayed transaction, and
// the lag is the smaller of the two. A standby 50 ms behind one write
// after a long idle is 50 ms behind, not as old as its last transaction.
// If replay does not reach the target within the check (bounded by
// MaxReplicaLag and the check's timeout), the lag is at least the time
// since the target was first seen: that is what is reported, and the
// target is kept, so that the next check goes on counting from when it
// was first seen rather than starting again.
type lag struct {
	bound time.Duration // stop sampling after this long (MaxReplicaLag); 0: the check's timeout only
	// once: report the lower bound from the first sample without sampling
	// again: health checks without MaxReplicaLag, for which lag decides
	// nothing, should not spend their timeout measuring it.
	once   bool
	target uint64    // received position awaited; 0 when none
	since  time.Time // when target was first seen received and not replayed
}

// sample is one reading of healthQuery.
type sample struct {
	inRecovery          bool
	age                 sql.NullFloat64
	replay, receive     uint64
	replayOK, receiveOK bool
}

func read(ctx context.Context, q topology.Querier) (sample, error) {
	var (
		s               sample
		replay, receive sql.NullString
	)
	if err := q.QueryRowContext(ctx, healthQuery).Scan(&s.inRecovery, &s.age, &replay, &receive); err != nil {
		return s, err
	}
	var err error
	if s.replayOK = replay.Valid; s.replayOK {
		if s.replay, err = topology.ParseLSN(replay.String); err != nil {
			return s, err
		}
	}
	if s.receiveOK = receive.Valid; s.receiveOK {
		if s.receive, err = topology.ParseLSN(receive.String); err != nil {
			return s, err
		}
	}
	return s, nil
}

// Sampling backs off from pollMin to pollMax between samples.
const (
	pollMin = 2 * time.Millisecond
	pollMax = 20 * time.Millisecond
)

// Probe reads the node's replication state, measuring a standby's lag.
func (l *lag) Probe(ctx context.Context, q topology.Querier) (topology.ReplicaState, error) {
	t0 := time.Now()
	s, err := read(ctx, q)
	if err != nil {
		return topology.ReplicaState{}, err
	}
	if !s.inRecovery {
		l.target = 0
		return topology.ReplicaState{LagKnown: true}, nil // a primary: not behind anything
	}
	res := topology.ReplicaState{Replica: true, Position: topology.Position{LSN: s.replay}}
	switch {
	case !s.replayOK || !s.receiveOK:
		// Not streaming (archive recovery, or the WAL receiver never
		// started): nothing to compare replay with but the last
		// transaction's age.
		l.target = 0
		if s.age.Valid {
			res.Lag, res.LagKnown = serverlag.FromSeconds(s.age.Float64), true
		} else {
			res.Stale = true
		}
		return res, nil
	case s.replay >= s.receive:
		l.target = 0
		res.LagKnown = true
		return res, nil
	}
	if l.target == 0 || s.replay >= l.target {
		l.target, l.since = s.receive, t0
	}
	stop := l.stopAt(ctx, t0)
	if l.once {
		stop = t0
	}
	for wait := pollMin; ; wait = min(2*wait, pollMax) {
		left := time.Until(stop)
		if left <= 0 {
			break
		}
		timer := time.NewTimer(min(wait, left))
		select {
		case <-ctx.Done():
			timer.Stop()
			return topology.ReplicaState{}, ctx.Err()
		case <-timer.C:
		}
		if s, err = read(ctx, q); err != nil {
			return topology.ReplicaState{}, err
		}
		res.Position.LSN = s.replay
		if s.replay >= l.target {
			res.Lag, res.LagKnown = time.Since(l.since), true
			if s.age.Valid {
				res.Lag = min(res.Lag, serverlag.FromSeconds(s.age.Float64))
			}
			l.target = 0
			return res, nil
		}
	}
	res.Lag, res.LagKnown = time.Since(l.since), true // at least
	return res, nil
}

// stopAt is when sampling ends: bound after t0, and early enough before
// ctx's deadline for the last sample to come back.
func (l *lag) stopAt(ctx context.Context, t0 time.Time) time.Time {
	stop := time.Time{}
	if l.bound > 0 {
		stop = t0.Add(l.bound)
	}
	if deadline, ok := ctx.Deadline(); ok {
		d := deadline.Add(-deadline.Sub(t0) / 4)
		if stop.IsZero() || d.Before(stop) {
			stop = d
		}
	}
	if stop.IsZero() {
		stop = t0.Add(time.Second) // no bound at all (a caller's context without deadline)
	}
	return stop
}
