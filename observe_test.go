package grant_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/testdb"
	grantprom "github.com/grant-go/grant/observe/prometheus"
)

// logRecords parses the JSON lines a slog.JSONHandler wrote.
func logRecords(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var records []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var r map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &r), line)
		records = append(records, r)
	}
	return records
}

func withLog(buf *bytes.Buffer, cfg grant.LogConfig) fixtureOption {
	return func(_ *gorm.Config, c *grant.Config) {
		cfg.Logger = slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c.Log = cfg
	}
}

// withObservers installs observers as an application does, after any
// already in the config.
func withObservers(observers ...grant.Observer) fixtureOption {
	return func(_ *gorm.Config, c *grant.Config) { c.Observers = append(c.Observers, observers...) }
}

func TestObserveLogFields(t *testing.T) {
	var buf bytes.Buffer
	f := newFixture(t, testdb.SQLite(t), withLog(&buf, grant.LogConfig{}))
	var users []User
	require.NoError(t, f.db.Where("name = ?", "replica-user").Find(&users).Error)
	records := logRecords(t, &buf)
	require.Len(t, records, 1)
	r := records[0]
	assert.Equal(t, "grant: statement", r["msg"])
	assert.Equal(t, "INFO", r["level"])
	assert.Equal(t, "primary", r["database"])
	assert.Equal(t, "reading", r["role"])
	assert.Equal(t, "primary/reading#1", r["node"])
	assert.Equal(t, "query", r["operation"])
	assert.Equal(t, "users", r["table"])
	assert.EqualValues(t, 1, r["rows"])
	assert.Contains(t, r, "duration")
	for _, absent := range []string{"shard", "error", "refused", "shards", "sql", "vars"} {
		assert.NotContains(t, r, absent)
	}
}

func TestObserveLogSQLAndValues(t *testing.T) {
	var sqlOnly, values bytes.Buffer
	f := newFixture(t, testdb.SQLite(t), withLog(&sqlOnly, grant.LogConfig{SQL: true}))
	var users []User
	require.NoError(t, f.db.Where("name = ?", "secret-value").Find(&users).Error)
	r := logRecords(t, &sqlOnly)[0]
	assert.Contains(t, r["sql"], "SELECT")
	assert.NotContains(t, r, "vars")
	assert.NotContains(t, sqlOnly.String(), "secret-value")

	g := newFixture(t, testdb.SQLite(t), withLog(&values, grant.LogConfig{SQL: true, Values: true}))
	require.NoError(t, g.db.Where("name = ?", "secret-value").Find(&users).Error)
	r = logRecords(t, &values)[0]
	assert.Equal(t, []any{"secret-value"}, r["vars"])
}

func TestObserveLogSlowOnlyAndFailures(t *testing.T) {
	var buf bytes.Buffer
	f := newFixture(t, testdb.SQLite(t), withLog(&buf, grant.LogConfig{SlowThreshold: time.Hour}))
	var users []User
	require.NoError(t, f.db.Find(&users).Error)
	assert.Empty(t, buf.String(), "fast statements are not logged in slow-only mode")

	require.Error(t, f.db.Exec("SELECT * FROM no_such_table").Error)
	records := logRecords(t, &buf)
	require.Len(t, records, 1)
	assert.Equal(t, "ERROR", records[0]["level"])
	assert.Contains(t, records[0]["error"], "no_such_table")

	var slow bytes.Buffer
	g := newFixture(t, testdb.SQLite(t), withLog(&slow, grant.LogConfig{SlowThreshold: time.Nanosecond}))
	require.NoError(t, g.db.Find(&users).Error)
	records = logRecords(t, &slow)
	require.Len(t, records, 1)
	assert.Equal(t, "WARN", records[0]["level"])
}

func TestObserveLogRefused(t *testing.T) {
	var buf bytes.Buffer
	f := newFixture(t, testdb.SQLite(t), withLog(&buf, grant.LogConfig{}))
	err := f.db.WithContext(grant.PreventWrites(context.Background())).Create(&User{Name: "x"}).Error
	require.ErrorIs(t, err, grant.ErrReadOnly)
	records := logRecords(t, &buf)
	require.NotEmpty(t, records)
	r := records[len(records)-1]
	assert.Equal(t, "ERROR", r["level"])
	assert.Equal(t, true, r["refused"])
	assert.Equal(t, "primary", r["database"])
	assert.Equal(t, "create", r["operation"])
}

func TestObserveMetricsRouteCounts(t *testing.T) {
	metrics := grantprom.New(grant.MetricsConfig{Enabled: true})
	f := newFixture(t, testdb.SQLite(t), withObservers(metrics))
	var users []User
	for range 3 {
		require.NoError(t, f.db.Find(&users).Error)
	}
	require.NoError(t, f.db.Create(&User{Name: "new"}).Error)
	require.Error(t, f.db.WithContext(grant.PreventWrites(context.Background())).Create(&User{Name: "x"}).Error)

	reg := prom.NewPedanticRegistry()
	reg.MustRegister(metrics.Collectors()...)
	families, err := reg.Gather()
	require.NoError(t, err)
	byName := map[string]bool{}
	for _, mf := range families {
		byName[mf.GetName()] = true
	}
	for _, name := range []string{"grant_statements_total", "grant_statement_duration_seconds", "grant_node_healthy", "go_sql_open_connections"} {
		assert.True(t, byName[name], name)
	}

	counts := metrics.RouteCounts()
	assert.Equal(t, counts, f.plugin.Snapshot().Routes, "the snapshot shows the installed Metrics' counts")
	assert.EqualValues(t, 3, counts["primary//reading/query/ok"], counts)
	assert.EqualValues(t, 1, counts["primary//writing/create/ok"], counts)
	assert.EqualValues(t, 1, counts["primary//writing/create/refused"], counts)

	want := `
# HELP grant_statements_total Statements grant routed, by route, operation and outcome (ok, error, refused).
# TYPE grant_statements_total counter
grant_statements_total{database="primary",operation="create",outcome="error",role="writing",shard=""} 0
grant_statements_total{database="primary",operation="create",outcome="ok",role="writing",shard=""} 1
grant_statements_total{database="primary",operation="create",outcome="refused",role="writing",shard=""} 1
grant_statements_total{database="primary",operation="query",outcome="error",role="reading",shard=""} 0
grant_statements_total{database="primary",operation="query",outcome="ok",role="reading",shard=""} 3
grant_statements_total{database="primary",operation="query",outcome="refused",role="reading",shard=""} 0
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want), "grant_statements_total"))
}

func TestObserveMetricsPoolsAndHealth(t *testing.T) {
	metrics := grantprom.New(grant.MetricsConfig{}) // route metrics not enabled: pools and health only
	reg := prom.NewPedanticRegistry()
	reg.MustRegister(metrics.Collectors()...) // before Use: collected from the topology once attached
	f := newFixture(t, testdb.SQLite(t), withObservers(metrics))

	pools := func() []string {
		families, err := reg.Gather()
		require.NoError(t, err)
		var names []string
		for _, mf := range families {
			if mf.GetName() == "grant_statements_total" {
				t.Errorf("route metrics collected while disabled")
			}
			if mf.GetName() != "go_sql_open_connections" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "db_name" {
						names = append(names, l.GetValue())
					}
				}
			}
		}
		return names
	}
	// Only the handle's own pool (the default writer) is open so far.
	assert.Equal(t, []string{"primary/writing/writer"}, pools())

	var users []User
	require.NoError(t, f.db.Find(&users).Error) // opens the replica
	assert.ElementsMatch(t, []string{"primary/writing/writer", "primary/reading/1"}, pools())

	// One health gauge per node, opened or not.
	assert.Equal(t, 4, testutil.CollectAndCount(metrics.Collectors()[0], "grant_node_healthy"))
	assert.Equal(t, 0, testutil.CollectAndCount(metrics.Collectors()[0], "grant_node_lag_seconds"))
	assert.Empty(t, f.plugin.Snapshot().Routes)
}

func TestObserveNeverLeaksPassword(t *testing.T) {
	for name, dsn := range map[string]string{
		"url":       "postgres://u:s3cret@127.0.0.1:1/x?connect_timeout=1",
		"key=value": "host=127.0.0.1 port=1 user=u password=s3cret dbname=x connect_timeout=1",
	} {
		t.Run(name, func(t *testing.T) { observeNeverLeaks(t, dsn) })
	}
}

func observeNeverLeaks(t *testing.T, dsn string) {
	const secret = "s3cret"
	var buf bytes.Buffer
	cfg := grant.Config{
		Databases: map[string]grant.DatabaseConfig{
			"remote": {Writer: &grant.NodeConfig{DSN: dsn, Adapter: "postgres"}},
		},
		Log:     grant.LogConfig{Logger: slog.New(slog.NewJSONHandler(&buf, nil)), SQL: true, Values: true},
		Metrics: grant.MetricsConfig{Enabled: true},
	}
	metrics := grantprom.New(cfg.Metrics)
	cfg.Observers = append(cfg.Observers, metrics)
	db, err := gorm.Open(postgres.Open("postgres://u@127.0.0.1:1/x?connect_timeout=1"), &gorm.Config{Logger: logger.Discard, DisableAutomaticPing: true})
	require.NoError(t, err)
	p := grant.New(cfg)
	require.NoError(t, db.Use(p))
	t.Cleanup(func() { _ = p.Close() })

	err = db.WithContext(grant.ConnectedTo(context.Background(), grant.Database("remote"))).Exec("SELECT 1").Error
	require.Error(t, err)
	assert.NotContains(t, err.Error(), secret)
	t.Logf("statement error: %v", err)

	records := logRecords(t, &buf)
	require.NotEmpty(t, records)
	assert.Equal(t, "remote", records[len(records)-1]["database"])
	assert.Equal(t, "ERROR", records[len(records)-1]["level"])
	assert.NotContains(t, buf.String(), secret)

	reg := prom.NewPedanticRegistry()
	reg.MustRegister(metrics.Collectors()...)
	families, err := reg.Gather()
	require.NoError(t, err)
	var out bytes.Buffer
	enc := expfmt.NewEncoder(&out, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range families {
		require.NoError(t, enc.Encode(mf))
	}
	assert.Contains(t, out.String(), `grant_statements_total{database="remote"`)
	assert.NotContains(t, out.String(), secret)
	assert.NotContains(t, out.String(), "127.0.0.1")
}
