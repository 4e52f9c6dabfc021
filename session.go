package grant

import (
	"context"

	"github.com/grant-go/grant/topology"
)

// Read-your-writes. A Session in a statement's context records the
// session's committed writes; with Config.Consistency set, the session's
// later reads of a database it wrote to go to the writer (Timed) or to a
// replica that has replayed the write (Causal). See docs/consistency.md.
type (
	// Session is one client's read-your-writes state; safe for concurrent use.
	Session = topology.Session
	// ConsistencyConfig is Config.Consistency: the mode and its timings.
	ConsistencyConfig = topology.ConsistencyConfig
	// ConsistencyMode is Eventual, Timed or Causal.
	ConsistencyMode = topology.ConsistencyMode
	// Position is a writer's replication position (PostgreSQL LSN, MariaDB GTID).
	Position = topology.Position
)

// Consistency modes.
const (
	// Eventual: replicas as they are (the default).
	Eventual = topology.Eventual
	// Timed: a session's reads of a database go to its writer for Delay
	// after the session wrote there.
	Timed = topology.Timed
	// Causal: a session's reads go to a replica only once it has replayed
	// the session's last write there; otherwise to the writer.
	Causal = topology.Causal
)

// ErrShardLocked means a statement in a request locked to one shard (see
// ShardSelector) would run on another shard, or on several. Nothing was sent.
var ErrShardLocked = topology.ErrShardLocked

// NewSession returns an empty session.
func NewSession() *Session { return topology.NewSession() }

// WithSession returns a context whose statements record their writes in s
// and read them back as Config.Consistency says.
func WithSession(ctx context.Context, s *Session) context.Context {
	return topology.WithSession(ctx, s)
}

// SessionFrom returns the session ctx carries, if any.
func SessionFrom(ctx context.Context) (*Session, bool) { return topology.SessionFrom(ctx) }

// LockShard returns a context whose statements on sharded clusters must run
// on shard: a statement for another shard, or spanning several, fails with
// ErrShardLocked before anything is sent.
func LockShard(ctx context.Context, shard string) context.Context {
	return topology.WithShardLock(ctx, shard)
}
