package config

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/grant-go/grant/topology"
)

func TestParseConfigRejectsBadFiles(t *testing.T) {
	cases := []struct {
		name    string
		file    []byte
		env     map[string]string
		line    int
		key     string
		problem string
	}{
		{"broken YAML syntax", yml(
			"databases:",
			"  primary:",
			"    adapter: postgres",
			"    dsn: host=a: b",
		), nil, 4, "", "invalid YAML: mapping values are not allowed in this context"},
		{"unterminated quote", yml(
			"databases:",
			"  primary:",
			`    dsn: "host=a`,
		), nil, 3, "", "invalid YAML: found unexpected end of stream"},
		{"unclosed flow list", yml(
			"databases:",
			"  primary:",
			"    adapter: [postgres",
		), nil, 3, "", "invalid YAML: did not find expected ',' or ']'"},
		{"unclosed flow mapping", yml(
			"default: primary",
			"databases: {primary: {}",
		), nil, 2, "", "invalid YAML: did not find expected ',' or '}'"},
		{"key outdented", yml(
			"databases:",
			"  primary: {}",
			" analytics: {}",
		), nil, 3, "", "invalid YAML: did not find expected key"},
		{"undefined tag handle on the first line", yml("default: !foo!bar primary"), nil, 1, "", "invalid YAML: found undefined tag handle"},
		{"unquoted variable in a flow mapping", yml(
			"databases:",
			"  primary:",
			"    pool: {max_open_conns: ${MAX}}",
		), nil, 3, "", `invalid YAML: did not find expected ',' or '}' (inside {...} or [...], quote values holding ${...}: "${NAME}")`},
		{"null shard name", yml(
			"clusters:",
			"  orders:",
			"    adapter: postgres",
			"    shards:",
			"      - {name: ~, dsn: a}",
		), nil, 5, "clusters.orders.shards[0].name", "missing: every shard needs a name"},
		{"tab indentation", yml(
			"databases:",
			"\tprimary: {}",
		), nil, 2, "", "invalid YAML: found character that cannot start any token"},
		{"unknown anchor", yml(
			"databases:",
			"  primary: *nope",
		), nil, 2, "", "invalid YAML: unknown anchor 'nope' referenced"},
		{"empty file", []byte("# nothing\n"), nil, 1, "", "empty file"},
		{"file of zero bytes", []byte{}, nil, 1, "", "empty file"},
		{"null document", []byte("~\n"), nil, 1, "", "empty file"},
		{"two documents", yml("{}", "---", "databases: {}"), nil, 2, "", "a second YAML document"},
		{"top level is a list", yml("- databases"), nil, 1, "", "expected a mapping (default, trace_routes, policy, tables, databases, clusters, health, consistency, max_distinct_values, strict_prevent_writes, max_open_pools, reshard), got a list"},
		{"unknown top-level key", yml(
			"default: primary",
			"databasez: {}",
		), nil, 2, "databasez", `unknown key "databasez" (did you mean "databases"?); allowed keys: default, trace_routes, policy, tables, databases, clusters, health, consistency, max_distinct_values, strict_prevent_writes`},
		{"unknown database key", yml(
			"databases:",
			"  primary:",
			"    adapter: postgres",
			"    replica: []",
		), nil, 4, "databases.primary.replica", `unknown key "replica" (did you mean "replicas"?); allowed keys: adapter, dsn, password_file, writer, replicas, roles, pool, policy, migrations, migrations_table, migrations_dsn, tasks, health`},
		{"unknown node key", yml(
			"databases:",
			"  primary:",
			"    replicas:",
			"      - dsn: host=a",
			"        host: a",
		), nil, 5, "databases.primary.replicas[0].host", `unknown key "host"; allowed keys: name, dsn, adapter, weight, pool`},
		{"shard key not allowed on a database", yml(
			"databases:",
			"  primary: {shards: []}",
		), nil, 2, "databases.primary.shards", `unknown key "shards"`},
		{"migrations not allowed on a shard", yml(
			"clusters:",
			"  orders:",
			"    shards:",
			"      - name: s1",
			"        migrations: db",
		), nil, 5, "clusters.orders.shards[0].migrations", `unknown key "migrations"; allowed keys: name, pending, dsn, password_file, writer, replicas, roles, pool, policy, health, migrations_dsn`},
		{"unknown pool key", yml(
			"databases:",
			"  primary:",
			"    pool: {max_open: 3}",
		), nil, 3, "databases.primary.pool.max_open", `unknown key "max_open"`},
		{"duplicate key", yml(
			"databases:",
			"  primary:",
			"    adapter: postgres",
			"    adapter: mysql",
		), nil, 4, "databases.primary.adapter", `duplicate key "adapter" (first at line 3)`},
		{"list where a mapping is expected", yml(
			"databases:",
			"  - primary",
		), nil, 2, "databases", "expected a mapping, got a list"},
		{"mapping where a list is expected", yml(
			"databases:",
			"  primary:",
			"    replicas:",
			"      r1: {dsn: x}",
		), nil, 4, "databases.primary.replicas", "expected a list of nodes (name, dsn, adapter, weight, pool, password_file), got a mapping"},
		{"string where a node is expected", yml(
			"databases:",
			"  primary:",
			"    replicas:",
			"      - host=r1",
		), nil, 4, "databases.primary.replicas[0]", `expected a mapping (name, dsn, adapter, weight, pool, password_file), got "host=r1"`},
		{"list where a string is expected", yml(
			"databases:",
			"  primary:",
			"    adapter: [postgres]",
		), nil, 3, "databases.primary.adapter", "expected a string, got a list"},
		{"non-integer pool size", yml(
			"databases:",
			"  primary:",
			"    pool:",
			"      max_open_conns: ten",
		), nil, 4, "databases.primary.pool.max_open_conns", `expected an integer, got "ten"`},
		{"fractional weight", yml(
			"databases:",
			"  primary:",
			"    replicas: [{dsn: a, adapter: postgres, weight: 1.5}]",
		), nil, 3, "databases.primary.replicas[0].weight", `expected an integer, got "1.5"`},
		{"duration without unit", yml(
			"databases:",
			"  primary:",
			"    pool:",
			"      conn_max_lifetime: 30",
		), nil, 4, "databases.primary.pool.conn_max_lifetime", `expected a duration such as "30s", "5m" or "1h30m", got "30"`},
		{"bad boolean", yml(
			"databases:",
			"  analytics:",
			"    tasks: yes",
		), nil, 3, "databases.analytics.tasks", `expected true or false, got "yes"`},
		{"bad top-level boolean", yml("trace_routes: 1"), nil, 1, "trace_routes", `expected true or false, got "1"`},
		{"missing replica DSN", yml(
			"databases:",
			"  primary:",
			"    adapter: postgres",
			"    replicas:",
			"      - name: r1",
			"        weight: 2",
		), nil, 5, "databases.primary.replicas[0].dsn", "missing DSN"},
		{"empty replica DSN", yml(
			"databases:",
			"  primary:",
			"    adapter: postgres",
			"    replicas:",
			"      - name: r1",
			`        dsn: ""`,
		), nil, 6, "databases.primary.replicas[0].dsn", "missing DSN"},
		{"missing writer DSN", yml(
			"databases:",
			"  analytics:",
			"    adapter: postgres",
			"    writer:",
			"      name: w",
		), nil, 5, "databases.analytics.writer.dsn", "missing DSN"},
		{"null writer", yml(
			"databases:",
			"  analytics:",
			"    adapter: postgres",
			"    writer:",
		), nil, 4, "databases.analytics.writer.dsn", "missing DSN"},
		{"short-form DSN empty after expansion", yml(
			"databases:",
			"  analytics:",
			"    adapter: postgres",
			"    dsn: ${ANALYTICS_DSN:-}",
		), nil, 4, "databases.analytics.dsn", "missing DSN"},
		{"missing custom role DSN", yml(
			"databases:",
			"  primary:",
			"    adapter: postgres",
			"    roles:",
			"      reporting:",
			"        - {name: rep}",
		), nil, 6, "databases.primary.roles.reporting[0].dsn", "missing DSN"},
		{"database without writer", yml(
			"databases:",
			"  analytics:",
			"    adapter: postgres",
			"    replicas: [{dsn: host=r}]",
		), nil, 2, "databases.analytics.writer", "missing writer: give dsn or writer, or set GRANT_ANALYTICS_DSN (only the default database may omit its writer)"},
		{"both dsn and writer", yml(
			"databases:",
			"  primary:",
			"    adapter: postgres",
			"    dsn: host=a",
			"    writer:",
			"      dsn: host=a",
		), nil, 5, "databases.primary.writer", "give either dsn or writer, not both"},
		{"replica listed as writer", yml(
			"databases:",
			"  primary:",
			"    adapter: postgres",
			"    dsn: host=a dbname=app",
			"    replicas:",
			"      - dsn: host=b dbname=app",
			"      - dsn: host=a dbname=app",
		), nil, 7, "databases.primary.replicas[1].dsn", `replica listed as writer: its DSN is the writer's DSN of database "primary"`},
		{"replica listed as writer on a shard", yml(
			"clusters:",
			"  orders:",
			"    adapter: postgres",
			"    shards:",
			"      - name: s1",
			"        writer: {dsn: host=a}",
			"        replicas: [{dsn: host=a}]",
		), nil, 7, "clusters.orders.shards[0].replicas[0].dsn", `replica listed as writer: its DSN is the writer's DSN of shard "s1" of cluster "orders"`},
		{"missing adapter", yml(
			"databases:",
			"  primary:",
			"    dsn: host=a",
		), nil, 3, "databases.primary.adapter", `missing: set adapter on this node or on database "primary"`},
		{"missing replica adapter", yml(
			"databases:",
			"  primary:",
			"    replicas:",
			"      - dsn: host=a",
		), nil, 4, "databases.primary.replicas[0].adapter", `missing: set adapter on this node or on database "primary"`},
		{"shard without writer", yml(
			"clusters:",
			"  orders:",
			"    adapter: postgres",
			"    shards:",
			"      - name: s1",
			"        dsn: host=s1",
			"      - name: s2",
			"        replicas: [{dsn: host=s2r}]",
		), nil, 7, "clusters.orders.shards[1].writer", "missing writer: give dsn or writer, or set GRANT_ORDERS_S2_DSN (every shard needs a writer)"},
		{"shard without name", yml(
			"clusters:",
			"  orders:",
			"    adapter: postgres",
			"    shards:",
			"      - dsn: host=s1",
		), nil, 5, "clusters.orders.shards[0].name", "missing: every shard needs a name"},
		{"duplicate shard name", yml(
			"clusters:",
			"  orders:",
			"    adapter: postgres",
			"    shards:",
			"      - {name: s1, dsn: host=a}",
			"      - {name: s1, dsn: host=b}",
		), nil, 6, "clusters.orders.shards[1].name", `duplicate shard name "s1" in cluster "orders" (first at line 5)`},
		{"cluster without shards", yml(
			"clusters:",
			"  orders:",
			"    adapter: postgres",
		), nil, 2, "clusters.orders.shards", `missing: cluster "orders" needs at least one shard`},
		{"cluster with an empty shard list", yml(
			"clusters:",
			"  orders:",
			"    adapter: postgres",
			"    shards: []",
		), nil, 4, "clusters.orders.shards", `cluster "orders" needs at least one shard`},
		{"undefined variable", yml(
			"databases:",
			"  primary:",
			"    adapter: postgres",
			"    dsn: postgres://app:${PGPASSWORD}@db/app",
		), nil, 4, "databases.primary.dsn", "environment variable PGPASSWORD is not set (write ${PGPASSWORD:-default} to give a default)"},
		{"undefined variable in a pool", yml(
			"databases:",
			"  primary:",
			"    pool: {max_open_conns: '${MAX_OPEN}'}",
		), nil, 3, "databases.primary.pool.max_open_conns", "environment variable MAX_OPEN is not set"},
		{"unterminated variable", yml(
			"databases:",
			"  primary:",
			"    adapter: postgres",
			"    dsn: postgres://${PGUSER@db/app",
		), nil, 4, "databases.primary.dsn", "unterminated ${ at character 12"},
		{"unknown policy", yml(
			"databases:",
			"  primary:",
			"    policy: fastest",
		), nil, 3, "databases.primary.policy", `unknown policy "fastest" (known: least_in_use, random, round_robin, weighted)`},
		{"unknown top-level policy", yml("policy: roundrobin"), nil, 1, "policy", `unknown policy "roundrobin"`},
		{"unknown strategy", yml(
			"clusters:",
			"  orders:",
			"    adapter: postgres",
			"    shard_keys:",
			"      orders: {column: customer_id, strategy: consistent}",
			"    shards: [{name: s1, dsn: host=a}]",
		), nil, 5, "clusters.orders.shard_keys.orders.strategy", `unknown strategy "consistent" (known: hash, jump_hash, modulo)`},
		{"shard key without column", yml(
			"clusters:",
			"  orders:",
			"    adapter: postgres",
			"    shard_keys:",
			"      orders: {strategy: modulo}",
			"    shards: [{name: s1, dsn: host=a}]",
		), nil, 5, "clusters.orders.shard_keys.orders.column", "missing: a shard key needs a column"},
		{"bad database name", yml(
			"databases:",
			"  main db:",
			"    dsn: x",
		), nil, 2, "databases.main db", `name "main db" may only hold letters, digits, '_' and '-'`},
		{"built-in role as custom role", yml(
			"databases:",
			"  primary:",
			"    roles:",
			"      reading: [{dsn: x}]",
		), nil, 4, "databases.primary.roles.reading", `"reading" is a built-in role: use writer/replicas instead`},
		{"custom role without nodes", yml(
			"databases:",
			"  primary:",
			"    roles:",
			"      reporting: []",
		), nil, 4, "databases.primary.roles.reporting", "a custom role needs at least one node"},
		{"merge of a scalar", yml(
			"databases:",
			"  primary:",
			"    <<: postgres",
		), nil, 3, "databases.primary.<<", `a merge key takes a mapping or a list of mappings, got "postgres"`},
		{"unknown top-level health key", yml(
			"health:",
			"  interval: 1s",
			"  max_lag: 5s",
		), nil, 3, "health.max_lag", `unknown key "max_lag"; allowed keys: interval, timeout, max_replica_lag, rejoin_after, fail_without_replica`},
		{"unknown database health key", yml(
			"databases:",
			"  primary:",
			"    health: {intervall: 1s}",
		), nil, 3, "databases.primary.health.intervall", `unknown key "intervall" (did you mean "interval"?); allowed keys: interval, timeout, max_replica_lag, rejoin_after, fail_without_replica`},
		{"unknown shard health key", yml(
			"clusters:",
			"  orders:",
			"    adapter: postgres",
			"    shards:",
			"      - name: s1",
			"        dsn: host=a",
			"        health:",
			"          rejoin: 3",
		), nil, 8, "clusters.orders.shards[0].health.rejoin", `unknown key "rejoin"`},
		{"health not a mapping", yml(
			"clusters:",
			"  orders:",
			"    health: 1s",
			"    shards: [{name: s1, adapter: postgres, dsn: a}]",
		), nil, 3, "clusters.orders.health", `expected a mapping (interval, timeout, max_replica_lag, rejoin_after, fail_without_replica, read_timeout, read_timeouts), got "1s"`},
		{"health interval without unit", yml(
			"health:",
			"  interval: 5",
		), nil, 2, "health.interval", `expected a duration such as "30s", "5m" or "1h30m", got "5"`},
		{"bad max_replica_lag", yml(
			"databases:",
			"  primary:",
			"    health:",
			"      max_replica_lag: five seconds",
		), nil, 4, "databases.primary.health.max_replica_lag", `expected a duration such as "30s", "5m" or "1h30m", got "five seconds"`},
		{"non-integer rejoin_after", yml(
			"health: {interval: 1s, rejoin_after: 2.5}",
		), nil, 1, "health.rejoin_after", `expected an integer, got "2.5"`},
		{"bad fail_without_replica", yml(
			"health:",
			"  fail_without_replica: yes",
		), nil, 2, "health.fail_without_replica", `expected true or false, got "yes"`},
		{"unknown consistency mode", yml(
			"consistency:",
			"  mode: strong",
		), nil, 2, "consistency.mode", `unknown mode "strong" (known: causal, eventual, timed)`},
		{"empty consistency mode", yml(
			"consistency: {mode: ''}",
		), nil, 1, "consistency.mode", `unknown mode ""`},
		{"unknown consistency key", yml(
			"consistency:",
			"  mode: timed",
			"  delays: 2s",
		), nil, 3, "consistency.delays", `unknown key "delays" (did you mean "delay"?); allowed keys: mode, delay, causal_wait`},
		{"bad consistency delay", yml(
			"consistency:",
			"  mode: timed",
			"  delay: 2",
		), nil, 3, "consistency.delay", `expected a duration such as "30s", "5m" or "1h30m", got "2"`},
		{"bad causal_wait", yml(
			"consistency: {mode: causal, causal_wait: [20ms]}",
		), nil, 1, "consistency.causal_wait", "expected a duration, got a list"},
		{"consistency not a mapping", yml(
			"consistency: causal",
		), nil, 1, "consistency", `expected a mapping (mode, delay, causal_wait), got "causal"`},
		{"non-scalar key", yml(
			"databases:",
			"  ? [a, b]",
			"  : {}",
		), nil, 2, "databases", "keys must be plain strings, got a list"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("grant.yml", tc.file, envOf(tc.env))
			require.Error(t, err)
			assert.ErrorIs(t, err, topology.ErrInvalidConfig)
			var fe *FileError
			require.ErrorAs(t, err, &fe, "want *FileError, got %T: %v", err, err)
			assert.Equal(t, "grant.yml", fe.File)
			assert.Equal(t, tc.line, fe.Line, "line of %v", err)
			assert.Equal(t, tc.key, fe.Key, "key of %v", err)
			assert.Contains(t, fe.Problem, tc.problem)
		})
	}
}

// TestParseConfigLocatesValidateErrors: what Config.Validate finds is a
// *FileError too, located by the key path Validate names (the
// *topology.ConfigError stays reachable with errors.As), and durations
// read as durations.
func TestParseConfigLocatesValidateErrors(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		line       int
		path       string
		problem    string
	}{
		{"table mapped to an unknown database", "tables: {events: analytics}", 1, "tables.events", `database "analytics" is not configured (have: primary)`},
		{"negative pool size", "databases: {primary: {pool: {max_open_conns: -1}}}", 1, "databases.primary.pool.max_open_conns", "must not be negative, got -1"},
		{"negative weight", "databases: {primary: {adapter: postgres, replicas: [{dsn: a, weight: -1}]}}", 1, "databases.primary.replicas[0].weight", "must not be negative, got -1"},
		{"names differing in case", "databases: {Orders: {adapter: postgres, dsn: a}, orders: {adapter: postgres, dsn: b}}", 1, "databases.orders", `duplicates database "Orders"`},
		{"negative rejoin_after", "health: {interval: 1s, rejoin_after: -1}", 1, "health.rejoin_after", "must not be negative, got -1"},
		{"negative database health interval", "databases: {primary: {health: {interval: -1s}}}", 1, "databases.primary.health.interval", "must not be negative, got -1s"},
		{"cluster health timeout over its interval", "clusters: {orders: {adapter: postgres, health: {interval: 1s, timeout: 2s}, shards: [{name: s1, dsn: a}]}}", 1, "clusters.orders.health.timeout", "2s exceeds the interval 1s"},
		{"negative shard rejoin_after", "clusters: {orders: {adapter: postgres, shards: [{name: s1, dsn: a, health: {rejoin_after: -2}}]}}", 1, "clusters.orders.shards[0].health.rejoin_after", "must not be negative, got -2"},
		{"negative consistency delay", "consistency: {mode: timed, delay: -2s}", 1, "consistency.delay", "must not be negative, got -2s"},
		{"cluster named like a database", "databases: {orders: {adapter: postgres, dsn: a}}\nclusters: {orders: {adapter: postgres, shards: [{name: s1, dsn: b}]}}", 2, "clusters.orders", ""},
		// The same on lines of their own: each names its key's line.
		{"negative pool duration", string(yml(
			"databases:",
			"  primary:",
			"    adapter: postgres",
			"    dsn: host=a",
			"    pool:",
			"      max_open_conns: 3",
			"      conn_max_lifetime: -5s",
		)), 7, "databases.primary.pool.conn_max_lifetime", "must not be negative, got -5s"},
		{"negative node pool duration", string(yml(
			"databases:",
			"  primary:",
			"    adapter: postgres",
			"    replicas:",
			"      - dsn: host=r",
			"        pool: {checkout_timeout: -1m30s}",
		)), 6, "databases.primary.replicas[0].pool.checkout_timeout", "must not be negative, got -1m30s"},
		{"negative causal wait", string(yml(
			"consistency:",
			"  mode: causal",
			"  causal_wait: -20ms",
		)), 3, "consistency.causal_wait", "must not be negative, got -20ms"},
		{"read timeout without checks", string(yml(
			"health:",
			"  max_replica_lag: 5s",
			"  read_timeout: 2s",
		)), 3, "health.read_timeout", "needs health checks (interval > 0)"},
		{"duplicate node name", string(yml(
			"databases:",
			"  primary:",
			"    adapter: postgres",
			"    replicas:",
			"      - {name: r, dsn: host=a}",
			"      - name: r",
			"        dsn: host=b",
		)), 6, "databases.primary.replicas[1].name", `duplicate node name "r" in role "reading" of database "primary"`},
		{"short-form writer with an adapter that cannot take a password file", string(yml(
			"databases:",
			"  primary:",
			"    adapter: postgres",
			"    dsn: host=a",
			"  analytics:",
			"    adapter: sqlite",
			"    dsn: analytics.db",
			"    password_file: /run/secrets/a",
		)), 0, "", ""}, // sqlite is registered after loading: checked at Use
		{"negative weight deep in a shard", string(yml(
			"databases:",
			"  primary: {adapter: postgres, dsn: host=a}",
			"clusters:",
			"  orders:",
			"    adapter: postgres",
			"    migrations_table: v",
			"    shards:",
			"      - name: s1",
			"        dsn: host=s1",
			"        roles:",
			"          reporting:",
			"            - dsn: host=rep",
			"              weight: -3",
		)), 13, "clusters.orders.shards[0].roles.reporting[0].weight", "must not be negative, got -3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("grant.yml", []byte(tc.file), nil)
			if tc.path == "" && tc.line == 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, topology.ErrInvalidConfig)
			var fe *FileError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tc.line, fe.Line, "%v", err)
			assert.Equal(t, tc.path, fe.Key)
			assert.Contains(t, fe.Problem, tc.problem)
			var ce *topology.ConfigError
			require.ErrorAs(t, err, &ce, "Validate's error stays reachable")
			assert.Equal(t, tc.path, ce.Path)
			assert.Equal(t, fmt.Sprintf("grant.yml:%d: %s: %s", tc.line, ce.Path, ce.Problem), err.Error())
		})
	}
}

func TestFileErrorsNeverPrintPasswords(t *testing.T) {
	for _, dsn := range []string{"postgres://u:s3cret@h/db", "user:s3cret@tcp(h)/db", "host=h password=s3cret dbname=db"} {
		for _, tc := range []struct {
			name string
			file []string
		}{
			{"replica listed as writer", []string{"databases:", "  primary:", "    adapter: postgres", "    dsn: '" + dsn + "'", "    replicas: [{dsn: '" + dsn + "'}]"}},
			{"missing adapter", []string{"databases:", "  primary:", "    dsn: '" + dsn + "'"}},
			{"both dsn and writer", []string{"databases:", "  primary:", "    adapter: postgres", "    dsn: '" + dsn + "'", "    writer: {dsn: '" + dsn + "'}"}},
			{"DSN as pool", []string{"databases:", "  primary:", "    pool: '" + dsn + "'"}},
			{"DSN as pool size", []string{"databases:", "  primary:", "    pool: {max_open_conns: '" + dsn + "'}"}},
			{"DSN as duration", []string{"databases:", "  primary:", "    pool: {conn_max_idle_time: '" + dsn + "'}"}},
			{"DSN as policy", []string{"policy: '" + dsn + "'"}},
			{"DSN as default", []string{"default: '" + dsn + "'"}},
			{"DSN as table's database", []string{"tables: {orders: '" + dsn + "'}"}},
			{"DSN as database name", []string{"databases:", "  '" + dsn + "': {}"}},
			{"DSN as node name", []string{"databases:", "  primary:", "    replicas: [{name: '" + dsn + "'}]"}},
			{"DSN as unknown key", []string{"databases:", "  primary:", "    writer: {'" + dsn + "': x}"}},
			{"DSN as shard name", []string{"clusters: {orders: {shards: [{name: '" + dsn + "'}]}}"}},
			{"DSN as strategy", []string{"clusters: {orders: {shard_keys: {t: {column: c, strategy: '" + dsn + "'}}, shards: [{name: s}]}}"}},
			{"DSN as tasks", []string{"databases: {primary: {tasks: '" + dsn + "'}}"}},
			{"DSN as health duration", []string{"health: {max_replica_lag: '" + dsn + "'}"}},
			{"DSN as consistency mode", []string{"consistency: {mode: '" + dsn + "'}"}},
			{"DSN as merge", []string{"databases: {primary: {<<: '" + dsn + "'}}"}},
			{"DSN with a bad variable", []string{"databases: {primary: {dsn: '" + dsn + "${'}}"}},
			{"DSN with an undefined variable", []string{"databases: {primary: {dsn: '" + dsn + "${PORT}'}}"}},
		} {
			t.Run(tc.name+"/"+dsn, func(t *testing.T) {
				_, err := Parse("grant.yml", yml(tc.file...), nil)
				require.Error(t, err)
				assert.ErrorIs(t, err, topology.ErrInvalidConfig)
				assert.NotContains(t, err.Error(), "s3cret")
			})
		}
	}
}

func TestFileErrorsNeverShowEncodedPasswords(t *testing.T) {
	for _, s := range secretDSNs {
		quoted := "'" + strings.ReplaceAll(s.dsn, "'", "''") + "'"
		for name, file := range map[string]string{
			"table's database": "tables: {orders: " + quoted + "}",
			"database name":    "databases: {" + quoted + ": {}}",
			"default":          "default: " + quoted,
			"node name":        "databases: {primary: {replicas: [{name: " + quoted + "}]}}",
			"unknown key":      "databases: {primary: {writer: {" + quoted + ": x}}}",
			"policy":           "policy: " + quoted,
		} {
			t.Run(name+"/"+s.dsn, func(t *testing.T) {
				_, err := Parse("grant.yml", []byte(file), nil)
				require.ErrorIs(t, err, topology.ErrInvalidConfig)
				assertNoSecret(t, err.Error(), s.pw, s.raw)
			})
		}
	}
}

// secretDSNs are DSNs whose password must never reach an error, with that
// password decoded and as written (as in topology's redact_test.go).
var secretDSNs = []struct{ dsn, pw, raw string }{
	{"postgres://u:p%40ss%2Fw0rd@h/db", "p@ss/w0rd", "p%40ss%2Fw0rd"},
	{"postgres://u@h/db?sslmode=disable&password=p%40ss%2Fw0rd", "p@ss/w0rd", "p%40ss%2Fw0rd"},
	{"u:s3cr@t@tcp(h:3306)/db?parseTime=true", "s3cr@t", "s3cr@t"},
	{`host=h password='s3 cr\'et' dbname=db`, "s3 cr'et", `s3 cr\'et`},
}

// assertNoSecret fails when text shows pw decoded, as written or
// percent-encoded.
func assertNoSecret(t *testing.T, text, pw, raw string) {
	t.Helper()
	for _, form := range []string{pw, raw, url.QueryEscape(pw), url.PathEscape(pw)} {
		assert.NotContains(t, text, form)
	}
}

func TestFileErrorFormat(t *testing.T) {
	err := error(&FileError{File: "config/grant.yml", Line: 12, Key: "databases.primary.replicas[0].dsn", Problem: "missing DSN"})
	assert.Equal(t, "config/grant.yml:12: databases.primary.replicas[0].dsn: missing DSN", err.Error())
	assert.ErrorIs(t, err, topology.ErrInvalidConfig)
	assert.Equal(t, "grant.yml:3: invalid YAML: x", (&FileError{File: "grant.yml", Line: 3, Problem: "invalid YAML: x"}).Error())
	assert.Equal(t, "grant.yml: empty file", (&FileError{File: "grant.yml", Problem: "empty file"}).Error())
	assert.Equal(t, "line:4: k: p", (&FileError{Line: 4, Key: "k", Problem: "p"}).Error())
}

// TestParseConfigBoundsAliasExpansion: aliases can make a small file
// describe a huge topology (a "billion laughs"). The YAML library's own
// bound on alias expansion refuses it, fast, and the error is located.
func TestParseConfigBoundsAliasExpansion(t *testing.T) {
	// 40 roles of 40 nodes in each of 50 shards, through aliases.
	var b strings.Builder
	b.WriteString("databases:\n  primary:\n    adapter: postgres\n    dsn: host=w\n    roles: &roles\n")
	b.WriteString("      r0: &nodes [")
	for i := range 40 {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "{dsn: host=n%d}", i)
	}
	b.WriteString("]\n")
	for i := 1; i < 40; i++ {
		fmt.Fprintf(&b, "      r%d: *nodes\n", i)
	}
	b.WriteString("clusters:\n  c:\n    adapter: postgres\n    shards:\n")
	for i := range 50 {
		fmt.Fprintf(&b, "      - {name: s%d, dsn: host=s%d, roles: *roles}\n", i, i)
	}
	start := time.Now()
	_, err := Parse("grant.yml", []byte(b.String()), nil)
	var fe *FileError
	require.ErrorAs(t, err, &fe)
	assert.Contains(t, fe.Problem, "excessive aliasing")
	assert.Equal(t, 7, fe.Line, "the first alias")
	assert.Equal(t, "databases.primary.roles.r1", fe.Key)
	assert.Less(t, time.Since(start), 5*time.Second)

	// A billion laughs through the file's own structure, in 90 KB: a list
	// of 1,000 nodes, 1,000 roles naming it, 1,000 shards naming the roles
	// would be 10^9 nodes; the library stops it before it grows.
	b.Reset()
	b.WriteString("databases:\n  primary:\n    adapter: postgres\n    dsn: host=w\n")
	b.WriteString("    roles:\n      r0: &nodes [")
	for i := range 1000 {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "{dsn: host=n%d}", i)
	}
	b.WriteString("]\n")
	b.WriteString("  big:\n    adapter: postgres\n    dsn: host=b\n    roles: &roles\n")
	for i := range 1000 {
		fmt.Fprintf(&b, "      r%d: *nodes\n", i)
	}
	b.WriteString("clusters:\n  c:\n    adapter: postgres\n    shards:\n")
	for i := range 1000 {
		fmt.Fprintf(&b, "      - {name: s%d, dsn: host=s%d, roles: *roles}\n", i, i)
	}
	start = time.Now()
	_, err = Parse("grant.yml", []byte(b.String()), nil)
	require.ErrorAs(t, err, &fe)
	assert.Contains(t, fe.Problem, "excessive aliasing")
	assert.Positive(t, fe.Line)
	assert.Less(t, len(b.String()), 100_000)
	assert.Less(t, time.Since(start), 5*time.Second, "10^9 nodes are never built")
}

// TestYAMLLibraryBoundsBillionLaughs pins the library behaviour the loader
// relies on instead of a budget of its own: decoding the classic billion
// laughs document fails, quickly, with an error.
func TestYAMLLibraryBoundsBillionLaughs(t *testing.T) {
	lol := "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
	prev := "a"
	for _, name := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		lol += name + ": &" + name + " [" + strings.Repeat("*"+prev+",", 8) + "*" + prev + "]\n"
		prev = name
	}
	start := time.Now()
	var v any
	err := yaml.Unmarshal([]byte(lol), &v)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "excessive aliasing")
	assert.Less(t, time.Since(start), 5*time.Second)

	// In grant.yml the same document is refused before anything expands:
	// its keys are unknown, and lists of lists fit nowhere.
	_, err = Parse("grant.yml", []byte(lol), nil)
	var fe *FileError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "grant.yml:1: a: unknown key \"a\"; allowed keys: default, trace_routes, policy, tables, databases, clusters, health, consistency, max_distinct_values, strict_prevent_writes, max_open_pools, reshard", err.Error())
	_, err = Parse("grant.yml", []byte("databases:\n  primary:\n    replicas:\n"+strings.ReplaceAll(lol, "\n", "\n      ")+"\n"), nil)
	require.Error(t, err)
}
