package topology

import (
	"fmt"
	"github.com/grant-go/grant/internal/dsnredact"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"gorm.io/gorm"
)

// HealthConfig turns on background health checks of replicas (and
// custom-role nodes). The zero value checks nothing: every replica stays in
// rotation and grant opens nothing in the background.
//
// With Interval > 0 every replica and custom-role node is checked on its own
// schedule by one goroutine per node, started by Topology.StartHealthChecks
// (the plugin's Initialize) and stopped by Topology.Close (the plugin's
// Close). A check opens a new session on the node — dialled and
// authenticated within Timeout, through a probe pool of the node's own
// that keeps no idle connection, never the node's pool — pings it and
// reads its replication state on it (PostgreSQL: pg_is_in_recovery, the
// replayed and received WAL positions and the last replayed transaction's
// time; MariaDB/MySQL: SHOW SLAVE STATUS and @@gtid_slave_pos; other
// dialects: ping only). So a node whose sessions still answer but that
// accepts no new one (a frozen PostgreSQL postmaster) fails its checks and
// stays out. A node whose dialector wraps an open pool (its Conn field)
// cannot be made to open a session of grant's: it is checked on that pool.
// A node that fails a check, or lags more than MaxReplicaLag, leaves the
// rotation at once and returns after RejoinAfter consecutive good checks.
//
// While checks run, reads on replicas (and custom-role reads) fail over:
// one that fails with a connection error, or gets no first row within
// ReadTimeout, before returning anything, runs once more elsewhere (see
// ReadTimeout).
type HealthConfig struct {
	// Interval is how often each node is checked; 0 turns checks off (and
	// with them ReadTimeout and read failover).
	Interval time.Duration
	// Timeout bounds one check (new session, ping and replication state
	// together); 0 means min(Interval/2, 1s). It must not exceed Interval.
	Timeout time.Duration
	// MaxReplicaLag: a replica lagging more leaves the rotation. 0 means lag
	// is not considered. When set, a replica whose lag cannot be known
	// (MariaDB's Seconds_Behind_Master is NULL because replication is
	// broken; a PostgreSQL standby that streams nothing and has replayed no
	// transaction since it started) counts as lagging.
	//
	// PostgreSQL's lag is measured by WAL positions. A standby that has
	// replayed all it received is caught up, lag 0, however long the
	// primary has been idle. One behind what it received is sampled again
	// (only when MaxReplicaLag is set: otherwise the first sample's lower
	// bound is reported) within the check (every 2-20ms, for up to MaxReplicaLag and 3/4 of
	// Timeout) until its replay reaches the position it had received: the
	// lag is the time that took (counted from the first check that saw that
	// position waiting), or the age of the last replayed transaction if
	// smaller. If replay does not get there within the check, the lag is at
	// least the time since that position was first seen waiting, and the
	// next checks go on counting from then, so a stuck standby leaves once
	// that passes MaxReplicaLag. Because the count starts at the first check
	// that sees the WAL waiting, a lag can read up to one Interval low; it
	// never reads high, so a standby slightly behind after an idle primary
	// is not judged as old as its last transaction.
	MaxReplicaLag time.Duration
	// RejoinAfter is the number of consecutive good checks a node that left
	// the rotation needs before it returns (hysteresis); 0 means 2.
	RejoinAfter int
	// FailWithoutReplica decides what reads do when no replica is healthy:
	// false sends them to the writer; true fails them with
	// ErrNoHealthyReplica (a *RouteError naming the database).
	FailWithoutReplica bool
	// ReadTimeout bounds how long a read on a replica (or a custom-role
	// node) may wait for its first row: the statement's QueryContext or
	// QueryRowContext returning. Past it the read is cancelled and run once
	// more on another node of its role in rotation, else, for a replica,
	// the writer (else, under FailWithoutReplica, it fails with
	// ErrNoHealthyReplica); a custom role's read is never sent to the
	// writer, and fails when no other node of the role is in rotation.
	// That is safe because a read that returned nothing has changed
	// nothing and shown nothing. The slow node leaves the rotation at once
	// and returns through the checks (RejoinAfter good ones). A read that
	// fails on its retry too returns an error matching ErrReadTimeout and
	// context.DeadlineExceeded (a *ReadTimeoutError naming the node).
	//
	// It bounds the wait for the first row only: once rows are flowing the
	// timer is off, so a long result is never cut short by it, and a node
	// that hangs in the middle of a result holds that read for as long as
	// it hangs (the caller's context still ends it). Reads inside a
	// transaction, writes (Exec, and anything a custom role's plain pool
	// carries), BEGIN, PREPARE and the writer's reads — including a
	// failover's retry on the writer — are never bounded. A caller's
	// context that ends first wins, and such a read is not retried. It
	// needs Interval > 0: failover runs only while checks do. 0 means
	// unbounded (the context's deadline, if any), and then nothing is added
	// to a read: no timer, no allocation.
	ReadTimeout time.Duration
	// ReadTimeouts overrides ReadTimeout per role ("reading" or a custom
	// role's name); 0 there turns the bound off for that role.
	ReadTimeouts map[string]time.Duration
}

// readTimeout is the read timeout of role's nodes: ReadTimeouts[role],
// else ReadTimeout; 0 for the writer, whose reads are never bounded.
func (h HealthConfig) readTimeout(role string) time.Duration {
	if role == Writing {
		return 0
	}
	if t, ok := h.ReadTimeouts[role]; ok {
		return t
	}
	return h.ReadTimeout
}

// DefaultRejoinAfter is HealthConfig.RejoinAfter when it is 0.
const DefaultRejoinAfter = 2

// enabled reports whether the configuration asks for checks.
func (h HealthConfig) enabled() bool { return h.Interval > 0 }

// resolved returns h with its zero fields defaulted.
func (h HealthConfig) resolved() HealthConfig {
	if h.Interval <= 0 {
		return HealthConfig{}
	}
	if h.Timeout == 0 {
		h.Timeout = min(h.Interval/2, time.Second)
	}
	if h.RejoinAfter == 0 {
		h.RejoinAfter = DefaultRejoinAfter
	}
	return h
}

func (h HealthConfig) validate(path string) error {
	for _, f := range []struct {
		name  string
		value time.Duration
	}{
		{"interval", h.Interval},
		{"timeout", h.Timeout},
		{"max_replica_lag", h.MaxReplicaLag},
		{"read_timeout", h.ReadTimeout},
	} {
		if f.value < 0 {
			return &ConfigError{Path: path + "." + f.name, Problem: fmt.Sprintf("must not be negative, got %s", f.value)}
		}
	}
	for _, role := range slices.Sorted(maps.Keys(h.ReadTimeouts)) {
		if v := h.ReadTimeouts[role]; v < 0 {
			return &ConfigError{Path: dsnredact.JoinKey(path+".read_timeouts", role), Problem: fmt.Sprintf("must not be negative, got %s", v)}
		}
	}
	if h.RejoinAfter < 0 {
		return &ConfigError{Path: path + ".rejoin_after", Problem: fmt.Sprintf("must not be negative, got %d", h.RejoinAfter)}
	}
	if h.Interval == 0 && (h.ReadTimeout > 0 || len(h.ReadTimeouts) > 0) {
		key := "read_timeout"
		if h.ReadTimeout == 0 {
			key = "read_timeouts"
		}
		return &ConfigError{Path: path + "." + key, Problem: "needs health checks (interval > 0): reads are bounded and failed over only while checks run, which bring a slow node back"}
	}
	if h.Interval > 0 && h.Timeout > h.Interval {
		return &ConfigError{Path: path + ".timeout", Problem: fmt.Sprintf("%s exceeds the interval %s: a check must end before the next one starts", h.Timeout, h.Interval)}
	}
	return nil
}

// NodeHealth is what the last health check of a node found. Values are
// immutable snapshots: a new check replaces the whole value.
type NodeHealth struct {
	// Healthy: the node is in rotation.
	Healthy bool
	// Checked is when the last check ended; zero before the first check.
	Checked time.Time
	// Lag is how far the node's replay trails its primary, when LagKnown.
	// A node that is not a replica (or is caught up) has lag 0.
	Lag      time.Duration
	LagKnown bool
	// ReplayLSN is PostgreSQL's pg_last_wal_replay_lsn() as a number
	// (ParseLSN); 0 when unknown or not a PostgreSQL standby.
	ReplayLSN uint64
	// GTID is MariaDB's @@gtid_slave_pos; "" when unknown.
	GTID string
	// Failures counts consecutive checks that did not pass (an error, or
	// lag beyond MaxReplicaLag), and connection failures seen by read
	// failover; 0 after a check passes.
	Failures int
	// Err is why the last check did not pass (or the connection error read
	// failover saw); nil when the last check passed. It is a *NodeError
	// naming the node, whose text never holds a password.
	Err error
}

// Health returns the node's last health snapshot. It takes no lock and does
// not allocate, so it is safe to call from any goroutine at any rate. Before
// the first check, with checks off, and after Topology.Close it reports
// Healthy with a zero Checked.
func (n *Node) Health() NodeHealth {
	if h := n.health.Load(); h != nil {
		return *h
	}
	return NodeHealth{Healthy: true}
}

// ParseLSN parses a PostgreSQL LSN as printed by the server ("16/B374D848":
// two hexadecimal 32-bit halves) into the number hi<<32 | lo, which orders
// LSNs. It returns an error naming the text for anything else.
func ParseLSN(s string) (uint64, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok || hi == "" || lo == "" || len(hi) > 8 || len(lo) > 8 {
		return 0, fmt.Errorf("grant: invalid PostgreSQL LSN %q (want two hexadecimal halves like 16/B374D848)", s)
	}
	h, err1 := strconv.ParseUint(hi, 16, 32)
	l, err2 := strconv.ParseUint(lo, 16, 32)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("grant: invalid PostgreSQL LSN %q (want two hexadecimal halves like 16/B374D848)", s)
	}
	return h<<32 | l, nil
}

// roleNodes are the nodes of one role that a Policy chooses among. all is
// fixed at Build; healthy is the subset in rotation, an immutable slice
// replaced (never modified) when membership changes, so Pick reads it with
// one atomic load and no lock.
type roleNodes struct {
	all     []gorm.ConnPool
	healthy atomic.Pointer[[]gorm.ConnPool]
	custom  bool // a custom role: with no node healthy, all stay in rotation
}

func newRoleNodes(custom bool) *roleNodes {
	r := &roleNodes{custom: custom}
	r.healthy.Store(&[]gorm.ConnPool{})
	return r
}

// add appends a node while the topology is being built.
func (r *roleNodes) add(n *Node) {
	r.all = append(r.all, n)
	all := r.all
	r.healthy.Store(&all)
}

// rebuild stores the nodes now in rotation. Called with the owner's
// healthMu held.
func (r *roleNodes) rebuild() {
	healthy := make([]gorm.ConnPool, 0, len(r.all))
	for _, p := range r.all {
		if p.(*Node).Health().Healthy {
			healthy = append(healthy, p)
		}
	}
	if len(healthy) == len(r.all) || len(healthy) == 0 && r.custom {
		healthy = r.all
	}
	r.healthy.Store(&healthy)
}

// Replicas lists every configured replica of the database, healthy or not,
// in configured order. The slice is new on each call.
func (d *Database) Replicas() []*Node { return nodesOf(d.replicas.all) }

// HealthyReplicas lists the replicas in rotation now, in configured order:
// all of them when health checks are off. It is a snapshot that allocates;
// routing does not use it (Pick reads the rotation without allocating).
func (d *Database) HealthyReplicas() []*Node { return nodesOf(*d.replicas.healthy.Load()) }

// HealthyReplicaPools is the rotation Pick reads: the replicas in rotation
// now, each a *Node, as a shared immutable slice — no allocation; do not
// modify it.
func (d *Database) HealthyReplicaPools() []gorm.ConnPool { return *d.replicas.healthy.Load() }

// Health is the database's health configuration after defaults: Interval 0
// when checks are off.
func (d *Database) Health() HealthConfig { return d.health }

func nodesOf(pools []gorm.ConnPool) []*Node {
	out := make([]*Node, len(pools))
	for i, p := range pools {
		out[i] = p.(*Node)
	}
	return out
}

// checked lists the nodes health checks watch: replicas, then custom-role
// nodes.
func (d *Database) checked() []*Node {
	nodes := nodesOf(d.replicas.all)
	for _, role := range d.roleNames {
		nodes = append(nodes, nodesOf(d.roles[role].all)...)
	}
	return nodes
}

func (d *Database) setOf(n *Node) *roleNodes {
	if n.role == Reading {
		return d.replicas
	}
	return d.roles[n.role]
}

// noHealthyReplica answers a read when no replica is in rotation.
func (d *Database) noHealthyReplica() (*Node, error) {
	if len(d.replicas.all) == 0 || !d.health.FailWithoutReplica {
		return d.writer, nil
	}
	return nil, d.noHealthyReplicaError("", nil)
}

// noHealthyReplicaError is ErrNoHealthyReplica for d; cause, when given,
// says what failed last (read failover), and err is that failure, which
// errors.Is and errors.As reach (ErrReadTimeout, a driver's error).
func (d *Database) noHealthyReplicaError(cause string, err error) error {
	detail := fmt.Sprintf("none of the %d replicas of %q is in rotation and health.fail_without_replica is set", len(d.replicas.all), d.qualified)
	if cause != "" {
		detail += "; " + cause
	}
	return &RouteError{Err: ErrNoHealthyReplica, Route: Route{Database: d.name, Shard: d.shard, Role: Reading}, Detail: detail, Cause: err}
}
