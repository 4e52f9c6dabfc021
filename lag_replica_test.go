package grant_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/testdb"
)

// The PostgreSQL lag measure on the real replica set, after the primary
// has been idle: a caught-up standby has lag 0, one behind a single write
// is as far behind as that write, not as old as its last transaction
// (which the lag once was, evicting it), and a standby whose replay is
// paused under writes is judged lagging.

// lagWatch records the replica's rotation changes, the largest lag its
// checks reported and every check, passed or failed, in order.
type lagWatch struct {
	mu      sync.Mutex
	changes []rotationChange
	log     []rotationChange // every check: at, passed, its error
	maxLag  time.Duration
	checks  int
}

func (w *lagWatch) run(ctx context.Context, n interface{ Health() grant.NodeHealth }) {
	healthy := true
	var last time.Time
	for ctx.Err() == nil {
		h := n.Health()
		w.mu.Lock()
		if h.Healthy != healthy {
			healthy = h.Healthy
			w.changes = append(w.changes, rotationChange{time.Now(), h.Healthy, h.Err})
		}
		if h.Checked != last {
			last = h.Checked
			w.checks++
			w.maxLag = max(w.maxLag, h.Lag)
			w.log = append(w.log, rotationChange{h.Checked, h.Err == nil, h.Err})
		}
		w.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
}

// reset returns what was recorded and starts afresh: the rotation changes
// and failed checks that count against the lag measure, the largest lag
// and the number of checks.
//
// On a loaded machine a check of a healthy standby can fail on time: no
// session or no ping within the check's timeout (100ms here), or a query
// past it. Such failures are excused, and logged, when the lag measure
// cannot be behind them: a failure that judged the lag (max_replica_lag in
// its error) never is; any other is when the check after it passed
// (reset waits for that check). So a lag measure that evicts, or one that
// makes every check run out of time, still fails the test. When every
// failure is excused, the rotation changes they caused are too.
func (w *lagWatch) reset(t *testing.T) (changes []rotationChange, maxLag time.Duration, checks int) {
	t.Helper()
	lastFailed := func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return len(w.log) > 0 && !w.log[len(w.log)-1].healthy
	}
	if lastFailed() {
		waitFor(t, 10*time.Second, "a check that passes after a failed one", func() bool { return !lastFailed() })
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	changes, maxLag, checks = w.changes, w.maxLag, w.checks
	var counted []rotationChange
	for i, c := range w.log {
		if c.healthy {
			continue
		}
		next := i + 1
		for next < len(w.log) && !w.log[next].healthy && !lagJudged(w.log[next].err) {
			next++
		}
		if !lagJudged(c.err) && (sessionFailure(c.err) || next < len(w.log) && w.log[next].healthy) {
			t.Logf("  a check at %s ran out of time, and the next that ended passed (not the lag measure's doing): %v", c.at.Format("15:04:05.000"), c.err)
			continue
		}
		counted = append(counted, c)
	}
	if len(counted) == 0 {
		changes = nil // every departure had an excused failure behind it
	} else {
		changes = append(changes, counted...)
	}
	w.changes, w.log, w.maxLag, w.checks = nil, nil, 0, 0
	return
}

// lagJudged reports whether a failed check failed on the replica's lag.
func lagJudged(err error) bool { return err != nil && strings.Contains(err.Error(), "max_replica_lag") }

// sessionFailure reports whether a failed check failed before the lag
// measure ran: it could not open its new session or ping it within the
// check's timeout. pgx reports a failed ping as driver.ErrBadConn whatever
// the cause; the lag queries run after the ping.
func sessionFailure(err error) bool {
	return err != nil && (errors.Is(err, driver.ErrBadConn) || strings.Contains(err.Error(), "opening a new session"))
}

// oldLag is what the lag measure before this one reported: 0 when replay
// had reached what was received, else the age of the last replayed
// transaction.
func oldLag(t *testing.T, replica *gorm.DB) (lag time.Duration, caughtUp bool) {
	t.Helper()
	var row struct {
		Age      float64
		CaughtUp bool
	}
	require.NoError(t, replica.Raw(`SELECT EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8 AS age,
		COALESCE(pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn(), false) AS caught_up`).Scan(&row).Error)
	if row.CaughtUp {
		return 0, true
	}
	return time.Duration(row.Age * float64(time.Second)), false
}

func TestReplicaLagAfterAnIdlePrimary(t *testing.T) {
	const (
		interval = 100 * time.Millisecond
		maxLag   = 500 * time.Millisecond
		idle     = 3 * time.Second
		behind   = 250 * time.Millisecond
	)
	rs := testdb.PostgresReplica(t)
	primary := rs.Primary.Open(t)
	require.NoError(t, primary.AutoMigrate(&HealthTick{}))
	require.NoError(t, primary.Create(&HealthTick{Note: "before the idle"}).Error)
	rs.WaitCaughtUp(t, 10*time.Second)
	_, _, replica := openOnReplicaSet(t, rs, grant.Config{Health: grant.HealthConfig{Interval: interval, Timeout: interval, MaxReplicaLag: maxLag}})
	waitHealth(t, replica, 5*time.Second, "checked healthy", func(h grant.NodeHealth) bool { return wasChecked(h) && h.Healthy })
	replicaDirect := rs.Replica.Open(t)

	ctx, stop := context.WithCancel(context.Background())
	w := &lagWatch{}
	var watching sync.WaitGroup
	watching.Go(func() { w.run(ctx, replica) })
	t.Cleanup(func() { stop(); watching.Wait() })

	// The scenario needs a primary idle for `idle`; the server may commit on
	// its own meanwhile (autovacuum, another database), and then the old
	// measure has nothing old to measure. Such a run is not the scenario:
	// it is tried again, up to three times.
	var (
		old      time.Duration
		received time.Time
	)
	for attempt := 1; ; attempt++ {
		// Idle: nothing is written for a few seconds.
		w.reset(t)
		time.Sleep(idle) // the idle period is the experiment's condition, not a wait for state
		changes, idleMax, idleChecks := w.reset(t)
		t.Logf("idle %s: %d checks, largest lag %s, %d rotation changes", idle, idleChecks, idleMax, len(changes))
		for _, c := range changes {
			t.Logf("  at %s: in rotation=%v (%v)", c.at.Format("15:04:05.000"), c.healthy, c.err)
		}
		assert.Empty(t, changes, "a caught-up standby of an idle primary stays in rotation")
		assert.Zero(t, idleMax, "and its lag is 0")

		// One write after the idle, replayed `behind` late.
		rs.Pause(t)
		require.NoError(t, primary.Create(&HealthTick{Note: "one write after the idle"}).Error)
		var target string
		require.NoError(t, primary.Raw("SELECT pg_current_wal_lsn()::text").Scan(&target).Error)
		waitFor(t, 10*time.Second, "the write received by the standby", func() bool {
			var got bool
			return replicaDirect.Raw("SELECT pg_last_wal_receive_lsn() >= ?::pg_lsn", target).Scan(&got).Error == nil && got
		})
		received = time.Now()
		var caughtUp bool
		old, caughtUp = oldLag(t, replicaDirect)
		require.False(t, caughtUp, "the standby is behind what it received")
		if old > maxLag || attempt == 3 {
			break
		}
		t.Logf("attempt %d: the last transaction replayed before the write is %s old: the primary committed during the idle; again", attempt, old.Round(time.Millisecond))
		rs.Resume(t)
		rs.WaitCaughtUp(t, 10*time.Second)
	}
	time.Sleep(behind - time.Since(received)) // how far behind the standby is: the condition again
	rs.Resume(t)
	resumed := time.Now()
	rs.WaitCaughtUp(t, 10*time.Second)
	// Three checks after the write is replayed.
	waitFor(t, 10*time.Second, "checks after the replay", func() bool {
		h := replica.Health()
		return h.Checked.After(resumed.Add(3 * interval))
	})
	changes, oneMax, oneChecks := w.reset(t)
	t.Logf("one write %s behind after the idle: the old measure said %s (MaxReplicaLag %s); the checks said at most %s over %d checks; %d rotation changes",
		resumed.Sub(received).Round(time.Millisecond), old.Round(time.Millisecond), maxLag, oneMax.Round(time.Millisecond), oneChecks, len(changes))
	for _, c := range changes {
		t.Logf("  at %s: in rotation=%v (%v)", c.at.Format("15:04:05.000"), c.healthy, c.err)
	}
	assert.Greater(t, old, maxLag, "the old measure would have evicted it (the scenario is the one that went wrong)")
	assert.Empty(t, changes, "a standby one write behind stays in rotation")
	assert.Less(t, oneMax, maxLag)
	assert.Positive(t, oneMax, "the checks did see it behind")

	// A real lag: replay paused under a write every 20ms.
	writes, cancelWrites := context.WithCancel(ctx)
	var writer sync.WaitGroup
	writer.Go(func() {
		for i := 0; writes.Err() == nil; i++ {
			_ = primary.Create(&HealthTick{Note: fmt.Sprintf("tick-%d", i)}).Error
			select {
			case <-writes.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
	defer func() { cancelWrites(); writer.Wait() }()
	paused := time.Now()
	rs.Pause(t)
	// Out of rotation, then judged lagging: on a loaded machine a check can
	// first fail for another reason (no session, or a query past the check's
	// timeout), which takes the replica out just as well; the test then
	// waits for the check that judges its lag (a lag measure that never
	// does still fails the test).
	leftAt := waitHealth(t, replica, 10*time.Second, "out of rotation", func(h grant.NodeHealth) bool { return !h.Healthy }).Checked
	out := waitHealth(t, replica, 10*time.Second, "out of rotation for its lag", func(h grant.NodeHealth) bool {
		return !h.Healthy && h.Err != nil && strings.Contains(h.Err.Error(), "max_replica_lag")
	})
	t.Logf("replay paused under writes: out of rotation %s after the pause, at a check that saw lag %s (%v)",
		out.Checked.Sub(paused).Round(time.Millisecond), out.Lag.Round(time.Millisecond), out.Err)
	assert.Greater(t, out.Lag, maxLag)
	assert.ErrorContains(t, out.Err, "exceeds health.max_replica_lag")
	assert.Less(t, leftAt.Sub(paused), maxLag+3*interval+time.Second, "out soon after the lag passed MaxReplicaLag")
	cancelWrites()
	writer.Wait()
	rs.Resume(t)
	back := waitHealth(t, replica, 10*time.Second, "back in rotation", func(h grant.NodeHealth) bool { return h.Healthy })
	t.Logf("resumed: back in rotation with lag %s", back.Lag)
	assert.LessOrEqual(t, back.Lag, maxLag)
}
