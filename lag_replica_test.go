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
// checks reported and every check that failed.
type lagWatch struct {
	mu       sync.Mutex
	changes  []rotationChange
	failures []rotationChange // one per failed check
	maxLag   time.Duration
	checks   int
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
			if h.Err != nil {
				w.failures = append(w.failures, rotationChange{h.Checked, false, h.Err})
			}
		}
		w.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
}

// reset returns what was recorded and starts afresh: the rotation changes
// and the failed checks that the lag measure caused (or anything but a
// session that could not be had in time: see sessionFailure), the largest
// lag and the number of checks. The failed checks it leaves out are logged.
func (w *lagWatch) reset(t *testing.T) (changes []rotationChange, maxLag time.Duration, checks int) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	changes, maxLag, checks = w.changes, w.maxLag, w.checks
	excused := 0
	for _, f := range w.failures {
		if sessionFailure(f.err) {
			excused++
			t.Logf("  a check at %s could not get a session in time (not the lag measure's doing): %v", f.at.Format("15:04:05.000"), f.err)
		}
	}
	if excused == len(w.failures) {
		changes = nil // every departure had a session failure behind it
	} else {
		changes = append(changes, w.failures...)
	}
	w.changes, w.failures, w.maxLag, w.checks = nil, nil, 0, 0
	return
}

// sessionFailure reports whether a failed check failed before the lag
// measure ran: it could not open its new session or ping it within the
// check's timeout (100ms here), which a loaded machine can make happen to
// a healthy standby. pgx reports a failed ping as driver.ErrBadConn
// whatever the cause. The lag queries run after the ping, so a lag
// measure that went wrong (evicting, or sampling until the timeout) fails
// otherwise and is not excused.
func sessionFailure(err error) bool {
	return errors.Is(err, driver.ErrBadConn) || strings.Contains(err.Error(), "opening a new session")
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
	received := time.Now()
	old, caughtUp := oldLag(t, replicaDirect)
	require.False(t, caughtUp, "the standby is behind what it received")
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
	out := waitHealth(t, replica, 10*time.Second, "out of rotation", func(h grant.NodeHealth) bool { return !h.Healthy })
	t.Logf("replay paused under writes: out of rotation %s after the pause, at a check that saw lag %s (%v)",
		out.Checked.Sub(paused).Round(time.Millisecond), out.Lag.Round(time.Millisecond), out.Err)
	assert.Greater(t, out.Lag, maxLag)
	assert.ErrorContains(t, out.Err, "exceeds health.max_replica_lag")
	assert.Less(t, out.Checked.Sub(paused), maxLag+3*interval+time.Second, "detected soon after the lag passed MaxReplicaLag")
	cancelWrites()
	writer.Wait()
	rs.Resume(t)
	back := waitHealth(t, replica, 10*time.Second, "back in rotation", func(h grant.NodeHealth) bool { return h.Healthy })
	t.Logf("resumed: back in rotation with lag %s", back.Lag)
	assert.LessOrEqual(t, back.Lag, maxLag)
}
