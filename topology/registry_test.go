package topology

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// withoutAdapters empties the registry for the test (this package's test
// binary registers adapter/postgres and adapter/mysql: adapters_test.go),
// as in a program that imports none, and restores it afterwards. Tests
// using it must not be parallel.
func withoutAdapters(t *testing.T) {
	t.Helper()
	registry.mu.Lock()
	byName, byDialect, all := registry.byName, registry.byDialect, registry.all
	registry.byName, registry.byDialect, registry.all = nil, nil, nil
	registry.mu.Unlock()
	t.Cleanup(func() {
		registry.mu.Lock()
		registry.byName, registry.byDialect, registry.all = byName, byDialect, all
		registry.mu.Unlock()
	})
}

// testAdapter is an adapter value for registry tests; only its dialect
// matters.
type testAdapter struct {
	DialectAdapter
	dialect string
}

func (a *testAdapter) Dialect() string            { return a.dialect }
func (*testAdapter) DSNSecrets(string) DSNReading { return DSNReading{} }

func TestRegisterAdapter(t *testing.T) {
	withoutAdapters(t)
	pg, cockroach := &testAdapter{dialect: "postgres"}, &testAdapter{dialect: "postgres"}
	RegisterAdapter("postgres", pg)
	RegisterAdapter("postgresql", pg)
	RegisterAdapter("cockroach", cockroach)

	assert.Equal(t, []string{"cockroach", "postgres", "postgresql"}, RegisteredAdapters())
	got, ok := LookupDialectAdapter("cockroach")
	require.True(t, ok)
	assert.Same(t, cockroach, got)
	assert.Same(t, pg, dialectAdapter("postgres"), "the first registered for a dialect serves it")
	assert.Len(t, registeredAdapters(), 2, "an alias is the same value")
	assert.Equal(t, sqliteDialect{}, dialectAdapter("sqlite"), "built in, needing no driver")
	assert.Nil(t, dialectAdapter("mysql"))

	assert.PanicsWithValue(t, "grant: RegisterAdapter called twice for adapter postgres", func() { RegisterAdapter("postgres", cockroach) })
	assert.PanicsWithValue(t, "grant: RegisterAdapter adapter is nil for x", func() { RegisterAdapter("x", nil) })
	assert.PanicsWithValue(t, "grant: RegisterAdapter adapter is nil for x", func() { RegisterAdapter("x", (*testAdapter)(nil)) })
	assert.Panics(t, func() { RegisterAdapter("", pg) })

	// Config.Adapters wins over a registered name.
	cfg := Config{Adapters: map[string]Adapter{"postgres": func(string) gorm.Dialector { return nil }}}
	assert.Nil(t, cfg.LookupAdapter("postgres")("dsn"))
	assert.Equal(t, []string{"cockroach", "postgres", "postgresql"}, cfg.knownAdapterNames())
}

func TestRegisterAdapterConcurrently(t *testing.T) {
	withoutAdapters(t)
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			a := &testAdapter{dialect: fmt.Sprintf("d%d", i%4)}
			RegisterAdapter(fmt.Sprintf("a%d", i), a)
			_, _ = LookupDialectAdapter(fmt.Sprintf("a%d", (i+1)%32))
			_ = dialectAdapter("d1")
			_ = ClassifyError(nil)
		})
	}
	wg.Wait()
	assert.Len(t, RegisteredAdapters(), 32)
	assert.Len(t, registeredAdapters(), 32)
}

// A DSN node whose adapter is not registered fails Validate, and the
// message names the import that registers it.
func TestUnregisteredAdapterNamesTheImport(t *testing.T) {
	withoutAdapters(t)
	for adapter, want := range map[string]string{
		"postgres":   `import _ "github.com/grant-go/grant/adapter/postgres" to register it`,
		"postgresql": `import _ "github.com/grant-go/grant/adapter/postgres" to register it`,
		"mysql":      `import _ "github.com/grant-go/grant/adapter/mysql" to register it`,
		"mariadb":    `import _ "github.com/grant-go/grant/adapter/mysql" to register it`,
		"oracle":     "register one with topology.RegisterAdapter, or name a function in Config.Adapters",
	} {
		cfg := Config{Databases: map[string]DatabaseConfig{"primary": {Replicas: []NodeConfig{{DSN: "postgres://u:s3cret@h/db", Adapter: adapter}}}}}
		err := cfg.Validate()
		require.ErrorIs(t, err, ErrInvalidConfig, adapter)
		var ce *ConfigError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, "databases.primary.replicas[0].adapter", ce.Path)
		assert.Contains(t, ce.Problem, fmt.Sprintf("unknown adapter %q (known adapters: none)", adapter))
		assert.Contains(t, ce.Problem, want)
		assert.NotContains(t, err.Error(), "s3cret")
	}
}

// Nodes given by Dialector route without any adapter registered: the
// statement reaches the replica and the writer, as it would with one.
func TestDialectorsRouteWithoutAnAdapter(t *testing.T) {
	withoutAdapters(t)
	_, d := fakeTopology(t, HealthConfig{}, newFakeServer("writer"), newFakeServer("r1"))
	assert.Nil(t, d.Writer().adapter)
	for role, want := range map[string]string{Writing: "writer", Reading: "r1"} {
		n, err := d.Pick(role)
		require.NoError(t, err)
		pool, err := n.Pool(false)
		require.NoError(t, err)
		name, err := serving(context.Background(), pool)
		require.NoError(t, err)
		assert.Equal(t, want, name)
	}
	// The unknown dialect's errors are still read as far as the standard
	// library goes.
	assert.True(t, isConnectionError(fmt.Errorf("dial: %w", errors.Join(errors.New("x"), ErrNodeUnavailable))))
}

// What needs the dialect's adapter fails at Build (Use), naming the node
// and the import, rather than running without what only the adapter
// knows. A dialect grant ships no adapter for keeps what it had.
func TestFeaturesNeedingTheAdapterFailClosed(t *testing.T) {
	withoutAdapters(t)
	replica := func() NodeConfig { return newFakeServer("r1").node(t) }
	writer := newFakeServer("writer").open(t)
	handle := Handle{Dialect: "mysql", Pool: writer, SQLDB: writer, Logger: logger.Discard}
	checks := &HealthConfig{Interval: time.Hour}
	mysqlImport := `import _ "github.com/grant-go/grant/adapter/mysql" to register it`

	for name, tc := range map[string]struct {
		cfg        Config
		path, what string
	}{
		"health checks": {Config{Databases: map[string]DatabaseConfig{"primary": {Health: checks, Replicas: []NodeConfig{replica()}}}},
			"databases.primary.replicas[0]", "health checks (health.interval: replica lag and read failover) needs the \"mysql\" adapter"},
		"health checks of a custom role": {Config{Health: *checks, Databases: map[string]DatabaseConfig{"primary": {Roles: map[string][]NodeConfig{"reports": {replica()}}}}},
			"databases.primary.roles.reports[0]", "health checks"},
		"health checks of a shard made later": {Config{Clusters: map[string]ClusterConfig{"orders": {Health: checks, Shards: []ShardConfig{
			{Name: "s1", DatabaseConfig: DatabaseConfig{Writer: &NodeConfig{Dialector: mysql.New(mysql.Config{Conn: writer})}, Replicas: []NodeConfig{replica()}}}}}}},
			"clusters.orders.shards[0].replicas[0]", "health checks"},
		"causal consistency on the handle": {Config{Consistency: ConsistencyConfig{Mode: Causal}},
			"databases.primary.writer", "consistency mode causal (replication positions) on the *gorm.DB grant is installed on needs the \"mysql\" adapter"},
		"causal consistency on a writer": {Config{Consistency: ConsistencyConfig{Mode: Causal}, Databases: map[string]DatabaseConfig{
			"analytics": {Writer: &NodeConfig{Dialector: mysql.New(mysql.Config{Conn: writer})}},
			"primary":   {Writer: &NodeConfig{Dialector: mysql.New(mysql.Config{Conn: writer})}}}},
			"databases.analytics.writer", "consistency mode causal"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Build(tc.cfg, handle)
			require.ErrorIs(t, err, ErrInvalidConfig)
			var ce *ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.path, ce.Path)
			assert.Contains(t, ce.Problem, tc.what)
			assert.Contains(t, ce.Problem, mysqlImport)
		})
	}

	t.Run("credentials through an adapter of Config.Adapters", func(t *testing.T) {
		cfg := Config{
			Adapters:  map[string]Adapter{"my": func(dsn string) gorm.Dialector { return mysql.Open(dsn) }},
			Databases: map[string]DatabaseConfig{"primary": {Replicas: []NodeConfig{{DSN: "u@tcp(h)/db", Adapter: "my", PasswordFile: "/run/secrets/db"}}}},
		}
		err := cfg.Validate()
		require.ErrorIs(t, err, ErrInvalidConfig)
		assert.ErrorContains(t, err, `databases.primary.replicas[0].adapter: adapter "my" cannot take password_file: a per-connection credentials hook needs the "mysql" adapter, which is not registered: `+mysqlImport)
	})

	t.Run("strict write prevention", func(t *testing.T) {
		top, err := Build(Config{StrictPreventWrites: true, Databases: map[string]DatabaseConfig{"primary": {Replicas: []NodeConfig{replica()}}}}, handle)
		require.NoError(t, err, "checked by CheckReadOnlySessions, as Use does")
		t.Cleanup(func() { _ = top.Close() })
		err = top.CheckReadOnlySessions()
		require.ErrorIs(t, err, ErrNoReadOnlySession)
		var ne *NodeError
		require.ErrorAs(t, err, &ne)
		assert.Equal(t, "primary/writing/writer", ne.Node, "the handle's own pool is the first node")
		assert.ErrorContains(t, err, "strict write prevention (strict_prevent_writes) needs the \"mysql\" adapter, which is not registered: "+mysqlImport)
	})

	t.Run("a dialect grant ships no adapter for", func(t *testing.T) {
		other := Handle{Dialect: "sqlserver", Logger: logger.Discard}
		node := NodeConfig{Dialector: namedDialector{Dialector: mysql.New(mysql.Config{Conn: writer}), name: "sqlserver"}}
		top, err := Build(Config{Health: *checks, Consistency: ConsistencyConfig{Mode: Causal},
			Databases: map[string]DatabaseConfig{"primary": {Replicas: []NodeConfig{node}}}}, other)
		require.NoError(t, err, "ping-only checks and Timed reads, as before adapters")
		t.Cleanup(func() { _ = top.Close() })
		_, err = top.Default().Replicas()[0].Position(context.Background())
		assert.ErrorIs(t, err, ErrNoPosition)
	})
}

// namedDialector is a dialector reporting another dialect's name.
type namedDialector struct {
	gorm.Dialector
	name string
}

func (d namedDialector) Name() string { return d.name }

// The registered adapters classify their drivers' errors; grant asks them
// all, since only their drivers' errors can occur.
func TestClassifyError(t *testing.T) {
	for err, want := range map[error]ErrorClass{
		&pgconn.PgError{Code: "25006"}:                      ReadOnlyServer,
		&pgconn.PgError{Code: "57P01"}:                      ConnectionLost,
		&pgconn.PgError{Code: "08006"}:                      ConnectionLost,
		fmt.Errorf("x: %w", &pgconn.PgError{Code: "28P01"}): LoginRefused,
		&pgconn.PgError{Code: "23505"}:                      0,
		&mysqldriver.MySQLError{Number: 1792}:               ReadOnlyServer,
		&mysqldriver.MySQLError{Number: 1290}:               ReadOnlyServer,
		&mysqldriver.MySQLError{Number: 1045}:               LoginRefused,
		&mysqldriver.MySQLError{Number: 1927}:               ConnectionLost,
		fmt.Errorf("x: %w", mysqldriver.ErrInvalidConn):     ConnectionLost,
		&mysqldriver.MySQLError{Number: 1062}:               0,
		errors.New("grant: something else"):                 0,
	} {
		assert.Equal(t, want, ClassifyError(err), "%v", err)
	}
	assert.Zero(t, ClassifyError(nil))
	assert.True(t, (ConnectionLost | LoginRefused).Has(LoginRefused))
	assert.False(t, ErrorClass(0).Has(0))
}
