package grant_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
	"gorm.io/plugin/dbresolver"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/testdb"
)

func TestPrepareStmtKeepsOneCachePerNode(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		f := newFixture(t, b, func(g *gorm.Config, _ *grant.Config) { g.PrepareStmt = true })
		// The same SQL text alternates between nodes: a statement prepared on
		// one node and run on another would return the other node's rows.
		for i := 0; i < 3; i++ {
			assert.Equal(t, []string{"replica-user"}, userNames(t, f.db))
			assert.Equal(t, []string{"writer-user"}, userNames(t, f.db.Scopes(grant.Role(grant.Writing))))
			assert.Equal(t, []string{"reports-user"}, userNames(t, f.db.Scopes(grant.Role("reports"))))
			assert.Equal(t, []string{"analytics-user"}, userNames(t, f.db.Scopes(grant.UseDatabase("analytics"))))
		}
		require.NoError(t, f.db.Create(&User{Name: "prepared"}).Error)
		require.NoError(t, f.db.Transaction(func(tx *gorm.DB) error {
			assert.Equal(t, []string{"analytics-user"}, userNames(t, tx.Scopes(grant.UseDatabase("analytics"))))
			return tx.Scopes(grant.UseDatabase("analytics")).Create(&User{Name: "prepared-tx"}).Error
		}))
		assert.Equal(t, with("users", map[string]int64{"primary": 2, "analytics": 2}), f.counts(t, "users"))

		// A PrepareStmt session on a handle without it behaves the same.
		session := newFixture(t, b).db.Session(&gorm.Session{PrepareStmt: true})
		assert.Equal(t, []string{"replica-user"}, userNames(t, session))
		assert.Equal(t, []string{"writer-user"}, userNames(t, session.Scopes(grant.Role(grant.Writing))))
	})
}

// TestConcurrentContextsNeverMisroute runs 200 goroutines, each with its own
// ConnectedTo context, 50 statements each, and checks every answer came from
// the node its context chose.
func TestConcurrentContextsNeverMisroute(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		f := newFixture(t, b, func(_ *gorm.Config, c *grant.Config) {
			for name, d := range c.Databases {
				d.Pool = grant.PoolConfig{MaxOpenConns: 8}
				c.Databases[name] = d
			}
		})
		variants := []struct {
			conn grant.Connection
			want string
		}{
			{grant.Connection{Role: grant.Writing}, "writer-user"},
			{grant.Connection{Role: grant.Reading}, "replica-user"},
			{grant.Connection{Role: "reports"}, "reports-user"},
			{grant.Connection{Database: "analytics"}, "analytics-user"},
			{grant.Connection{}, "replica-user"},
		}
		var misrouted, total atomic.Int64
		var wg sync.WaitGroup
		for g := 0; g < 200; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				v := variants[g%len(variants)]
				ctx := grant.ConnectedTo(context.Background(), v.conn)
				db := f.db.WithContext(ctx)
				for i := 0; i < 50; i++ {
					var name string
					var err error
					if i%2 == 0 {
						err = db.Raw("SELECT name FROM users").Scan(&name).Error
					} else {
						var u User
						err = db.Take(&u).Error
						name = u.Name
					}
					total.Add(1)
					if err != nil || name != v.want {
						misrouted.Add(1)
					}
				}
			}(g)
		}
		wg.Wait()
		assert.EqualValues(t, 10000, total.Load())
		assert.Zero(t, misrouted.Load(), "statements answered by the wrong node")
	})
}

// otherPlugin registers its own Before("*") callbacks, as tracing and
// multi-tenancy plugins do, and counts the statements it saw.
type otherPlugin struct{ seen atomic.Int64 }

func (p *otherPlugin) Name() string { return "other" }
func (p *otherPlugin) Initialize(db *gorm.DB) error {
	count := func(*gorm.DB) { p.seen.Add(1) }
	cb := db.Callback()
	for _, err := range []error{
		cb.Create().Before("*").Register("other:count", count),
		cb.Query().Before("*").Register("other:count", count),
		cb.Update().Before("*").Register("other:count", count),
		cb.Delete().Before("*").Register("other:count", count),
		cb.Row().Before("*").Register("other:count", count),
		cb.Raw().Before("*").Register("other:count", count),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

func TestCoexistsWithAnotherBeforeStarPlugin(t *testing.T) {
	for _, order := range []string{"other first", "grant first"} {
		t.Run(order, func(t *testing.T) {
			b := testdb.SQLite(t)
			other := &otherPlugin{}
			f := newFixture(t, b, func(g *gorm.Config, _ *grant.Config) {
				if order == "other first" {
					g.Plugins = map[string]gorm.Plugin{"other": other}
				}
			})
			if order == "grant first" {
				require.NoError(t, f.db.Use(other))
			}
			require.NoError(t, f.db.Create(&User{Name: "x"}).Error)
			require.NoError(t, f.db.Create(&Event{Name: "x"}).Error)
			assert.Equal(t, []string{"replica-user"}, userNames(t, f.db))
			assert.Equal(t, with("users", map[string]int64{"primary": 2}), f.counts(t, "users"))
			assert.Equal(t, with("events", map[string]int64{"analytics": 2}), f.counts(t, "events"))
			assert.EqualValues(t, 3, other.seen.Load())
		})
	}
}

// Note is a model no database has a table for yet.
type Note struct {
	ID   uint   `gorm:"primaryKey"`
	Body string `gorm:"size:100"`
}

// Metric lives in analytics and has no table yet.
type Metric struct {
	ID    uint `gorm:"primaryKey"`
	Value int
}

func (Metric) ConnectsTo() grant.Connection { return grant.Database("analytics") }

func TestMigratorAndAutoMigrate(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		f := newFixture(t, b)
		assert.True(t, f.db.Migrator().HasTable(&User{}))
		require.NoError(t, f.db.AutoMigrate(&User{}), "AutoMigrate of an existing table still works")

		require.NoError(t, grant.AutoMigrate(f.db, &Note{}, &Metric{}))
		assert.True(t, f.primary.Open(t).Migrator().HasTable(&Note{}), "Note's table on the primary writer")
		assert.False(t, f.replica.Open(t).Migrator().HasTable(&Note{}), "never DDL on a replica")
		assert.True(t, f.analytics.Open(t).Migrator().HasTable(&Metric{}), "Metric's table on analytics")
		assert.False(t, f.primary.Open(t).Migrator().HasTable(&Metric{}))
		require.NoError(t, grant.AutoMigrate(f.db, &Note{}, &Metric{}), "running it again is a no-op")

		require.NoError(t, f.db.Create(&Metric{Value: 3}).Error)
		assert.EqualValues(t, 1, f.analytics.Count(t, "metrics"))
	})
}

func TestTraceModeTagsEveryStatementAndStatsListsOpenedPools(t *testing.T) {
	b := testdb.SQLite(t)
	var buf bytes.Buffer
	var mu sync.Mutex
	f := newFixture(t, b, func(g *gorm.Config, c *grant.Config) {
		g.Logger = logger.New(log.New(lockedWriter{&buf, &mu}, "", 0), logger.Config{LogLevel: logger.Info})
		c.TraceRoutes = true
	})
	require.NoError(t, f.db.Create(&User{Name: "traced"}).Error)
	userNames(t, f.db)
	userNames(t, f.db.Scopes(grant.Role("reports")))
	require.NoError(t, f.db.Transaction(func(tx *gorm.DB) error { return tx.Create(&Event{Name: "t"}).Error }))
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	assert.Contains(t, out, "[primary/writing] INSERT INTO `users`")
	assert.Contains(t, out, "[primary/reading#1] SELECT * FROM `users`")
	assert.Contains(t, out, "[primary/reports#1] SELECT * FROM `users`")
	assert.Contains(t, out, "[analytics/writing tx] INSERT INTO `events`")

	stats := f.plugin.Stats()
	assert.ElementsMatch(t, []string{"primary/writing/writer", "primary/reading/1", "primary/reports/1", "analytics/writing/writer"}, keys(stats))
	assert.GreaterOrEqual(t, stats["primary/reading/1"].OpenConnections, 1)
}

type lockedWriter struct {
	buf *bytes.Buffer
	mu  *sync.Mutex
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestTwoHundredNodesCostNothingUntilUsed(t *testing.T) {
	handle, err := gorm.Open(sqlite.Open(t.TempDir()+"/h.db"), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err)
	cfg := grant.Config{Databases: map[string]grant.DatabaseConfig{}, Adapters: map[string]grant.Adapter{
		"sqlite": func(dsn string) gorm.Dialector { return sqlite.Open(dsn) },
	}}
	dir := t.TempDir()
	for i := 0; i < 100; i++ {
		cfg.Databases[fmt.Sprintf("db%03d", i)] = grant.DatabaseConfig{
			Writer:   &grant.NodeConfig{DSN: fmt.Sprintf("%s/w%03d/x.db", dir, i), Adapter: "sqlite"}, // the directory does not exist: opening would fail
			Replicas: []grant.NodeConfig{{DSN: fmt.Sprintf("%s/r%03d/x.db", dir, i), Adapter: "sqlite"}},
		}
	}
	plugin := grant.New(cfg)
	start := time.Now()
	require.NoError(t, handle.Use(plugin))
	assert.Less(t, time.Since(start), 2*time.Second)
	require.NoError(t, handle.AutoMigrate(&User{}))
	require.NoError(t, handle.Create(&User{Name: "x"}).Error)
	assert.Equal(t, []string{"primary/writing/writer"}, keys(plugin.Stats()), "only the handle's own pool is open")
}

func TestInstallRejectsBadConfig(t *testing.T) {
	handle, err := gorm.Open(sqlite.Open(t.TempDir()+"/h.db"), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err)
	cases := map[string]struct {
		cfg  grant.Config
		says string
	}{
		"foreign dialect": {grant.Config{Databases: map[string]grant.DatabaseConfig{"primary": {Replicas: []grant.NodeConfig{{Dialector: postgres.Open("host=127.0.0.1 password=s3cret")}}}}},
			`dialect "postgres" differs from the handle's "sqlite"`},
		"unknown adapter": {grant.Config{Databases: map[string]grant.DatabaseConfig{"primary": {Replicas: []grant.NodeConfig{{DSN: "postgres://u:s3cret@h/db", Adapter: "pg"}}}}},
			`unknown adapter "pg"`},
		"negative pool": {grant.Config{Databases: map[string]grant.DatabaseConfig{"primary": {Pool: grant.PoolConfig{MaxIdleConns: -3}}}},
			"databases.primary.pool.max_idle_conns: must not be negative, got -3"},
		"node without source": {grant.Config{Databases: map[string]grant.DatabaseConfig{"analytics": {Writer: &grant.NodeConfig{Name: "w"}}}},
			"databases.analytics.writer: needs a dialector or a DSN"},
	}
	for name, tc := range cases {
		err := handle.Use(grant.New(tc.cfg))
		require.ErrorIs(t, err, grant.ErrInvalidConfig, name)
		assert.Contains(t, err.Error(), tc.says, name)
		assert.NotContains(t, err.Error(), "s3cret", name)
	}
	require.NoError(t, handle.AutoMigrate(&User{}))
	require.NoError(t, handle.Create(&User{Name: "plain"}).Error, "a failed install leaves the handle as it was")
}

func TestUnreachableNodeErrorNeverShowsThePassword(t *testing.T) {
	t.Parallel()
	testdb.Servers(t, func(t *testing.T, b *testdb.Backend) {
		f := newFixture(t, b, func(_ *gorm.Config, c *grant.Config) {
			d := c.Databases["primary"]
			dsn := "postgres://alice:hunter2@127.0.0.1:1/x?connect_timeout=1&sslmode=disable"
			adapter := "postgres"
			if b.Name == "mariadb" {
				dsn, adapter = "alice:hunter2@tcp(127.0.0.1:1)/x?timeout=1s", "mysql"
			}
			d.Roles["broken"] = []grant.NodeConfig{{DSN: dsn, Adapter: adapter}}
			c.Databases["primary"] = d
		})
		err := f.db.Scopes(grant.Role("broken")).Find(&[]User{}).Error
		require.Error(t, err)
		assert.NotContains(t, err.Error(), "hunter2")
	})
}

// TestPoliciesSpreadReadsAcrossReplicas checks each policy by which replica
// answered: every replica stand-in holds one row naming itself.
func TestPoliciesSpreadReadsAcrossReplicas(t *testing.T) {
	b := testdb.SQLite(t)
	primary := b.CreateDatabase(t, "primary")
	replicas := []*testdb.Database{b.CreateDatabase(t, "r1"), b.CreateDatabase(t, "r2"), b.CreateDatabase(t, "r3")}
	for i, r := range append([]*testdb.Database{primary}, replicas...) {
		direct := r.Open(t)
		require.NoError(t, direct.AutoMigrate(&User{}))
		require.NoError(t, direct.Create(&User{Name: fmt.Sprintf("node%d", i)}).Error)
	}
	cases := map[string]struct {
		policy grant.Policy
		want   map[string]int // reads per replica out of 60; nil: just all three used
	}{
		"round robin":            {grant.RoundRobinPolicy(), map[string]int{"node1": 20, "node2": 20, "node3": 20}},
		"weighted 1:2:3":         {grant.WeightedPolicy(), map[string]int{"node1": 10, "node2": 20, "node3": 30}},
		"least in use":           {grant.LeastInUsePolicy(), map[string]int{"node1": 20, "node2": 20, "node3": 20}},
		"random":                 {grant.RandomPolicy(), nil},
		"dbresolver round robin": {dbresolver.RoundRobinPolicy(), map[string]int{"node1": 20, "node2": 20, "node3": 20}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			nodes := make([]grant.NodeConfig, len(replicas))
			for i, r := range replicas {
				nodes[i] = grant.NodeConfig{Dialector: r.Dialector(), Weight: i + 1}
			}
			db, err := gorm.Open(primary.Dialector(), &gorm.Config{Logger: logger.Discard})
			require.NoError(t, err)
			plugin := grant.New(grant.Config{Databases: map[string]grant.DatabaseConfig{"primary": {Replicas: nodes, Policy: tc.policy}}})
			require.NoError(t, db.Use(plugin))
			t.Cleanup(func() { _ = plugin.Close() })
			got := map[string]int{}
			for i := 0; i < 60; i++ {
				var u User
				require.NoError(t, db.Take(&u).Error)
				got[u.Name]++
			}
			assert.Zero(t, got["node0"], "no read reached the writer")
			if tc.want != nil {
				assert.Equal(t, tc.want, got)
			} else {
				assert.Len(t, got, 3, "random reached every replica: %v", got)
			}
		})
	}
}
