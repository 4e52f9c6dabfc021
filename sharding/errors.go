package sharding

import (
	"errors"
	"strconv"
	"strings"
)

// Sentinel errors. Every error a strategy returns wraps exactly one of them, so
// callers can test with errors.Is; the typed errors below add the strategy and
// the key.
var (
	// ErrNoShardForKey: the key is of the right type but no shard holds it
	// (negative key under modulo, outside every range or time interval,
	// lookup miss, a function that named no configured shard).
	ErrNoShardForKey = errors.New("grant: no shard for key")
	// ErrKeyType: the key's type cannot be used as a shard key at all
	// (Normalize: float, bool, struct...) or not by this strategy (a string
	// key under modulo, an int key under a time strategy).
	ErrKeyType = errors.New("grant: shard key has an unusable type")
	// ErrNullKey: the key is NULL (nil, a nil pointer, a Valuer returning
	// nil, an invalid sql.Null*, or the zero Key). A NULL key never routes.
	ErrNullKey = errors.New("grant: shard key is NULL")
	// ErrInvalidStrategy: the strategy's configuration is unusable; returned
	// wrapped in a *StrategyError by Validate (and by Map, should Map be
	// called on a strategy that would not validate).
	ErrInvalidStrategy = errors.New("grant: invalid strategy")
	// ErrSpansShards: a statement's rows belong to several shards and grant
	// cannot run it exactly there: it is refused (a scatter-gather query it
	// cannot merge exactly, a write whose keys span shards). Defined here so
	// that the scatter engine's refusals match it; package topology and grant
	// export the same value.
	ErrSpansShards = errors.New("grant: statement spans several shards")
)

// StrategyError reports a configuration problem found by Validate (or by Map
// for a cluster with no shards). It unwraps to ErrInvalidStrategy.
type StrategyError struct {
	Strategy string // the strategy's Name()
	Problem  string // what is wrong, naming the offending shard, range or setting
}

// Error reads "grant: invalid <strategy> strategy: <problem>".
func (e *StrategyError) Error() string {
	return "grant: invalid " + e.Strategy + " strategy: " + e.Problem
}

// Unwrap returns ErrInvalidStrategy.
func (e *StrategyError) Unwrap() error { return ErrInvalidStrategy }

// KeyError reports a key that cannot be placed on a shard. Err wraps one of
// ErrNoShardForKey, ErrKeyType or ErrNullKey (or, for Func and Lookup, the
// user's own error), with details.
type KeyError struct {
	Strategy string // the strategy's Name(); empty for errors from Normalize
	Key      string // the key in human form: 42, "abc" (quoted), 2024-01-02T03:04:05Z, NULL
	Err      error
}

// Error names the strategy, the key and why it maps to no shard.
func (e *KeyError) Error() string {
	var b strings.Builder
	b.WriteString("grant: ")
	if e.Strategy != "" {
		b.WriteString(e.Strategy)
		b.WriteString(": ")
	}
	b.WriteString("key ")
	b.WriteString(e.Key)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(strings.TrimPrefix(e.Err.Error(), "grant: "))
	}
	return b.String()
}

// Unwrap returns Err.
func (e *KeyError) Unwrap() error { return e.Err }

// keyError builds a *KeyError for key k under the named strategy.
func keyError(strategy string, k Key, err error) error {
	return &KeyError{Strategy: strategy, Key: k.display(), Err: err}
}

// noShards is the error every strategy returns from Validate and Map when the
// cluster has no shards.
func noShards(strategy string) error {
	return &StrategyError{Strategy: strategy, Problem: "the cluster has no shards"}
}

// unknownShard reports a configured shard name that the cluster lacks.
func unknownShard(strategy, name string, shards []string) error {
	return &StrategyError{Strategy: strategy, Problem: "unknown shard " + quote(name) +
		" (cluster shards: " + strings.Join(quoteAll(shards), ", ") + ")"}
}

// shardIndex returns the position of name in shards, or -1.
func shardIndex(shards []string, name string) int {
	for i, s := range shards {
		if s == name {
			return i
		}
	}
	return -1
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = quote(s)
	}
	return out
}

// quote quotes s for messages, cutting long keys.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}
