package grant_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/testdb"
	"github.com/grant-go/grant/topology"
)

// Health checks and failover against a real PostgreSQL streaming replica
// (testdb.PostgresReplica; start it with scripts/pg-replica.sh start).

// HealthTick is written on the primary and replicated.
type HealthTick struct {
	ID   uint   `gorm:"primaryKey"`
	Note string `gorm:"size:100"`
}

// openOnReplicaSet installs grant on the primary with the replica as its one
// replica and the given health configuration; Close runs at cleanup.
func openOnReplicaSet(t *testing.T, rs *testdb.ReplicaSet, cfg grant.Config) (*gorm.DB, *grant.Plugin, *topology.Node) {
	t.Helper()
	db, err := gorm.Open(rs.Primary.Dialector(), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err)
	if cfg.Databases == nil {
		cfg.Databases = map[string]grant.DatabaseConfig{}
	}
	primary := cfg.Databases["primary"]
	primary.Replicas = []grant.NodeConfig{{Dialector: rs.Replica.Dialector()}}
	cfg.Databases["primary"] = primary
	plugin := grant.New(cfg)
	require.NoError(t, db.Use(plugin))
	t.Cleanup(func() {
		_ = plugin.Close()
		if sqlDB, err := db.DB(); err == nil {
			_ = sqlDB.Close()
		}
	})
	return db, plugin, plugin.Topology().Default().Replicas()[0]
}

// replayTimestamp is the replica's pg_last_xact_replay_timestamp().
func replayTimestamp(t *testing.T, replica *gorm.DB) time.Time {
	t.Helper()
	var ts time.Time
	require.NoError(t, replica.Raw("SELECT pg_last_xact_replay_timestamp()").Scan(&ts).Error)
	return ts
}

func TestReplicaLagTakesItOutOfRotation(t *testing.T) {
	rs := testdb.PostgresReplica(t)
	primary := rs.Primary.Open(t)
	require.NoError(t, primary.AutoMigrate(&HealthTick{}))
	rs.WaitCaughtUp(t, 10*time.Second)
	const interval, maxLag = 100 * time.Millisecond, 300 * time.Millisecond
	db, _, replica := openOnReplicaSet(t, rs, grant.Config{Health: grant.HealthConfig{Interval: interval, Timeout: interval, MaxReplicaLag: maxLag}})
	waitHealth(t, replica, 5*time.Second, "checked healthy", func(h grant.NodeHealth) bool { return wasChecked(h) && h.Healthy })

	// A write every 20ms on the primary, so the replica has something to
	// fall behind on.
	ctx, stop := context.WithCancel(context.Background())
	var writes sync.WaitGroup
	var written atomic.Int64
	writes.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			if primary.Create(&HealthTick{Note: fmt.Sprintf("tick-%d", i)}).Error == nil {
				written.Add(1)
			}
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
	t.Cleanup(func() { stop(); writes.Wait() })
	time.Sleep(200 * time.Millisecond)
	waitHealth(t, replica, 10*time.Second, "caught up while replaying", func(h grant.NodeHealth) bool { return h.Healthy && h.LagKnown && h.Lag < maxLag })

	rs.Pause(t)
	t.Cleanup(func() { rs.Resume(t) })
	// Replay stops while WAL keeps arriving. The checks count the lag from
	// the first check that saw WAL received and not replayed (at most a
	// write and an interval after the last replayed transaction), so it
	// passes maxLag at most that long after the last replayed
	// transaction's time + maxLag.
	time.Sleep(50 * time.Millisecond)
	replicaDirect := rs.Replica.Open(t)
	last := replayTimestamp(t, replicaDirect)
	crossed := last.Add(maxLag)
	// Out of rotation, then judged lagging: on a loaded machine a check can
	// first fail for another reason (no session, or a query past the check's
	// timeout), which takes the replica out just as well; the test then
	// waits for the check that judges its lag (a lag measure that never
	// does still fails the test).
	leftAt := waitHealth(t, replica, 5*time.Second, "out of rotation", func(h grant.NodeHealth) bool { return !h.Healthy }).Checked
	out := waitHealth(t, replica, 5*time.Second, "out of rotation for its lag", func(h grant.NodeHealth) bool {
		return !h.Healthy && h.Err != nil && strings.Contains(h.Err.Error(), "max_replica_lag")
	})
	assert.Equal(t, last, replayTimestamp(t, replicaDirect), "replay stayed paused")
	t.Logf("lag passed %s at %s; the replica left the rotation %s later, at a check that saw lag %s (%v)",
		maxLag, crossed.Format("15:04:05.000"), leftAt.Sub(crossed).Round(time.Millisecond), out.Lag.Round(time.Millisecond), out.Err)
	assert.LessOrEqual(t, leftAt.Sub(crossed), 3*interval, "out within 3 health intervals of passing max_replica_lag")
	assert.Greater(t, out.Lag, maxLag)
	assert.True(t, out.LagKnown)
	assert.ErrorContains(t, out.Err, "exceeds health.max_replica_lag 300ms")

	// Where reads land: a row written now exists only on the primary (the
	// replica replays nothing), and a read through grant finds it.
	fresh := HealthTick{Note: "fresh-after-pause"}
	require.NoError(t, primary.Create(&fresh).Error)
	var got HealthTick
	require.NoError(t, db.Where("note = ?", fresh.Note).First(&got).Error, "the read went to the writer")
	assert.Equal(t, fresh.ID, got.ID)
	assert.ErrorIs(t, replicaDirect.Where("note = ?", fresh.Note).First(&HealthTick{}).Error, gorm.ErrRecordNotFound, "the replica does not have it")

	resumed := time.Now()
	rs.Resume(t)
	back := waitHealth(t, replica, 5*time.Second, "back in rotation", func(h grant.NodeHealth) bool { return h.Healthy })
	t.Logf("resumed at %s; back in rotation %s later (RejoinAfter %d, interval %s), lag %s",
		resumed.Format("15:04:05.000"), back.Checked.Sub(resumed).Round(time.Millisecond), topology.DefaultRejoinAfter, interval, back.Lag)
	// (Hysteresis itself is TestHealthHysteresis's: a check that samples a
	// lagging standby for most of its timeout may be followed at once by
	// the next tick, so two good checks need not be an interval apart.)
	assert.LessOrEqual(t, back.Checked.Sub(resumed), time.Duration(topology.DefaultRejoinAfter+2)*interval)
	assert.LessOrEqual(t, back.Lag, maxLag)
	stop()
	writes.Wait()
	t.Logf("%d writes on the primary during the test", written.Load())
}

// readResult is one read of the failover test.
type readResult struct {
	at  time.Time
	err error
}

func TestReplicaFailoverWhenTheReplicaStops(t *testing.T) {
	rs := testdb.PostgresReplica(t)
	primary := rs.Primary.Open(t)
	require.NoError(t, primary.AutoMigrate(&HealthTick{}))
	const rows = 50
	ticks := make([]HealthTick, rows)
	for i := range ticks {
		ticks[i].Note = fmt.Sprintf("known-%d", i)
	}
	require.NoError(t, primary.Create(&ticks).Error)
	rs.WaitCaughtUp(t, 10*time.Second)
	const interval = 100 * time.Millisecond
	db, _, replica := openOnReplicaSet(t, rs, grant.Config{Health: grant.HealthConfig{Interval: interval, Timeout: interval}})
	waitHealth(t, replica, 5*time.Second, "checked healthy", func(h grant.NodeHealth) bool { return wasChecked(h) && h.Healthy })

	var (
		mu      sync.Mutex
		results []readResult
		readers sync.WaitGroup
	)
	ctx, stop := context.WithCancel(context.Background())
	for range 8 {
		readers.Go(func() {
			for ctx.Err() == nil {
				var got []HealthTick
				err := db.Where("note LIKE ?", "known-%").Find(&got).Error
				if err == nil && len(got) != rows {
					err = fmt.Errorf("read %d rows, want %d", len(got), rows)
				}
				mu.Lock()
				results = append(results, readResult{at: time.Now(), err: err})
				mu.Unlock()
				// A breath between reads: 8 hot loops under -race would
				// starve the servers' 2 CPUs and make the checks time out.
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	t.Cleanup(func() { stop(); readers.Wait() })

	// Every change of the replica's rotation, as the readers would see it.
	type transition struct {
		at      time.Time
		healthy bool
		err     error
	}
	var transitions []transition
	var watch sync.WaitGroup
	watch.Go(func() {
		healthy := true
		for ctx.Err() == nil {
			if h := replica.Health(); h.Healthy != healthy {
				healthy = h.Healthy
				transitions = append(transitions, transition{time.Now(), h.Healthy, h.Err})
			}
			time.Sleep(time.Millisecond)
		}
	})

	time.Sleep(2 * time.Second)
	waitHealth(t, replica, 5*time.Second, "in rotation before the stop", func(h grant.NodeHealth) bool { return h.Healthy })
	stopStart := time.Now()
	rs.StopReplica(t)
	t.Cleanup(func() { rs.StartReplica(t) })
	stopped := time.Now()
	boundary := stopped.Add(interval) // the first health interval following the stop
	time.Sleep(3 * time.Second)
	h := replica.Health()
	assert.False(t, h.Healthy, "a stopped replica is out of rotation")
	startStart := time.Now()
	rs.StartReplica(t)
	started := time.Now()
	back := waitHealth(t, replica, 15*time.Second, "back in rotation", func(h grant.NodeHealth) bool { return h.Healthy })
	time.Sleep(2 * time.Second) // reads on the rejoined replica
	stop()
	readers.Wait()
	watch.Wait()

	var before, after, total int
	var beforeErrs, afterErrs []string
	for _, r := range results {
		total++
		if r.err == nil {
			continue
		}
		if r.at.Before(boundary) {
			before++
			beforeErrs = append(beforeErrs, r.at.Format("15:04:05.000")+" "+r.err.Error())
		} else {
			after++
			afterErrs = append(afterErrs, r.at.Format("15:04:05.000")+" "+r.err.Error())
		}
	}
	sort.Strings(beforeErrs)
	// Detection: the replica out of rotation from the stop on.
	var det *time.Time
	var cause error
	inRotation := true
	for _, tr := range transitions {
		switch {
		case tr.at.Before(stopStart):
			t.Logf("  before the stop, at %s: in rotation=%v (%v)", tr.at.Format("15:04:05.000"), tr.healthy, tr.err)
			inRotation = tr.healthy
		case det == nil && !tr.healthy:
			det, cause = &tr.at, tr.err
		}
	}
	if !inRotation {
		det = &stopStart // already out when the stop began
	}
	require.NotNil(t, det, "the replica never left the rotation")
	t.Logf("%d reads by 8 goroutines; replica stop took %s; out of rotation %s after the stop began (%s after it returned)",
		total, stopped.Sub(stopStart).Round(time.Millisecond), det.Sub(stopStart).Round(time.Millisecond), det.Sub(stopped).Round(time.Millisecond))
	t.Logf("taken out by: %v", cause)
	t.Logf("failed reads before the first health interval after the stop: %d; after: %d", before, after)
	for _, e := range beforeErrs {
		t.Logf("  before detection: %s", e)
	}
	t.Logf("replica start took %s; back in rotation %s after it returned; last error while down: %v",
		started.Sub(startStart).Round(time.Millisecond), back.Checked.Sub(started).Round(time.Millisecond), h.Err)
	assert.Zero(t, after, "no failed read after the first health interval following the stop:\n%s", strings.Join(afterErrs, "\n"))
	assert.Less(t, det.Sub(stopped), interval+interval/2, "detected within a health interval of the stop")
}

// DeadItem lives in "dead", whose writer does not answer and whose replica
// is the real one.
type DeadItem struct {
	ID   uint   `gorm:"primaryKey"`
	Note string `gorm:"size:100"`
}

func (DeadItem) TableName() string            { return "health_ticks" }
func (DeadItem) ConnectsTo() grant.Connection { return grant.Database("dead") }

func TestDeadWriterIsNotRetriedWhileReadsUseTheReplica(t *testing.T) {
	rs := testdb.PostgresReplica(t)
	primary := rs.Primary.Open(t)
	require.NoError(t, primary.AutoMigrate(&HealthTick{}))
	require.NoError(t, primary.Create(&[]HealthTick{{Note: "on-the-replica"}}).Error)
	rs.WaitCaughtUp(t, 10*time.Second)
	db, err := gorm.Open(rs.Primary.Dialector(), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err)
	plugin := grant.New(grant.Config{Health: grant.HealthConfig{Interval: 100 * time.Millisecond}, Databases: map[string]grant.DatabaseConfig{
		"dead": {
			Writer:   &grant.NodeConfig{DSN: "host=127.0.0.1 port=1 user=postgres password=s3cret dbname=grant sslmode=disable connect_timeout=2", Adapter: "postgres"},
			Replicas: []grant.NodeConfig{{DSN: rs.Replica.DSN, Adapter: "postgres"}},
		},
	}})
	require.NoError(t, db.Use(plugin))
	t.Cleanup(func() {
		_ = plugin.Close()
		if sqlDB, err := db.DB(); err == nil {
			_ = sqlDB.Close()
		}
	})
	dead, err := plugin.Topology().Database("dead")
	require.NoError(t, err)
	waitHealth(t, dead.Replicas()[0], 5*time.Second, "checked healthy", func(h grant.NodeHealth) bool { return wasChecked(h) && h.Healthy })

	start := time.Now()
	err = db.Create(&DeadItem{Note: "never"}).Error
	took := time.Since(start)
	require.Error(t, err)
	t.Logf("write to the dead writer failed in %s: %v", took.Round(time.Millisecond), err)
	assert.Less(t, took, time.Second, "fails fast: no retry, no wait")
	assert.Contains(t, err.Error(), "127.0.0.1:1", "the error names the node's address")
	assert.NotContains(t, err.Error(), "s3cret")

	err = db.Transaction(func(tx *gorm.DB) error { return tx.Create(&DeadItem{Note: "never"}).Error })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "dead/writing/writer", "an explicit transaction names the grant node")
	t.Logf("transaction on the dead writer: %v", err)

	var items []DeadItem
	require.NoError(t, db.Find(&items).Error, "reads go to the healthy replica")
	require.Len(t, items, 1)
	assert.Equal(t, "on-the-replica", items[0].Note)
	assert.Equal(t, int64(0), primary.Where("note = ?", "never").Find(&[]HealthTick{}).RowsAffected, "nothing was written anywhere")
	assert.Error(t, db.Scopes(grant.Role(grant.Writing)).Find(&items).Error, "a read that asks for the writer is not failed over")
}
