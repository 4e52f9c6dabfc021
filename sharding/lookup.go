package sharding

import (
	"container/list"
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"time"
)

// LookupSource answers which shard holds each key, from a directory kept
// outside the strategy (a table, a service). The answer maps Key.String() of
// each key found to its shard name; keys it does not know are simply left
// out. It must be safe for concurrent use. A source that also has a
// Validate() error method is checked by the Lookup strategy's Validate.
type LookupSource interface {
	LookupShards(ctx context.Context, keys []Key) (map[string]string, error)
}

// LookupFunc adapts a function to a LookupSource.
type LookupFunc func(ctx context.Context, keys []Key) (map[string]string, error)

// LookupShards calls f.
func (f LookupFunc) LookupShards(ctx context.Context, keys []Key) (map[string]string, error) {
	return f(ctx, keys)
}

// LookupConfig configures Lookup.
type LookupConfig struct {
	Source    LookupSource  // required
	CacheSize int           // most cached entries, least recently used evicted first; 0 = 10000, < 0 = no cache
	CacheTTL  time.Duration // how long an entry is trusted; 0 = until evicted
}

// DefaultLookupCacheSize is the cache bound used when CacheSize is 0.
const DefaultLookupCacheSize = 10000

// Lookup places keys where a directory says they are: each key is looked up
// in a bounded LRU cache first, and only the keys the cache misses are asked
// of Source, in one LookupShards call per Map (duplicates asked once). Found
// entries are cached; misses are not (a key may be added to the directory
// later). A key the source does not know fails with ErrNoShardForKey; a shard
// name the cluster lacks also fails (wrapping ErrNoShardForKey) and is not
// cached; a source error is returned wrapped. Keys of any kind are accepted.
// Adding a shard moves no key until the directory says so. The returned
// strategy is safe for concurrent use; concurrent misses of one key may each
// ask the source.
func Lookup(cfg LookupConfig) Strategy {
	l := &lookupStrategy{src: cfg.Source, size: cfg.CacheSize, ttl: cfg.CacheTTL}
	if l.size == 0 {
		l.size = DefaultLookupCacheSize
	}
	if l.size > 0 {
		l.entries = make(map[Key]*list.Element)
		l.lru = list.New()
	}
	return l
}

type lookupStrategy struct {
	src  LookupSource
	size int
	ttl  time.Duration

	mu      sync.Mutex
	entries map[Key]*list.Element // of *lookupEntry
	lru     *list.List            // front: most recently used
}

type lookupEntry struct {
	key     Key
	shard   string
	expires time.Time // zero: never
}

func (*lookupStrategy) Name() string { return "lookup" }

func (l *lookupStrategy) Validate(shards []string) error {
	if l.src == nil {
		return &StrategyError{Strategy: "lookup", Problem: "Source is nil"}
	}
	if l.ttl < 0 {
		return &StrategyError{Strategy: "lookup", Problem: "CacheTTL is negative"}
	}
	if v, ok := l.src.(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			return &StrategyError{Strategy: "lookup", Problem: "source: " + err.Error()}
		}
	}
	return validateShards("lookup", shards)
}

func (l *lookupStrategy) Map(ctx context.Context, shards []string, keys []Key) ([]string, error) {
	if l.src == nil {
		return nil, &StrategyError{Strategy: "lookup", Problem: "Source is nil"}
	}
	if len(shards) == 0 {
		return nil, noShards("lookup")
	}
	out := make([]string, len(keys))
	var missing []Key
	var missAt map[Key][]int // key → positions in out
	now := l.now()
	l.mu.Lock()
	for i, k := range keys {
		if k.kind == KindInvalid {
			l.mu.Unlock()
			return nil, keyError("lookup", k, ErrNullKey)
		}
		if s, ok := l.getLocked(k, now); ok && shardIndex(shards, s) >= 0 {
			out[i] = s
			continue
		}
		if missAt == nil {
			missAt = make(map[Key][]int)
		}
		if _, dup := missAt[k]; !dup {
			missing = append(missing, k)
		}
		missAt[k] = append(missAt[k], i)
	}
	l.mu.Unlock()
	if len(missing) == 0 {
		return out, nil
	}
	found, err := l.src.LookupShards(ctx, missing)
	if err != nil {
		return nil, fmt.Errorf("grant: lookup of %d keys (first %s): %w", len(missing), missing[0].display(), err)
	}
	var firstErr error
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range missing {
		s, ok := found[k.String()]
		switch {
		case !ok:
			if firstErr == nil {
				firstErr = keyError("lookup", k, fmt.Errorf("%w: the lookup source has no entry for it", ErrNoShardForKey))
			}
			continue
		case shardIndex(shards, s) < 0:
			if firstErr == nil {
				firstErr = keyError("lookup", k, fmt.Errorf("%w: the lookup source names shard %s, which the cluster lacks", ErrNoShardForKey, quote(s)))
			}
			continue
		}
		l.putLocked(k, s, now)
		for _, i := range missAt[k] {
			out[i] = s
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

func (l *lookupStrategy) now() time.Time {
	if l.ttl > 0 && l.lru != nil {
		return time.Now()
	}
	return time.Time{}
}

// getLocked returns the cached shard of k, refreshing its recency.
func (l *lookupStrategy) getLocked(k Key, now time.Time) (string, bool) {
	if l.lru == nil {
		return "", false
	}
	el, ok := l.entries[k]
	if !ok {
		return "", false
	}
	e := el.Value.(*lookupEntry)
	if !e.expires.IsZero() && !now.Before(e.expires) {
		l.lru.Remove(el)
		delete(l.entries, k)
		return "", false
	}
	l.lru.MoveToFront(el)
	return e.shard, true
}

// putLocked caches k → shard, evicting the least recently used entries.
func (l *lookupStrategy) putLocked(k Key, shard string, now time.Time) {
	if l.lru == nil {
		return
	}
	var expires time.Time
	if l.ttl > 0 {
		expires = now.Add(l.ttl)
	}
	if el, ok := l.entries[k]; ok {
		e := el.Value.(*lookupEntry)
		e.shard, e.expires = shard, expires
		l.lru.MoveToFront(el)
		return
	}
	for l.lru.Len() >= l.size {
		oldest := l.lru.Back()
		delete(l.entries, oldest.Value.(*lookupEntry).key)
		l.lru.Remove(oldest)
	}
	l.entries[k] = l.lru.PushFront(&lookupEntry{key: k, shard: shard, expires: expires})
}

// SQLTableSource returns a LookupSource reading a directory table through
// database/sql: SELECT keyColumn, shardColumn FROM table WHERE keyColumn IN
// (...), at most 500 keys per query. Identifiers are not quoted: each must
// match [A-Za-z0-9_]+ (the Lookup strategy's Validate reports one that does
// not; LookupShards refuses to run). placeholder(i) spells the i-th parameter
// (1-based): nil means "?" (MySQL, SQLite); for PostgreSQL pass
// func(i int) string { return "$" + strconv.Itoa(i) }. Key parameters are
// int64, string or time.Time. Returned key values are matched by their
// Key.String() form (time keys need a driver returning time.Time); rows with
// a NULL shard count as missing; two rows giving one key different shards
// are an error. Safe for concurrent use, as db is.
func SQLTableSource(db *sql.DB, table, keyColumn, shardColumn string, placeholder func(i int) string) LookupSource {
	if placeholder == nil {
		placeholder = func(int) string { return "?" }
	}
	var q Querier
	if db != nil {
		q = db
	}
	return &sqlTableSource{db: q, table: table, key: keyColumn, shard: shardColumn, ph: placeholder}
}

type sqlTableSource struct {
	db                Querier
	table, key, shard string
	ph                func(i int) string
}

const sqlLookupBatch = 500

// Validate checks the handle and the identifiers.
func (s *sqlTableSource) Validate() error {
	if s.db == nil || s.db == (*sql.DB)(nil) {
		return fmt.Errorf("SQLTableSource: db is nil")
	}
	for _, id := range []string{s.table, s.key, s.shard} {
		if !plainIdentifier(id) {
			return fmt.Errorf("SQLTableSource: identifier %s must match [A-Za-z0-9_]+", quote(id))
		}
	}
	return nil
}

func plainIdentifier(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return s != ""
}

// LookupShards queries the table for keys.
func (s *sqlTableSource) LookupShards(ctx context.Context, keys []Key) (map[string]string, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	found := make(map[string]string, len(keys))
	for len(keys) > 0 {
		batch := keys[:min(len(keys), sqlLookupBatch)]
		keys = keys[len(batch):]
		var q strings.Builder
		fmt.Fprintf(&q, "SELECT %s, %s FROM %s WHERE %s IN (", s.key, s.shard, s.table, s.key)
		args := make([]any, len(batch))
		for i, k := range batch {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString(s.ph(i + 1))
			switch k.kind {
			case KindInt:
				args[i] = k.i
			case KindTime:
				args[i] = k.Time()
			default:
				args[i] = k.s
			}
		}
		q.WriteString(")")
		if err := s.query(ctx, q.String(), args, found); err != nil {
			return nil, err
		}
	}
	return found, nil
}

func (s *sqlTableSource) query(ctx context.Context, q string, args []any, found map[string]string) error {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("SQLTableSource %s: %w", s.table, err)
	}
	defer rows.Close()
	for rows.Next() {
		var raw any
		var shard sql.NullString
		if err := rows.Scan(&raw, &shard); err != nil {
			return fmt.Errorf("SQLTableSource %s: %w", s.table, err)
		}
		if !shard.Valid {
			continue
		}
		var key string
		if b, ok := raw.([]byte); ok {
			key = string(b)
		} else if k, err := Normalize(raw); err == nil {
			key = k.String()
		} else {
			return fmt.Errorf("SQLTableSource %s: column %s: %w", s.table, s.key, err)
		}
		if prev, dup := found[key]; dup && prev != shard.String {
			return fmt.Errorf("SQLTableSource %s: key %s has two shards, %s and %s", s.table, quote(key), quote(prev), quote(shard.String))
		}
		found[key] = shard.String
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("SQLTableSource %s: %w", s.table, err)
	}
	return nil
}
