package grant_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	mysqldriver "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/testdb"
	"github.com/grant-go/grant/topology"
)

// Health checks, lag-aware rotation and read failover through the plugin.
// Tests against a real streaming replica are in health_replica_test.go.

func withHealth(h grant.HealthConfig) fixtureOption {
	return func(_ *gorm.Config, cfg *grant.Config) { cfg.Health = h }
}

// replicaNode is the fixture's one replica.
func (f *fixture) replicaNode(t *testing.T) *topology.Node {
	t.Helper()
	replicas := f.plugin.Topology().Default().Replicas()
	require.Len(t, replicas, 1)
	return replicas[0]
}

// waitHealth polls n's health until ok accepts it.
func waitHealth(t *testing.T, n *topology.Node, within time.Duration, what string, ok func(grant.NodeHealth) bool) grant.NodeHealth {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		h := n.Health()
		if ok(h) {
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not %s within %s; last health: %+v", n.Key(), what, within, h)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func wasChecked(h grant.NodeHealth) bool { return !h.Checked.IsZero() }

func TestHealthChecksKeepAHealthyReplicaInRotation(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		// A generous timeout: the whole suite runs in parallel under -race.
		f := newFixture(t, b, withHealth(grant.HealthConfig{Interval: 100 * time.Millisecond, Timeout: 100 * time.Millisecond, MaxReplicaLag: time.Second}))
		replica := f.replicaNode(t)
		first := waitHealth(t, replica, 5*time.Second, "checked healthy", func(h grant.NodeHealth) bool { return wasChecked(h) && h.Healthy })
		assert.Zero(t, first.Lag, "not a standby: no lag")
		assert.Equal(t, b.Name != testdb.NameSQLite, first.LagKnown, "SQLite is only pinged")
		// A later check that passed. (Under load a check can time out and
		// take the replica out for a moment: then the test waits for it to
		// be back, as its reads would.)
		waitHealth(t, replica, 10*time.Second, "checked again, healthy", func(h grant.NodeHealth) bool { return h.Checked.After(first.Checked) && h.Healthy })
		assert.Equal(t, []string{"replica-user"}, userNames(t, f.db), "reads still go to the replica")
		assert.Equal(t, []string{"writer-user"}, userNames(t, f.db.Scopes(grant.Role(grant.Writing))))

		require.NoError(t, f.plugin.Close())
		assert.Equal(t, grant.NodeHealth{Healthy: true}, replica.Health(), "Close stops the checks and forgets their results")
		time.Sleep(250 * time.Millisecond)
		assert.True(t, replica.Health().Checked.IsZero(), "no check runs after Close")
	})
}

func TestInvalidHealthConfigFailsUse(t *testing.T) {
	db, err := gorm.Open(sqlite.Open(t.TempDir()+"/x.db"), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err)
	err = db.Use(grant.New(grant.Config{Databases: map[string]grant.DatabaseConfig{
		"primary": {Health: &grant.HealthConfig{Interval: time.Second, Timeout: 2 * time.Second}},
	}}))
	require.ErrorIs(t, err, grant.ErrInvalidConfig)
	assert.ErrorContains(t, err, "databases.primary.health.timeout: 2s exceeds the interval 1s")
}

// deadDSN points at a port nobody listens on.
func deadDSN(b *testdb.Backend) string {
	if b.Name == testdb.NameMariaDB {
		return "root@tcp(127.0.0.1:1)/grant?timeout=2s"
	}
	return "host=127.0.0.1 port=1 user=postgres dbname=grant sslmode=disable connect_timeout=2"
}

func TestNoHealthyReplicaThroughThePlugin(t *testing.T) {
	t.Parallel()
	testdb.Servers(t, func(t *testing.T, b *testdb.Backend) {
		for _, failWithout := range []bool{false, true} {
			t.Run(fmt.Sprintf("FailWithoutReplica=%v", failWithout), func(t *testing.T) {
				f := newFixture(t, b, func(_ *gorm.Config, cfg *grant.Config) {
					primary := cfg.Databases["primary"]
					primary.Replicas = []grant.NodeConfig{{DSN: deadDSN(b), Adapter: map[string]string{testdb.NamePostgres: "postgres", testdb.NameMariaDB: "mysql"}[b.Name]}}
					primary.Health = &grant.HealthConfig{Interval: time.Hour, FailWithoutReplica: failWithout}
					cfg.Databases["primary"] = primary
				})
				h := waitHealth(t, f.replicaNode(t), 5*time.Second, "checked", wasChecked)
				assert.False(t, h.Healthy)
				assert.ErrorIs(t, h.Err, grant.ErrNodeUnavailable)
				assert.ErrorContains(t, h.Err, "primary/reading/1")
				assert.Empty(t, f.plugin.Topology().Default().HealthyReplicas())

				var users []User
				err := f.db.Find(&users).Error
				if !failWithout {
					require.NoError(t, err)
					assert.Equal(t, []string{"writer-user"}, namesOf(users), "reads went to the writer")
					return
				}
				require.ErrorIs(t, err, grant.ErrNoHealthyReplica)
				var re *grant.RouteError
				require.ErrorAs(t, err, &re)
				assert.Equal(t, "primary", re.Route.Database)
				assert.Equal(t, "users", re.Table)
				require.NoError(t, f.db.Create(&User{Name: "new"}).Error, "writes are unaffected")
			})
		}
	})
}

// TestReadFailoverWhenAReplicaDies puts a TCP proxy between grant and the
// replica database and cuts it: reads in flight fail over to the writer,
// the replica leaves the rotation, and it returns when the proxy does.
func TestReadFailoverWhenAReplicaDies(t *testing.T) {
	testdb.Servers(t, func(t *testing.T, b *testdb.Backend) {
		const interval = 100 * time.Millisecond
		f := newFixture(t, b) // for its seeded databases
		replicaDB := f.replica
		proxy, dsn := newTCPProxy(t, b, replicaDB.DSN)
		// A second handle whose replica is reached through the proxy.
		db, err := gorm.Open(f.primary.Dialector(), &gorm.Config{Logger: logger.Discard})
		require.NoError(t, err)
		plugin := grant.New(grant.Config{Health: grant.HealthConfig{Interval: interval, Timeout: interval, RejoinAfter: 2},
			Databases: map[string]grant.DatabaseConfig{"primary": {Replicas: []grant.NodeConfig{{DSN: dsn, Adapter: replicaDB.Adapter()}}}}})
		require.NoError(t, db.Use(plugin))
		t.Cleanup(func() {
			_ = plugin.Close()
			if sqlDB, err := db.DB(); err == nil {
				_ = sqlDB.Close()
			}
		})
		replica := plugin.Topology().Default().Replicas()[0]
		waitHealth(t, replica, 5*time.Second, "checked healthy", func(h grant.NodeHealth) bool { return wasChecked(h) && h.Healthy })
		prepared := db.Session(&gorm.Session{PrepareStmt: true})

		// Each way GORM reads, as the first read after the replica dies:
		// before any check can notice, the read fails on the replica's dead
		// connections and runs again on the writer.
		reads := []struct {
			name string
			read func() (string, error)
		}{
			{"Find", func() (string, error) {
				var users []User
				err := db.Find(&users).Error
				return strings.Join(namesOf(users), ","), err
			}},
			{"Find with PrepareStmt", func() (string, error) {
				var users []User
				err := prepared.Find(&users).Error
				return strings.Join(namesOf(users), ","), err
			}},
			{"Row", func() (string, error) {
				var name string
				err := db.Model(&User{}).Select("name").Row().Scan(&name)
				return name, err
			}},
		}
		for _, r := range reads {
			for range 4 { // several idle connections (and prepared statements) to cut
				name, err := r.read()
				require.NoError(t, err, r.name)
				require.Equal(t, "replica-user", name, r.name)
			}
			proxy.cut()
			name, err := r.read()
			require.NoError(t, err, "%s: the read failed over", r.name)
			assert.Equal(t, "writer-user", name, "%s: failed over to the writer", r.name)
			h := replica.Health()
			assert.False(t, h.Healthy, "%s: the failed replica left the rotation at once", r.name)
			assert.True(t, errors.Is(h.Err, grant.ErrNodeUnavailable), "%v", h.Err)
			t.Logf("%s, %s: replica taken out: %v", b.Name, r.name, h.Err)

			proxy.restore()
			back := waitHealth(t, replica, 5*time.Second, "back in rotation", func(h grant.NodeHealth) bool { return h.Healthy })
			assert.Zero(t, back.Failures)
		}
		assert.Equal(t, []string{"replica-user"}, userNames(t, db), "reads went back to the replica")
	})
}

// TestPreloadFollowsTheParentsReplicaWithHealthChecks: with checks on, a
// replica's pool is a failover wrapper, and a Preload started inside a
// sharded read must still find the parent's shard through it.
func TestPreloadFollowsTheParentsReplicaWithHealthChecks(t *testing.T) {
	b := testdb.SQLite(t)
	primary, s1, s2 := b.CreateDatabase(t, "primary"), b.CreateDatabase(t, "shard1"), b.CreateDatabase(t, "shard2")
	db, err := gorm.Open(primary.Dialector(), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err)
	shard := func(name string, d *testdb.Database) grant.ShardConfig {
		return grant.ShardConfig{Name: name, DatabaseConfig: grant.DatabaseConfig{
			Writer: &grant.NodeConfig{Dialector: d.Dialector()}, Replicas: []grant.NodeConfig{{Dialector: d.Dialector()}}}}
	}
	plugin := grant.New(grant.Config{Clusters: map[string]grant.ClusterConfig{"orders": {
		Health: &grant.HealthConfig{Interval: time.Hour},
		Shards: []grant.ShardConfig{shard("shard1", s1), shard("shard2", s2)},
	}}})
	require.NoError(t, db.Use(plugin))
	t.Cleanup(func() { _ = plugin.Close() })
	require.NoError(t, grant.AutoMigrate(db, &KeyedOrder{}, &OrderItem{}))
	for _, c := range []int64{3, 4} {
		order := KeyedOrder{CustomerID: c, Note: "x"}
		require.NoError(t, db.Create(&order).Error)
		require.NoError(t, db.Create(&[]OrderItem{{OrderID: order.ID, CustomerID: c, Name: "a"}}).Error)
	}
	var orders []ParentOrder
	require.NoError(t, db.Where("customer_id = ?", 3).Preload("Items").Find(&orders).Error)
	require.Len(t, orders, 1)
	require.Len(t, orders[0].Items, 1)
	assert.Equal(t, int64(3), orders[0].Items[0].CustomerID)
}

// tcpProxy forwards connections to a database server until cut: then it
// closes every open connection and refuses new ones, like a server that
// died, until restored.
type tcpProxy struct {
	t        *testing.T
	upstream string
	ln       net.Listener
	mu       sync.Mutex
	conns    map[net.Conn]bool
	down     bool
	wg       sync.WaitGroup
}

// newTCPProxy starts a proxy to the server of the database dsn and returns
// it with dsn rewritten to go through it.
func newTCPProxy(t *testing.T, b *testdb.Backend, dsn string) (*tcpProxy, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &tcpProxy{t: t, ln: ln, conns: map[net.Conn]bool{}}
	var proxied string
	switch b.Name {
	case testdb.NameMariaDB:
		cfg, err := mysqldriver.ParseDSN(dsn)
		require.NoError(t, err)
		p.upstream, cfg.Addr = cfg.Addr, ln.Addr().String()
		proxied = cfg.FormatDSN()
	default:
		cfg, err := pgconn.ParseConfig(dsn)
		require.NoError(t, err)
		p.upstream = net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port))
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		proxied = dsn + " host=127.0.0.1 port=" + port // later keys win
	}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		_ = ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p, proxied
}

func (p *tcpProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		up, err := net.DialTimeout("tcp", p.upstream, 2*time.Second)
		if err != nil {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		p.wg.Go(func() { _, _ = io.Copy(up, c); _ = up.Close() })
		p.wg.Go(func() { _, _ = io.Copy(c, up); _ = c.Close() })
	}
}

// cut closes every proxied connection and refuses new ones.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

// restore accepts connections again.
func (p *tcpProxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}
