package config

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant/topology"
)

// fuzzSeeds are valid and broken topology files: the fuzzer mutates them.
var fuzzSeeds = []string{
	fullFile,
	"{}",
	"",
	"~",
	"databases: {primary: {adapter: postgres, dsn: host=a, replicas: [{dsn: host=b}]}}",
	"default: main\ndatabases:\n  main:\n    adapter: mysql\n    replicas:\n      - {name: r1, dsn: 'root@tcp(r1)/app', weight: 2}\n",
	"databases:\n  primary:\n    adapter: postgres\n    dsn: postgres://${PGUSER}:${PGPASS:-}@${PGHOST:-localhost}/app?x=$$y\n",
	"databases:\n  primary: &base\n    adapter: postgres\n    dsn: host=a\n  other:\n    <<: *base\n    dsn: host=b\n    pool: {max_open_conns: 3, conn_max_lifetime: 1m}\n",
	"clusters:\n  orders:\n    adapter: postgres\n    shard_keys:\n      orders: {column: customer_id, strategy: jump_hash}\n    shards:\n      - {name: s1, dsn: host=s1}\n      - {name: s2, writer: {dsn: host=s2}, replicas: [{dsn: host=s2r}]}\n",
	"tables: {legacy: orders}\nclusters: {orders: {adapter: postgres, shards: [{name: s1, dsn: a}]}}\n",
	"databases:\n  primary:\n    dsn: x\n   adapter: postgres\n",
	"databases: [primary]\n",
	"databases:\n  primary:\n    pool: {max_open_conns: ten, conn_max_idle_time: 30}\n",
	"databases:\n  analytics:\n    adapter: postgres\n    dsn: host=a\n    writer: {dsn: host=a}\n",
	"databases:\n  primary:\n    adapter: postgres\n    dsn: host=a\n    replicas: [{dsn: host=a}]\n",
	"clusters: {orders: {adapter: postgres, shards: [{name: s1}]}}\n",
	"clusters: {orders: {adapter: postgres}}\n",
	"databases: {primary: {adapter: postgres, dsn: '${UNDEFINED}'}}\n",
	"databases: {primary: {adapter: postgres, dsn: 'x${'}}\n",
	"policy: fastest\n",
	"clusters: {orders: {adapter: postgres, shard_keys: {t: {column: c, strategy: nope}}, shards: [{name: s1, dsn: a}]}}\n",
	"a: &x [*x]\n",
	"databases: &d {primary: {<<: *d}}\n",
	"databases: {primary: {roles: {reporting: [{dsn: 'postgres://u:s3cret@h/db'}]}}}\n",
	"health: {interval: 1s, timeout: 200ms, max_replica_lag: 5s, rejoin_after: 3, fail_without_replica: true}\nconsistency: {mode: causal, causal_wait: 20ms}\n",
	"databases:\n  primary:\n    adapter: postgres\n    health: &h {interval: 2s}\nclusters:\n  orders:\n    adapter: postgres\n    health: *h\n    shards:\n      - {name: s1, dsn: a, health: {<<: *h, max_replica_lag: 1s}}\n      - {name: s2, dsn: b, health: {}}\nconsistency: {mode: timed, delay: 3s}\n",
	"health: {interval: 1s, timeout: 2s, rejoin_after: -1, max_lag: x}\nconsistency: {mode: strong, delay: 2}\n",
	"{}\n---\ndatabases: {}\n",
	"databases:\n  ? [a]\n  : {}\n",
}

var fuzzEnv = map[string]string{
	"DB_HOST": "db1", "PGUSER": "app", "PGPASS": "",
	"GRANT_PRIMARY_DSN": "host=override", "GRANT_ORDERS_S2_DSN": "host=s2o",
}

func FuzzParse(f *testing.F) {
	for _, seed := range fuzzSeeds {
		f.Add([]byte(seed))
	}
	env := envOf(fuzzEnv)
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("grant.yml", data, env)
		if err != nil {
			// Every error is located: a *FileError with a line.
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("error is not a *FileError: %T %v", err, err)
			}
			require.ErrorIs(t, err, topology.ErrInvalidConfig)
			require.Positive(t, fe.Line, "%v", err)
			return
		}
		// Every node the loader built has a DSN and an adapter, no dialector.
		check := func(n topology.NodeConfig) {
			require.NotEmpty(t, n.DSN)
			require.NotEmpty(t, n.Adapter)
			require.Nil(t, n.Dialector)
		}
		checkDB := func(d topology.DatabaseConfig) {
			if d.Writer != nil {
				check(*d.Writer)
			}
			for _, n := range d.Replicas {
				check(n)
			}
			for _, nodes := range d.Roles {
				for _, n := range nodes {
					check(n)
				}
			}
		}
		for _, d := range cfg.Databases {
			checkDB(d)
		}
		for _, c := range cfg.Clusters {
			require.NotEmpty(t, c.Shards)
			for _, s := range c.Shards {
				require.NotNil(t, s.Writer)
				checkDB(s.DatabaseConfig)
			}
		}
		// Parsing is deterministic.
		again, err := Parse("grant.yml", data, env)
		require.NoError(t, err)
		require.Equal(t, cfg, again)
	})
}

// TestFuzzSeedsAreDiverse keeps the corpus honest: both valid and broken
// files are in it.
func TestFuzzSeedsAreDiverse(t *testing.T) {
	var valid, broken int
	for _, seed := range fuzzSeeds {
		if _, err := Parse("grant.yml", []byte(seed), envOf(fuzzEnv)); err == nil {
			valid++
		} else {
			broken++
		}
	}
	require.GreaterOrEqual(t, valid, 5)
	require.GreaterOrEqual(t, broken, 10)
}
