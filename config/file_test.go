package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant/sharding"
	"github.com/grant-go/grant/topology"
)

// envOf is a map-backed environment for Parse.
func envOf(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

// yml joins lines, so that a test's line numbers can be read off its slice.
func yml(lines ...string) []byte { return []byte(strings.Join(lines, "\n") + "\n") }

const fullFile = `default: main
trace_routes: true
max_distinct_values: 5000
strict_prevent_writes: true
max_open_pools: 300
policy: weighted
health:
  interval: 1s
  timeout: 500ms
  max_replica_lag: 5s
  rejoin_after: 3
  fail_without_replica: true
  read_timeout: 2s
  read_timeouts: {reporting: 30s}
consistency:
  mode: timed
  delay: 3s
  causal_wait: 20ms
tables:
  legacy_orders: orders
  events: analytics
databases:
  main:
    adapter: postgres
    dsn: postgres://app@${DB_HOST}/main
    replicas:
      - name: r1
        dsn: postgres://app@${REPLICA_HOST:-db2}/main
        weight: 2
        pool: {max_open_conns: 3}
      - dsn: "user:pw$$1@tcp(db3)/main"
        adapter: mysql
    roles:
      reporting:
        - name: rep
          dsn: postgres://app@db4/main
    pool:
      max_open_conns: 10
      max_idle_conns: 5
      conn_max_lifetime: 30m
      conn_max_idle_time: 5m
      checkout_timeout: 2s
    policy: round_robin
    migrations: db/migrate/main
    migrations_table: schema_versions
    migrations_dsn: postgres://app@db1:5432/main
    tasks: true
    health: {interval: 2s, fail_without_replica: false}
  analytics:
    adapter: sqlite
    writer:
      name: w
      dsn: file:analytics.db
      adapter: sqlite
      weight: 1
      pool: {conn_max_lifetime: 1h}
      password_file: /run/secrets/analytics
    policy: least_in_use
    tasks: false
    health: {}
clusters:
  orders:
    adapter: postgres
    pool: {max_open_conns: 4}
    max_open_pools: 40
    policy: random
    health:
      interval: 10s
      max_replica_lag: 1m
    migrations: /srv/migrate/orders
    migrations_table: orders_versions
    tasks: true
    shard_keys:
      orders: {column: customer_id, strategy: jump_hash}
      payments: {column: order_id, strategy: modulo}
      refunds: {column: id, strategy: hash}
    shards:
      - name: shard1
        dsn: postgres://app@s1/orders
        replicas:
          - dsn: postgres://app@s1r/orders
        roles:
          backup:
            - dsn: postgres://app@s1b/orders
        pool: {max_idle_conns: 2}
        policy: weighted
        health: {interval: 5s, timeout: 1s, rejoin_after: 4}
      - name: shard2
        writer: {name: w2, dsn: postgres://app@s2/orders, adapter: postgresql}
        migrations_dsn: postgres://app@s2:5432/orders
      - name: shard3
        dsn: postgres://app@s3/orders
        password_file: /run/secrets/s3
`

func TestParseConfigReadsEveryKey(t *testing.T) {
	cfg, err := Parse("grant.yml", []byte(fullFile), envOf(map[string]string{"DB_HOST": "db1"}))
	require.NoError(t, err)

	pool := func(p topology.PoolConfig) *topology.PoolConfig { return &p }
	want := topology.Config{
		Default:             "main",
		TraceRoutes:         true,
		MaxDistinctValues:   5000,
		StrictPreventWrites: true,
		MaxOpenPools:        300,
		Policy:              topology.WeightedPolicy(),
		Tables:              map[string]string{"legacy_orders": "orders", "events": "analytics"},
		Health: topology.HealthConfig{
			Interval: time.Second, Timeout: 500 * time.Millisecond, MaxReplicaLag: 5 * time.Second,
			RejoinAfter: 3, FailWithoutReplica: true,
			ReadTimeout: 2 * time.Second, ReadTimeouts: map[string]time.Duration{"reporting": 30 * time.Second},
		},
		Consistency: topology.ConsistencyConfig{Mode: topology.Timed, Delay: 3 * time.Second, CausalWait: 20 * time.Millisecond},
		Databases: map[string]topology.DatabaseConfig{
			"main": {
				Writer: &topology.NodeConfig{DSN: "postgres://app@db1/main", Adapter: "postgres"},
				Replicas: []topology.NodeConfig{
					{Name: "r1", DSN: "postgres://app@db2/main", Adapter: "postgres", Weight: 2, Pool: pool(topology.PoolConfig{MaxOpenConns: 3})},
					{DSN: "user:pw$1@tcp(db3)/main", Adapter: "mysql"},
				},
				Roles:      map[string][]topology.NodeConfig{"reporting": {{Name: "rep", DSN: "postgres://app@db4/main", Adapter: "postgres"}}},
				Pool:       topology.PoolConfig{MaxOpenConns: 10, MaxIdleConns: 5, ConnMaxLifetime: 30 * time.Minute, ConnMaxIdleTime: 5 * time.Minute, CheckoutTimeout: 2 * time.Second},
				Policy:     topology.RoundRobinPolicy(),
				Migrations: topology.MigrationsConfig{Dir: "db/migrate/main", Table: "schema_versions", DSN: "postgres://app@db1:5432/main"},
				Health:     &topology.HealthConfig{Interval: 2 * time.Second},
			},
			"analytics": {
				Writer: &topology.NodeConfig{Name: "w", DSN: "file:analytics.db", Adapter: "sqlite", Weight: 1, Pool: pool(topology.PoolConfig{ConnMaxLifetime: time.Hour}),
					PasswordFile: "/run/secrets/analytics"},
				Policy:     topology.LeastInUsePolicy(),
				Migrations: topology.MigrationsConfig{Disabled: true},
				Health:     &topology.HealthConfig{}, // "health: {}" turns checks off here
			},
		},
		Clusters: map[string]topology.ClusterConfig{
			"orders": {
				Pool:         topology.PoolConfig{MaxOpenConns: 4},
				MaxOpenPools: 40,
				Policy:       topology.RandomPolicy(),
				ShardKeys: map[string]sharding.ShardKey{
					"orders":   {Column: "customer_id", Strategy: sharding.JumpHash()},
					"payments": {Column: "order_id", Strategy: sharding.Modulo()},
					"refunds":  {Column: "id", Strategy: sharding.Hash()},
				},
				Migrations: topology.MigrationsConfig{Dir: "/srv/migrate/orders", Table: "orders_versions"},
				Health:     &topology.HealthConfig{Interval: 10 * time.Second, MaxReplicaLag: time.Minute},
				Shards: []topology.ShardConfig{
					{Name: "shard1", DatabaseConfig: topology.DatabaseConfig{
						Writer:   &topology.NodeConfig{DSN: "postgres://app@s1/orders", Adapter: "postgres"},
						Replicas: []topology.NodeConfig{{DSN: "postgres://app@s1r/orders", Adapter: "postgres"}},
						Roles:    map[string][]topology.NodeConfig{"backup": {{DSN: "postgres://app@s1b/orders", Adapter: "postgres"}}},
						Pool:     topology.PoolConfig{MaxIdleConns: 2},
						Policy:   topology.WeightedPolicy(),
						Health:   &topology.HealthConfig{Interval: 5 * time.Second, Timeout: time.Second, RejoinAfter: 4},
					}},
					{Name: "shard2", DatabaseConfig: topology.DatabaseConfig{
						Writer:     &topology.NodeConfig{Name: "w2", DSN: "postgres://app@s2/orders", Adapter: "postgresql"},
						Migrations: topology.MigrationsConfig{DSN: "postgres://app@s2:5432/orders"},
					}},
					{Name: "shard3", DatabaseConfig: topology.DatabaseConfig{
						Writer: &topology.NodeConfig{DSN: "postgres://app@s3/orders", Adapter: "postgres", PasswordFile: "/run/secrets/s3"},
					}},
				},
			},
		},
	}
	assert.Equal(t, want, cfg)
	assert.Nil(t, cfg.Adapters, "unknown adapters are left for the caller to register")
	// Each database gets a policy of its own: round-robin state is not shared.
	assert.NotSame(t, cfg.Clusters["orders"].Shards[0].Policy, cfg.Policy)
}

func TestParseConfigMinimalFiles(t *testing.T) {
	cfg, err := Parse("grant.yml", []byte("{}"), nil)
	require.NoError(t, err)
	assert.Equal(t, topology.Config{}, cfg)

	// The default database may omit its writer (it is the *gorm.DB grant
	// is installed on); null values count as absent.
	cfg, err = Parse("grant.yml", yml(
		"databases:",
		"  primary:",
		"    adapter: postgres",
		"    replicas:",
		"      - dsn: host=r1",
		"        name: ~",
		"    roles:",
		"    pool: ~",
		"    tasks:",
		"clusters: ~",
	), nil)
	require.NoError(t, err)
	assert.Equal(t, topology.Config{Databases: map[string]topology.DatabaseConfig{
		"primary": {Replicas: []topology.NodeConfig{{DSN: "host=r1", Adapter: "postgres"}}},
	}}, cfg)

	// "default" decides which database may omit its writer, wherever it is written.
	_, err = Parse("grant.yml", yml(
		"databases:",
		"  main: {adapter: postgres, replicas: [{dsn: host=r1}]}",
		"default: main",
	), nil)
	require.NoError(t, err)
}

func TestParseConfigHealthAndConsistency(t *testing.T) {
	// Every consistency mode name, and null values.
	for _, tc := range []struct {
		mode string
		want topology.ConsistencyMode
	}{{"eventual", topology.Eventual}, {"timed", topology.Timed}, {"causal", topology.Causal}, {"~", topology.Eventual}} {
		cfg, err := Parse("grant.yml", yml("consistency: {mode: "+tc.mode+"}"), nil)
		require.NoError(t, err, tc.mode)
		assert.Equal(t, topology.ConsistencyConfig{Mode: tc.want}, cfg.Consistency, tc.mode)
	}

	// Null health and consistency count as absent; a null override is no
	// override (nil), unlike "health: {}".
	cfg, err := Parse("grant.yml", yml(
		"health:",
		"consistency: ~",
		"databases:",
		"  primary:",
		"    adapter: postgres",
		"    health: ~",
		"clusters:",
		"  orders:",
		"    adapter: postgres",
		"    health:",
		"    shards: [{name: s1, dsn: a, health: ~}]",
	), nil)
	require.NoError(t, err)
	assert.Zero(t, cfg.Health)
	assert.Zero(t, cfg.Consistency)
	assert.Nil(t, cfg.Databases["primary"].Health)
	assert.Nil(t, cfg.Clusters["orders"].Health)
	assert.Nil(t, cfg.Clusters["orders"].Shards[0].Health)

	// Anchors, merge keys and ${VAR} work inside health and consistency.
	cfg, err = Parse("grant.yml", yml(
		"health: &health",
		"  interval: ${HEALTH_INTERVAL:-1s}",
		"  max_replica_lag: 5s",
		"consistency:",
		"  mode: ${CONSISTENCY:-eventual}",
		"  causal_wait: '${CAUSAL_WAIT}'",
		"databases:",
		"  primary:",
		"    adapter: postgres",
		"    health: {<<: *health, rejoin_after: '${REJOIN}', fail_without_replica: '${STRICT}'}",
		"  analytics:",
		"    adapter: postgres",
		"    dsn: host=a",
		"    health: *health",
	), envOf(map[string]string{"CONSISTENCY": "causal", "CAUSAL_WAIT": "20ms", "REJOIN": "5", "STRICT": "true"}))
	require.NoError(t, err)
	base := topology.HealthConfig{Interval: time.Second, MaxReplicaLag: 5 * time.Second}
	assert.Equal(t, base, cfg.Health)
	assert.Equal(t, topology.ConsistencyConfig{Mode: topology.Causal, CausalWait: 20 * time.Millisecond}, cfg.Consistency)
	assert.Equal(t, &topology.HealthConfig{Interval: time.Second, MaxReplicaLag: 5 * time.Second, RejoinAfter: 5, FailWithoutReplica: true}, cfg.Databases["primary"].Health)
	assert.Equal(t, &base, cfg.Databases["analytics"].Health)
}

func TestParseConfigMergeKeysAndAliases(t *testing.T) {
	cfg, err := Parse("grant.yml", yml(
		"databases:",
		"  primary: &base",
		"    adapter: mysql",
		"    dsn: root@tcp(h1)/app",
		"    pool: &pool {max_open_conns: 7}",
		"  analytics:",
		"    <<: *base",
		"    dsn: root@tcp(h2)/analytics",
		"    replicas:",
		"      - {<<: [{dsn: root@tcp(h3)/analytics}, {weight: 9}], weight: 3}",
		"  audit:",
		"    <<: *base",
		"    dsn: root@tcp(h4)/audit",
		"    pool: *pool",
	), nil)
	require.NoError(t, err)
	assert.Equal(t, topology.DatabaseConfig{
		Writer:   &topology.NodeConfig{DSN: "root@tcp(h2)/analytics", Adapter: "mysql"},
		Replicas: []topology.NodeConfig{{DSN: "root@tcp(h3)/analytics", Adapter: "mysql", Weight: 3}},
		Pool:     topology.PoolConfig{MaxOpenConns: 7},
	}, cfg.Databases["analytics"])
	assert.Equal(t, topology.PoolConfig{MaxOpenConns: 7}, cfg.Databases["audit"].Pool)
}

func TestParseConfigEnvironment(t *testing.T) {
	file := yml(
		"databases:",
		"  primary:",
		"    adapter: ${ADAPTER:-postgres}",
		"    dsn: postgres://${PGUSER}:${PGPASS:-}@${PGHOST:-localhost}:${PGPORT:-5432}/app?x=$$y&z=$",
		"    pool: {max_open_conns: '${MAX_OPEN:-4}', conn_max_lifetime: '${LIFETIME:-1m}'}",
		"    tasks: ${TASKS:-true}",
		"    replicas:",
		"      - dsn: ${REPLICA_DSN}",
	)
	env := map[string]string{"PGUSER": "app", "PGHOST": "", "MAX_OPEN": "12", "TASKS": "false", "REPLICA_DSN": "host=${NOT_EXPANDED}"}
	cfg, err := Parse("grant.yml", file, envOf(env))
	require.NoError(t, err)
	db := cfg.Databases["primary"]
	assert.Equal(t, &topology.NodeConfig{DSN: "postgres://app:@localhost:5432/app?x=$y&z=$", Adapter: "postgres"}, db.Writer)
	assert.Equal(t, "host=${NOT_EXPANDED}", db.Replicas[0].DSN, "values from the environment are not expanded again")
	assert.Equal(t, topology.PoolConfig{MaxOpenConns: 12, ConnMaxLifetime: time.Minute}, db.Pool)
	assert.True(t, db.Migrations.Disabled)
}

func TestExpand(t *testing.T) {
	env := envOf(map[string]string{"A": "1", "EMPTY": "", "B_2": "x"})
	for _, tc := range []struct{ in, want, problem string }{
		{"plain", "plain", ""},
		{"${A}", "1", ""},
		{"${EMPTY}", "", ""},
		{"${EMPTY:-d}", "d", ""},
		{"${UNSET:-d}", "d", ""},
		{"${UNSET:-}", "", ""},
		{"${A:-d}", "1", ""},
		{"${UNSET:-a:-b}", "a:-b", ""},
		{"a${B_2}b${A}", "ax" + "b1", ""},
		{"$$", "$", ""},
		{"$${A}", "${A}", ""},
		{"p$w$", "p$w$", ""},
		{"$A", "$A", ""},
		{"${UNSET}", "", "environment variable UNSET is not set (write ${UNSET:-default} to give a default)"},
		{"x${A", "", "unterminated ${ at character 2"},
		{"${}", "", "bad variable reference at character 1"},
		{"${1A}", "", "bad variable reference"},
		{"${A-d}", "", "bad variable reference"},
		{"${A B}", "", "bad variable reference"},
	} {
		got, problem := expand(tc.in, env)
		if tc.problem != "" {
			assert.Contains(t, problem, tc.problem, tc.in)
			continue
		}
		assert.Empty(t, problem, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
}

func TestParseConfigDSNOverrides(t *testing.T) {
	file := yml(
		"databases:",
		"  primary:",
		"    adapter: postgres",
		"    dsn: host=file-primary",
		"    replicas: [{dsn: host=replica}]",
		"  my-analytics:",
		"    adapter: postgres",
		"    writer: {name: w, dsn: host=file-analytics}",
		"clusters:",
		"  orders:",
		"    adapter: mysql",
		"    shards:",
		"      - name: shard-1",
		"        dsn: root@tcp(file-s1)/orders",
		"      - name: shard2",
	)
	env := map[string]string{
		"GRANT_PRIMARY_DSN":         "host=env-primary",
		"GRANT_MY_ANALYTICS_DSN":    "host=env-analytics",
		"GRANT_ORDERS_SHARD_1_DSN":  "root@tcp(env-s1)/orders",
		"GRANT_ORDERS_SHARD2_DSN":   "root@tcp(env-s2)/orders",
		"GRANT_UNRELATED_DSN":       "host=ignored",
		"GRANT_ORDERS_SHARD_3_DSN ": "host=ignored",
	}
	cfg, err := Parse("grant.yml", file, envOf(env))
	require.NoError(t, err)
	assert.Equal(t, &topology.NodeConfig{DSN: "host=env-primary", Adapter: "postgres"}, cfg.Databases["primary"].Writer)
	assert.Equal(t, &topology.NodeConfig{Name: "w", DSN: "host=env-analytics", Adapter: "postgres"}, cfg.Databases["my-analytics"].Writer)
	shards := cfg.Clusters["orders"].Shards
	assert.Equal(t, &topology.NodeConfig{DSN: "root@tcp(env-s1)/orders", Adapter: "mysql"}, shards[0].Writer)
	assert.Equal(t, &topology.NodeConfig{DSN: "root@tcp(env-s2)/orders", Adapter: "mysql"}, shards[1].Writer, "an override gives a shard its writer")

	// An empty override is ignored.
	env = map[string]string{"GRANT_PRIMARY_DSN": "", "GRANT_ORDERS_SHARD2_DSN": "root@tcp(env-s2)/orders"}
	cfg, err = Parse("grant.yml", file, envOf(env))
	require.NoError(t, err)
	assert.Equal(t, "host=file-primary", cfg.Databases["primary"].Writer.DSN)

	// An override that makes the writer one of the replicas is caught.
	env = map[string]string{"GRANT_PRIMARY_DSN": "host=replica", "GRANT_ORDERS_SHARD2_DSN": "x"}
	_, err = Parse("grant.yml", file, envOf(env))
	var fe *FileError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "grant.yml:5: databases.primary.replicas[0].dsn: replica listed as writer: its DSN is the writer's DSN of database \"primary\" (set by GRANT_PRIMARY_DSN)", err.Error())
}

func TestOverrideVar(t *testing.T) {
	assert.Equal(t, "GRANT_PRIMARY_DSN", overrideVar("primary"))
	assert.Equal(t, "GRANT_MY_DB_2_DSN", overrideVar("my-db.2"))
	assert.Equal(t, "GRANT_ORDERS_SHARD1_DSN", overrideVar("orders", "shard1"))
	assert.Equal(t, "GRANT_EU_ORDERS_EU_1_DSN", overrideVar("eu-orders", "Eu-1"))
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "grant.yml")
	require.NoError(t, os.WriteFile(path, yml(
		"databases:",
		"  primary:",
		"    adapter: postgres",
		"    dsn: postgres://app@${GRANT_TEST_LOAD_HOST:-db}/app",
		"    migrations: db/migrate/primary",
		"  analytics:",
		"    adapter: postgres",
		"    dsn: host=analytics",
		"    migrations: "+filepath.Join(dir, "abs"),
		"clusters:",
		"  orders:",
		"    adapter: postgres",
		"    migrations: ../orders",
		"    shards: [{name: s1, dsn: host=s1}]",
	), 0o600))
	t.Setenv("GRANT_TEST_LOAD_HOST", "envhost")

	cfg, err := Load(path)
	require.NoError(t, err)
	assert.Equal(t, "postgres://app@envhost/app", cfg.Databases["primary"].Writer.DSN)
	assert.Equal(t, filepath.Join(dir, "db", "migrate", "primary"), cfg.Databases["primary"].Migrations.Dir)
	assert.Equal(t, filepath.Join(dir, "abs"), cfg.Databases["analytics"].Migrations.Dir)
	assert.Equal(t, filepath.Join(filepath.Dir(dir), "orders"), cfg.Clusters["orders"].Migrations.Dir)

	// Relative paths to the file work from the working directory.
	t.Chdir(dir)
	cfg, err = Load("grant.yml")
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "db", "migrate", "primary"), cfg.Databases["primary"].Migrations.Dir)

	// Errors name the file as given.
	require.NoError(t, os.WriteFile(path, yml("databases:", "  primary:", "    replica: []"), 0o600))
	_, err = Load("grant.yml")
	var fe *FileError
	require.ErrorAs(t, err, &fe)
	assert.True(t, strings.HasPrefix(err.Error(), "grant.yml:3: databases.primary.replica: unknown key"), err.Error())

	_, err = Load(filepath.Join(dir, "missing.yml"))
	assert.ErrorIs(t, err, fs.ErrNotExist)
	assert.False(t, errors.Is(err, topology.ErrInvalidConfig))
}

func TestLoadResolvesPasswordFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "grant.yml")
	require.NoError(t, os.WriteFile(path, yml(
		"databases:",
		"  primary:",
		"    adapter: postgres",
		"    dsn: host=primary",
		"    password_file: secrets/primary",
		"    replicas:",
		"      - {dsn: host=replica, password_file: /run/secrets/replica}",
		"    roles:",
		"      reports: [{dsn: host=reports, password_file: ../reports}]",
		"clusters:",
		"  orders:",
		"    adapter: mysql",
		"    shards:",
		"      - {name: s1, dsn: 'app@tcp(s1)/orders', password_file: s1.pw}",
		"      - {name: s2, writer: {dsn: 'app@tcp(s2)/orders', password_file: s2.pw}}",
	), 0o600))
	cfg, err := Load(path)
	require.NoError(t, err)
	primary := cfg.Databases["primary"]
	assert.Equal(t, filepath.Join(dir, "secrets", "primary"), primary.Writer.PasswordFile)
	assert.Equal(t, "/run/secrets/replica", primary.Replicas[0].PasswordFile)
	assert.Equal(t, filepath.Join(filepath.Dir(dir), "reports"), primary.Roles["reports"][0].PasswordFile)
	shards := cfg.Clusters["orders"].Shards
	assert.Equal(t, filepath.Join(dir, "s1.pw"), shards[0].Writer.PasswordFile)
	assert.Equal(t, filepath.Join(dir, "s2.pw"), shards[1].Writer.PasswordFile)

	// ParseConfig leaves them as written.
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	cfg, err = Parse(path, data, nil)
	require.NoError(t, err)
	assert.Equal(t, "secrets/primary", cfg.Databases["primary"].Writer.PasswordFile)
}

// TestParseConfigMigrationsDSN: migrations_dsn in a database section and in
// each shard section reaches that database's and that shard's Migrations
// (topology's TestMigrationsDSNReachesEachShard takes it from there); a
// cluster section has no such key.
func TestParseConfigMigrationsDSN(t *testing.T) {
	cfg, err := Parse("grant.yml", yml(
		"databases:",
		"  primary:",
		"    adapter: postgres",
		"    dsn: host=bouncer port=6432 dbname=app",
		"    migrations: db/migrate",
		"    migrations_dsn: host=db port=5432 dbname=app",
		"clusters:",
		"  orders:",
		"    adapter: postgres",
		"    migrations: /srv/orders",
		"    migrations_table: orders_versions",
		"    shards:",
		"      - name: s1",
		"        dsn: host=bouncer port=6432 dbname=orders1",
		"        migrations_dsn: host=db port=5432 dbname=orders1",
		"      - name: s2",
		"        dsn: host=db port=5432 dbname=orders2",
	), envOf(nil))
	require.NoError(t, err)
	assert.Equal(t, topology.Config{
		Databases: map[string]topology.DatabaseConfig{"primary": {
			Writer:     &topology.NodeConfig{DSN: "host=bouncer port=6432 dbname=app", Adapter: "postgres"},
			Migrations: topology.MigrationsConfig{Dir: "db/migrate", DSN: "host=db port=5432 dbname=app"},
		}},
		Clusters: map[string]topology.ClusterConfig{"orders": {
			Migrations: topology.MigrationsConfig{Dir: "/srv/orders", Table: "orders_versions"},
			Shards: []topology.ShardConfig{
				{Name: "s1", DatabaseConfig: topology.DatabaseConfig{
					Writer:     &topology.NodeConfig{DSN: "host=bouncer port=6432 dbname=orders1", Adapter: "postgres"},
					Migrations: topology.MigrationsConfig{DSN: "host=db port=5432 dbname=orders1"},
				}},
				{Name: "s2", DatabaseConfig: topology.DatabaseConfig{Writer: &topology.NodeConfig{DSN: "host=db port=5432 dbname=orders2", Adapter: "postgres"}}},
			},
		}},
	}, cfg)

	_, err = Parse("grant.yml", yml(
		"clusters:",
		"  orders:",
		"    adapter: postgres",
		"    migrations_dsn: host=db dbname=orders1",
		"    shards:",
		"      - name: s1",
		"        dsn: host=db dbname=orders1",
	), envOf(nil))
	require.Error(t, err, "a cluster section has no migrations_dsn key")
	assert.Contains(t, err.Error(), `grant.yml:4: clusters.orders.migrations_dsn: unknown key "migrations_dsn"`)
}

// TestParseConfigReadTimeouts: read_timeout and read_timeouts (topology's
// TestReadTimeoutConfiguration takes them from there).
func TestParseConfigReadTimeouts(t *testing.T) {
	cfg, err := Parse("grant.yml", []byte(`
health: {interval: 1s, read_timeout: 250ms, read_timeouts: {reports: 2s}}
databases:
  primary:
    replicas: [{dsn: "host=r1", adapter: postgres}]
    roles: {reports: [{dsn: "host=rep", adapter: postgres}]}
`), nil)
	require.NoError(t, err)
	assert.Equal(t, topology.HealthConfig{Interval: time.Second, ReadTimeout: 250 * time.Millisecond, ReadTimeouts: map[string]time.Duration{"reports": 2 * time.Second}}, cfg.Health)
	assert.Equal(t, map[string][]topology.NodeConfig{"reports": {{DSN: "host=rep", Adapter: "postgres"}}}, cfg.Databases["primary"].Roles)
}

// An adapter grant does not know yet (registered in Config.Adapters after
// loading) is validated with a stand-in: sqlite with a password file
// loads, and Use refuses it (topology's
// TestValidateCredentialsNeedAHookableDialector).
func TestParseConfigLeavesLaterAdaptersToUse(t *testing.T) {
	cfg, err := Parse("grant.yml", yml(
		"databases:",
		"  primary:",
		"    adapter: sqlite",
		"    dsn: app.db",
		"    password_file: /run/secrets/db",
	), nil)
	require.NoError(t, err)
	assert.Equal(t, &topology.NodeConfig{DSN: "app.db", Adapter: "sqlite", PasswordFile: "/run/secrets/db"}, cfg.Databases["primary"].Writer)
	assert.Nil(t, cfg.Adapters)
}

// BenchmarkParseManyShards: a database per tenant, 20,000 shards. It
// should stay near what the loader this package replaced cost
// (docs/decisions.md, 45).
func BenchmarkParseManyShards(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("clusters:\n  tenants:\n    adapter: postgres\n    shards:\n")
	for i := range 20000 {
		fmt.Fprintf(&sb, "      - {name: t%d, dsn: host=db%d dbname=tenant%d}\n", i, i%50, i)
	}
	data := []byte(sb.String())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("grant.yml", data, nil); err != nil {
			b.Fatal(err)
		}
	}
}
