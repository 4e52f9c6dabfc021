package topology

import (
	"maps"
	"slices"
)

// ShardKeyTables lists, sorted, the tables the configuration gives a shard
// key (ClusterConfig.ShardKeys).
func (c *Cluster) ShardKeyTables() []string { return slices.Sorted(maps.Keys(c.keys)) }
