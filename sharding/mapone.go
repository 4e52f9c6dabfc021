package sharding

import "context"

// KeyMapper is implemented by strategies that can place a single key without
// allocating; the router's point queries and single-row creates use it.
// Modulo, Hash and JumpHash implement it.
type KeyMapper interface {
	MapKey(ctx context.Context, shards []string, key Key) (string, error)
}

// IndexMapper is implemented by strategies that place a single key by
// position alone, among n shards, without allocating or looking at names:
// routing then costs the same with 4 shards or 1,024. Modulo, Hash and
// JumpHash implement it; the index is into the shard list the strategy was
// validated with.
type IndexMapper interface {
	MapKeyIndex(ctx context.Context, n int, key Key) (int, error)
}

// MapOne places one key with s: through MapKey when s has it, else through
// Map with a one-key slice. Errors are Map's.
func MapOne(ctx context.Context, s Strategy, shards []string, key Key) (string, error) {
	if m, ok := s.(KeyMapper); ok {
		return m.MapKey(ctx, shards, key)
	}
	names, err := s.Map(ctx, shards, []Key{key})
	if err != nil {
		return "", err
	}
	return names[0], nil
}

// mapEach is Map for a KeyMapper: one MapKey per key.
func mapEach(ctx context.Context, m KeyMapper, shards []string, keys []Key) ([]string, error) {
	out := make([]string, len(keys))
	for i, k := range keys {
		name, err := m.MapKey(ctx, shards, k)
		if err != nil {
			return nil, err
		}
		out[i] = name
	}
	return out, nil
}

// shardOfIndex is MapKey for a strategy that maps keys to indexes.
func shardOfIndex(ctx context.Context, m IndexMapper, shards []string, k Key) (string, error) {
	i, err := m.MapKeyIndex(ctx, len(shards), k)
	if err != nil {
		return "", err
	}
	return shards[i], nil
}
