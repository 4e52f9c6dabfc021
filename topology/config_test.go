package topology

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
)

func pgNode(dsn string) *NodeConfig { return &NodeConfig{DSN: dsn, Adapter: "postgres"} }

func TestValidateRejectsBadInput(t *testing.T) {
	good := *pgNode("host=a")
	cases := []struct {
		name    string
		config  Config
		path    string
		problem string
	}{
		{"empty database name", Config{Databases: map[string]DatabaseConfig{"": {Writer: &good}}}, "databases.", "empty name"},
		{"bad characters", Config{Databases: map[string]DatabaseConfig{"a/b": {Writer: &good}}}, "databases.a/b", "may only hold"},
		{"names differing only in case", Config{Databases: map[string]DatabaseConfig{"Orders": {Writer: &good}, "orders": {Writer: &good}}}, "databases.orders", "duplicates database \"Orders\""},
		{"non-default database without writer", Config{Databases: map[string]DatabaseConfig{"analytics": {}}}, "databases.analytics.writer", "only the default database"},
		{"node with no source", Config{Databases: map[string]DatabaseConfig{"primary": {Replicas: []NodeConfig{{}}}}}, "databases.primary.replicas[0]", "needs a dialector or a DSN"},
		{"node with both", Config{Databases: map[string]DatabaseConfig{"primary": {Replicas: []NodeConfig{{DSN: "x", Adapter: "postgres", Dialector: postgres.Open("x")}}}}}, "databases.primary.replicas[0]", "not both"},
		{"DSN without adapter", Config{Databases: map[string]DatabaseConfig{"primary": {Replicas: []NodeConfig{{DSN: "postgres://u:s3cret@h/db"}}}}}, "databases.primary.replicas[0].adapter", "missing for DSN postgres://u:xxxxx@h/db"},
		{"unknown adapter", Config{Databases: map[string]DatabaseConfig{"primary": {Replicas: []NodeConfig{{DSN: "x", Adapter: "oracle"}}}}}, "databases.primary.replicas[0].adapter", `unknown adapter "oracle" (known adapters: mariadb, mysql, postgres, postgresql): register one with topology.RegisterAdapter`},
		{"negative max open", Config{Databases: map[string]DatabaseConfig{"primary": {Pool: PoolConfig{MaxOpenConns: -1}}}}, "databases.primary.pool.max_open_conns", "must not be negative"},
		{"negative node lifetime", Config{Databases: map[string]DatabaseConfig{"primary": {Replicas: []NodeConfig{{DSN: "x", Adapter: "postgres", Pool: &PoolConfig{ConnMaxLifetime: -1}}}}}}, "databases.primary.replicas[0].pool.conn_max_lifetime", "must not be negative"},
		{"negative weight", Config{Databases: map[string]DatabaseConfig{"primary": {Replicas: []NodeConfig{{DSN: "x", Adapter: "postgres", Weight: -2}}}}}, "databases.primary.replicas[0].weight", "must not be negative"},
		{"duplicate node names", Config{Databases: map[string]DatabaseConfig{"primary": {Replicas: []NodeConfig{{Name: "r", DSN: "x", Adapter: "postgres"}, {Name: "r", DSN: "y", Adapter: "postgres"}}}}}, "databases.primary.replicas[1].name", `duplicate node name "r"`},
		{"custom role named reading", Config{Databases: map[string]DatabaseConfig{"primary": {Roles: map[string][]NodeConfig{"reading": {good}}}}}, "databases.primary.roles.reading", "built-in role"},
		{"custom role without nodes", Config{Databases: map[string]DatabaseConfig{"primary": {Roles: map[string][]NodeConfig{"reports": nil}}}}, "databases.primary.roles.reports", "at least one node"},
		{"table mapped to unknown database", Config{Tables: map[string]string{"events": "analytics"}}, "tables.events", `database "analytics" is not configured (have: primary)`},
		{"empty default name", Config{Default: "a b"}, "default", "may only hold"},
		{"negative distinct bound", Config{MaxDistinctValues: -1}, "max_distinct_values", "must be 0 (the default, 1,000,000) or more, got -1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.config.Validate()
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalidConfig)
			var ce *ConfigError
			require.True(t, errors.As(err, &ce), "want *ConfigError, got %T", err)
			assert.Equal(t, tc.path, ce.Path)
			assert.Contains(t, ce.Problem, tc.problem)
			assert.NotContains(t, err.Error(), "s3cret")
		})
	}
}

func TestValidateAcceptsZeroAndFullConfigs(t *testing.T) {
	require.NoError(t, (&Config{}).Validate())
	cfg := Config{
		Databases: map[string]DatabaseConfig{
			"primary":   {Replicas: []NodeConfig{{DSN: "a", Adapter: "postgres"}, {Dialector: postgres.Open("b"), Weight: 3}}, Roles: map[string][]NodeConfig{"reports": {{DSN: "c", Adapter: "postgresql"}}}},
			"analytics": {Writer: pgNode("d"), Pool: PoolConfig{MaxOpenConns: 5}},
		},
		Tables: map[string]string{"events": "analytics", "users": "primary"},
	}
	require.NoError(t, cfg.Validate())
	assert.Equal(t, []string{"analytics", "primary"}, cfg.DatabaseNames())
}

func TestBuildRejectsForeignDialect(t *testing.T) {
	cfg := Config{Databases: map[string]DatabaseConfig{"primary": {Replicas: []NodeConfig{{Dialector: mysql.Open("root@tcp(127.0.0.1:1)/x")}}}}}
	_, err := Build(cfg, Handle{Dialect: "postgres"})
	require.ErrorIs(t, err, ErrInvalidConfig)
	assert.Contains(t, err.Error(), `databases.primary.replicas[0]: dialect "mysql" differs from the handle's "postgres"`)
}

func TestBuildOpensNothing(t *testing.T) {
	// 200 nodes pointing at a port nothing listens on: building must not
	// try any of them.
	cfg := Config{Databases: map[string]DatabaseConfig{}}
	for i := 0; i < 50; i++ {
		name := "db" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		cfg.Databases[name] = DatabaseConfig{
			Writer:   pgNode("postgres://u:pw@127.0.0.1:1/x?connect_timeout=1"),
			Replicas: []NodeConfig{{DSN: "postgres://u:pw@127.0.0.1:1/y", Adapter: "postgres"}, {DSN: "postgres://u:pw@127.0.0.1:1/z", Adapter: "postgres"}},
			Roles:    map[string][]NodeConfig{"reports": {{DSN: "postgres://u:pw@127.0.0.1:1/w", Adapter: "postgres"}}},
		}
	}
	topo, err := Build(cfg, Handle{Dialect: "postgres"})
	require.NoError(t, err)
	assert.Len(t, topo.Nodes(), 201) // 200 configured + the default handle writer
	for _, n := range topo.Nodes() {
		if n.Database() != DefaultDatabase {
			assert.False(t, n.Opened(), n.Key())
		}
	}
	assert.Empty(t, topo.Stats())
}

func TestPickUnknownRoleListsRoles(t *testing.T) {
	cfg := Config{Databases: map[string]DatabaseConfig{"primary": {Roles: map[string][]NodeConfig{"reports": {{DSN: "a", Adapter: "postgres"}}}}}}
	topo, err := Build(cfg, Handle{Dialect: "postgres"})
	require.NoError(t, err)
	_, err = topo.Default().Pick("analytics")
	require.ErrorIs(t, err, ErrUnknownRole)
	assert.Contains(t, err.Error(), `database "primary" has roles: writing, reading, reports`)
	_, err = topo.Database("nope")
	require.ErrorIs(t, err, ErrUnknownDatabase)
	assert.Contains(t, err.Error(), "configured databases: primary")
}

func TestNodeOpenErrorIsRedacted(t *testing.T) {
	cfg := Config{Databases: map[string]DatabaseConfig{"primary": {Replicas: []NodeConfig{{DSN: "postgres://alice:hunter2@127.0.0.1:1/x?connect_timeout=1&sslmode=disable", Adapter: "postgres"}}}}}
	topo, err := Build(cfg, Handle{Dialect: "postgres"})
	require.NoError(t, err)
	node, err := topo.Default().Pick(Reading)
	require.NoError(t, err)
	pool, err := node.Pool(false)
	if err == nil { // pgx opens lazily: the failure comes with the first query
		_, err = pool.QueryContext(t.Context(), "SELECT 1")
		require.Error(t, err)
		assert.NotContains(t, err.Error(), "hunter2")
		return
	}
	require.ErrorIs(t, err, ErrNodeUnavailable)
	assert.NotContains(t, err.Error(), "hunter2")
}
