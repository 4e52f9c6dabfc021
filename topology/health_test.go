package topology

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/driver/mysql"
)

// fakeProbe answers health checks from per-node results set by the test.
type fakeProbe struct {
	mu      sync.Mutex
	results map[string]probeResult
	errs    map[string]error
	calls   map[string]int
}

func newFakeProbe() *fakeProbe {
	return &fakeProbe{results: map[string]probeResult{}, errs: map[string]error{}, calls: map[string]int{}}
}

func (p *fakeProbe) set(n *Node, res probeResult, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.results[n.key], p.errs[n.key] = res, err
}

func (p *fakeProbe) probe(_ context.Context, n *Node) (probeResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls[n.key]++
	return p.results[n.key], p.errs[n.key]
}

func (p *fakeProbe) total() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.calls {
		n += c
	}
	return n
}

// checksOn marks d's checks as running without starting goroutines, so a
// test drives every check itself.
func checksOn(t *testing.T, d *Database) {
	d.checking.Store(true)
	t.Cleanup(func() { d.checking.Store(false) })
}

func names(nodes []*Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.name
	}
	return out
}

// picks returns the set of nodes Pick(role) returns over many calls.
func picks(t *testing.T, d *Database, role string) map[string]bool {
	t.Helper()
	seen := map[string]bool{}
	for range 200 {
		n, err := d.Pick(role)
		require.NoError(t, err)
		seen[n.name] = true
	}
	return seen
}

var errRefused = errors.New("dial tcp 10.0.0.9:5432: connect: connection refused password=s3cret")

func TestHealthHysteresis(t *testing.T) {
	_, d := fakeTopology(t, HealthConfig{Interval: time.Hour, RejoinAfter: 3},
		newFakeServer("writer"), newFakeServer("r1"), newFakeServer("r2"))
	checksOn(t, d)
	r1, r2 := d.Replicas()[0], d.Replicas()[1]
	p := newFakeProbe()
	ctx := context.Background()

	assert.Equal(t, NodeHealth{Healthy: true}, r1.Health(), "before any check a node is healthy")
	d.check(ctx, r1, p.probe)
	d.check(ctx, r2, p.probe)
	assert.True(t, r1.Health().Healthy)
	assert.False(t, r1.Health().Checked.IsZero())
	assert.Equal(t, map[string]bool{"r1": true, "r2": true}, picks(t, d, Reading))

	p.set(r1, probeResult{}, errRefused)
	d.check(ctx, r1, p.probe)
	h := r1.Health()
	assert.False(t, h.Healthy, "one failed check takes the node out at once")
	assert.Equal(t, 1, h.Failures)
	require.Error(t, h.Err)
	assert.ErrorIs(t, h.Err, ErrNodeUnavailable)
	assert.Contains(t, h.Err.Error(), "primary/reading/r1")
	assert.Equal(t, map[string]bool{"r2": true}, picks(t, d, Reading))
	assert.Equal(t, []string{"r2"}, names(d.HealthyReplicas()))
	assert.Equal(t, []string{"r1", "r2"}, names(d.Replicas()))

	p.set(r1, probeResult{}, nil)
	d.check(ctx, r1, p.probe)
	d.check(ctx, r1, p.probe)
	assert.False(t, r1.Health().Healthy, "two good checks are not enough with RejoinAfter 3")
	assert.Equal(t, 0, r1.Health().Failures)
	assert.NoError(t, r1.Health().Err)

	p.set(r1, probeResult{}, errRefused) // a failure restarts the count
	d.check(ctx, r1, p.probe)
	p.set(r1, probeResult{}, nil)
	d.check(ctx, r1, p.probe)
	d.check(ctx, r1, p.probe)
	assert.False(t, r1.Health().Healthy)
	d.check(ctx, r1, p.probe)
	assert.True(t, r1.Health().Healthy, "back after 3 consecutive good checks")
	assert.Equal(t, map[string]bool{"r1": true, "r2": true}, picks(t, d, Reading))
}

func TestHealthLagLeavesRotation(t *testing.T) {
	_, d := fakeTopology(t, HealthConfig{Interval: time.Hour, MaxReplicaLag: 300 * time.Millisecond},
		newFakeServer("writer"), newFakeServer("r1"), newFakeServer("r2"))
	checksOn(t, d)
	r1 := d.Replicas()[0]
	p := newFakeProbe()
	ctx := context.Background()

	p.set(r1, probeResult{lag: 200 * time.Millisecond, lagKnown: true, replayLSN: 42}, nil)
	d.check(ctx, r1, p.probe)
	h := r1.Health()
	assert.True(t, h.Healthy)
	assert.Equal(t, 200*time.Millisecond, h.Lag)
	assert.True(t, h.LagKnown)
	assert.Equal(t, uint64(42), h.ReplayLSN)

	p.set(r1, probeResult{lag: 500 * time.Millisecond, lagKnown: true}, nil)
	d.check(ctx, r1, p.probe)
	h = r1.Health()
	assert.False(t, h.Healthy, "lag beyond MaxReplicaLag takes the replica out")
	assert.Equal(t, 500*time.Millisecond, h.Lag)
	assert.ErrorContains(t, h.Err, "replica lag 500ms exceeds health.max_replica_lag 300ms")
	assert.Equal(t, map[string]bool{"r2": true}, picks(t, d, Reading))

	// Caught up again: back after the default RejoinAfter (2) checks.
	p.set(r1, probeResult{lagKnown: true}, nil)
	d.check(ctx, r1, p.probe)
	assert.False(t, r1.Health().Healthy)
	d.check(ctx, r1, p.probe)
	assert.True(t, r1.Health().Healthy)

	p.set(r1, probeResult{stale: true}, nil)
	d.check(ctx, r1, p.probe)
	assert.False(t, r1.Health().Healthy, "a replica that cannot tell its lag counts as lagging")
	assert.ErrorContains(t, r1.Health().Err, "cannot tell its lag")
}

func TestHealthErrorNeverHoldsThePassword(t *testing.T) {
	w := newFakeServer("writer").open(t)
	top, err := Build(Config{Health: HealthConfig{Interval: time.Hour}, Databases: map[string]DatabaseConfig{"primary": {
		Replicas: []NodeConfig{{DSN: "host=10.0.0.9 user=app password=s3cret", Adapter: "postgres"}},
	}}}, Handle{Dialect: "postgres", Pool: w, SQLDB: w})
	require.NoError(t, err)
	t.Cleanup(func() { _ = top.Close() })
	d := top.Default()
	checksOn(t, d)
	p := newFakeProbe()
	p.set(d.Replicas()[0], probeResult{}, errRefused)
	d.check(context.Background(), d.Replicas()[0], p.probe)
	h := d.Replicas()[0].Health()
	require.Error(t, h.Err)
	assert.NotContains(t, h.Err.Error(), "s3cret")
	assert.Contains(t, h.Err.Error(), "password=xxxxx")
}

func TestHealthLagIgnoredWithoutMaxReplicaLag(t *testing.T) {
	_, d := fakeTopology(t, HealthConfig{Interval: time.Hour}, newFakeServer("writer"), newFakeServer("r1"))
	checksOn(t, d)
	r1 := d.Replicas()[0]
	p := newFakeProbe()
	p.set(r1, probeResult{lag: time.Hour, lagKnown: true}, nil)
	d.check(context.Background(), r1, p.probe)
	assert.True(t, r1.Health().Healthy)
	p.set(r1, probeResult{stale: true}, nil)
	d.check(context.Background(), r1, p.probe)
	assert.True(t, r1.Health().Healthy)
}

func TestNoHealthyReplica(t *testing.T) {
	for _, failWithout := range []bool{false, true} {
		_, d := fakeTopology(t, HealthConfig{Interval: time.Hour, FailWithoutReplica: failWithout},
			newFakeServer("writer"), newFakeServer("r1"), newFakeServer("r2"))
		checksOn(t, d)
		p := newFakeProbe()
		for _, r := range d.Replicas() {
			p.set(r, probeResult{}, errRefused)
			d.check(context.Background(), r, p.probe)
		}
		assert.Empty(t, d.HealthyReplicas())
		n, err := d.Pick(Reading)
		if !failWithout {
			require.NoError(t, err)
			assert.Same(t, d.Writer(), n, "with no healthy replica reads go to the writer")
			continue
		}
		require.ErrorIs(t, err, ErrNoHealthyReplica)
		var re *RouteError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, "primary", re.Route.Database)
		assert.Contains(t, err.Error(), `none of the 2 replicas of "primary"`)
		w, err := d.Pick(Writing)
		require.NoError(t, err)
		assert.Same(t, d.Writer(), w, "writes are not affected")
	}
}

func TestFailWithoutReplicaNeedsReplicas(t *testing.T) {
	_, d := fakeTopology(t, HealthConfig{Interval: time.Hour, FailWithoutReplica: true}, newFakeServer("writer"))
	n, err := d.Pick(Reading)
	require.NoError(t, err)
	assert.Same(t, d.Writer(), n, "a database without replicas reads from its writer")
}

func TestCustomRoleKeepsAllNodesWhenNoneHealthy(t *testing.T) {
	w := newFakeServer("writer").open(t)
	top, err := Build(Config{Health: HealthConfig{Interval: time.Hour}, Databases: map[string]DatabaseConfig{"primary": {
		Roles: map[string][]NodeConfig{"reports": {newFakeServer("a").node(t), newFakeServer("b").node(t)}},
	}}}, Handle{Dialect: "mysql", Pool: w, SQLDB: w})
	require.NoError(t, err)
	t.Cleanup(func() { _ = top.Close() })
	d := top.Default()
	checksOn(t, d)
	a, b := d.checked()[0], d.checked()[1]
	p := newFakeProbe()
	p.set(a, probeResult{}, errRefused)
	d.check(context.Background(), a, p.probe)
	assert.Equal(t, map[string]bool{"b": true}, picks(t, d, "reports"))
	p.set(b, probeResult{}, errRefused)
	d.check(context.Background(), b, p.probe)
	assert.Equal(t, map[string]bool{"a": true, "b": true}, picks(t, d, "reports"))
}

func TestPickReadsRotationWithoutAllocating(t *testing.T) {
	_, d := fakeTopology(t, HealthConfig{Interval: time.Hour}, newFakeServer("writer"), newFakeServer("r1"), newFakeServer("r2"), newFakeServer("r3"))
	checksOn(t, d)
	p := newFakeProbe()
	p.set(d.Replicas()[1], probeResult{}, errRefused)
	d.check(context.Background(), d.Replicas()[1], p.probe)
	down := d.Replicas()[1]
	allocs := testing.AllocsPerRun(1000, func() {
		if n, err := d.Pick(Reading); err != nil || n == down {
			t.Fatal("picked an unhealthy replica")
		}
	})
	assert.Zero(t, allocs)
}

func TestStartHealthChecksAndCloseLeaveNoGoroutine(t *testing.T) {
	top, d := fakeTopology(t, HealthConfig{Interval: 5 * time.Millisecond}, newFakeServer("writer"), newFakeServer("r1"), newFakeServer("r2"))
	before := runtime.NumGoroutine()
	p := newFakeProbe()
	top.probe = p.probe
	p.set(d.Replicas()[0], probeResult{}, errRefused)

	top.StartHealthChecks()
	top.StartHealthChecks() // idempotent
	require.Eventually(t, func() bool { return p.total() >= 10 }, 5*time.Second, time.Millisecond)
	assert.False(t, d.Replicas()[0].Health().Healthy)

	require.NoError(t, top.Close())
	require.NoError(t, top.Close()) // idempotent
	calls := p.total()
	time.Sleep(30 * time.Millisecond)
	assert.Equal(t, calls, p.total(), "no check runs after Close")
	assert.Equal(t, NodeHealth{Healthy: true}, d.Replicas()[0].Health(), "Close puts every node back in rotation")
	assert.Len(t, d.HealthyReplicas(), 2)
	assert.False(t, d.checking.Load())
	// Close waits for the goroutines; polled by hand, because
	// assert.Eventually runs its condition on goroutines of its own.
	after := runtime.NumGoroutine()
	for deadline := time.Now().Add(5 * time.Second); after > before && time.Now().Before(deadline); after = runtime.NumGoroutine() {
		time.Sleep(5 * time.Millisecond)
	}
	assert.LessOrEqual(t, after, before, "goroutines left after Close")

	top.StartHealthChecks() // restarts after Close
	require.Eventually(t, func() bool { return p.total() > calls }, 5*time.Second, time.Millisecond)
	require.NoError(t, top.Close())
}

func TestStartHealthChecksWithChecksOffStartsNothing(t *testing.T) {
	top, d := fakeTopology(t, HealthConfig{}, newFakeServer("writer"), newFakeServer("r1"))
	before := runtime.NumGoroutine()
	p := newFakeProbe()
	top.probe = p.probe
	top.StartHealthChecks()
	assert.Nil(t, top.run)
	assert.Equal(t, before, runtime.NumGoroutine())
	assert.False(t, d.Replicas()[0].Opened(), "nothing is opened in the background")
	pool, err := d.Replicas()[0].Pool(false)
	require.NoError(t, err)
	assert.IsType(t, &sql.DB{}, pool, "checks off: the node's own pool, no failover wrapper")
}

func TestHealthConfigResolution(t *testing.T) {
	assert.Equal(t, HealthConfig{}, HealthConfig{Timeout: time.Second, RejoinAfter: 5}.resolved(), "Interval 0 turns everything off")
	assert.Equal(t, HealthConfig{Interval: 100 * time.Millisecond, Timeout: 50 * time.Millisecond, RejoinAfter: 2},
		HealthConfig{Interval: 100 * time.Millisecond}.resolved())
	assert.Equal(t, time.Second, HealthConfig{Interval: 10 * time.Second}.resolved().Timeout)
	assert.Equal(t, 3*time.Second, HealthConfig{Interval: 10 * time.Second, Timeout: 3 * time.Second}.resolved().Timeout)

	w := newFakeServer("writer").open(t)
	shard := func(name string, h *HealthConfig) ShardConfig {
		return ShardConfig{Name: name, DatabaseConfig: DatabaseConfig{Writer: &NodeConfig{DSN: "host=x", Adapter: "mysql"}, Health: h}}
	}
	top, err := Build(Config{
		Health:    HealthConfig{Interval: time.Minute},
		Databases: map[string]DatabaseConfig{"analytics": {Writer: &NodeConfig{DSN: "x", Adapter: "mysql"}, Health: &HealthConfig{}}},
		Clusters: map[string]ClusterConfig{"orders": {Health: &HealthConfig{Interval: time.Second},
			Shards: []ShardConfig{shard("s1", nil), shard("s2", &HealthConfig{Interval: 2 * time.Second})}}},
	}, Handle{Dialect: "mysql", Pool: w, SQLDB: w})
	require.NoError(t, err)
	assert.Equal(t, time.Minute, top.Default().Health().Interval, "Config.Health")
	analytics, _ := top.Database("analytics")
	assert.Zero(t, analytics.Health().Interval, "a database's own Health wins, even to turn checks off")
	c, _ := top.Cluster("orders")
	assert.Equal(t, time.Second, c.Shards()[0].Health().Interval, "ClusterConfig.Health applies to its shards")
	assert.Equal(t, 2*time.Second, c.Shards()[1].Health().Interval, "a shard's own Health wins")
}

func TestValidateRejectsBadHealthConfig(t *testing.T) {
	node := NodeConfig{DSN: "host=a", Adapter: "postgres"}
	cases := []struct {
		name    string
		config  Config
		path    string
		problem string
	}{
		{"negative interval", Config{Health: HealthConfig{Interval: -time.Second}}, "health.interval", "must not be negative, got -1s"},
		{"negative timeout", Config{Health: HealthConfig{Interval: time.Second, Timeout: -1}}, "health.timeout", "must not be negative"},
		{"negative lag", Config{Health: HealthConfig{MaxReplicaLag: -time.Millisecond}}, "health.max_replica_lag", "must not be negative"},
		{"negative rejoin", Config{Health: HealthConfig{RejoinAfter: -1}}, "health.rejoin_after", "must not be negative, got -1"},
		{"timeout beyond interval", Config{Health: HealthConfig{Interval: time.Second, Timeout: 2 * time.Second}}, "health.timeout", "2s exceeds the interval 1s"},
		{"database", Config{Databases: map[string]DatabaseConfig{"primary": {Health: &HealthConfig{Interval: -1}}}}, "databases.primary.health.interval", "must not be negative"},
		{"cluster", Config{Clusters: map[string]ClusterConfig{"orders": {Health: &HealthConfig{RejoinAfter: -2},
			Shards: []ShardConfig{{Name: "s1", DatabaseConfig: DatabaseConfig{Writer: &node}}}}}}, "clusters.orders.health.rejoin_after", "must not be negative"},
		{"shard", Config{Clusters: map[string]ClusterConfig{"orders": {
			Shards: []ShardConfig{{Name: "s1", DatabaseConfig: DatabaseConfig{Writer: &node, Health: &HealthConfig{Interval: time.Second, Timeout: time.Minute}}}}}}},
			"clusters.orders.shards[0].health.timeout", "exceeds the interval"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.config.Validate()
			require.ErrorIs(t, err, ErrInvalidConfig)
			var ce *ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.path, ce.Path)
			assert.Contains(t, ce.Problem, tc.problem)
		})
	}
	assert.NoError(t, (&Config{Health: HealthConfig{Timeout: time.Minute}}).Validate(), "with checks off the timeout is unused")
	assert.NoError(t, (&Config{Health: HealthConfig{Interval: time.Second, Timeout: time.Second, MaxReplicaLag: time.Second, RejoinAfter: 1}}).Validate())
}

func TestParseLSN(t *testing.T) {
	for s, want := range map[string]uint64{
		"0/0":               0,
		"0/3000060":         0x3000060,
		"16/B374D848":       0x16<<32 | 0xB374D848,
		"FFFFFFFF/FFFFFFFF": 1<<64 - 1,
		"a/b":               0xa<<32 | 0xb,
	} {
		got, err := ParseLSN(s)
		require.NoError(t, err, s)
		assert.Equal(t, want, got, s)
	}
	for _, s := range []string{"", "16", "/1", "1/", "1/2/3", "G/1", "100000000/0", "-1/0", " 1/2"} {
		_, err := ParseLSN(s)
		assert.Error(t, err, s)
	}
	a, _ := ParseLSN("0/FFFFFFFF")
	b, _ := ParseLSN("1/0")
	assert.Less(t, a, b, "numbers order like LSNs")
}

// BenchmarkPickReading is the routing hot path for a read: choose a
// replica, get its pool. With checks on the rotation is one atomic load and
// the pool is the node's failover wrapper, made at Build.
func BenchmarkPickReading(b *testing.B) {
	for _, checks := range []bool{false, true} {
		b.Run(fmt.Sprintf("checks=%v", checks), func(b *testing.B) {
			hc := HealthConfig{}
			if checks {
				hc.Interval = time.Hour
			}
			w := newFakeServer("writer")
			db := sql.OpenDB(w)
			defer db.Close()
			dc := DatabaseConfig{Health: &hc}
			for _, name := range []string{"r1", "r2"} {
				s := newFakeServer(name)
				sdb := sql.OpenDB(s)
				defer sdb.Close()
				dc.Replicas = append(dc.Replicas, NodeConfig{Name: name, Dialector: mysql.New(mysql.Config{Conn: sdb, SkipInitializeWithVersion: true})})
			}
			top, err := Build(Config{Databases: map[string]DatabaseConfig{"primary": dc}}, Handle{Dialect: "mysql", Pool: db, SQLDB: db})
			if err != nil {
				b.Fatal(err)
			}
			defer top.Close()
			d := top.Default()
			d.checking.Store(checks)
			b.ReportAllocs()
			for b.Loop() {
				n, err := d.Pick(Reading)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := n.Pool(false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
