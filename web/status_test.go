package web_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/testdb"
	"github.com/grant-go/grant/web"
)

// The passwords of the status fixture's DSNs: they must never be shown.
const (
	statusSecret    = "s3cret"
	deadReplicaDSN  = "postgres://u:" + statusSecret + "@127.0.0.1:1/x?connect_timeout=1&sslmode=disable"
	keyValueNodeDSN = "host=127.0.0.1 port=1 user=u password=" + statusSecret + " dbname=x"
	deadReplicaKey  = "primary/reading/dead"
	deadLabel       = "primary/reading#dead"
)

// postgresAsSQLite is a real PostgreSQL dialector (pgx, connecting to the
// DSN's address) whose Name says "sqlite", so that a SQLite handle accepts
// it: the node's health check then only pings, and a ping to a dead address
// fails like a real unreachable replica.
type postgresAsSQLite struct{ gorm.Dialector }

func (postgresAsSQLite) Name() string { return "sqlite" }

// newStatusFixture: a SQLite primary with a live replica and a dead one
// (127.0.0.1:1, password in URL form), a database "reports" whose writer
// has a key=value DSN with a password (never connected), and a cluster
// "orders" of two shards, the first with a replica. Each replica is checked
// once, as the checks start (the next check is a minute away), with a
// generous timeout: on a loaded machine a check of the live SQLite replica
// has taken longer than the 25ms that a 50ms interval allowed, left it
// unhealthy, and failed the tests that expect it healthy. It returns the
// plugin once the dead replica has left the rotation and the live ones have
// been checked healthy.
func newStatusFixture(t *testing.T) (*gorm.DB, *grant.Plugin) {
	t.Helper()
	b := testdb.SQLite(t)
	primary, replica := b.CreateDatabase(t, "primary"), b.CreateDatabase(t, "primary_replica")
	shard1, shard1Replica, shard2 := b.CreateDatabase(t, "shard1"), b.CreateDatabase(t, "shard1_replica"), b.CreateDatabase(t, "shard2")
	db, err := gorm.Open(primary.Dialector(), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err)
	plugin := grant.New(grant.Config{
		Adapters: map[string]grant.Adapter{"postgres": func(dsn string) gorm.Dialector { return postgresAsSQLite{postgres.Open(dsn)} }},
		Health:   grant.HealthConfig{Interval: time.Minute, Timeout: 30 * time.Second},
		Databases: map[string]grant.DatabaseConfig{
			"primary": {Replicas: []grant.NodeConfig{
				{Dialector: replica.Dialector()},
				{Name: "dead", Adapter: "postgres", DSN: deadReplicaDSN},
			}},
			"reports": {Writer: &grant.NodeConfig{Adapter: "postgres", DSN: keyValueNodeDSN}},
		},
		Clusters: map[string]grant.ClusterConfig{"orders": {Shards: []grant.ShardConfig{
			{Name: "shard1", DatabaseConfig: grant.DatabaseConfig{Writer: &grant.NodeConfig{Dialector: shard1.Dialector()},
				Replicas: []grant.NodeConfig{{Dialector: shard1Replica.Dialector()}}}},
			{Name: "shard2", DatabaseConfig: grant.DatabaseConfig{Writer: &grant.NodeConfig{Dialector: shard2.Dialector()}}},
		}}},
	})
	require.NoError(t, db.Use(plugin))
	t.Cleanup(func() {
		_ = plugin.Close()
		if sqlDB, err := db.DB(); err == nil {
			_ = sqlDB.Close()
		}
	})
	var dead *grant.NodeHealth
	require.Eventually(t, func() bool {
		deadOut, allChecked := false, true
		for _, n := range plugin.Topology().Nodes() {
			h := n.Health()
			if n.Key() == deadReplicaKey {
				dead = &h
				deadOut = !h.Healthy && h.Err != nil
			} else if n.Role() == grant.Reading && (h.Checked.IsZero() || !h.Healthy) {
				allChecked = false // a loaded machine may check the live replica later
			}
		}
		return deadOut && allChecked
	}, time.Minute, 20*time.Millisecond, "the replica at 127.0.0.1:1 leaves the rotation, and the live ones have been checked healthy")
	require.NotNil(t, dead)
	return db, plugin
}

// statusLabels are every node label of the status fixture.
var statusLabels = []string{
	"primary/writing", "primary/reading#1", deadLabel,
	"reports/writing",
	"orders/shard1/writing", "orders/shard1/reading#1", "orders/shard2/writing",
}

func get(t *testing.T, h http.Handler, target string, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestStatusHandlerJSON(t *testing.T) {
	_, plugin := newStatusFixture(t)
	h := web.StatusHandler(plugin)
	for name, req := range map[string]struct {
		target string
		header map[string]string
	}{
		"query":  {"/status?format=json", nil},
		"accept": {"/status", map[string]string{"Accept": "text/plain;q=0.5, application/json"}},
	} {
		t.Run(name, func(t *testing.T) {
			rec := get(t, h, req.target, req.header)
			require.Equal(t, http.StatusOK, rec.Code)
			assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			body := rec.Body.String()
			assert.NotContains(t, body, statusSecret)
			var s grant.Snapshot
			require.NoError(t, json.Unmarshal([]byte(body), &s))
			require.Len(t, s.Databases, 2)
			require.Len(t, s.Clusters, 1)
			var raw map[string]any
			require.NoError(t, json.Unmarshal([]byte(body), &raw))
			for _, key := range []string{"taken", "default", "databases", "clusters"} {
				assert.Contains(t, raw, key)
			}
			for _, key := range []string{`"label"`, `"key"`, `"role"`, `"open"`, `"healthy"`, `"failures"`, `"in_use"`, `"open_connections"`, `"max_open_connections"`, `"qualified"`, `"shards"`} {
				assert.Contains(t, body, key)
			}
			var dead *grant.NodeSnapshot
			for _, n := range s.Databases[0].Nodes {
				if n.Label == deadLabel {
					dead = &n
				}
			}
			require.NotNil(t, dead)
			assert.False(t, dead.Healthy)
			assert.NotEmpty(t, dead.Error)
		})
	}
}

func TestStatusHandlerHTML(t *testing.T) {
	_, plugin := newStatusFixture(t)
	h := web.StatusHandler(plugin)
	rec := get(t, h, "/status", map[string]string{"Accept": "text/html"})
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "text/html; charset=utf-8", rec.Header().Get("Content-Type"))
	page := rec.Body.String()
	assert.Contains(t, page, "<h1>grant topology</h1>")
	assert.NotContains(t, page, statusSecret)
	assert.NotContains(t, page, "<script")
	assert.NotContains(t, page, "CREATE TABLE")
	for _, label := range statusLabels {
		assert.Contains(t, page, label)
	}
	for _, title := range []string{"primary", "reports", "orders/shard1", "orders/shard2"} {
		assert.Contains(t, page, "<h2>"+title+" ")
	}
	// The dead replica's row carries the unhealthy marker, the live one's
	// the healthy marker.
	assert.Regexp(t, `(?s)<td>`+deadLabel+`</td>\s*<td>reading</td>\s*<td><span class="unhealthy">✖ unhealthy</span>`, page)
	assert.Regexp(t, `(?s)<td>primary/reading#1</td>\s*<td>reading</td>\s*<td><span class="healthy">✔ healthy</span>`, page)
	assert.Equal(t, 1, strings.Count(page, `class="unhealthy"`), "only the dead replica is unhealthy")
}

func TestStatusHandlerMethods(t *testing.T) {
	_, plugin := newStatusFixture(t)
	srv := httptest.NewServer(web.StatusHandler(plugin))
	defer srv.Close()
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodHead} {
		req, err := http.NewRequest(method, srv.URL+"?format=json", strings.NewReader("x"))
		require.NoError(t, err)
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, method)
		assert.Equal(t, http.MethodGet, resp.Header.Get("Allow"))
		assert.NotContains(t, string(body), statusSecret)
	}
}
