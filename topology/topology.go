package topology

import (
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Topology is the runtime form of a Config: databases with their role nodes.
// Its shape is built once and never changes, so every method is safe for
// concurrent use; node pools open lazily, and health checks (when
// configured) change which replicas are in rotation.
type Topology struct {
	databases     map[string]*Database
	clusters      map[string]*Cluster
	names         []string
	def           *Database
	tables        map[string]*Database
	clusterTables map[string]*Cluster
	mapped        bool // Config.Tables maps a table: read on every statement

	nodesMu sync.Mutex // guards nodes: shards made on first use add theirs
	nodes   []*Node

	// limiters are the pool caps: "" for Config.MaxOpenPools, else a
	// cluster's name; a node takes its cluster's, else "".
	limiters map[string]*poolLimiter

	counters poolCounters

	healthMu sync.Mutex // guards run
	run      *healthRun // the running health checks, nil when none
	probe    probeFunc  // nil: probeNode; tests inject fakes

	reshard *ReshardConfig // resolved Config.Reshard; nil: placements are static
	watchMu sync.Mutex     // guards watch
	watch   *placementWatch
}

// Database is one logical database of a Topology, or one shard of a
// cluster.
type Database struct {
	name      string // the database's, or the shard's cluster's, name
	shard     string // "" unless a shard
	qualified string // name, or "cluster/shard"
	cluster   *Cluster
	index     int // position among the cluster's shards
	writer    *Node
	replicas  *roleNodes // *Node values; the healthy ones are what a Policy sees
	roles     map[string]*roleNodes
	roleNames []string
	policy    Policy
	migrate   MigrationsConfig

	health   HealthConfig // resolved; Interval 0 when checks are off
	healthMu sync.Mutex   // serializes changes to node health and rotation
	checking atomic.Bool  // health checks are running
}

// Handle describes the *gorm.DB grant is installed on: the default writer's
// pool and the settings lazily opened nodes copy.
type Handle struct {
	Dialect    string         // Dialector.Name() of the handle
	Dialector  gorm.Dialector // the handle's; strict write prevention opens the default writer's read-only pool from its DSN
	Pool       gorm.ConnPool  // the handle's own pool, the default writer unless configured
	SQLDB      *sql.DB        // Pool's *sql.DB, nil when it has none
	Logger     logger.Interface
	NowFunc    func() time.Time
	PrepareMax int
	PrepareTTL time.Duration
	// OnOpen, if set, is called once for each node's pool as it opens (and
	// for the handle's own pool at Build), e.g. to report its statistics.
	OnOpen func(n *Node, db *sql.DB)
}

// Build validates cfg against the handle and builds the topology. It opens
// no connection. Any node whose dialect differs from the handle's is
// rejected, because GORM builds every statement in the handle's dialect.
func Build(cfg Config, h Handle) (*Topology, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.checkAdapters(h.Dialect); err != nil {
		return nil, err
	}
	t := &Topology{databases: map[string]*Database{}, clusters: map[string]*Cluster{}, tables: map[string]*Database{}, clusterTables: map[string]*Cluster{},
		limiters: newLimiters(&cfg)}
	settings := &openSettings{handle: h.Dialector, logger: h.Logger, nowFunc: h.NowFunc, prepareMax: h.PrepareMax, prepareTTL: h.PrepareTTL, onOpen: h.OnOpen,
		counters: &t.counters}
	defaultPolicy := guardPolicy(cfg.Policy)

	// build turns one database (or one shard of a cluster) into its runtime
	// form; qualified names its nodes: "primary", or "orders/shard1".
	build := func(path, name, shard string, dc DatabaseConfig) (*Database, error) {
		qualified := name
		if shard != "" {
			qualified = name + "/" + shard
		}
		d := &Database{name: name, shard: shard, qualified: qualified, replicas: newRoleNodes(false), roles: map[string]*roleNodes{},
			policy: defaultPolicy, migrate: dc.Migrations, health: cfg.Health.resolved()}
		if dc.Policy != nil {
			d.policy = guardPolicy(dc.Policy)
		}
		if dc.Health != nil {
			d.health = dc.Health.resolved()
		}
		newNode := func(nodePath, role string, nc NodeConfig, defaultName string) (*Node, error) {
			n, err := t.newNode(&cfg, path+"."+nodePath, qualified, role, nc, defaultName, dc.Pool, settings, h.Dialect)
			if err == nil {
				n.owner = d
				n.limiter = t.limiters[""]
				if l, ok := t.limiters[name]; ok && shard != "" {
					n.limiter = l
				}
				n.guard = n.limiter != nil || n.pool.CheckoutTimeout > 0
				t.addNode(n)
			}
			return n, err
		}
		if dc.Writer != nil {
			w, err := newNode("writer", Writing, *dc.Writer, "writer")
			if err != nil {
				return nil, err
			}
			d.writer = w
		} else {
			// The default database's writer is the handle's own pool; the
			// database's pool settings apply to it like to any other node.
			d.writer = &Node{owner: d, database: name, role: Writing, name: "writer", label: name + "/" + Writing,
				key: name + "/" + Writing + "/writer", weight: 1, settings: settings, dialect: h.Dialect, pool: dc.Pool,
				adapter: dialectAdapter(h.Dialect)}
			d.writer.adopt(h.Pool, h.SQLDB, false)
			d.writer.guard = dc.Pool.CheckoutTimeout > 0 && h.SQLDB != nil
			if h.SQLDB != nil {
				applyPool(h.SQLDB, dc.Pool)
				if h.OnOpen != nil {
					h.OnOpen(d.writer, h.SQLDB)
				}
			}
			t.addNode(d.writer)
		}
		for i, nc := range dc.Replicas {
			n, err := newNode(fmt.Sprintf("replicas[%d]", i), Reading, nc, strconv.Itoa(i+1))
			if err != nil {
				return nil, err
			}
			if d.health.enabled() {
				n.failover = newFailoverPools(n)
			}
			d.replicas.add(n)
		}
		for _, role := range slices.Sorted(maps.Keys(dc.Roles)) {
			d.roles[role] = newRoleNodes(true)
			for i, nc := range dc.Roles[role] {
				n, err := newNode(fmt.Sprintf("roles.%s[%d]", role, i), role, nc, strconv.Itoa(i+1))
				if err != nil {
					return nil, err
				}
				if d.health.enabled() {
					n.failover = newFailoverPools(n) // reads only: see Node.ReadPool
				}
				d.roles[role].add(n)
			}
			d.roleNames = append(d.roleNames, role)
		}
		for _, n := range append(d.checked(), d.writer) {
			n.plain = n.failover == nil && !n.guard
		}
		return d, nil
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Databases)) {
		d, err := build("databases."+name, name, "", cfg.Databases[name])
		if err != nil {
			return nil, err
		}
		t.databases[name] = d
	}
	if _, ok := t.databases[cfg.DefaultName()]; !ok {
		d, err := build("databases."+cfg.DefaultName(), cfg.DefaultName(), "", DatabaseConfig{})
		if err != nil {
			return nil, err
		}
		t.databases[cfg.DefaultName()] = d
	}
	if err := t.buildClusters(&cfg, build, h.Dialect); err != nil {
		return nil, err
	}
	t.def = t.databases[cfg.DefaultName()]
	if cfg.Reshard != nil {
		r := cfg.Reshard.Resolved()
		if r.Instance == "" {
			r.Instance = instanceName()
		}
		t.reshard = &r
	}
	t.names = cfg.DatabaseNames()
	for table, db := range cfg.Tables {
		if c, ok := t.clusters[db]; ok {
			t.clusterTables[table] = c
		} else {
			t.tables[table] = t.databases[db]
		}
	}
	t.mapped = len(cfg.Tables) > 0
	return t, nil
}

// newLimiters makes the pool caps: Config.MaxOpenPools under "", each
// cluster's own under its name.
func newLimiters(cfg *Config) map[string]*poolLimiter {
	limiters := map[string]*poolLimiter{}
	if cfg.MaxOpenPools > 0 {
		limiters[""] = newPoolLimiter(cfg.MaxOpenPools)
	}
	for name, cc := range cfg.Clusters {
		if cc.MaxOpenPools > 0 {
			limiters[name] = newPoolLimiter(cc.MaxOpenPools)
		}
	}
	return limiters
}

// addNode records a node as it is made.
func (t *Topology) addNode(n *Node) {
	t.nodesMu.Lock()
	t.nodes = append(t.nodes, n)
	t.nodesMu.Unlock()
}

func (t *Topology) newNode(cfg *Config, path, database, role string, nc NodeConfig, defaultName string, dbPool PoolConfig, s *openSettings, dialect string) (*Node, error) {
	name := nc.Name
	if name == "" {
		name = defaultName
	}
	n := &Node{database: database, role: role, name: name, label: nodeLabel(database, role, name),
		key: database + "/" + role + "/" + name, weight: max(nc.Weight, 1), dialector: nc.Dialector,
		pool: dbPool, settings: s}
	if nc.Pool != nil {
		n.pool = nc.Pool.merge(dbPool)
	}
	if n.dialector == nil {
		n.dialector = cfg.adapter(nc.Adapter)(nc.DSN)
		n.dsn, n.password = RedactDSN(nc.DSN), PasswordOf(nc.DSN)
	}
	n.adapter = cfg.adapterFor(nc, n.dialector.Name())
	if nc.Dialector == nil {
		n.dialector = withCredentials(n.adapter, n.dialector, n.key, nc)
	}
	if err := sameDialect(n.dialector.Name(), dialect); err != nil {
		return nil, &ConfigError{Path: path, Problem: err.Error()}
	}
	return n, nil
}

// Databases lists the databases that are not clusters, by name.
func (t *Topology) Databases() []*Database {
	out := make([]*Database, 0, len(t.databases))
	for _, name := range slices.Sorted(maps.Keys(t.databases)) {
		out = append(out, t.databases[name])
	}
	return out
}

// Clusters lists the sharded clusters, by name.
func (t *Topology) Clusters() []*Cluster {
	out := make([]*Cluster, 0, len(t.clusters))
	for _, name := range slices.Sorted(maps.Keys(t.clusters)) {
		out = append(out, t.clusters[name])
	}
	return out
}

// Default is the database statements go to when nothing routes them elsewhere.
func (t *Topology) Default() *Database { return t.def }

// Database returns the named database, or a *RouteError wrapping
// ErrUnknownDatabase that lists the valid names. A cluster's name is not a
// database: use Cluster.
func (t *Topology) Database(name string) (*Database, error) {
	if d, ok := t.databases[name]; ok {
		return d, nil
	}
	if _, ok := t.clusters[name]; ok {
		return nil, &RouteError{Err: ErrShardKeyMissing, Route: Route{Database: name},
			Detail: fmt.Sprintf("%q is a sharded cluster: name a shard (grant.Shard) or give the shard key", name)}
	}
	return nil, &RouteError{Err: ErrUnknownDatabase, Route: Route{Database: name},
		Detail: fmt.Sprintf("%q is not configured; configured databases: %s", name, strings.Join(t.names, ", "))}
}

// Cluster returns the named cluster, if there is one.
func (t *Topology) Cluster(name string) (*Cluster, bool) {
	c, ok := t.clusters[name]
	return c, ok
}

// ForTable returns the database Config.Tables maps table to, or nil.
func (t *Topology) ForTable(table string) *Database { return t.tables[table] }

// ClusterForTable returns the cluster Config.Tables maps table to, or nil.
func (t *Topology) ClusterForTable(table string) *Cluster { return t.clusterTables[table] }

// HasTableMappings reports whether Config.Tables maps any table; when it
// does not, grant skips looking for a table name in raw SQL.
func (t *Topology) HasTableMappings() bool { return t.mapped }

// Nodes lists every node of every database, in a stable order: the nodes
// of shards made on first use (see Cluster) once they are made.
func (t *Topology) Nodes() []*Node {
	t.nodesMu.Lock()
	defer t.nodesMu.Unlock()
	return t.nodes[:len(t.nodes):len(t.nodes)]
}

// AllNodes is Nodes after making every shard not made yet: what tools
// that show the whole topology (grant status, the status page) list.
func (t *Topology) AllNodes() []*Node {
	for _, c := range t.clusters {
		c.Shards()
	}
	return t.Nodes()
}

// Stats returns database/sql pool statistics for every opened pool, keyed by
// "database/role/node" (a read-only pool, under strict write prevention,
// as "database/role/node/read-only"). Unopened pools are absent.
func (t *Topology) Stats() map[string]sql.DBStats {
	stats := map[string]sql.DBStats{}
	for _, n := range t.Nodes() {
		if db, ok := n.SQLDB(); ok {
			stats[n.key] = db.Stats()
		}
		if o := n.readOnly.Load(); o != nil {
			stats[n.key+"/read-only"] = o.sqlDB.Stats()
		}
	}
	return stats
}

// Close stops the placement watcher and the health checks, if running,
// and waits for their goroutines to exit; every node is then back in rotation. It then closes
// every pool grant opened; the handle's own pool is left to its owner.
// Nodes reopen on next use (health checks restart only with
// StartHealthChecks). Calling Close again is harmless.
func (t *Topology) Close() error {
	t.stopPlacementWatch()
	t.stopHealthChecks()
	var errs []error
	for _, n := range t.Nodes() {
		errs = append(errs, n.close())
	}
	return errors.Join(errs...)
}

// Name is the database's configured name; for a shard, its cluster's.
func (d *Database) Name() string { return d.name }

// Shard is the shard's name, or "" for an unsharded database.
func (d *Database) Shard() string { return d.shard }

// Cluster is the cluster a shard belongs to, or nil.
func (d *Database) Cluster() *Cluster { return d.cluster }

// Index is a shard's position among its cluster's shards (Cluster.Shards),
// the number an ID layout encodes; 0 for an unsharded database.
func (d *Database) Index() int { return d.index }

// Qualified is "database" or "cluster/shard", as node labels show it.
func (d *Database) Qualified() string { return d.qualified }

// Migrations is the database's migrations configuration (a shard's is its
// cluster's).
func (d *Database) Migrations() MigrationsConfig { return d.migrate }

// Writer is the node serving the writing role.
func (d *Database) Writer() *Node { return d.writer }

// Pick chooses the node that serves role: the writer for Writing; a replica
// in rotation chosen by the policy for Reading; a custom role's node in
// rotation otherwise. With health checks off every node is in rotation.
// When no replica is (none configured, or none healthy) a read goes to the
// writer, or, with HealthConfig.FailWithoutReplica and replicas configured,
// fails with a *RouteError wrapping ErrNoHealthyReplica. A custom role whose
// nodes are all unhealthy keeps all of them in rotation. An unknown role is
// a *RouteError wrapping ErrUnknownRole that lists the database's roles.
//
// Pick reads the rotation with one atomic load: no lock, no allocation.
func (d *Database) Pick(role string) (*Node, error) {
	var pools []gorm.ConnPool
	switch role {
	case Writing:
		return d.writer, nil
	case Reading:
		if pools = *d.replicas.healthy.Load(); len(pools) == 0 {
			return d.noHealthyReplica()
		}
	default:
		nodes, ok := d.roles[role]
		if !ok {
			return nil, &RouteError{Err: ErrUnknownRole, Route: Route{Database: d.name, Shard: d.shard, Role: role},
				Detail: fmt.Sprintf("database %q has roles: %s", d.qualified, strings.Join(d.Roles(), ", "))}
		}
		pools = *nodes.healthy.Load()
	}
	if len(pools) == 1 {
		return pools[0].(*Node), nil
	}
	chosen := d.policy.Resolve(pools)
	if n, ok := chosen.(*Node); ok {
		return n, nil
	}
	return nil, &RouteError{Err: ErrNodeUnavailable, Route: Route{Database: d.name, Role: role},
		Detail: fmt.Sprintf("the policy returned %T, not one of the pools it was given", chosen)}
}

// Roles lists the database's role names: writing, reading, then custom roles.
func (d *Database) Roles() []string {
	roles := append([]string{Writing, Reading}, d.roleNames...)
	sort.Strings(roles[2:])
	return roles
}

// HasRole reports whether role names a role of this database.
func (d *Database) HasRole(role string) bool {
	if role == Writing || role == Reading {
		return true
	}
	_, ok := d.roles[role]
	return ok
}
