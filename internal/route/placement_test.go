package route_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant/internal/route"
	"github.com/grant-go/grant/topology"
)

// AllShards reads go to the placement's Read shards, updates and deletes
// to its Write shards; unclean shards refuse statements spanning them.
func TestDecideUnderPlacement(t *testing.T) {
	top := testTopology(t)
	c, _ := top.Cluster("orders")
	require.NoError(t, c.SetPlacement(topology.PlacementRecord{Version: 1, Workflow: "wf", Active: true,
		Read: []string{"s1", "s2"}, Write: []string{"s1", "s2", "s3"}}))
	p := c.Placement()
	every := &topology.Connection{Database: "orders", Shard: topology.AllShards}
	shardsOf := func(kind route.Kind) []string {
		f := route.Facts{Kind: kind, Scope: every, Model: order}
		var target route.Target
		require.NoError(t, route.Resolve(&f, top, &target))
		target.Placement = p
		d, err := route.Decide(&f, &target)
		require.NoError(t, err)
		var names []string
		for _, s := range d.Shards {
			names = append(names, s.Shard())
		}
		return names
	}
	assert.Equal(t, []string{"s1", "s2"}, shardsOf(0))
	assert.Equal(t, []string{"s1", "s2", "s3"}, shardsOf(route.Writes|route.WantsWriter|route.FanOut))

	require.NoError(t, c.SetPlacement(topology.PlacementRecord{Version: 2, Workflow: "wf", Active: true,
		Read: []string{"s1", "s2"}, Write: []string{"s1", "s2"}, Unclean: []string{"s2"}}))
	f := route.Facts{Kind: 0, Scope: every, Model: order}
	var target route.Target
	require.NoError(t, route.Resolve(&f, top, &target))
	_, err := route.Decide(&f, &target)
	var rip *topology.ReshardInProgressError
	require.ErrorAs(t, err, &rip)
	assert.Equal(t, []string{"s2"}, rip.Shards)
	assert.ErrorIs(t, err, topology.ErrReshardInProgress)

	f = route.Facts{Kind: 0, Model: order, Keys: key(1)}
	target = route.Target{}
	require.NoError(t, route.Resolve(&f, top, &target))
	d, err := route.Decide(&f, &target)
	require.NoError(t, err, "one shard, even unclean, is fine")
	assert.Equal(t, "s2", d.Database.Shard())
}
