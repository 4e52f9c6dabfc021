package sharding

import (
	"context"
	"fmt"
)

// Strategy decides which shard holds each shard-key value. Implementations
// must be safe for concurrent use.
type Strategy interface {
	// Name identifies the strategy in errors: "modulo", "hash", "jump",
	// "range", "time", "lookup", or the name given to Func.
	Name() string
	// Validate checks the strategy against the cluster's shard names (in
	// configured order, pending shards included: Map may be given fewer)
	// once, when the plugin initializes; errors are
	// *StrategyError naming the problem (unknown shard name, overlapping or
	// gapped ranges, no shards...).
	Validate(shards []string) error
	// Map returns, for each key, the name of the shard that holds it. keys
	// are already normalized (see Normalize). An error names the offending
	// key and wraps ErrNoShardForKey / ErrKeyType. ctx is for strategies
	// that query (lookup).
	Map(ctx context.Context, shards []string, keys []Key) ([]string, error)
}

// Modulo places integer key k on shards[k % len(shards)]. It accepts Int keys
// only (others: ErrKeyType); negative keys have no shard (ErrNoShardForKey).
// Adding a shard moves almost every key: use it when the shard count is fixed.
// The returned value is immutable and safe for concurrent use.
func Modulo() Strategy { return modulo{} }

type modulo struct{}

func (modulo) Name() string { return "modulo" }

func (modulo) Validate(shards []string) error { return validateShards("modulo", shards) }

func (m modulo) Map(ctx context.Context, shards []string, keys []Key) ([]string, error) {
	return mapEach(ctx, m, shards, keys)
}

// MapKey places one key without allocating.
func (m modulo) MapKey(ctx context.Context, shards []string, k Key) (string, error) {
	return shardOfIndex(ctx, m, shards, k)
}

// MapKeyIndex places one key among n shards, in constant time.
func (modulo) MapKeyIndex(_ context.Context, n int, k Key) (int, error) {
	if n == 0 {
		return 0, noShards("modulo")
	}
	if k.kind != KindInt {
		return 0, wrongKind("modulo", k, "integer")
	}
	if k.i < 0 {
		return 0, keyError("modulo", k, fmt.Errorf("%w: negative key %d has no shard under modulo", ErrNoShardForKey, k.i))
	}
	return int(k.i % int64(n)), nil
}

// Func adapts a plain function to a Strategy named name ("func" when empty).
// fn is called once per key and must return one of the cluster's shard names;
// any other name is reported as ErrNoShardForKey. An error from fn is
// returned inside a *KeyError naming the key (wrap ErrNoShardForKey or
// ErrKeyType in it to let callers classify it). fn must be safe for
// concurrent use; a panic in fn is not recovered.
func Func(name string, fn func(ctx context.Context, key Key) (string, error)) Strategy {
	if name == "" {
		name = "func"
	}
	return funcStrategy{name: name, fn: fn}
}

type funcStrategy struct {
	name string
	fn   func(ctx context.Context, key Key) (string, error)
}

func (f funcStrategy) Name() string { return f.name }

func (f funcStrategy) Validate(shards []string) error {
	if f.fn == nil {
		return &StrategyError{Strategy: f.name, Problem: "the function is nil"}
	}
	return validateShards(f.name, shards)
}

func (f funcStrategy) Map(ctx context.Context, shards []string, keys []Key) ([]string, error) {
	if f.fn == nil {
		return nil, &StrategyError{Strategy: f.name, Problem: "the function is nil"}
	}
	if len(shards) == 0 {
		return nil, noShards(f.name)
	}
	out := make([]string, len(keys))
	for i, k := range keys {
		if k.kind == KindInvalid {
			return nil, keyError(f.name, k, ErrNullKey)
		}
		s, err := f.fn(ctx, k)
		if err != nil {
			return nil, keyError(f.name, k, err)
		}
		if shardIndex(shards, s) < 0 {
			return nil, keyError(f.name, k, fmt.Errorf("%w: the function returned %s, which is not a shard of the cluster", ErrNoShardForKey, quote(s)))
		}
		out[i] = s
	}
	return out, nil
}

// validateShards checks the cluster's shard list: not empty, no empty or
// duplicate names.
func validateShards(strategy string, shards []string) error {
	if len(shards) == 0 {
		return noShards(strategy)
	}
	for i, s := range shards {
		if s == "" {
			return &StrategyError{Strategy: strategy, Problem: fmt.Sprintf("shard %d has an empty name", i)}
		}
		if j := shardIndex(shards[:i], s); j >= 0 {
			return &StrategyError{Strategy: strategy, Problem: "shard " + quote(s) + " is listed twice"}
		}
	}
	return nil
}

// wrongKind reports a key of a kind the strategy does not accept.
func wrongKind(strategy string, k Key, want string) error {
	if k.kind == KindInvalid {
		return keyError(strategy, k, ErrNullKey)
	}
	return keyError(strategy, k, fmt.Errorf("%w: %s needs %s keys, got a %s key", ErrKeyType, strategy, want, k.kind))
}
