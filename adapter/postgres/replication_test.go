package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant/internal/noopdriver"
)

// The PostgreSQL lag measure, on scripted answers to healthQuery. The
// same behaviour on a real standby is tested at the root
// (TestReplicaLagAfterAnIdlePrimary).

// script answers healthQuery with its samples in turn, repeating the
// last; nil fields are SQL NULLs.
type script struct {
	mu      sync.Mutex
	samples [][]driver.Value
	asked   int
}

func (p *script) set(samples ...[]driver.Value) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.samples, p.asked = samples, 0
}

func (p *script) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.asked
}

// standby is one sample of a standby: replayed and received positions (as
// LSN text, or nil) and the age in seconds of its last replayed
// transaction (or nil).
func standby(replay, receive any, age any) []driver.Value {
	return []driver.Value{true, age, replay, receive}
}

// scripted returns a pool answering healthQuery from the script.
func scripted(t *testing.T) (*sql.DB, *script) {
	sc := &script{}
	db := noopdriver.Open(noopdriver.Options{Answer: func(query string, _ []driver.NamedValue) noopdriver.Answer {
		if !strings.Contains(query, "pg_last_wal_replay_lsn") {
			return noopdriver.Answer{Columns: []string{"x"}}
		}
		sc.mu.Lock()
		defer sc.mu.Unlock()
		row := sc.samples[min(sc.asked, len(sc.samples)-1)]
		sc.asked++
		return noopdriver.Answer{Columns: []string{"r", "age", "replay", "receive"}, Rows: [][]driver.Value{row},
			Types: []string{"BOOL", "FLOAT8", "TEXT", "TEXT"}}
	}})
	t.Cleanup(func() { _ = db.Close() })
	return db, sc
}

func lagCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestPostgresLagOfACaughtUpStandbyIsZeroHoweverOldItsLastTransaction(t *testing.T) {
	db, script := scripted(t)
	script.set(standby("0/200", "0/200", 3600.0))
	res, err := (&lag{}).Probe(lagCtx(t, time.Second), db)
	require.NoError(t, err)
	assert.True(t, res.Replica)
	assert.True(t, res.LagKnown)
	assert.Zero(t, res.Lag, "an idle primary sends nothing to replay")
	assert.Equal(t, uint64(0x200), res.Position.LSN)
	assert.Equal(t, 1, script.count(), "one sample")

	script.set(standby("0/300", "0/200", 3600.0))
	res, err = (&lag{}).Probe(lagCtx(t, time.Second), db)
	require.NoError(t, err)
	assert.Zero(t, res.Lag, "replayed past what the WAL receiver reports (restored from local WAL): caught up")
}

// After a long idle, one write: the standby has received it and is
// replaying it. The age of its last transaction (5 s) is not its lag.
func TestPostgresLagAfterIdleIsTheTimeToReplayWhatWasReceived(t *testing.T) {
	db, script := scripted(t)
	script.set(
		standby("0/100", "0/200", 5.0),
		standby("0/180", "0/240", 5.0),
		standby("0/200", "0/240", 0.004),
	)
	l := &lag{bound: time.Second}
	start := time.Now()
	res, err := l.Probe(lagCtx(t, time.Second), db)
	took := time.Since(start)
	require.NoError(t, err)
	assert.True(t, res.LagKnown)
	assert.Equal(t, 3, script.count(), "sampled until replay reached what had been received")
	assert.LessOrEqual(t, res.Lag, 4*time.Millisecond, "at most the age of the transaction just replayed")
	assert.Equal(t, uint64(0x200), res.Position.LSN, "the last sample's position")
	assert.Less(t, took, 500*time.Millisecond)
	assert.Zero(t, l.target, "nothing left to wait for")

	script.set(
		standby("0/100", "0/200", 5.0),
		standby("0/200", "0/240", 5.0),
	)
	start = time.Now()
	res, err = l.Probe(lagCtx(t, time.Second), db)
	require.NoError(t, err)
	assert.LessOrEqual(t, res.Lag, time.Since(start), "at most the time replay took to reach the target")
	assert.Less(t, res.Lag, time.Second, "not the 5 s age of the last transaction before")
}

func TestPostgresLagOfAStuckStandbyGrowsFromCheckToCheck(t *testing.T) {
	db, script := scripted(t)
	script.set(standby("0/100", "0/200", 5.0))
	const bound = 30 * time.Millisecond
	l := &lag{bound: bound}
	first := time.Now()
	res, err := l.Probe(lagCtx(t, time.Second), db)
	require.NoError(t, err)
	assert.True(t, res.LagKnown)
	assert.GreaterOrEqual(t, res.Lag, bound, "behind for the whole check: at least that long")
	assert.Less(t, res.Lag, 5*time.Second, "a lower bound, not the age of the last transaction")
	assert.Equal(t, uint64(0x200), l.target, "the position awaited is kept for the next check")

	// The next check goes on counting from when the target was first seen.
	script.set(standby("0/1F0", "0/300", 5.0))
	res2, err := l.Probe(lagCtx(t, time.Second), db)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, res2.Lag, res.Lag+bound, "counted from the first check on")
	assert.GreaterOrEqual(t, time.Since(first), res2.Lag)
	assert.Equal(t, uint64(0x200), l.target, "still the first target, not the newer position")

	// Replay passed the old target between checks: measured afresh.
	script.set(standby("0/250", "0/300", 5.0), standby("0/300", "0/300", 0.001))
	start := time.Now()
	res3, err := l.Probe(lagCtx(t, time.Second), db)
	require.NoError(t, err)
	assert.LessOrEqual(t, res3.Lag, time.Since(start))
	assert.Zero(t, l.target)
}

func TestPostgresLagSamplingStaysWithinTheCheck(t *testing.T) {
	db, script := scripted(t)
	script.set(standby("0/100", "0/200", 5.0))
	// The probe stops sampling at 3/4 of the timeout; what is left is the
	// margin by which it returns before the deadline. At 80ms that was
	// ~10ms, and a loaded machine has descheduled the test for longer
	// between the return and the measure (81ms). 400ms leaves ~90ms.
	const timeout = 400 * time.Millisecond
	start := time.Now()
	res, err := (&lag{}).Probe(lagCtx(t, timeout), db) // no MaxReplicaLag: the check's timeout bounds it
	require.NoError(t, err, "sampling stops early enough for its last sample to return")
	assert.Less(t, time.Since(start), timeout)
	assert.GreaterOrEqual(t, res.Lag, timeout/2)
}

func TestPostgresLagWithoutStreaming(t *testing.T) {
	db, script := scripted(t)
	script.set(standby("0/100", nil, 7.5))
	res, err := (&lag{}).Probe(lagCtx(t, time.Second), db)
	require.NoError(t, err)
	assert.True(t, res.LagKnown)
	assert.Equal(t, 7500*time.Millisecond, res.Lag, "no received position to compare: the last transaction's age")

	script.set(standby("0/100", nil, nil))
	res, err = (&lag{}).Probe(lagCtx(t, time.Second), db)
	require.NoError(t, err)
	assert.True(t, res.Stale, "nothing tells its lag")

	script.set([]driver.Value{false, nil, nil, nil})
	res, err = (&lag{}).Probe(lagCtx(t, time.Second), db)
	require.NoError(t, err)
	assert.False(t, res.Replica)
	assert.True(t, res.LagKnown)
	assert.Zero(t, res.Lag)

	script.set(standby("bogus", "0/1", 1.0))
	_, err = (&lag{}).Probe(lagCtx(t, time.Second), db)
	assert.ErrorContains(t, err, "invalid PostgreSQL LSN")
}

// TestPostgresLagOnceWithoutMaxReplicaLag: a health check with no
// MaxReplicaLag, for which lag decides nothing, reads one sample and
// reports the lower bound rather than spend its timeout sampling (under
// load the later samples could run into the check's deadline and fail a
// healthy replica).
func TestPostgresLagOnceWithoutMaxReplicaLag(t *testing.T) {
	db, script := scripted(t)
	script.set(standby("0/100", "0/200", 5.0), standby("0/200", "0/200", 0.001))
	l := replication{}.NewProbe(0).(*lag) // a health check without MaxReplicaLag
	res, err := l.Probe(lagCtx(t, time.Second), db)
	require.NoError(t, err)
	assert.Equal(t, 1, script.count(), "one sample")
	assert.True(t, res.LagKnown)
	assert.Less(t, res.Lag, time.Second, "the lower bound since the target was seen, not the 5 s age")
	assert.Equal(t, uint64(0x200), l.target, "the target is kept for the next check")
}
