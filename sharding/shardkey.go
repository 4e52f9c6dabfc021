package sharding

// ShardKey is what a sharded model declares: the column whose value picks
// the shard, and the strategy that maps values to shards.
//
//	func (Order) ShardKey() grant.ShardKey {
//		return grant.ShardKey{Column: "customer_id", Strategy: grant.Modulo()}
//	}
type ShardKey struct {
	// Column is the key's database column name (or Go field name).
	Column string
	// Strategy maps key values to the cluster's shards.
	Strategy Strategy
	// ScatterReads lets a read that names neither a shard nor a key run on
	// every shard and merge (as under grant.AllShards) instead of failing
	// with ErrShardKeyMissing. Writes without a key always fail.
	ScatterReads bool
	// IDs, when set, generates the primary key of every row created with a
	// zero one, encoding its shard (the shard's position in the cluster);
	// a statement with no shard key then routes by primary key too
	// (First(&order, id), Delete(&order)). One generator per process: IDs
	// from two processes for the same shard can collide in the same
	// millisecond, so give processes disjoint shards or their own clusters.
	IDs *IDGenerator
}
