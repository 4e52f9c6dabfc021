package topology

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func placementCluster(t *testing.T) *Cluster {
	t.Helper()
	shard := func(name string, pending bool) ShardConfig {
		return ShardConfig{Name: name, Pending: pending, DatabaseConfig: DatabaseConfig{Writer: pgNode("postgres://u:pw@127.0.0.1:1/" + name)}}
	}
	topo, err := Build(Config{Clusters: map[string]ClusterConfig{"orders": {Shards: []ShardConfig{shard("a", false), shard("b", true), shard("c", false)}}}}, Handle{Dialect: "postgres"})
	require.NoError(t, err)
	c, ok := topo.Cluster("orders")
	require.True(t, ok)
	return c
}

// The configuration's placement leaves pending shards out; a published
// one is checked against the configured shards and never goes back.
func TestSetPlacement(t *testing.T) {
	c := placementCluster(t)
	p0 := c.Placement()
	assert.Zero(t, p0.Version())
	assert.True(t, p0.Plain())
	assert.Equal(t, []string{"a", "c"}, p0.WriteNames())
	assert.Equal(t, []int{0, 2}, p0.ReadIndexes(), "indexes stay the configured positions")
	assert.Len(t, c.Shards(), 3)

	for _, bad := range []PlacementRecord{
		{Version: 1, Read: []string{"a"}, Write: []string{"a", "x"}},
		{Version: 1, Read: []string{"a", "a"}, Write: []string{"a"}},
		{Version: 1, Write: []string{"a"}},
		{Version: 1, Read: []string{"a"}, Write: []string{"a"}, Frozen: true, FrozenTo: []string{"a"}},
		{Version: 1, Cluster: "other", Read: []string{"a"}, Write: []string{"a"}},
	} {
		assert.Error(t, c.SetPlacement(bad), "%+v", bad)
		assert.Same(t, p0, c.Placement())
	}

	require.NoError(t, c.SetPlacement(PlacementRecord{Version: 2, Active: true, Read: []string{"a", "b", "c"}, Write: []string{"b"}, Unclean: []string{"c"}}))
	p2 := c.Placement()
	select {
	case <-p0.Changed():
	default:
		t.Fatal("the replaced placement's Changed is not closed")
	}
	assert.False(t, p2.Plain())
	assert.Equal(t, []int{1}, p2.WriteIndexes())
	assert.Equal(t, []string{"c"}, p2.UncleanAmong([]int{0, 1, 2}))
	assert.Equal(t, "b", p2.WriteShards()[0].Shard())
	require.NoError(t, c.SetPlacement(PlacementRecord{Version: 1, Read: []string{"a"}, Write: []string{"a"}}))
	require.NoError(t, c.SetPlacement(PlacementRecord{Version: 2, Read: []string{"a"}, Write: []string{"a"}}))
	assert.Same(t, p2, c.Placement(), "versions not newer are ignored")
}

// WaitIdle returns once every write counted under a replaced placement
// has left, and not before.
func TestPlacementWaitIdle(t *testing.T) {
	c := placementCluster(t)
	require.NoError(t, c.SetPlacement(PlacementRecord{Version: 1, Active: true, Read: []string{"a"}, Write: []string{"a"}}))
	p1 := c.Placement()
	p1.Enter()
	p1.Enter()
	require.NoError(t, c.SetPlacement(PlacementRecord{Version: 2, Active: true, Read: []string{"a"}, Write: []string{"a"}}))
	assert.False(t, p1.Current())
	done := make(chan error)
	go func() { done <- p1.WaitIdle(context.Background()) }()
	p1.Leave()
	select {
	case <-done:
		t.Fatal("WaitIdle returned with a write in flight")
	case <-time.After(20 * time.Millisecond): // nothing to wait for: WaitIdle must not return
	}
	p1.Leave()
	require.NoError(t, <-done)
}

func TestReshardConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		r    ReshardConfig
		path string
	}{
		{ReshardConfig{PollInterval: -1}, "reshard.poll_interval"},
		{ReshardConfig{Lease: -1}, "reshard.lease"},
		{ReshardConfig{FreezeWait: -1}, "reshard.freeze_wait"},
		{ReshardConfig{PollInterval: time.Second, Lease: time.Second}, "reshard.lease"},
	} {
		cfg := Config{Reshard: &tc.r}
		err := cfg.Validate()
		var ce *ConfigError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, tc.path, ce.Path)
	}
	cfg := Config{Reshard: &ReshardConfig{}}
	require.NoError(t, cfg.Validate())
	assert.Equal(t, ReshardConfig{PollInterval: DefaultPollInterval, Lease: DefaultLease, FreezeWait: DefaultFreezeWait}, ReshardConfig{}.Resolved())
	all := Config{Clusters: map[string]ClusterConfig{"o": {Shards: []ShardConfig{{Name: "a", Pending: true, DatabaseConfig: DatabaseConfig{Writer: pgNode("postgres://h/a")}}}}}}
	var ce *ConfigError
	require.ErrorAs(t, all.Validate(), &ce)
	assert.Equal(t, "clusters.o.shards", ce.Path)
}
