package web_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/web"
)

func TestSnapshotBeforeInitialize(t *testing.T) {
	s := grant.New(grant.Config{}).Snapshot()
	assert.False(t, s.Taken.IsZero())
	assert.Empty(t, s.Default)
	assert.Empty(t, s.Databases)
	assert.Empty(t, s.Clusters)
	body, err := json.Marshal(s)
	require.NoError(t, err)
	assert.Contains(t, string(body), `"databases":[]`)

	var nilPlugin *grant.Plugin
	assert.Empty(t, nilPlugin.Snapshot().Databases, "a nil *Plugin gives an empty snapshot")

	rec := get(t, web.StatusHandler(grant.New(grant.Config{})), "/", nil)
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Contains(t, rec.Body.String(), "<h1>grant topology</h1>")
}

func TestSnapshotTopology(t *testing.T) {
	db, plugin := newStatusFixture(t)
	require.NoError(t, db.Exec("CREATE TABLE t (id integer)").Error) // opens nothing new: the handle's pool

	s := plugin.Snapshot()
	assert.Equal(t, "primary", s.Default)
	require.Len(t, s.Databases, 2)
	assert.Equal(t, "primary", s.Databases[0].Name)
	assert.Equal(t, "reports", s.Databases[1].Name)
	require.Len(t, s.Clusters, 1)
	assert.Equal(t, "orders", s.Clusters[0].Name)
	require.Len(t, s.Clusters[0].Shards, 2)
	assert.Equal(t, "orders/shard1", s.Clusters[0].Shards[0].Qualified)
	assert.Equal(t, "shard1", s.Clusters[0].Shards[0].Shard)
	assert.Equal(t, grant.PlacementSnapshot{Read: []string{"shard1", "shard2"}, Write: []string{"shard1", "shard2"}}, s.Clusters[0].Placement,
		"the configuration's placement: version 0, every shard serving")

	nodes := map[string]grant.NodeSnapshot{}
	for _, d := range append(s.Databases, s.Clusters[0].Shards...) {
		for _, n := range d.Nodes {
			nodes[n.Label] = n
		}
	}
	for _, label := range statusLabels {
		assert.Contains(t, nodes, label)
	}
	assert.Len(t, nodes, len(statusLabels))

	w := nodes["primary/writing"]
	assert.True(t, w.Open, "the handle's own pool is open")
	require.NotNil(t, w.Pool)
	assert.Equal(t, grant.Writing, w.Role)
	assert.True(t, w.Healthy)
	assert.True(t, w.Checked.IsZero(), "writers are not health-checked")

	live := nodes["primary/reading#1"]
	assert.True(t, live.Healthy)
	assert.False(t, live.Checked.IsZero(), "the live replica has been checked")
	assert.False(t, live.Open, "checks run on sessions of their own: the replica's pool opens with its first read")
	assert.Empty(t, live.Error)

	dead := nodes[deadLabel]
	assert.Equal(t, deadReplicaKey, dead.Key)
	assert.Equal(t, "dead", dead.Name)
	assert.False(t, dead.Healthy)
	assert.Positive(t, dead.Failures)
	assert.NotEmpty(t, dead.Error)
	assert.Contains(t, dead.DSN, "xxxxx", "the DSN is shown redacted")

	kv := nodes["reports/writing"]
	assert.False(t, kv.Open, "a writer nobody used is not opened by a snapshot")
	assert.Nil(t, kv.Pool)
	assert.Contains(t, kv.DSN, "password=xxxxx")
}
