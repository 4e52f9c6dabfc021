package topology

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Health checks prove that a new session can be made: each check dials,
// authenticates and queries a fresh one, through a probe pool of the
// node's own making.

// actAsPrimary makes the fake answer a MySQL health check as a server
// that replicates from nobody.
func (s *fakeServer) actAsPrimary() {
	a := func(query string) ([]string, [][]driver.Value, bool) {
		switch {
		case strings.HasPrefix(query, "SHOW SLAVE STATUS"):
			return []string{"Seconds_Behind_Master"}, nil, true
		case strings.Contains(query, "@@gtid_slave_pos"):
			return []string{"@@gtid_slave_pos"}, [][]driver.Value{{"0-1-7"}}, true
		}
		return nil, nil, false
	}
	s.answer.Store(&a)
}

// sessionFixture is a database whose one replica is s, opened from a DSN
// (every pool grant opens on it is its own), checks marked running.
func sessionFixture(t *testing.T, hc HealthConfig, s *fakeServer) (*Topology, *Database, *Node) {
	t.Helper()
	w := newFakeServer("writer").open(t)
	hc.Interval = max(hc.Interval, time.Hour)
	top, err := Build(Config{Databases: map[string]DatabaseConfig{"primary": {Health: &hc, Replicas: []NodeConfig{s.dsnNode(t)}}}},
		Handle{Dialect: "mysql", Pool: w, SQLDB: w, Logger: logger.Discard})
	require.NoError(t, err)
	t.Cleanup(func() { _ = top.Close() })
	d := top.Default()
	checksOn(t, d)
	return top, d, d.Replicas()[0]
}

func TestEveryCheckOpensANewSession(t *testing.T) {
	s := newFakeServer("r1")
	s.actAsPrimary()
	_, d, n := sessionFixture(t, HealthConfig{}, s)
	p := newNodeProber(d.health, n)
	defer p.close()
	for i := 1; i <= 3; i++ {
		d.check(context.Background(), n, p.probe)
		h := n.Health()
		require.True(t, h.Healthy, "%v", h.Err)
		assert.Equal(t, "0-1-7", h.GTID, "the check read the replication state on that session")
		assert.Equal(t, int64(i), s.connects.Load(), "check %d dialled a session of its own", i)
		assert.Zero(t, s.live.Load(), "and closed it: the probe pool keeps none idle")
	}
	assert.False(t, n.Opened(), "checks do not open (or use) the node's own pool")
	p.close()
	assert.Nil(t, p.pool.db)
}

// A frozen server (SIGSTOP of PostgreSQL's postmaster) still answers on
// the sessions it has, and accepts no new one. Checks over the pool's
// sessions pass, which let such a node back into rotation every
// RejoinAfter checks; checks on new sessions keep it out.
func TestANodeThatAcceptsNoNewSessionStaysOut(t *testing.T) {
	s := newFakeServer("r1")
	s.actAsPrimary()
	_, d, n := sessionFixture(t, HealthConfig{Timeout: 50 * time.Millisecond}, s)
	ctx := context.Background()
	// The node's pool holds a session, as it would after serving reads.
	own, err := n.DB()
	require.NoError(t, err)
	require.NoError(t, own.PingContext(ctx))

	release := hang(t, &s.hangConnect)
	name, err := serving(ctx, own)
	require.NoError(t, err)
	assert.Equal(t, "r1", name, "the sessions it has still answer")
	_, err = probeNode(ctx, n)
	assert.NoError(t, err, "a check on the node's pool would pass")

	p := newNodeProber(d.health, n)
	defer p.close()
	passed := 0
	for range 6 {
		start := time.Now()
		d.check(ctx, n, p.probe)
		assert.Less(t, time.Since(start), d.health.Timeout+slack, "bounded by the check's timeout")
		if h := n.Health(); h.Healthy {
			passed++
		} else {
			assert.ErrorContains(t, h.Err, "opening a new session")
			assert.ErrorContains(t, h.Err, "primary/reading/r1")
		}
	}
	assert.Zero(t, passed, "no check passes while it accepts nothing new: it never rejoins")
	assert.Empty(t, d.HealthyReplicas())

	release()
	d.check(ctx, n, p.probe)
	assert.False(t, n.Health().Healthy, "hysteresis: RejoinAfter good checks")
	d.check(ctx, n, p.probe)
	assert.True(t, n.Health().Healthy, "back once it accepts sessions again")
}

// slowDialector is a MySQL dialector, opened from its DSN, whose pool
// opening waits for gate, as a dialector that asks a frozen server its
// version would; it hands the pools it opens to opened.
type slowDialector struct {
	*mysql.Dialector
	DSN    string
	gate   chan struct{}
	opened chan *sql.DB
}

func (d *slowDialector) Initialize(db *gorm.DB) error {
	<-d.gate
	inner := mysql.New(mysql.Config{DriverName: "grant-fake", DSN: d.DSN, SkipInitializeWithVersion: true})
	if err := inner.Initialize(db); err != nil {
		return err
	}
	if sqlDB, ok := db.ConnPool.(*sql.DB); ok {
		d.opened <- sqlDB
	}
	return nil
}

func TestAProbePoolThatCannotOpenHoldsNoCheckNorClose(t *testing.T) {
	s := newFakeServer("r1")
	s.actAsPrimary()
	nc := s.dsnNode(t)
	inner := nc.Dialector.(*mysql.Dialector)
	slow := &slowDialector{Dialector: inner, DSN: inner.DSN, gate: make(chan struct{}), opened: make(chan *sql.DB, 1)}
	w := newFakeServer("writer").open(t)
	hc := HealthConfig{Interval: time.Hour, Timeout: 50 * time.Millisecond}
	top, err := Build(Config{Databases: map[string]DatabaseConfig{"primary": {Health: &hc,
		Replicas: []NodeConfig{{Name: "r1", Dialector: slow}}}}}, Handle{Dialect: "mysql", Pool: w, SQLDB: w, Logger: logger.Discard})
	require.NoError(t, err)
	t.Cleanup(func() { _ = top.Close() })
	d := top.Default()
	checksOn(t, d)
	n := d.Replicas()[0]

	p := newNodeProber(d.health, n)
	start := time.Now()
	d.check(context.Background(), n, p.probe)
	assert.Less(t, time.Since(start), hc.Timeout+slack)
	require.False(t, n.Health().Healthy)
	assert.ErrorContains(t, n.Health().Err, "opening a probe session: context deadline exceeded")
	p.close() // returns while the open still waits

	close(slow.gate)
	db := <-slow.opened
	require.Eventually(t, func() bool { return db.Ping() != nil }, 5*time.Second, time.Millisecond,
		"the pool that opened after the checks stopped is closed")
	assert.ErrorContains(t, db.Ping(), "database is closed")
}

func TestChecksUseTheNodesPoolWhenItsDialectorWrapsOne(t *testing.T) {
	s := newFakeServer("r1")
	s.actAsPrimary()
	_, d := fakeTopology(t, HealthConfig{Interval: time.Hour}, newFakeServer("writer"), s)
	checksOn(t, d)
	n := d.Replicas()[0]
	p := newNodeProber(d.health, n)
	defer p.close()
	for range 3 {
		d.check(context.Background(), n, p.probe)
		require.True(t, n.Health().Healthy, "%v", n.Health().Err)
	}
	assert.Equal(t, int64(1), s.connects.Load(), "a pool handed in by the caller cannot be made to open new sessions: its idle one is used")
	p.close()
	own, _ := n.SQLDB()
	assert.NoError(t, own.Ping(), "and it is not closed with the probes")
}

func TestRunningChecksCloseTheirProbePools(t *testing.T) {
	s := newFakeServer("r1")
	s.actAsPrimary()
	top, _, n := sessionFixture(t, HealthConfig{}, s)
	d := top.Default()
	d.checking.Store(false)
	d.health.Interval, d.health.Timeout = 5*time.Millisecond, 5*time.Millisecond
	top.StartHealthChecks()
	require.Eventually(t, func() bool { return s.connects.Load() >= 3 }, 5*time.Second, time.Millisecond)
	require.NoError(t, top.Close())
	assert.Zero(t, s.live.Load(), "no session left open")
	assert.False(t, n.Opened(), "the node's own pool was never needed")
}
