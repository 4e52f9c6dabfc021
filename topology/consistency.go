package topology

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"
)

// ConsistencyMode chooses how a session's reads find the session's own
// writes when they would otherwise go to a replica.
type ConsistencyMode string

const (
	// Eventual reads from replicas as they are: a read right after a write
	// may miss it. The default.
	Eventual ConsistencyMode = ""
	// Timed sends a session's reads of a database to its writer for
	// ConsistencyConfig.Delay after the session wrote there (Rails' delay).
	Timed ConsistencyMode = "timed"
	// Causal records the writer's replication position after each write of
	// a session, and sends the session's reads to a replica only once the
	// replica has replayed that position; otherwise to the writer.
	Causal ConsistencyMode = "causal"
)

// ConsistencyConfig is the read-your-writes setting. Sessions (Session,
// carried in a context.Context) are what it applies to: statements without
// a session in their context read as Eventual.
type ConsistencyConfig struct {
	Mode ConsistencyMode
	// Delay is how long Timed mode keeps a session's reads on the writer
	// after its last write there. 0 means 2s.
	Delay time.Duration
	// CausalWait is how long a Causal read may wait for a replica to catch
	// up before it reads from the writer. 0 means no wait.
	CausalWait time.Duration
}

// DefaultConsistencyDelay is Timed mode's Delay when none is set.
const DefaultConsistencyDelay = 2 * time.Second

// DelayOrDefault is Delay, or DefaultConsistencyDelay when zero.
func (c ConsistencyConfig) DelayOrDefault() time.Duration {
	if c.Delay > 0 {
		return c.Delay
	}
	return DefaultConsistencyDelay
}

func (c ConsistencyConfig) validate() error {
	switch c.Mode {
	case Eventual, Timed, Causal:
	default:
		return &ConfigError{Path: "consistency.mode", Problem: fmt.Sprintf("unknown mode %q (want \"\", %q or %q)", c.Mode, Timed, Causal)}
	}
	if c.Delay < 0 {
		return &ConfigError{Path: "consistency.delay", Problem: fmt.Sprintf("must not be negative, got %s", c.Delay)}
	}
	if c.CausalWait < 0 {
		return &ConfigError{Path: "consistency.causal_wait", Problem: fmt.Sprintf("must not be negative, got %s", c.CausalWait)}
	}
	return nil
}

// Position is a writer's replication position after a write: a PostgreSQL
// WAL LSN, or a MariaDB GTID position. The zero Position means none.
type Position struct {
	LSN  uint64 // PostgreSQL: pg_current_wal_lsn() as hi<<32 | lo
	GTID string // MariaDB: @@gtid_binlog_pos, e.g. "0-1-42"
}

// IsZero reports whether p records no position.
func (p Position) IsZero() bool { return p.LSN == 0 && p.GTID == "" }

// Session is one client's consistency state: when it last wrote to each
// database, until when Timed mode keeps its reads there, and the writer's
// position after its writes. It travels in a context.Context (WithSession)
// and, across requests, in a signed cookie (see grant's SessionMiddleware).
// A Session is safe for concurrent use.
type Session struct {
	mu     sync.Mutex
	writes map[string]SessionWrite // by qualified database name
	dirty  bool
}

// SessionWrite is what a Session remembers of its writes to one database.
type SessionWrite struct {
	// Until is when Timed mode stops sending reads to the writer. Set from
	// this process's clock (time.Now, monotonic) after a write, or restored
	// from a cookie (wall clock).
	Until time.Time
	// Position is the writer's position after the last write (Causal mode).
	Position Position
}

// NewSession returns an empty session.
func NewSession() *Session { return &Session{} }

// RecordWrite notes a write to database (a qualified name: "primary",
// "orders/shard2"), keeping reads on the writer until until and, with a
// non-zero pos, until a replica reaches pos. Positions only move forward.
func (s *Session) RecordWrite(database string, until time.Time, pos Position) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.writes == nil {
		s.writes = map[string]SessionWrite{}
	}
	w := s.writes[database]
	if until.After(w.Until) {
		w.Until = until
	}
	if pos.LSN > w.Position.LSN {
		w.Position.LSN = pos.LSN
	}
	if pos.GTID != "" {
		w.Position.GTID = pos.GTID
	}
	s.writes[database] = w
	s.dirty = true
}

// Write returns what the session remembers of its writes to database.
func (s *Session) Write(database string) (SessionWrite, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.writes[database]
	return w, ok
}

// Writes returns a copy of everything the session remembers, by database.
func (s *Session) Writes() map[string]SessionWrite {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]SessionWrite, len(s.writes))
	for k, v := range s.writes {
		out[k] = v
	}
	return out
}

// Dirty reports whether the session recorded a write since it was created
// or since ClearDirty (a cookie carrier re-issues its cookie then).
func (s *Session) Dirty() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dirty
}

// ClearDirty resets Dirty.
func (s *Session) ClearDirty() {
	s.mu.Lock()
	s.dirty = false
	s.mu.Unlock()
}

type sessionKey struct{}

// WithSession returns a context carrying s.
func WithSession(ctx context.Context, s *Session) context.Context {
	return context.WithValue(ctx, sessionKey{}, s)
}

// SessionFrom returns the session ctx carries, if any.
func SessionFrom(ctx context.Context) (*Session, bool) {
	if ctx == nil {
		return nil, false
	}
	s, ok := ctx.Value(sessionKey{}).(*Session)
	return s, ok && s != nil
}

// ErrShardLocked means a statement would leave the shard its request is locked
// to (see grant's ShardSelector with Lock). Nothing was sent.
var ErrShardLocked = errors.New("grant: the request is locked to another shard")

// shardLocksUsed is set once any context carries a shard lock, so that the
// router looks for one only in programs that use them.
var shardLocksUsed atomic.Bool

type shardLockKey struct{}

// WithShardLock returns a context whose statements on sharded clusters must
// stay on shard: another shard, or several, fail with ErrShardLocked.
func WithShardLock(ctx context.Context, shard string) context.Context {
	shardLocksUsed.Store(true)
	return context.WithValue(ctx, shardLockKey{}, shard)
}

// ShardLockFrom returns the shard ctx is locked to, if any. It costs one
// atomic load in programs that never lock a shard.
func ShardLockFrom(ctx context.Context) (string, bool) {
	if !shardLocksUsed.Load() || ctx == nil {
		return "", false
	}
	shard, ok := ctx.Value(shardLockKey{}).(string)
	return shard, ok
}

// Position reads the node's replication position through its adapter (a
// writer's, after a commit: PostgreSQL's current WAL location, MariaDB's
// binlog GTID position). ErrNoPosition when its dialect has none grant can
// read.
func (n *Node) Position(ctx context.Context) (Position, error) {
	r := n.replication()
	if r == nil {
		return Position{}, ErrNoPosition
	}
	db, err := n.Direct()
	if err != nil {
		return Position{}, err
	}
	return r.Position(ctx, poolQuerier{db})
}

// Replayed asks the node (a replica) through its adapter whether it has
// replayed pos, waiting up to wait for it to. ErrNoPosition when its
// dialect, or pos, does not allow telling.
func (n *Node) Replayed(ctx context.Context, pos Position, wait time.Duration) (bool, error) {
	r := n.replication()
	if r == nil {
		return false, ErrNoPosition
	}
	db, err := n.Direct()
	if err != nil {
		return false, err
	}
	return r.Replayed(ctx, poolQuerier{db}, pos, wait)
}

// replication is the node's adapter's ReplicationReader, or nil.
func (n *Node) replication() ReplicationReader {
	if n.adapter == nil {
		return nil
	}
	return n.adapter.Replication()
}

// poolQuerier is a node's pool as a Querier.
type poolQuerier struct{ gorm.ConnPool }

func (p poolQuerier) PingContext(ctx context.Context) error {
	if pinger, ok := p.ConnPool.(interface{ PingContext(context.Context) error }); ok {
		return pinger.PingContext(ctx)
	}
	return nil
}
