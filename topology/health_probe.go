package topology

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"gorm.io/gorm"
)

// probeNode is the one-shot check Node.Probe runs: on the node's own pool
// (opened if needed), ping it and read its replication state through the
// node's adapter. The health checks use a nodeProber instead, which opens
// a new session for every check.
func probeNode(ctx context.Context, n *Node) (probeResult, error) {
	db, err := n.sqlDB()
	if err != nil {
		return probeResult{}, err
	}
	return probeOn(ctx, db, n.replicationProbe(-1))
}

// probeOn pings q and reads its replication state with probe; nil for a
// dialect whose adapter reads none (SQLite, a dialect without adapter):
// the ping is the check.
func probeOn(ctx context.Context, q Querier, probe ReplicationProbe) (probeResult, error) {
	if err := q.PingContext(ctx); err != nil {
		return probeResult{}, err
	}
	if probe == nil {
		return probeResult{}, nil
	}
	s, err := probe.Probe(ctx, q)
	if err != nil {
		return probeResult{}, err
	}
	return probeResult{lag: s.Lag, lagKnown: s.LagKnown, stale: s.Stale, replica: s.Replica, replayLSN: s.Position.LSN, gtid: s.Position.GTID}, nil
}

// replicationProbe is a new probe of the node's replication state, or nil
// when its adapter reads none; measure as ReplicationReader.NewProbe.
func (n *Node) replicationProbe(measure time.Duration) ReplicationProbe {
	if n.adapter == nil {
		return nil
	}
	r := n.adapter.Replication()
	if r == nil {
		return nil
	}
	return r.NewProbe(measure)
}

// nodeProber is one checked node's probing between checks, owned by the
// node's check goroutine: its probe pool and its adapter's probe, which
// may carry a lag measurement in progress (PostgreSQL's).
type nodeProber struct {
	pool        probePool
	replication ReplicationProbe
}

func newNodeProber(h HealthConfig, n *Node) *nodeProber {
	return &nodeProber{replication: n.replicationProbe(max(h.MaxReplicaLag, 0))}
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
	return probeOn(ctx, conn, p.replication)
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
	dsn, err := n.baseDSN()
	if err != nil {
		return nil, false
	}
	d, err := n.withDSN(dsn)
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
