package grant

import (
	"time"

	"github.com/grant-go/grant/topology"
)

// Snapshot is a point-in-time view of a Plugin's topology: every database,
// cluster and shard with its nodes, their pools and their last health
// check. It holds no SQL and no password (DSNs are redacted), and it
// serialises to JSON with snake_case keys. See Plugin.Snapshot.
type Snapshot struct {
	// Taken is when the snapshot was made.
	Taken time.Time `json:"taken"`
	// Default is the name of the default database; "" before Initialize.
	Default string `json:"default"`
	// Databases are the databases that are not clusters, by name.
	Databases []DatabaseSnapshot `json:"databases"`
	// Clusters are the sharded clusters, by name, each with its shards in
	// configured order.
	Clusters []ClusterSnapshot `json:"clusters"`
	// Routes counts statements by route, when an observer counts them
	// (observe/prometheus's Metrics, MetricsConfig.Enabled): its RouteCounts.
	Routes map[string]uint64 `json:"routes,omitempty"`
}

// ClusterSnapshot is one sharded cluster of a Snapshot.
type ClusterSnapshot struct {
	Name   string             `json:"name"`
	Shards []DatabaseSnapshot `json:"shards"`
	// Placement is where the cluster's keys map now: its configuration's
	// (version 0), or what a reshard published (Config.Reshard).
	Placement PlacementSnapshot `json:"placement"`
}

// PlacementSnapshot is a cluster's placement at the time of the snapshot.
type PlacementSnapshot struct {
	Version  int64    `json:"version"`
	Workflow string   `json:"workflow,omitempty"`
	Read     []string `json:"read"`  // the shards keyed reads map over
	Write    []string `json:"write"` // the shards keyed writes map over
	// Active: a reshard is in progress; Frozen: writes to moving keys wait
	// or fail (ErrWritesFrozen); Fenced: this instance could not read the
	// placement and refuses writes (ErrPlacementStale).
	Active, Frozen, Fenced bool
}

// DatabaseSnapshot is one database, or one shard of a cluster.
type DatabaseSnapshot struct {
	Name      string         `json:"name"`            // the database's, or the shard's cluster's, name
	Shard     string         `json:"shard,omitempty"` // "" unless a shard
	Qualified string         `json:"qualified"`       // "primary", or "orders/shard1"
	Nodes     []NodeSnapshot `json:"nodes"`           // writer, replicas, then custom roles
}

// NodeSnapshot is one node of a database at the time of the snapshot.
type NodeSnapshot struct {
	Label string `json:"label"` // "primary/reading#1"
	Key   string `json:"key"`   // "primary/reading/1", as Stats keys it
	Role  string `json:"role"`
	Name  string `json:"name"`
	// DSN has its password replaced by "xxxxx"; "" for the handle's own pool.
	DSN string `json:"dsn,omitempty"`
	// Open reports whether the node's pool has been opened; Pool is set
	// only then.
	Open bool       `json:"open"`
	Pool *PoolStats `json:"pool,omitempty"`
	// Healthy: the node is in rotation (always true with health checks off).
	Healthy bool `json:"healthy"`
	// Checked is when the last health check ended; absent before the first.
	Checked time.Time `json:"checked,omitzero"`
	// LagSeconds is the replication lag the last check measured, when known.
	LagSeconds *float64 `json:"lag_seconds,omitempty"`
	// Failures counts consecutive failed checks.
	Failures int `json:"failures"`
	// Error is why the last check failed; it never holds a password.
	Error string `json:"error,omitempty"`
}

// PoolStats are a node's database/sql pool statistics (sql.DBStats).
type PoolStats struct {
	OpenConnections    int           `json:"open_connections"`
	InUse              int           `json:"in_use"`
	Idle               int           `json:"idle"`
	WaitCount          int64         `json:"wait_count"`
	WaitDuration       time.Duration `json:"wait_duration_ns"` // nanoseconds
	MaxOpenConnections int           `json:"max_open_connections"`
}

// Snapshot returns a snapshot of the plugin's topology: databases, clusters,
// nodes, pool statistics and health. It opens nothing and takes no lock on
// the routing path, so it is cheap enough for a status page. Before
// Initialize it returns an empty snapshot (with Taken set).
func (p *Plugin) Snapshot() Snapshot {
	s := Snapshot{Taken: time.Now(), Databases: []DatabaseSnapshot{}, Clusters: []ClusterSnapshot{}}
	if p == nil {
		return s
	}
	for _, o := range p.config.Observers { // observe/prometheus's Metrics counts routes
		if rc, ok := o.(interface{ RouteCounts() map[string]uint64 }); ok {
			if routes := rc.RouteCounts(); len(routes) > 0 {
				s.Routes = routes
				break
			}
		}
	}
	t := p.Topology()
	if t == nil {
		return s
	}
	if d := t.Default(); d != nil {
		s.Default = d.Qualified()
	}
	byOwner := map[*topology.Database][]*topology.Node{}
	for _, n := range t.AllNodes() {
		byOwner[n.Owner()] = append(byOwner[n.Owner()], n)
	}
	for _, d := range t.Databases() {
		s.Databases = append(s.Databases, databaseSnapshot(d, byOwner[d]))
	}
	for _, c := range t.Clusters() {
		p := c.Placement()
		cs := ClusterSnapshot{Name: c.Name(), Shards: []DatabaseSnapshot{}, Placement: PlacementSnapshot{Version: p.Version(), Workflow: p.Workflow(),
			Read: p.ReadNames(), Write: p.WriteNames(), Active: p.Active(), Frozen: p.Frozen(), Fenced: p.Fenced()}}
		for _, d := range c.Shards() {
			cs.Shards = append(cs.Shards, databaseSnapshot(d, byOwner[d]))
		}
		s.Clusters = append(s.Clusters, cs)
	}
	return s
}

func databaseSnapshot(d *topology.Database, nodes []*topology.Node) DatabaseSnapshot {
	ds := DatabaseSnapshot{Name: d.Name(), Shard: d.Shard(), Qualified: d.Qualified(), Nodes: make([]NodeSnapshot, 0, len(nodes))}
	for _, n := range nodes {
		ds.Nodes = append(ds.Nodes, nodeSnapshot(n))
	}
	return ds
}

func nodeSnapshot(n *topology.Node) NodeSnapshot {
	ns := NodeSnapshot{Label: n.Label(), Key: n.Key(), Role: n.Role(), Name: n.Name(), DSN: n.DSN()}
	if db, ok := n.SQLDB(); ok {
		st := db.Stats()
		ns.Open = true
		ns.Pool = &PoolStats{
			OpenConnections:    st.OpenConnections,
			InUse:              st.InUse,
			Idle:               st.Idle,
			WaitCount:          st.WaitCount,
			WaitDuration:       st.WaitDuration,
			MaxOpenConnections: st.MaxOpenConnections,
		}
	} else if n.Opened() {
		ns.Open = true // the handle's own pool when it is not a *sql.DB
	}
	h := n.Health()
	ns.Healthy, ns.Checked, ns.Failures = h.Healthy, h.Checked, h.Failures
	if h.LagKnown {
		lag := h.Lag.Seconds()
		ns.LagSeconds = &lag
	}
	if h.Err != nil {
		ns.Error = h.Err.Error()
	}
	return ns
}
