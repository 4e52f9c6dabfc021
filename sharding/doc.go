// Package sharding decides which shard of a cluster holds a row, from the
// value of the row's shard key.
//
// # Keys
//
// A shard-key value is first normalized into a Key (see Normalize): every Go
// integer type becomes an Int (int64), strings, []byte and UUIDs become a
// String (a UUID as its lowercase 8-4-4-4-12 text, so a uuid.UUID and its
// string land on the same shard), and time.Time becomes a Time in UTC.
// Pointers, driver.Valuer and sql.Null* types are unwrapped; NULL fails with
// ErrNullKey, floats, bools and other types with ErrKeyType. Keys are small
// comparable values.
//
// # Strategies
//
// A Strategy is one small interface, in the spirit of Vitess vindexes:
// Name, Validate (run once, when the plugin initializes, against the
// cluster's shard names in configured order) and Map (keys → shard names).
// Strategies are immutable values safe for concurrent use; the package
// provides:
//
//   - Modulo: Int keys, shards[k % N]. For a fixed shard count.
//   - Hash: any key, shards[FNV-1a-64(Key.Bytes()) % N]. Even spread of
//     strings and UUIDs; the hash is fixed forever (see Hash64).
//   - JumpHash: any key, Lamping–Veach jump consistent hash of the same
//     64-bit FNV-1a value. Growing N → N+1 moves only ~1/(N+1) of the keys.
//   - Range: ordered, contiguous [From, To) ranges of ints, strings or times,
//     each naming a shard.
//   - TimeInterval: Time keys by interval since a start (daily, weekly,
//     monthly, yearly or a fixed duration), one shard per interval.
//   - Lookup: a directory (key → shard) read through a LookupSource such as
//     SQLTableSource, behind a bounded LRU cache.
//   - Func: any function of the user's; or implement Strategy directly.
//
// Map never panics and never invents a shard: it returns, for each key, a
// name from the shards it was given, or an error. Configuration errors are
// *StrategyError (wrapping ErrInvalidStrategy); key errors are *KeyError
// naming the strategy and the key and wrapping ErrNoShardForKey, ErrKeyType or
// ErrNullKey. docs/sharding-strategies.md compares the strategies, states the
// exact hash function and encodings, and gives the measured jump-hash key
// movement.
package sharding
