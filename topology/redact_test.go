package topology

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The forms, the parsers' verdicts and the fuzz target are tested in
// internal/dsnredact; these tests cover what topology adds.

func TestRedactDSN(t *testing.T) {
	cases := map[string]string{
		"postgres://alice:s3cret@db.example:5432/app?sslmode=disable": "postgres://alice:xxxxx@db.example:5432/app?sslmode=disable",
		"postgres://u:p%40ss@h/db":                                    "postgres://u:xxxxx@h/db",
		"postgresql://alice@db/app?password=p%40ss":                   "postgresql://alice@db/app?password=xxxxx",
		"host=db user=alice password='s3 cret' dbname=app":            "host=db user=alice password=xxxxx dbname=app",
		"alice:p@ss@tcp(127.0.0.1:3306)/app?parseTime=true":           "alice:xxxxx@tcp(127.0.0.1:3306)/app?parseTime=true",
		"root@tcp(127.0.0.1:3306)/test":                               "root@tcp(127.0.0.1:3306)/test",
		"file:/tmp/x.db?_pragma=busy_timeout(5000)":                   "file:/tmp/x.db?_pragma=busy_timeout(5000)",
		"weird thing with password but no structure we know: p:s3":    "<unparsable DSN redacted>",
	}
	for in, want := range cases {
		assert.Equal(t, want, RedactDSN(in), in)
	}
}

func TestPasswordOfDecodes(t *testing.T) {
	assert.Equal(t, "p@ss", PasswordOf("postgres://u:p%40ss@h/db"))
	assert.Equal(t, "it's", PasswordOf(`host=h password='it\'s'`))
	assert.Equal(t, "p@ss", PasswordOf("u:p@ss@tcp(h:3306)/db"))
	assert.Equal(t, "", PasswordOf("postgres://u@h/db"))
}

// secretDSNs are DSNs whose password must never reach an error, with that
// password decoded and as written.
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

func TestConfigErrorsNeverQuoteSecrets(t *testing.T) {
	node := func(name, dsn, adapter string) NodeConfig { return NodeConfig{Name: name, DSN: dsn, Adapter: adapter} }
	writer := &NodeConfig{DSN: "x", Adapter: "postgres"}
	shard := func(name string) ShardConfig {
		return ShardConfig{Name: name, DatabaseConfig: DatabaseConfig{Writer: writer}}
	}
	cases := []struct {
		name   string
		config func(dsn string) Config
	}{
		{"table's database", func(dsn string) Config { return Config{Tables: map[string]string{"t": dsn}} }},
		{"table name", func(dsn string) Config { return Config{Tables: map[string]string{dsn: "nowhere"}} }},
		{"adapter", func(dsn string) Config {
			return Config{Databases: map[string]DatabaseConfig{"primary": {Replicas: []NodeConfig{node("", "x", dsn)}}}}
		}},
		{"DSN without adapter", func(dsn string) Config {
			return Config{Databases: map[string]DatabaseConfig{"primary": {Replicas: []NodeConfig{node("", dsn, "")}}}}
		}},
		{"database name", func(dsn string) Config { return Config{Databases: map[string]DatabaseConfig{dsn: {Writer: writer}}} }},
		{"default", func(dsn string) Config { return Config{Default: dsn} }},
		{"node name", func(dsn string) Config {
			return Config{Databases: map[string]DatabaseConfig{"primary": {Replicas: []NodeConfig{node(dsn, "x", "postgres")}}}}
		}},
		{"role name", func(dsn string) Config {
			return Config{Databases: map[string]DatabaseConfig{"primary": {Roles: map[string][]NodeConfig{dsn: {*writer}}}}}
		}},
		{"cluster name", func(dsn string) Config {
			return Config{Clusters: map[string]ClusterConfig{dsn: {Shards: []ShardConfig{shard("s")}}}}
		}},
		{"shard name", func(dsn string) Config {
			return Config{Clusters: map[string]ClusterConfig{"orders": {Shards: []ShardConfig{shard(dsn)}}}}
		}},
		{"adapter registration", func(dsn string) Config { return Config{Adapters: map[string]Adapter{dsn: nil}} }},
	}
	for _, s := range secretDSNs {
		for _, tc := range cases {
			t.Run(tc.name+"/"+s.dsn, func(t *testing.T) {
				cfg := tc.config(s.dsn)
				err := cfg.Validate()
				require.ErrorIs(t, err, ErrInvalidConfig)
				assertNoSecret(t, err.Error(), s.pw, s.raw)
			})
		}
	}
}

func TestConfigErrorsKeepPlainValues(t *testing.T) {
	err := (&Config{Tables: map[string]string{"events": "analytics"}}).Validate()
	require.ErrorIs(t, err, ErrInvalidConfig)
	assert.Contains(t, err.Error(), `tables.events: database "analytics" is not configured`)

	err = (&Config{Tables: map[string]string{"t": "postgres://u:p%40ss@h/db"}}).Validate()
	require.ErrorIs(t, err, ErrInvalidConfig)
	assert.Contains(t, err.Error(), `database "postgres://u:xxxxx@h/db" is not configured`, "a DSN is shown redacted")

	err = (&Config{Databases: map[string]DatabaseConfig{"u:s3cret@tcp(h)/db": {}}}).Validate()
	require.ErrorIs(t, err, ErrInvalidConfig)
	assert.Contains(t, err.Error(), `databases.u:xxxxx@tcp(h)/db: name "u:xxxxx@tcp(h)/db" may only hold`)
}
