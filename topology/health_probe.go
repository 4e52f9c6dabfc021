package topology

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"gorm.io/gorm"
)

// querier is what a probe runs its statements on: a probe session
// (*sql.Conn) or, for Node.Probe, the node's own pool (*sql.DB).
type querier interface {
	PingContext(ctx context.Context) error
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// probeNode is the one-shot check Node.Probe runs: on the node's own pool
// (opened if needed), ping it and read its replication state in the
// node's dialect. The health checks use a nodeProber instead, which opens
// a new session for every check.
func probeNode(ctx context.Context, n *Node) (probeResult, error) {
	db, err := n.sqlDB()
	if err != nil {
		return probeResult{}, err
	}
	return probeOn(ctx, db, n.Dialect(), &pgLag{})
}

// probeOn pings q and reads its replication state in dialect; lag carries
// a PostgreSQL measurement from one check to the next.
func probeOn(ctx context.Context, q querier, dialect string, lag *pgLag) (probeResult, error) {
	if err := q.PingContext(ctx); err != nil {
		return probeResult{}, err
	}
	switch dialect {
	case "postgres":
		return lag.probe(ctx, q)
	case "mysql":
		return probeMySQL(ctx, q)
	}
	return probeResult{}, nil // SQLite and others: the ping is the check
}

// nodeProber is one checked node's probing between checks, owned by the
// node's check goroutine: its probe pool and the PostgreSQL lag
// measurement in progress.
type nodeProber struct {
	pool probePool
	lag  pgLag
}

func newNodeProber(h HealthConfig) *nodeProber {
	return &nodeProber{lag: pgLag{bound: h.MaxReplicaLag, once: h.MaxReplicaLag <= 0}}
}

// probe is a check: a new session on the node (dialled and authenticated
// now, within ctx), a ping and the replication state on that session.
// Nothing of the node's own pool is used: a node whose open sessions still
// answer but that accepts no new one fails.
func (p *nodeProber) probe(ctx context.Context, n *Node) (probeResult, error) {
	db, err := p.pool.get(ctx, n)
	if err != nil {
		return probeResult{}, err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return probeResult{}, fmt.Errorf("opening a new session: %w", err)
	}
	defer conn.Close() // the probe pool keeps no idle session: this closes it
	return probeOn(ctx, conn, n.Dialect(), &p.lag)
}

// close closes the probe pool; a pool still opening closes when it is open.
func (p *nodeProber) close() { p.pool.close() }

// probePool is a checked node's pool of probe sessions. It opens through
// the node's own path (Node.openSQLDB, with a copy of the node's
// dialector: same driver, DSN, credentials and pool settings) but keeps no
// idle connection, so that every check dials, authenticates and starts a
// fresh session, as a read that needs a new connection would. A dialector
// that wraps an open pool (its Conn field), or that grant cannot copy,
// offers no way to open a session of our own: the check then runs on the
// node's own pool, as it always did. Opening runs on a goroutine of its
// own, so that a dialector that queries the server as it opens (MySQL's
// version query) cannot hang a check past its timeout, nor Close.
type probePool struct {
	mu      sync.Mutex
	db      *sql.DB       // opened for probing; closed with the pool
	shared  bool          // no pool of our own: probe on the node's
	opening chan struct{} // non-nil while an open runs; closed when it ends
	err     error         // the last open's error
	closed  bool
}

// get returns the pool, opening it if needed, within ctx.
func (p *probePool) get(ctx context.Context, n *Node) (*sql.DB, error) {
	p.mu.Lock()
	db, shared := p.db, p.shared
	if db == nil && !shared && p.opening == nil {
		p.opening = make(chan struct{})
		go p.open(n, p.opening)
	}
	opening := p.opening
	p.mu.Unlock()
	if db == nil && !shared {
		select {
		case <-opening:
		case <-ctx.Done():
			return nil, n.errorf(fmt.Errorf("opening a probe session: %w", ctx.Err()))
		}
		p.mu.Lock()
		db, shared = p.db, p.shared
		err := p.err
		p.mu.Unlock()
		if db == nil && !shared {
			return nil, err
		}
	}
	if shared {
		return n.sqlDB()
	}
	return db, nil
}

func (p *probePool) open(n *Node, done chan struct{}) {
	var (
		db  *sql.DB
		err error
	)
	dialector, ok := probeDialector(n)
	if ok {
		if db, err = n.openSQLDB(dialector); err == nil {
			db.SetMaxIdleConns(0) // none: every check opens a new session
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	defer close(done)
	p.opening = nil
	switch {
	case !ok:
		p.shared = true
	case err != nil:
		p.err = err
	case p.closed:
		_ = db.Close()
	default:
		p.db, p.err = db, nil
	}
}

func (p *probePool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.db != nil {
		_ = p.db.Close()
	}
	p.db = nil
}

// probeDialector is a copy of the node's dialector to open the probe pool
// with: opening a dialector may fill in its configuration (MySQL's sets
// its driver name), and the node may be opening its own pool at the same
// time, so the copy is taken under the node's lock and opened apart. ok is
// false when the dialector wraps an open pool (or the node is the handle's
// own pool) or cannot be copied.
func probeDialector(n *Node) (gorm.Dialector, bool) {
	if n.dialector == nil {
		return nil, false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	dsn, err := dsnOf(n.dialector)
	if err != nil {
		return nil, false
	}
	d, err := withDSN(n.dialector, dsn)
	return d, err == nil
}

// Replication is what one look at a node's replication state found.
type Replication struct {
	Replica  bool          // the server replays another's changes
	Lag      time.Duration // how far behind, when LagKnown
	LagKnown bool
}

// Probe opens the node's pool if needed, pings it and reads its replication
// state, as a health check does, within ctx. Tools (grant status) use it;
// errors are the driver's or a *NodeError, never with a password.
func (n *Node) Probe(ctx context.Context) (Replication, error) {
	res, err := probeNode(ctx, n)
	return Replication{Replica: res.replica, Lag: res.lag, LagKnown: res.lagKnown && res.replica}, err
}

// pgHealthQuery reads a PostgreSQL node's replication state: whether it is
// a standby, the age of its last replayed transaction (by the primary's
// clock), and the WAL positions it has replayed and received.
const pgHealthQuery = `SELECT pg_is_in_recovery(),
	EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8,
	pg_last_wal_replay_lsn()::text,
	pg_last_wal_receive_lsn()::text`

// pgLag measures a PostgreSQL standby's lag by WAL positions, and carries
// a measurement in progress from one check to the next.
//
// A standby that has replayed all it received is caught up: lag 0,
// however long ago its last transaction (an idle primary sends nothing to
// replay). A standby behind what it received is sampled again until its
// replay reaches the position it had received at the first sample (the
// target). If it does at time t1, everything received by the time the
// target was seen is visible at t1, so the lag is at most t1 minus that
// time; it is also at most the age of the last replayed transaction, and
// the lag is the smaller of the two. A standby 50 ms behind one write
// after a long idle is 50 ms behind, not as old as its last transaction.
// If replay does not reach the target within the check (bounded by
// MaxReplicaLag and the check's timeout), the lag is at least the time
// since the target was first seen: that is what is reported, and the
// target is kept, so that the next check goes on counting from when it
// was first seen rather than starting again.
type pgLag struct {
	bound time.Duration // stop sampling after this long (MaxReplicaLag); 0: the check's timeout only
	// once: report the lower bound from the first sample without sampling
	// again: health checks without MaxReplicaLag, for which lag decides
	// nothing, should not spend their timeout measuring it.
	once   bool
	target uint64    // received position awaited; 0 when none
	since  time.Time // when target was first seen received and not replayed
}

// pgSample is one reading of pgHealthQuery.
type pgSample struct {
	inRecovery          bool
	age                 sql.NullFloat64
	replay, receive     uint64
	replayOK, receiveOK bool
}

func samplePostgres(ctx context.Context, q querier) (pgSample, error) {
	var (
		s               pgSample
		replay, receive sql.NullString
	)
	if err := q.QueryRowContext(ctx, pgHealthQuery).Scan(&s.inRecovery, &s.age, &replay, &receive); err != nil {
		return s, err
	}
	var err error
	if s.replayOK = replay.Valid; s.replayOK {
		if s.replay, err = ParseLSN(replay.String); err != nil {
			return s, err
		}
	}
	if s.receiveOK = receive.Valid; s.receiveOK {
		if s.receive, err = ParseLSN(receive.String); err != nil {
			return s, err
		}
	}
	return s, nil
}

// Sampling backs off from pgPollMin to pgPollMax between samples.
const (
	pgPollMin = 2 * time.Millisecond
	pgPollMax = 20 * time.Millisecond
)

func (l *pgLag) probe(ctx context.Context, q querier) (probeResult, error) {
	t0 := time.Now()
	s, err := samplePostgres(ctx, q)
	if err != nil {
		return probeResult{}, err
	}
	if !s.inRecovery {
		l.target = 0
		return probeResult{lagKnown: true}, nil // a primary: not behind anything
	}
	res := probeResult{replica: true, replayLSN: s.replay}
	switch {
	case !s.replayOK || !s.receiveOK:
		// Not streaming (archive recovery, or the WAL receiver never
		// started): nothing to compare replay with but the last
		// transaction's age.
		l.target = 0
		if s.age.Valid {
			res.lag, res.lagKnown = secondsToDuration(s.age.Float64), true
		} else {
			res.stale = true
		}
		return res, nil
	case s.replay >= s.receive:
		l.target = 0
		res.lagKnown = true
		return res, nil
	}
	if l.target == 0 || s.replay >= l.target {
		l.target, l.since = s.receive, t0
	}
	stop := l.stopAt(ctx, t0)
	if l.once {
		stop = t0
	}
	for wait := pgPollMin; ; wait = min(2*wait, pgPollMax) {
		left := time.Until(stop)
		if left <= 0 {
			break
		}
		timer := time.NewTimer(min(wait, left))
		select {
		case <-ctx.Done():
			timer.Stop()
			return probeResult{}, ctx.Err()
		case <-timer.C:
		}
		if s, err = samplePostgres(ctx, q); err != nil {
			return probeResult{}, err
		}
		res.replayLSN = s.replay
		if s.replay >= l.target {
			res.lag, res.lagKnown = time.Since(l.since), true
			if s.age.Valid {
				res.lag = min(res.lag, secondsToDuration(s.age.Float64))
			}
			l.target = 0
			return res, nil
		}
	}
	res.lag, res.lagKnown = time.Since(l.since), true // at least
	return res, nil
}

// stopAt is when sampling ends: bound after t0, and early enough before
// ctx's deadline for the last sample to come back.
func (l *pgLag) stopAt(ctx context.Context, t0 time.Time) time.Time {
	stop := time.Time{}
	if l.bound > 0 {
		stop = t0.Add(l.bound)
	}
	if deadline, ok := ctx.Deadline(); ok {
		d := deadline.Add(-deadline.Sub(t0) / 4)
		if stop.IsZero() || d.Before(stop) {
			stop = d
		}
	}
	if stop.IsZero() {
		stop = t0.Add(time.Second) // no bound at all (a caller's context without deadline)
	}
	return stop
}

// probeMySQL reads SHOW SLAVE STATUS (SHOW REPLICA STATUS on MySQL 8.4,
// which dropped the older statement) and MariaDB's @@gtid_slave_pos. No
// status row means the node replicates from nobody: lag 0. A NULL
// Seconds_Behind_Master means replication is broken.
func probeMySQL(ctx context.Context, db querier) (probeResult, error) {
	lag, ok, replica, err := mysqlReplicaStatus(ctx, db, "SHOW SLAVE STATUS", "Seconds_Behind_Master")
	if err != nil {
		if ctx.Err() != nil {
			return probeResult{}, err
		}
		var err2 error
		if lag, ok, replica, err2 = mysqlReplicaStatus(ctx, db, "SHOW REPLICA STATUS", "Seconds_Behind_Source"); err2 != nil {
			return probeResult{}, err
		}
	}
	res := probeResult{lag: lag, lagKnown: ok || !replica, stale: replica && !ok, replica: replica}
	var gtid sql.NullString
	// MySQL has no @@gtid_slave_pos: its error only means "no GTID".
	if err := db.QueryRowContext(ctx, "SELECT @@gtid_slave_pos").Scan(&gtid); err == nil {
		res.gtid = gtid.String
	} else if ctx.Err() != nil {
		return probeResult{}, err
	}
	return res, nil
}

// mysqlReplicaStatus runs a replica status statement and reads its lag
// column: ok is false when the column is NULL; replica is false when the
// statement returned no row.
func mysqlReplicaStatus(ctx context.Context, db querier, query, column string) (lag time.Duration, ok, replica bool, err error) {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return 0, false, false, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, false, false, err
	}
	at := -1
	for i, c := range cols {
		if c == column {
			at = i
		}
	}
	if at < 0 {
		return 0, false, false, fmt.Errorf("%s returned no %s column", query, column)
	}
	if !rows.Next() {
		return 0, false, false, rows.Err()
	}
	values := make([]sql.RawBytes, len(cols))
	dest := make([]any, len(cols))
	for i := range values {
		dest[i] = &values[i]
	}
	if err := rows.Scan(dest...); err != nil {
		return 0, false, true, err
	}
	if values[at] == nil {
		return 0, false, true, rows.Close()
	}
	seconds, err := strconv.ParseFloat(string(values[at]), 64)
	if err != nil {
		return 0, false, true, fmt.Errorf("%s: %s is %q: %w", query, column, values[at], err)
	}
	return secondsToDuration(seconds), true, true, rows.Close()
}

func secondsToDuration(s float64) time.Duration {
	switch {
	case s <= 0 || math.IsNaN(s):
		return 0
	case s >= math.MaxInt64/float64(time.Second):
		return math.MaxInt64
	}
	return time.Duration(s * float64(time.Second))
}
