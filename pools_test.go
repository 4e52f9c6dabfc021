package grant_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/glebarez/sqlite"
	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/testdb"
	grantprom "github.com/grant-go/grant/observe/prometheus"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// tenantCluster configures cluster "tenants" with one shard per name,
// shard i on databases[i % len(databases)], every node by DSN.
func tenantCluster(names []string, databases []*testdb.Database, pool grant.PoolConfig) grant.ClusterConfig {
	shards := make([]grant.ShardConfig, len(names))
	for i, name := range names {
		d := databases[i%len(databases)]
		shards[i] = grant.ShardConfig{Name: name, DatabaseConfig: grant.DatabaseConfig{
			Writer: &grant.NodeConfig{DSN: d.DSN, Adapter: d.Adapter()}}}
	}
	return grant.ClusterConfig{Shards: shards, Pool: pool}
}

// onShard sends raw SQL to a shard of cluster "tenants".
func onShard(db *gorm.DB, shard string) *gorm.DB {
	return db.Scopes(grant.Connect(grant.Connection{Database: "tenants", Shard: shard}))
}

// withSQLite lets a Config name the "sqlite" adapter, as the test
// databases' Adapter does for SQLite.
func withSQLite(cfg grant.Config) grant.Config {
	cfg.Adapters = map[string]grant.Adapter{"sqlite": func(dsn string) gorm.Dialector { return sqlite.Open(dsn) }}
	return cfg
}

// poolGoroutines counts the goroutines that live as long as a pool does:
// database/sql's connection opener (one per open *sql.DB) and GORM's
// prepared-statement cache expiry.
func poolGoroutines() int {
	buf := make([]byte, 8<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	return strings.Count(stacks, "database/sql.(*DB).connectionOpener") + strings.Count(stacks, "gorm.io/gorm/internal/lru.NewLRU")
}

// settledPoolGoroutines waits until poolGoroutines is at most want (closed
// pools stop their goroutines asynchronously) and returns the last count.
func settledPoolGoroutines(t *testing.T, want int) int {
	t.Helper()
	var got int
	if !assert.Eventually(t, func() bool { got = poolGoroutines(); return got <= want }, 30*time.Second, 10*time.Millisecond,
		"pool goroutines: want at most %d", want) {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d pool goroutines:\n%s", got, buf[:runtime.Stack(buf, true)])
	}
	return got
}

// TestPoolCapUnderLoad touches 5,000 shards spread over 100 PostgreSQL
// schemas from 16 goroutines with MaxOpenPools 20, and checks that grant
// never holds more connections than the cap allows, that no statement
// fails, that every row is on its shard's schema, and that the
// goroutines of evicted and closed pools are gone.
//
// Each of the 100 targets is a schema of one database, reached by a DSN of
// its own (search_path=<schema>): to grant, 100 different DSNs, as 100
// databases would be, and a row that went to another shard's node lands
// in another schema. (It was 100 databases: creating and dropping them
// took most of the test's time and left 30,000 files for the server's
// next checkpoint to sync.)
//
// The connections grant holds are counted exactly, where they are opened
// and closed (a database/sql driver over pgx's that counts its open
// connections and their peak), and the server's view, pg_stat_activity,
// is sampled too. The sample can run above the cap for a moment: a
// backend whose client has closed its connection is listed until the
// backend process has exited, which on a loaded machine trails the close.
// So the peak is asserted on the client's exact count, and the server is
// required to come down to the open pools' connections once the load
// stops, and to none after Close.
func TestPoolCapUnderLoad(t *testing.T) {
	b := testdb.Postgres(t)
	const (
		schemas  = 100
		shards   = 5000
		workers  = 16
		maxPools = 20 // more than the workers, so an idle pool is always there to evict
		revisits = 200
		maxConns = 1 // MaxOpenConns = MaxIdleConns per pool: the server allows 100 clients in all, shared with the other tests
	)
	data := b.CreateDatabase(t, "cap")
	setup, err := sql.Open("pgx", data.DirectDSN)
	require.NoError(t, err)
	targets := make([]string, schemas) // each schema's DSN
	for i := range targets {
		schema := fmt.Sprintf("cap%03d", i)
		_, err := setup.Exec("CREATE SCHEMA " + schema + "; CREATE TABLE " + schema + ".tenant_rows (shard text NOT NULL)")
		require.NoError(t, err)
		targets[i] = withSearchPath(t, data.DirectDSN, schema)
	}
	require.NoError(t, setup.Close())
	names := make([]string, shards)
	for i := range names {
		names[i] = fmt.Sprintf("%04d", i)
	}

	// The server's view: connections to the shards' database, seen from
	// the handle's (which is not one of them).
	handleDB := b.CreateDatabase(t, "cap_handle")
	admin, err := sql.Open("pgx", handleDB.DirectDSN)
	require.NoError(t, err)
	t.Cleanup(func() { admin.Close() })
	serverConns := func() int {
		var n int
		require.NoError(t, admin.QueryRow("SELECT count(*) FROM pg_stat_activity WHERE datname = $1", data.Name).Scan(&n))
		return n
	}
	require.Eventually(t, func() bool { return serverConns() == 0 }, 30*time.Second, 10*time.Millisecond,
		"the set-up session has gone before grant connects")

	db, err := gorm.Open(handleDB.Dialector(), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err)
	t.Cleanup(func() { exClose(db) })
	counted := &countingPgx{}
	cluster := grant.ClusterConfig{Pool: grant.PoolConfig{MaxOpenConns: maxConns, MaxIdleConns: maxConns}}
	for i, name := range names {
		cluster.Shards = append(cluster.Shards, grant.ShardConfig{Name: name, DatabaseConfig: grant.DatabaseConfig{
			Writer: &grant.NodeConfig{DSN: targets[i%schemas], Adapter: "counted"}}})
	}
	plugin := grant.New(grant.Config{MaxOpenPools: maxPools, Clusters: map[string]grant.ClusterConfig{"tenants": cluster},
		Adapters: map[string]grant.Adapter{"counted": counted.dialector}})
	require.NoError(t, db.Use(plugin))
	// The handle, with grant installed and no shard touched yet.
	baseline := poolGoroutines()
	started := time.Now()

	// Sample the server while the load runs.
	stop := make(chan struct{})
	var serverPeak atomic.Int64
	var sampler sync.WaitGroup
	sampler.Go(func() {
		for {
			if n := int64(serverConns()); n > serverPeak.Load() {
				serverPeak.Store(n)
			}
			select {
			case <-stop:
				return
			default:
			}
		}
	})

	var failed atomic.Int64
	var firstErr atomic.Value
	var next atomic.Int64
	var work sync.WaitGroup
	for range workers {
		work.Go(func() {
			for {
				// Every shard once in order, then some more at a stride
				// that revisits evicted ones.
				i := int(next.Add(1)) - 1
				if i >= shards+revisits {
					return
				}
				name := names[i%shards]
				if i >= shards {
					name = names[(i*37)%shards]
				}
				err := onShard(db, name).Exec("INSERT INTO tenant_rows (shard) VALUES (?)", name).Error
				var n int64
				if err == nil {
					err = onShard(db, name).Raw("SELECT count(*) FROM tenant_rows WHERE shard = ?", name).Scan(&n).Error
				}
				if err == nil && n < 1 {
					err = fmt.Errorf("shard %s: its row is not on its schema", name)
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		})
	}
	work.Wait()
	close(stop)
	sampler.Wait()

	assert.Zero(t, failed.Load(), "failed statements (first: %v)", firstErr.Load())
	counts := plugin.PoolCounts()
	t.Logf("pools: %+v; peak connections held %d (cap %d x %d), peak seen by the server %d; load done in %v",
		counts, counted.peak.Load(), maxPools, maxConns, serverPeak.Load(), time.Since(started))
	assert.LessOrEqual(t, counted.peak.Load(), int64(maxPools*maxConns), "connections held never exceed the cap times the idle setting")
	assert.GreaterOrEqual(t, counted.opened.Load(), int64(shards), "a connection per pool opened")
	assert.LessOrEqual(t, counts.Open, int64(maxPools))
	assert.GreaterOrEqual(t, counts.Opened, int64(shards), "every shard's pool opened at least once")
	assert.Equal(t, counts.Opened-counts.Open, counts.Evicted)
	assert.LessOrEqual(t, counted.open.Load(), counts.Open*maxConns, "evicted pools closed their connections")
	// The server lets go of them too: none but the open pools' remain.
	require.Eventually(t, func() bool { return int64(serverConns()) <= counts.Open*maxConns }, 30*time.Second, 10*time.Millisecond,
		"server connections come down to the open pools' %d", counts.Open*maxConns)

	// Evicted pools left nothing running: at most the open pools' own
	// goroutines remain, and none after Close.
	settledPoolGoroutines(t, baseline+int(counts.Open))
	require.NoError(t, plugin.Close())
	settledPoolGoroutines(t, baseline)
	assert.Zero(t, counted.open.Load(), "no connection held after Close")
	require.Eventually(t, func() bool { return serverConns() == 0 }, 30*time.Second, 10*time.Millisecond,
		"no connection left after Close")

	// Every row is in the schema its shard is configured on.
	var total int64
	for i := range targets {
		direct, err := sql.Open("pgx", targets[i])
		require.NoError(t, err)
		var misplaced, rows int64
		require.NoError(t, direct.QueryRow("SELECT count(*) FROM tenant_rows").Scan(&rows))
		require.NoError(t, direct.QueryRow("SELECT count(*) FROM tenant_rows WHERE shard::int4 % $1 <> $2",
			schemas, i).Scan(&misplaced))
		direct.Close()
		assert.Zero(t, misplaced, "rows of other shards in schema cap%03d", i)
		total += rows
	}
	assert.EqualValues(t, shards+revisits, total, "one row per statement, none lost")
}

// withSearchPath returns the PostgreSQL DSN (key=value or URL form) with
// search_path set to schema, which pgx sends as a run-time parameter.
func withSearchPath(t *testing.T, dsn, schema string) string {
	t.Helper()
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return dsn + " search_path=" + schema
	}
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// countingPgx is a grant adapter for PostgreSQL whose connections go
// through a database/sql driver over pgx's that counts them: open now,
// the most open at once, opened in all.
type countingPgx struct {
	open, peak, opened atomic.Int64
	register           sync.Once
	driverName         string
}

func (c *countingPgx) dialector(dsn string) gorm.Dialector {
	c.register.Do(func() {
		c.driverName = fmt.Sprintf("grant-test-counting-pgx-%p", c)
		sql.Register(c.driverName, countingDriver{c})
	})
	return postgres.New(postgres.Config{DriverName: c.driverName, DSN: dsn})
}

type countingDriver struct{ c *countingPgx }

func (d countingDriver) Open(dsn string) (driver.Conn, error) {
	conn, err := stdlib.GetDefaultDriver().Open(dsn)
	if err != nil {
		return nil, err
	}
	d.c.opened.Add(1)
	n := d.c.open.Add(1)
	for p := d.c.peak.Load(); n > p && !d.c.peak.CompareAndSwap(p, n); p = d.c.peak.Load() {
	}
	return &countingConn{Conn: conn.(*stdlib.Conn), c: d.c}, nil
}

// countingConn is pgx's connection, every optional interface included
// (embedded), with Close counted once the connection is closed.
type countingConn struct {
	*stdlib.Conn
	c      *countingPgx
	closed atomic.Bool
}

func (k *countingConn) Close() error {
	err := k.Conn.Close()
	if k.closed.CompareAndSwap(false, true) {
		k.c.open.Add(-1)
	}
	return err
}

// TestEvictionSparesBusyPools: with room for one pool, an open
// transaction and open rows keep their pools while other shards are used,
// and an evicted shard reopens on its next statement.
func TestEvictionSparesBusyPools(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		dbs := []*testdb.Database{b.CreateDatabase(t, "ev_a"), b.CreateDatabase(t, "ev_b"), b.CreateDatabase(t, "ev_c")}
		for _, d := range dbs {
			require.NoError(t, d.Open(t).Exec("CREATE TABLE tenant_rows (shard varchar(20) NOT NULL)").Error)
			require.NoError(t, d.Open(t).Exec("INSERT INTO tenant_rows (shard) VALUES ('seed'), ('seed')").Error)
		}
		db, err := gorm.Open(dbs[0].Dialector(), &gorm.Config{Logger: logger.Discard})
		require.NoError(t, err)
		metrics := grantprom.New(grant.MetricsConfig{})
		plugin := grant.New(withSQLite(grant.Config{MaxOpenPools: 1, Observers: []grant.Observer{metrics}, Clusters: map[string]grant.ClusterConfig{
			"tenants": tenantCluster([]string{"a", "b", "c"}, dbs, grant.PoolConfig{}),
		}}))
		require.NoError(t, db.Use(plugin))
		t.Cleanup(func() { exClose(db) })
		insert := func(tx *gorm.DB, shard string) error {
			return tx.Exec("INSERT INTO tenant_rows (shard) VALUES (?)", shard).Error
		}

		// A transaction on a stays open while b and c take turns.
		tx := onShard(db, "a").Begin()
		require.NoError(t, tx.Error)
		require.NoError(t, insert(tx, "a"))
		rows, err := onShard(db, "b").Raw("SELECT shard FROM tenant_rows").Rows()
		require.NoError(t, err)
		require.True(t, rows.Next(), "first row of b")
		for range 3 {
			require.NoError(t, insert(onShard(db, "c"), "c"))
		}
		require.NoError(t, insert(tx, "a"))
		require.NoError(t, tx.Commit().Error)
		read := 1
		for rows.Next() {
			read++
		}
		require.NoError(t, rows.Err())
		require.NoError(t, rows.Close())
		assert.Equal(t, 2, read, "b's open rows were read to the end")
		assert.Greater(t, plugin.PoolCounts().Open, int64(1), "busy pools were kept past the cap")

		// Now idle, they go as other shards open, and come back on use.
		for _, shard := range []string{"c", "a", "b", "c", "a"} {
			require.NoError(t, insert(onShard(db, shard), shard))
		}
		counts := plugin.PoolCounts()
		assert.EqualValues(t, 1, counts.Open, "back under the cap once idle: %+v", counts)
		assert.Positive(t, counts.Evicted)
		registry := prometheus.NewPedanticRegistry()
		registry.MustRegister(metrics.Collectors()...)
		assert.NoError(t, testutil.GatherAndCompare(registry, strings.NewReader(fmt.Sprintf(`
# HELP grant_pools_evicted_total Idle node pools closed to stay within max_open_pools.
# TYPE grant_pools_evicted_total counter
grant_pools_evicted_total %d
# HELP grant_pools_open Node pools grant has open (the handle's own pool not counted).
# TYPE grant_pools_open gauge
grant_pools_open 1
# HELP grant_pools_opened_total Node pools grant has opened, reopenings after eviction included.
# TYPE grant_pools_opened_total counter
grant_pools_opened_total %d
`, counts.Evicted, counts.Opened)), "grant_pools_open", "grant_pools_opened_total", "grant_pools_evicted_total"))
		assert.Equal(t, [3]int64{2 + 2 + 2, 2 + 1, 2 + 3 + 2}, [3]int64{dbs[0].Count(t, "tenant_rows"), dbs[1].Count(t, "tenant_rows"), dbs[2].Count(t, "tenant_rows")},
			"every row on its shard: seeds, the transaction's, the loops'")
	})
}

// TestCheckoutTimeout: with MaxOpenConns 2 held by open transactions, ten
// statements that wait for a connection fail with ErrPoolExhausted naming
// the node once CheckoutTimeout has passed, nothing is written, and the
// transactions holding the connections finish untouched.
func TestCheckoutTimeout(t *testing.T) {
	t.Parallel()
	testdb.Servers(t, func(t *testing.T, b *testdb.Backend) {
		primary, other := b.CreateDatabase(t, "co_primary"), b.CreateDatabase(t, "co_other")
		require.NoError(t, other.Open(t).Exec("CREATE TABLE tenant_rows (shard varchar(20) NOT NULL)").Error)
		db, err := gorm.Open(primary.Dialector(), &gorm.Config{Logger: logger.Discard})
		require.NoError(t, err)
		const timeout = 300 * time.Millisecond
		require.NoError(t, db.Use(grant.New(grant.Config{Databases: map[string]grant.DatabaseConfig{
			"other": {Writer: &grant.NodeConfig{DSN: other.DSN, Adapter: other.Adapter()},
				Pool: grant.PoolConfig{MaxOpenConns: 2, CheckoutTimeout: timeout}},
		}})))
		t.Cleanup(func() { exClose(db) })
		onOther := func() *gorm.DB { return db.Scopes(grant.UseDatabase("other")) }

		var holders []*gorm.DB
		for range 2 {
			tx := onOther().Begin()
			require.NoError(t, tx.Error)
			require.NoError(t, tx.Exec("INSERT INTO tenant_rows (shard) VALUES ('held')").Error)
			holders = append(holders, tx)
		}
		var wg sync.WaitGroup
		errs := make([]error, 10)
		took := make([]time.Duration, 10)
		for i := range errs {
			wg.Go(func() {
				start := time.Now()
				if i%2 == 0 {
					errs[i] = onOther().Exec("INSERT INTO tenant_rows (shard) VALUES ('waiter')").Error
				} else {
					var n int64
					errs[i] = onOther().Raw("SELECT count(*) FROM tenant_rows").Scan(&n).Error
				}
				took[i] = time.Since(start)
			})
		}
		wg.Wait()
		for i, err := range errs {
			require.ErrorIs(t, err, grant.ErrPoolExhausted, "waiter %d", i)
			assert.Contains(t, err.Error(), "other/writing/writer", "the error names the node")
			assert.GreaterOrEqual(t, took[i], timeout, "waited the checkout timeout")
		}
		t.Logf("waiters failed after %v .. %v (timeout %v)", minDuration(took), maxDuration(took), timeout)

		// A context deadline sooner than the timeout wins, as the context's error.
		ctx, cancel := context.WithTimeout(context.Background(), timeout/3)
		defer cancel()
		err = onOther().WithContext(ctx).Exec("INSERT INTO tenant_rows (shard) VALUES ('ctx')").Error
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.NotErrorIs(t, err, grant.ErrPoolExhausted)

		for _, tx := range holders {
			require.NoError(t, tx.Exec("INSERT INTO tenant_rows (shard) VALUES ('held')").Error, "in flight: untouched")
			require.NoError(t, tx.Commit().Error)
		}
		assert.EqualValues(t, 4, other.Count(t, "tenant_rows"), "the holders' rows, and nothing from the waiters")
		require.NoError(t, onOther().Exec("INSERT INTO tenant_rows (shard) VALUES ('after')").Error, "connections free again")
	})
}

func minDuration(ds []time.Duration) time.Duration {
	m := ds[0]
	for _, d := range ds {
		m = min(m, d)
	}
	return m
}

func maxDuration(ds []time.Duration) time.Duration {
	m := ds[0]
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}

// TestEvictionWithPreparedStatements: under PrepareStmt, statements cached
// on a pool that was evicted run again, prepared on the reopened pool, and
// the per-node caches start no goroutine of their own.
func TestEvictionWithPreparedStatements(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		dbs := []*testdb.Database{b.CreateDatabase(t, "evp_a"), b.CreateDatabase(t, "evp_b")}
		for _, d := range dbs {
			require.NoError(t, d.Open(t).Exec("CREATE TABLE tenant_rows (shard varchar(20) NOT NULL)").Error)
		}
		db, err := gorm.Open(b.CreateDatabase(t, "evp_handle").Dialector(), &gorm.Config{Logger: logger.Discard, PrepareStmt: true})
		require.NoError(t, err)
		plugin := grant.New(withSQLite(grant.Config{MaxOpenPools: 1, Clusters: map[string]grant.ClusterConfig{
			"tenants": tenantCluster([]string{"a", "b"}, dbs, grant.PoolConfig{}),
		}}))
		require.NoError(t, db.Use(plugin))
		t.Cleanup(func() { exClose(db) })
		baseline := poolGoroutines()
		for i := range 10 {
			shard := []string{"a", "b"}[i%2]
			require.NoError(t, onShard(db, shard).Exec("INSERT INTO tenant_rows (shard) VALUES (?)", shard).Error)
			var n int64
			require.NoError(t, onShard(db, shard).Raw("SELECT count(*) FROM tenant_rows WHERE shard = ?", shard).Scan(&n).Error)
			assert.EqualValues(t, i/2+1, n, "shard %s sees its own rows", shard)
		}
		counts := plugin.PoolCounts()
		assert.EqualValues(t, 1, counts.Open)
		assert.GreaterOrEqual(t, counts.Evicted, int64(9), "every switch evicted the other shard's pool")
		settledPoolGoroutines(t, baseline+1) // one open pool's opener, no cache goroutines
		assert.Equal(t, [2]int64{5, 5}, [2]int64{dbs[0].Count(t, "tenant_rows"), dbs[1].Count(t, "tenant_rows")})
	})
}
