package grant_test

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/testdb"
)

// A frozen replica (SIGSTOP) on the real PostgreSQL replica set: the
// postmaster only (sessions it has answer, no new one is accepted), then
// the postmaster and all its children (nothing answers). Reads through
// grant go on without failing and without waiting more than the read
// timeout twice plus a health interval, and the frozen node stays out of
// rotation until it is thawed.

// HungRow is read by the frozen-replica test.
type HungRow struct {
	ID   uint   `gorm:"primaryKey"`
	Note string `gorm:"size:100"`
}

// hungRead is one read of the frozen-replica test.
type hungRead struct {
	start time.Time
	took  time.Duration
	port  int // the server that answered: 55432 primary, 55433 replica
	err   error
}

// rotationChange is a change of the replica's place in rotation.
type rotationChange struct {
	at      time.Time
	healthy bool
	err     error
}

func TestFrozenReplica(t *testing.T) {
	t.Run("postmaster", func(t *testing.T) { frozenReplica(t, false) })
	t.Run("postmaster and children", func(t *testing.T) { frozenReplica(t, true) })
}

func frozenReplica(t *testing.T, whole bool) {
	const (
		interval    = 200 * time.Millisecond
		timeout     = 150 * time.Millisecond
		readTimeout = 400 * time.Millisecond
		frozenFor   = 3 * time.Second
		readers     = 8
		rows        = 20
		bound       = 2*readTimeout + interval
	)
	rs := testdb.PostgresReplica(t)
	primary := rs.Primary.Open(t)
	require.NoError(t, primary.AutoMigrate(&HungRow{}))
	seed := make([]HungRow, rows)
	for i := range seed {
		seed[i].Note = fmt.Sprintf("row-%d", i)
	}
	require.NoError(t, primary.Create(&seed).Error)
	rs.WaitCaughtUp(t, 10*time.Second)
	db, _, replica := openOnReplicaSet(t, rs, grant.Config{Health: grant.HealthConfig{
		Interval: interval, Timeout: timeout, ReadTimeout: readTimeout}})
	waitHealth(t, replica, 5*time.Second, "checked healthy", func(h grant.NodeHealth) bool { return wasChecked(h) && h.Healthy })
	var replicaPort int
	require.NoError(t, rs.Replica.Open(t).Raw("SELECT inet_server_port()").Scan(&replicaPort).Error)

	var (
		mu                   sync.Mutex
		reads                []hungRead
		byPrimary, byReplica atomic.Int64
		readersWG            sync.WaitGroup
	)
	ctx, stop := context.WithCancel(context.Background())
	for range readers {
		readersWG.Go(func() {
			for ctx.Err() == nil {
				var got struct {
					Port int
					N    int
				}
				start := time.Now()
				err := db.Raw("SELECT inet_server_port() AS port, count(*) AS n FROM hung_rows").Scan(&got).Error
				took := time.Since(start)
				if err == nil && got.N != rows {
					err = fmt.Errorf("wrong answer: %d rows, want %d", got.N, rows)
				}
				if err == nil {
					if got.Port == replicaPort {
						byReplica.Add(1)
					} else {
						byPrimary.Add(1)
					}
				}
				mu.Lock()
				reads = append(reads, hungRead{start: start, took: took, port: got.Port, err: err})
				mu.Unlock()
				time.Sleep(2 * time.Millisecond) // a breath: 8 hot loops would starve 2 CPUs
			}
		})
	}
	t.Cleanup(func() { stop(); readersWG.Wait() })

	var changes []rotationChange
	var watch sync.WaitGroup
	watch.Go(func() {
		healthy := true
		for ctx.Err() == nil {
			if h := replica.Health(); h.Healthy != healthy {
				healthy = h.Healthy
				changes = append(changes, rotationChange{time.Now(), h.Healthy, h.Err})
			}
			time.Sleep(time.Millisecond)
		}
	})

	// Reads reach the replica before the freeze.
	waitFor(t, 10*time.Second, "50 reads served by the replica", func() bool { return byReplica.Load() >= 50 })
	waitHealth(t, replica, 5*time.Second, "in rotation before the freeze", func(h grant.NodeHealth) bool { return h.Healthy })

	// A session opened before the freeze, to show what the freeze does.
	side, err := sql.Open("pgx", rs.Replica.DSN)
	require.NoError(t, err)
	defer side.Close()
	session, err := side.Conn(context.Background())
	require.NoError(t, err)
	defer session.Close()

	frozeAt := time.Now()
	rs.Freeze(t, whole)
	frozen := time.Now()
	sessionAnswers := pingWithin(session, 300*time.Millisecond)
	newSession := testdb.ConnectsWithin(rs.Replica.DSN, 300*time.Millisecond)
	if whole {
		assert.Error(t, sessionAnswers, "frozen with its children, the replica answers nothing")
	} else {
		assert.NoError(t, sessionAnswers, "with only its postmaster frozen, the replica's sessions answer")
	}
	assert.Error(t, newSession, "a frozen postmaster accepts no new session")
	time.Sleep(frozenFor - time.Since(frozen)) // the freeze lasts frozenFor: the experiment's condition, not a wait for state
	thawAt := time.Now()
	rs.Thaw(t)
	back := waitHealth(t, replica, 15*time.Second, "back in rotation after the thaw", func(h grant.NodeHealth) bool { return h.Healthy })
	afterThaw := byReplica.Load()
	waitFor(t, 10*time.Second, "50 reads served by the rejoined replica", func() bool { return byReplica.Load() >= afterThaw+50 })
	stop()
	readersWG.Wait()
	watch.Wait()

	// Reads: none failed, none wrong, none slower than the bound.
	var failed, slow, timedOut, servedFrozen int
	var worst, worstFrozen time.Duration
	var errs []string
	for _, r := range reads {
		if r.err != nil {
			failed++
			errs = append(errs, r.start.Format("15:04:05.000")+" "+r.err.Error())
		}
		if r.took > bound {
			slow++
		}
		if r.took >= readTimeout {
			timedOut++
		}
		worst = max(worst, r.took)
		if !r.start.Before(frozen) && r.start.Add(r.took).Before(thawAt) {
			worstFrozen = max(worstFrozen, r.took)
			if r.err == nil && r.port == replicaPort {
				servedFrozen++
			}
		}
	}
	sort.Strings(errs)

	// Rotation: out once while frozen, never back until thawed.
	var out *rotationChange
	flaps := 0
	for i := range changes {
		c := &changes[i]
		switch {
		case c.at.Before(frozeAt):
			t.Logf("  before the freeze, at %s: in rotation=%v (%v)", c.at.Format("15:04:05.000"), c.healthy, c.err)
		case c.at.After(thawAt):
		case out == nil && !c.healthy:
			out = c
		case c.healthy:
			flaps++
			t.Logf("  back in rotation while frozen at %s", c.at.Format("15:04:05.000"))
		}
	}
	require.NotNil(t, out, "the frozen replica never left the rotation")
	detected := out.at.Sub(frozeAt) // the SIGSTOP came between frozeAt and frozen
	t.Logf("%s frozen %s: %d reads by %d goroutines (%d by the replica, %d by the primary; %d answered by the replica while it was frozen)",
		map[bool]string{false: "postmaster", true: "postmaster and children"}[whole], frozenFor, len(reads), readers, byReplica.Load(), byPrimary.Load(), servedFrozen)
	t.Logf("out of rotation %s after the freeze (%v); back %s after the thaw (lag %s)",
		detected.Round(time.Millisecond), out.err, back.Checked.Sub(thawAt).Round(time.Millisecond), back.Lag)
	t.Logf("read latency: worst %s overall, %s while frozen; %d reads took the read timeout (%s) or more; bound %s",
		worst.Round(time.Millisecond), worstFrozen.Round(time.Millisecond), timedOut, readTimeout, bound)
	t.Logf("failed reads: %d; reads over the bound: %d; returns to rotation while frozen: %d", failed, slow, flaps)
	assert.Zero(t, failed, "no read failed:\n%s", strings.Join(errs, "\n"))
	assert.Zero(t, slow, "no read took longer than 2 x read timeout + interval (%s)", bound)
	assert.Zero(t, flaps, "the frozen replica never rejoined the rotation while frozen")
	// Measured from before the freeze script ran; a second of slack for a
	// loaded machine (the script, then a check's timeout).
	assert.Less(t, detected, 2*interval+timeout+time.Second, "out within a check or two of the freeze")
	if whole {
		assert.Zero(t, servedFrozen, "a replica frozen with its children answers nothing (else the freeze did not happen)")
	}
}

// waitFor polls cond until it holds, failing the test after within.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not %s within %s", what, within)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func pingWithin(c *sql.Conn, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return c.PingContext(ctx)
}
