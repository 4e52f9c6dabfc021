package topology

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Read timeouts (HealthConfig.ReadTimeout): a read that gets no first row
// in time is cancelled and run once more elsewhere.

const readTimeout = 50 * time.Millisecond

// slack bounds how much later than planned a read may end on a loaded
// machine; assertions of "took no longer than" add it.
const slack = 2 * time.Second

func TestReadTimeoutRetriesOnAnotherReplica(t *testing.T) {
	ctx := context.Background()
	for _, prepared := range []bool{false, true} {
		t.Run(fmt.Sprintf("prepared=%v", prepared), func(t *testing.T) {
			d, w, r1, r2 := failoverFixture(t, HealthConfig{ReadTimeout: readTimeout})
			hang(t, &r1.hangQueries)
			pool, err := d.Replicas()[0].Pool(prepared)
			require.NoError(t, err)

			start := time.Now()
			name, err := serving(ctx, pool)
			took := time.Since(start)
			require.NoError(t, err)
			assert.Equal(t, "r2", name, "the read ran again on the other replica")
			assert.GreaterOrEqual(t, took, readTimeout)
			assert.Less(t, took, readTimeout+slack)
			assert.Equal(t, int64(1), r1.queries.Load())
			assert.Equal(t, int64(1), r2.queries.Load())
			assert.Zero(t, w.queries.Load())
			h := d.Replicas()[0].Health()
			assert.False(t, h.Healthy, "the slow replica left the rotation at once")
			assert.ErrorIs(t, h.Err, ErrReadTimeout)
			assert.Contains(t, h.Err.Error(), "primary/reading/r1")
			assert.Equal(t, map[string]bool{"r2": true}, picks(t, d, Reading))
		})
	}
}

func TestReadTimeoutOnQueryRow(t *testing.T) {
	d, _, r1, _ := failoverFixture(t, HealthConfig{ReadTimeout: readTimeout})
	hang(t, &r1.hangQueries)
	pool, _ := d.Replicas()[0].Pool(false)
	var name string
	require.NoError(t, pool.QueryRowContext(context.Background(), "SELECT node").Scan(&name))
	assert.Equal(t, "r2", name)
	assert.False(t, d.Replicas()[0].Health().Healthy)
}

func TestReadTimeoutRetriesOnlyOnce(t *testing.T) {
	d, w, r1, r2 := failoverFixture(t, HealthConfig{ReadTimeout: readTimeout})
	hang(t, &r1.hangQueries)
	hang(t, &r2.hangQueries)
	pool, _ := d.Replicas()[0].Pool(false)
	start := time.Now()
	_, err := serving(context.Background(), pool)
	took := time.Since(start)
	require.ErrorIs(t, err, ErrReadTimeout)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "a timeout, as callers test for one")
	var te *ReadTimeoutError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, "primary/reading/r2", te.Node, "the error names the node that timed out last")
	assert.Equal(t, readTimeout, te.Timeout)
	assert.Contains(t, err.Error(), "primary/reading/r2 returned no first row within 50ms")
	assert.GreaterOrEqual(t, took, 2*readTimeout)
	assert.Less(t, took, 2*readTimeout+slack)
	assert.Zero(t, w.queries.Load(), "retried once, not twice")
	assert.Empty(t, d.HealthyReplicas(), "both slow replicas left the rotation")

	var name string
	err = pool.QueryRowContext(context.Background(), "SELECT node").Scan(&name)
	assert.NoError(t, err, "with both out, the retry goes to the writer")
	assert.Equal(t, "writer", name)
}

func TestReadTimeoutFallsBackToAnUnboundedWriter(t *testing.T) {
	d, w, r1, r2 := failoverFixture(t, HealthConfig{ReadTimeout: readTimeout})
	d.markDown(d.Replicas()[1], refused)
	hang(t, &r1.hangQueries)
	release := hang(t, &w.hangQueries)
	pool, _ := d.Replicas()[0].Pool(false)
	// The writer answers only well past the read timeout: its reads are
	// never bounded, so the read waits for it. The clock starts before the
	// timer that it is measured against.
	start := time.Now()
	time.AfterFunc(4*readTimeout, release)
	name, err := serving(context.Background(), pool)
	require.NoError(t, err)
	assert.Equal(t, "writer", name)
	assert.GreaterOrEqual(t, time.Since(start), 4*readTimeout)
	assert.Zero(t, r2.queries.Load())
}

func TestReadTimeoutUnderFailWithoutReplica(t *testing.T) {
	d, w, r1, _ := failoverFixture(t, HealthConfig{ReadTimeout: readTimeout, FailWithoutReplica: true})
	d.markDown(d.Replicas()[1], refused)
	hang(t, &r1.hangQueries)
	pool, _ := d.Replicas()[0].Pool(false)
	_, err := serving(context.Background(), pool)
	require.ErrorIs(t, err, ErrNoHealthyReplica)
	assert.ErrorIs(t, err, ErrReadTimeout, "the cause is reachable")
	assert.Contains(t, err.Error(), "primary/reading/r1")
	assert.Zero(t, w.queries.Load())
}

func TestReadTimeoutLeavesTheCallersContextAlone(t *testing.T) {
	t.Run("cancelled", func(t *testing.T) {
		d, w, r1, r2 := failoverFixture(t, HealthConfig{ReadTimeout: time.Hour})
		hang(t, &r1.hangQueries)
		pool, _ := d.Replicas()[0].Pool(false)
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			for r1.queries.Load() == 0 {
				time.Sleep(time.Millisecond)
			}
			cancel()
		}()
		_, err := serving(ctx, pool)
		require.ErrorIs(t, err, context.Canceled)
		assert.NotErrorIs(t, err, ErrReadTimeout)
		assert.Zero(t, r2.queries.Load()+w.queries.Load(), "a read whose caller gave up is not retried")
		assert.True(t, d.Replicas()[0].Health().Healthy, "nor does it judge the node")
	})
	t.Run("deadline before the read timeout", func(t *testing.T) {
		d, w, r1, r2 := failoverFixture(t, HealthConfig{ReadTimeout: time.Hour})
		hang(t, &r1.hangQueries)
		pool, _ := d.Replicas()[0].Pool(false)
		ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
		defer cancel()
		_, err := serving(ctx, pool)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.NotErrorIs(t, err, ErrReadTimeout)
		assert.Zero(t, r2.queries.Load()+w.queries.Load())
		assert.True(t, d.Replicas()[0].Health().Healthy)
	})
}

// Once the first row is back, the timer no longer counts: rows may take as
// long as they take, and the caller's cancellation still reaches them.
func TestReadTimeoutBoundsOnlyTheFirstRow(t *testing.T) {
	for _, prepared := range []bool{false, true} {
		t.Run(fmt.Sprintf("prepared=%v", prepared), func(t *testing.T) {
			d, _, r1, r2 := failoverFixture(t, HealthConfig{ReadTimeout: readTimeout})
			r1.answerRows("SELECT many", 3)
			gate := make(chan struct{})
			r1.rowGate.Store(&gate)
			pool, _ := d.Replicas()[0].Pool(prepared)

			rows, err := pool.QueryContext(context.Background(), "SELECT many")
			require.NoError(t, err)
			require.True(t, rows.Next())
			// Well past the read timeout with rows flowing.
			<-time.After(4 * readTimeout)
			close(gate)
			n := 1
			for rows.Next() {
				n++
			}
			require.NoError(t, rows.Err())
			require.NoError(t, rows.Close())
			assert.Equal(t, 3, n)
			assert.Zero(t, r2.queries.Load())
			assert.True(t, d.Replicas()[0].Health().Healthy)

			// The caller's cancellation, by contrast, ends flowing rows.
			r1.rowGate.Store(nil)
			ctx, cancel := context.WithCancel(context.Background())
			rows, err = pool.QueryContext(ctx, "SELECT many")
			require.NoError(t, err)
			require.True(t, rows.Next())
			cancel()
			endedByCancel(t, rows)
		})
	}
}

// countingCtx is a long-lived cancellable parent that counts what is
// registered with it (package context registers children of a context it
// does not know through its AfterFunc method).
type countingCtx struct {
	context.Context
	mu    sync.Mutex
	done  chan struct{}
	err   error
	funcs map[*func()]bool
	added int
}

func newCountingCtx() *countingCtx {
	return &countingCtx{Context: context.Background(), done: make(chan struct{}), funcs: map[*func()]bool{}}
}

func (c *countingCtx) Done() <-chan struct{} { return c.done }
func (c *countingCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}
func (c *countingCtx) AfterFunc(f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.funcs[&f] = true
	c.added++
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		ok := c.funcs[&f]
		delete(c.funcs, &f)
		return ok
	}
}
func (c *countingCtx) cancel() {
	c.mu.Lock()
	c.err = context.Canceled
	close(c.done)
	funcs := c.funcs
	c.funcs = nil
	c.mu.Unlock()
	for f := range funcs {
		go (*f)()
	}
}
func (c *countingCtx) registered() (live, added int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.funcs), c.added
}

func TestBoundedReadsLeaveNoRegistrationOnTheirParent(t *testing.T) {
	d, _, r1, _ := failoverFixture(t, HealthConfig{ReadTimeout: time.Hour})
	parent := newCountingCtx()
	for _, prepared := range []bool{false, true} {
		pool, _ := d.Replicas()[0].Pool(prepared)
		for range 100 {
			name, err := serving(parent, pool)
			require.NoError(t, err)
			require.Equal(t, "r1", name)
			var row string
			require.NoError(t, pool.QueryRowContext(parent, "SELECT node").Scan(&row))
		}
	}
	live, added := parent.registered()
	assert.Zero(t, live, "every read left its parent once its rows closed")
	assert.Positive(t, added, "the reads did watch their parent")

	// Reads that time out leave nothing behind either.
	hang(t, &r1.hangQueries)
	_, d2 := fakeTopology(t, HealthConfig{Interval: time.Hour, ReadTimeout: readTimeout}, newFakeServer("writer"), r1, newFakeServer("r2"))
	checksOn(t, d2)
	pool, _ := d2.Replicas()[0].Pool(false)
	name, err := serving(parent, pool)
	require.NoError(t, err)
	assert.Equal(t, "r2", name)
	live, _ = parent.registered()
	assert.Zero(t, live)

	// And the parent's cancellation reaches a bounded read's flowing rows.
	r2 := newFakeServer("r2b")
	_, d3 := fakeTopology(t, HealthConfig{Interval: time.Hour, ReadTimeout: time.Hour}, newFakeServer("writer"), r2)
	checksOn(t, d3)
	r2.answerRows("SELECT many", 2)
	pool, _ = d3.Replicas()[0].Pool(false)
	rows, err := pool.QueryContext(parent, "SELECT many")
	require.NoError(t, err)
	require.True(t, rows.Next())
	parent.cancel()
	endedByCancel(t, rows)
}

// endedByCancel waits until database/sql has closed rows because their
// context was cancelled (it does so on a goroutine of its own), and checks
// that no further row comes.
func endedByCancel(t *testing.T, rows *sql.Rows) {
	t.Helper()
	require.Eventually(t, func() bool { return rows.Err() != nil }, 5*time.Second, time.Millisecond)
	assert.ErrorIs(t, rows.Err(), context.Canceled)
	assert.False(t, rows.Next())
	_ = rows.Close()
}

func TestReadTimeoutZeroCostsNothing(t *testing.T) {
	ctx := context.Background()
	d, _, _, _ := failoverFixture(t, HealthConfig{})
	pool, _ := d.Replicas()[0].Pool(false)
	raw, _ := d.Replicas()[0].rawPool(false, false)
	read := func(p gorm.ConnPool) func() {
		return func() {
			rows, err := p.QueryContext(ctx, "SELECT node")
			if err != nil {
				t.Fatal(err)
			}
			_ = rows.Close()
		}
	}
	assert.Equal(t, testing.AllocsPerRun(500, read(raw)), testing.AllocsPerRun(500, read(pool)),
		"with no read timeout the failover pool allocates nothing of its own")
}

func TestWritesAndTransactionsAreNeverBounded(t *testing.T) {
	d, w, r1, r2 := failoverFixture(t, HealthConfig{ReadTimeout: readTimeout})
	pool, _ := d.Replicas()[0].Pool(false)

	hang(t, &r1.hangExecs)
	start := time.Now() // before the deadline is set, which it is measured against
	ctx, cancel := context.WithTimeout(context.Background(), 4*readTimeout)
	defer cancel()
	_, err := pool.ExecContext(ctx, "SELECT pg_advisory_lock(1)")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, ErrReadTimeout)
	assert.GreaterOrEqual(t, time.Since(start), 4*readTimeout, "an exec waits for its caller's deadline")

	hang(t, &r1.hangQueries)
	start = time.Now()
	ctx, cancel = context.WithTimeout(context.Background(), 4*readTimeout)
	defer cancel()
	tx, err := pool.(gorm.TxBeginner).BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = tx.QueryContext(ctx, "SELECT node")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, ErrReadTimeout)
	assert.GreaterOrEqual(t, time.Since(start), 4*readTimeout, "a read in a transaction waits for its caller's deadline")
	_ = tx.Rollback()

	assert.Zero(t, r2.queries.Load()+r2.execs.Load()+w.queries.Load()+w.execs.Load())
	assert.True(t, d.Replicas()[0].Health().Healthy)
}

// customRoleFixture is a database with a writer and a custom role
// "reports" of two fake nodes, checks marked running.
func customRoleFixture(t *testing.T, hc HealthConfig) (d *Database, w, a, b *fakeServer) {
	w, a, b = newFakeServer("writer"), newFakeServer("a"), newFakeServer("b")
	hc.Interval = time.Hour
	wdb := w.open(t)
	top, err := Build(Config{Health: hc, Databases: map[string]DatabaseConfig{"primary": {
		Roles: map[string][]NodeConfig{"reports": {a.node(t), b.node(t)}},
	}}}, Handle{Dialect: "mysql", Pool: wdb, SQLDB: wdb, Logger: logger.Discard})
	require.NoError(t, err)
	t.Cleanup(func() { _ = top.Close() })
	d = top.Default()
	checksOn(t, d)
	return d, w, a, b
}

func TestReadTimeoutOnACustomRole(t *testing.T) {
	hc := HealthConfig{ReadTimeouts: map[string]time.Duration{"reports": readTimeout}}
	t.Run("reads fail over within the role", func(t *testing.T) {
		d, w, a, b := customRoleFixture(t, hc)
		hang(t, &a.hangQueries)
		pool, err := d.checked()[0].ReadPool(false)
		require.NoError(t, err)
		name, err := serving(context.Background(), pool)
		require.NoError(t, err)
		assert.Equal(t, "b", name)
		assert.False(t, d.checked()[0].Health().Healthy)
		assert.Equal(t, map[string]bool{"b": true}, picks(t, d, "reports"))

		hang(t, &b.hangQueries)
		_, err = serving(context.Background(), pool)
		require.ErrorIs(t, err, ErrReadTimeout)
		var te *ReadTimeoutError
		require.ErrorAs(t, err, &te)
		assert.Equal(t, "primary/reports/b", te.Node)
		assert.Zero(t, w.queries.Load(), "a custom role never falls back to the writer")
	})
	t.Run("its plain pool may carry writes: passed through", func(t *testing.T) {
		d, w, a, b := customRoleFixture(t, hc)
		hang(t, &a.hangQueries)
		pool, err := d.checked()[0].Pool(false)
		require.NoError(t, err)
		start := time.Now() // before the deadline is set, which it is measured against
		ctx, cancel := context.WithTimeout(context.Background(), 4*readTimeout)
		defer cancel()
		_, err = pool.QueryContext(ctx, "INSERT INTO t VALUES (1) RETURNING id")
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.NotErrorIs(t, err, ErrReadTimeout)
		assert.GreaterOrEqual(t, time.Since(start), 4*readTimeout)
		assert.Zero(t, b.queries.Load()+w.queries.Load(), "never sent twice")
		assert.True(t, d.checked()[0].Health().Healthy)
	})
	t.Run("replicas keep no timeout of their own", func(t *testing.T) {
		assert.Zero(t, hc.readTimeout(Reading))
		assert.Equal(t, readTimeout, hc.readTimeout("reports"))
		both := HealthConfig{ReadTimeout: time.Second, ReadTimeouts: map[string]time.Duration{"reports": 0, Reading: 2 * time.Second}}
		assert.Equal(t, 2*time.Second, both.readTimeout(Reading))
		assert.Zero(t, both.readTimeout("reports"), "0 in ReadTimeouts turns the bound off for that role")
		assert.Equal(t, time.Second, both.readTimeout("other"))
		assert.Zero(t, both.readTimeout(Writing), "the writer's reads are never bounded")
	})
}

func TestReadPoolWithoutChecksIsPool(t *testing.T) {
	_, d := fakeTopology(t, HealthConfig{}, newFakeServer("writer"), newFakeServer("r1"))
	pool, err := d.Replicas()[0].ReadPool(false)
	require.NoError(t, err)
	assert.IsType(t, &sql.DB{}, pool)
	w, err := d.Writer().ReadPool(false)
	require.NoError(t, err)
	assert.IsType(t, &sql.DB{}, w)
}

// The timer and the first row race; whichever settles the context first
// wins, and a timer that fires after the first row changes nothing.
func TestFirstRowCtxSettlesOnce(t *testing.T) {
	c := newFirstRowCtx(context.Background(), time.Hour)
	require.True(t, c.firstRow(true))
	c.cancel(context.DeadlineExceeded, true) // the timer, firing late
	assert.NoError(t, c.Err())
	select {
	case <-c.Done():
		t.Fatal("done after the first row")
	default:
	}

	c = newFirstRowCtx(context.Background(), time.Hour)
	c.cancel(context.DeadlineExceeded, true) // the timer, first
	assert.False(t, c.firstRow(true), "rows that came back after the timer fired are not used")
	assert.True(t, c.timedOut())
	assert.ErrorIs(t, c.Err(), context.DeadlineExceeded)
	<-c.Done()

	parent, cancel := context.WithCancel(context.Background())
	c = newFirstRowCtx(parent, time.Hour)
	cancel()
	<-c.Done()
	assert.ErrorIs(t, c.Err(), context.Canceled)
	assert.False(t, c.timedOut())
	assert.False(t, c.firstRow(true))

	// A registration made once done runs at once.
	ran := make(chan struct{})
	stop := c.AfterFunc(func() { close(ran) })
	<-ran
	assert.False(t, stop())
	assert.True(t, errors.Is(c.Err(), context.Canceled))
}

func TestReadTimeoutConfiguration(t *testing.T) {
	// What grant.yml's "health: {interval: 1s, read_timeout: 250ms,
	// read_timeouts: {reports: 2s}}" reads as (config's tests check that).
	cfg := Config{
		Health: HealthConfig{Interval: time.Second, ReadTimeout: 250 * time.Millisecond, ReadTimeouts: map[string]time.Duration{"reports": 2 * time.Second}},
		Databases: map[string]DatabaseConfig{"primary": {
			Replicas: []NodeConfig{{DSN: "host=r1", Adapter: "postgres"}},
			Roles:    map[string][]NodeConfig{"reports": {{DSN: "host=rep", Adapter: "postgres"}}},
		}},
	}
	w := newFakeServer("writer").open(t)
	top, err := Build(cfg, Handle{Dialect: "postgres", Pool: w, SQLDB: w, Logger: logger.Discard})
	require.NoError(t, err)
	t.Cleanup(func() { _ = top.Close() })
	d := top.Default()
	checksOn(t, d)
	replicaPool, _ := d.Replicas()[0].Pool(false)
	assert.Equal(t, 250*time.Millisecond, replicaPool.(*failoverDB).timeout)
	reports := d.checked()[1]
	readPool, _ := reports.ReadPool(true)
	assert.Equal(t, 2*time.Second, readPool.(*failoverPreparedDB).timeout)
	plain, _ := reports.Pool(false)
	assert.False(t, plain.(*failoverDB).reads, "a custom role's plain pool passes through")

	for _, tc := range []struct {
		health HealthConfig
		path   string
	}{
		{HealthConfig{ReadTimeout: time.Second}, "health.read_timeout"},
		{HealthConfig{ReadTimeouts: map[string]time.Duration{"reports": time.Second}}, "health.read_timeouts"},
		{HealthConfig{Interval: time.Second, ReadTimeout: -1}, "health.read_timeout"},
		{HealthConfig{Interval: time.Second, ReadTimeouts: map[string]time.Duration{"reports": -1}}, "health.read_timeouts.reports"},
	} {
		err := (&Config{Health: tc.health}).Validate()
		var ce *ConfigError
		require.ErrorAs(t, err, &ce, "%+v", tc.health)
		assert.Equal(t, tc.path, ce.Path)
	}
	assert.ErrorContains(t, (&Config{Health: HealthConfig{ReadTimeout: time.Second}}).Validate(), "needs health checks (interval > 0)")
}
