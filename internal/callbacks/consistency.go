package callbacks

import (
	"context"
	"math/rand/v2"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/grant-go/grant/topology"
)

// Read-your-writes: a write made with a topology.Session in its context is
// recorded in the session once committed; the session's later reads of that
// database go to the writer (Timed), or to a replica that has replayed the
// write (Causal). Without a session, or in Eventual mode, nothing here runs
// beyond one comparison.

// writtenKey marks a write whose commit the session must learn about.
const writtenKey = "grant:written"

type writtenClause struct{ database *topology.Database }

func (writtenClause) Build(clause.Builder) {}

// noteWrite arranges for a write outside a transaction to be recorded in the
// statement's session after GORM commits it.
func (r *Router) noteWrite(db *gorm.DB, database *topology.Database) {
	if r.consistency.Mode == topology.Eventual {
		return
	}
	if _, ok := topology.SessionFrom(db.Statement.Context); ok {
		db.Statement.Clauses[writtenKey] = clause.Clause{Expression: writtenClause{database: database}}
	}
}

// afterWrite runs after every other create, update, delete and raw callback
// — after GORM's own commit — and records a successful noted write.
func (r *Router) afterWrite(db *gorm.DB) {
	c, ok := db.Statement.Clauses[writtenKey].Expression.(writtenClause)
	if !ok {
		return
	}
	delete(db.Statement.Clauses, writtenKey)
	if db.Error != nil {
		return // rolled back: nothing to read back
	}
	if s, ok := topology.SessionFrom(db.Statement.Context); ok {
		r.recordWrite(db.Statement.Context, s, c.database)
	}
}

// recordWrite notes a committed write to database in s. Causal mode asks
// the writer for its position (one query); when it cannot tell, the session
// keeps reads on the writer for Delay instead, which is always safe.
func (r *Router) recordWrite(ctx context.Context, s *topology.Session, database *topology.Database) {
	until := time.Now().Add(r.consistency.DelayOrDefault())
	var pos topology.Position
	if r.consistency.Mode == topology.Causal {
		var err error
		if pos, err = writerPosition(ctx, database.Writer()); err == nil {
			until = time.Time{}
		}
	}
	s.RecordWrite(database.Qualified(), until, pos)
}

// writerPosition reads the writer's replication position through its
// adapter: PostgreSQL's current WAL location (at or past the commit just
// made: with synchronous commit the commit record is flushed before COMMIT
// returns) or MariaDB's binlog GTID position (it includes the commit).
func writerPosition(ctx context.Context, writer *topology.Node) (topology.Position, error) {
	return writer.Position(ctx)
}

// consistentNode returns the node a session's read of database must use
// instead of the policy's choice, or nil when any replica will do.
func (r *Router) consistentNode(ctx context.Context, database *topology.Database) *topology.Node {
	s, ok := topology.SessionFrom(ctx)
	if !ok {
		return nil
	}
	w, ok := s.Write(database.Qualified())
	switch {
	case !ok:
		return nil
	case time.Now().Before(w.Until):
		return database.Writer()
	case r.consistency.Mode == topology.Causal && !w.Position.IsZero():
		return r.caughtUpReplica(ctx, database, w.Position)
	}
	return nil
}

// wroteToAny reports whether the session in ctx still needs the writer (or
// a caught-up replica) for any of the shards: a scatter-gather read then
// reads every shard's writer.
func (r *Router) wroteToAny(ctx context.Context, shards []*topology.Database) bool {
	if _, ok := topology.SessionFrom(ctx); !ok {
		return false
	}
	for _, shard := range shards {
		if n := r.consistentNode(ctx, shard); n != nil {
			return true
		}
	}
	return false
}

// caughtUpReplica finds a healthy replica that has replayed pos: first by
// the health checks' last reading (no query), then by asking one replica,
// for up to CausalWait; failing that, the writer.
func (r *Router) caughtUpReplica(ctx context.Context, database *topology.Database, pos topology.Position) *topology.Node {
	replicas := database.HealthyReplicaPools() // shared: no allocation
	if len(replicas) == 0 {
		return database.Writer()
	}
	start := rand.IntN(len(replicas))
	if pos.LSN != 0 {
		for i := range replicas {
			if n := replicas[(start+i)%len(replicas)].(*topology.Node); n.Health().ReplayLSN >= pos.LSN {
				return n
			}
		}
	}
	// The adapter waits up to CausalWait for the replica to catch up:
	// MariaDB on the server (MASTER_GTID_WAIT), PostgreSQL by asking again.
	candidate := replicas[start].(*topology.Node)
	if ok, err := candidate.Replayed(ctx, pos, r.consistency.CausalWait); err == nil && ok {
		return candidate
	}
	return database.Writer()
}
