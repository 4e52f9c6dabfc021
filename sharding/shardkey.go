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
}
