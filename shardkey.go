package grant

import (
	"context"

	"github.com/grant-go/grant/sharding"
	"github.com/grant-go/grant/topology"
)

// ShardKey is what a model in a cluster declares to be routed by its data:
//
//	func (Order) ShardKey() grant.ShardKey {
//		return grant.ShardKey{Column: "customer_id", Strategy: grant.Modulo()}
//	}
//
// Creates read the key from each row; queries, updates and deletes from an
// `=` or `IN` condition on the key in WHERE. A scope or context naming a
// shard wins over the key.
type ShardKey = sharding.ShardKey

// Strategy maps shard key values to shards; see package sharding.
type Strategy = sharding.Strategy

// Configuration of the strategies that take some; see package sharding.
type (
	// KeyRange is one range of a Range strategy: keys in [From, To) go to
	// Shard.
	KeyRange = sharding.KeyRange
	// TimeIntervalConfig configures TimeInterval: where interval 0 starts,
	// how long intervals are, and their shards in order.
	TimeIntervalConfig = sharding.TimeIntervalConfig
	// LookupConfig configures Lookup: its source and how many answers are
	// cached, for how long.
	LookupConfig = sharding.LookupConfig
	// Key is one shard key value as strategies see it.
	Key = sharding.Key
)

// IDGenerator issues 64-bit primary keys that encode their shard; see
// ShardKey.IDs and sharding.IDGenerator.
type (
	// IDGenerator issues IDs; safe for concurrent use.
	IDGenerator = sharding.IDGenerator
	// IDLayout says how many bits of an ID hold time, worker, sequence
	// and shard.
	IDLayout = sharding.IDLayout
)

// NewIDGenerator returns a generator for layout and this process's worker
// number, which must differ between processes issuing IDs for one cluster
// (DefaultIDLayout: 41 bits of milliseconds, 6 of worker, 8 of sequence, 8
// of shard). Errors wrap sharding.ErrInvalidIDLayout or ErrInvalidWorker.
func NewIDGenerator(layout IDLayout, worker int) (*IDGenerator, error) {
	return sharding.NewIDGenerator(layout, worker)
}

// DefaultIDLayout is the default ID layout.
func DefaultIDLayout() IDLayout { return sharding.DefaultIDLayout() }

// Modulo places integer key k on shard k mod N.
func Modulo() Strategy { return sharding.Modulo() }

// Hash places any key by a stable FNV-1a 64-bit hash, mod N.
func Hash() Strategy { return sharding.Hash() }

// JumpHash places any key by jump consistent hash: growing N shards to N+1
// moves about 1/(N+1) of the keys.
func JumpHash() Strategy { return sharding.JumpHash() }

// Range places keys by ordered, gap-free ranges.
func Range(ranges ...KeyRange) Strategy { return sharding.Range(ranges...) }

// TimeInterval places time keys by calendar or fixed intervals.
func TimeInterval(cfg TimeIntervalConfig) Strategy { return sharding.TimeInterval(cfg) }

// Lookup sources; see sharding.LookupSource.
type (
	// LookupSource answers a Lookup strategy's "which shard holds this
	// key?" (DirectoryTable, or a LookupFunc).
	LookupSource = sharding.LookupSource
	// LookupFunc is a LookupSource written as a function.
	LookupFunc = sharding.LookupFunc
)

// DirectoryTable is a Lookup source reading table (keyColumn → shardColumn)
// in the database grant knows by that name, on its writer; see
// sharding.DirectoryTable.
func DirectoryTable(database, table, keyColumn, shardColumn string) LookupSource {
	return sharding.DirectoryTable(database, table, keyColumn, shardColumn)
}

// Lookup places keys by a directory kept elsewhere, behind a bounded cache.
func Lookup(cfg LookupConfig) Strategy { return sharding.Lookup(cfg) }

// Func places keys by a plain function returning a shard name.
func Func(name string, fn func(ctx context.Context, key Key) (string, error)) Strategy {
	return sharding.Func(name, fn)
}

// PartialWriteError is a create split over shards of which some parts
// committed and some rolled back; use errors.As to see which.
type PartialWriteError = topology.PartialWriteError

// Shard key errors.
var (
	// ErrSpansShards: a statement's key values belong to several shards.
	ErrSpansShards = topology.ErrSpansShards
	// ErrNoScatterEngine: a statement would run on every shard, and the
	// program does not import github.com/grant-go/grant/sharding/scatter/engine.
	ErrNoScatterEngine = topology.ErrNoScatterEngine
	// ErrShardKeyChange: an update would move a row to another shard.
	ErrShardKeyChange = topology.ErrShardKeyChange
	// ErrShardMismatch: a statement names a shard its key maps elsewhere
	// (grant.Shard, a context or a transaction on one shard); the error
	// names both shards and nothing is sent.
	ErrShardMismatch = topology.ErrShardMismatch
	// ErrNoShardForKey: no shard holds the key (outside every range, lookup miss, …).
	ErrNoShardForKey = sharding.ErrNoShardForKey
	// ErrKeyType: the key's type does not suit the strategy.
	ErrKeyType = sharding.ErrKeyType
	// ErrNullKey: the key is NULL.
	ErrNullKey = sharding.ErrNullKey
)
