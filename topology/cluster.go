package topology

import (
	"fmt"
	"github.com/grant-go/grant/internal/dsnredact"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grant-go/grant/sharding"
)

// ClusterConfig is a horizontally sharded database: named shards, each a
// database of its own with a writer, replicas and custom roles, holding a
// disjoint part of the rows. Models join a cluster by naming it in
// ConnectsTo (grant.Cluster) or through Config.Tables.
type ClusterConfig struct {
	// Shards in order. The order matters: position-based strategies
	// (modulo, hash, jump hash) and ID generators number shards by it, so
	// append new shards at the end.
	Shards []ShardConfig
	// Pool and Policy apply to every shard that sets none.
	Pool   PoolConfig
	Policy Policy
	// ShardKeys declares shard keys by table name, for models that cannot
	// have a ShardKey method; a model's own method wins.
	ShardKeys map[string]sharding.ShardKey
	// Migrations apply to every shard: one schema, migrated on each
	// shard's writer. Of a shard's own DatabaseConfig.Migrations only DSN
	// counts (grant.yml's migrations_dsn in a shard section): a DSN names
	// one database, so a cluster's DSN must be empty.
	Migrations MigrationsConfig
	// Health overrides Config.Health for every shard of the cluster; a
	// shard's own DatabaseConfig.Health wins over it.
	Health *HealthConfig
	// MaxOpenPools, when > 0, caps the pools of this cluster's nodes on
	// their own, as Config.MaxOpenPools caps the others.
	MaxOpenPools int
}

// ShardConfig is one shard of a cluster: a name and a database.
type ShardConfig struct {
	Name string
	// Pending: the shard is configured (grant can reach it, migrations
	// run on it, grant.Shard may name it) but holds no rows yet: the
	// initial placement leaves it out, so strategies map keys over the
	// shards that are not pending, in configured order. A reshard that
	// moves rows onto it publishes a placement naming it.
	Pending bool
	DatabaseConfig
}

func (c *Config) validateClusters() error {
	for _, name := range slices.Sorted(maps.Keys(c.Clusters)) {
		path := "clusters." + name
		if err := checkName(path, name); err != nil {
			return err
		}
		if _, clash := c.Databases[name]; clash || name == c.DefaultName() {
			return &ConfigError{Path: path, Problem: fmt.Sprintf("%q is also a database name: clusters and databases share one namespace", name)}
		}
		cluster := c.Clusters[name]
		if len(cluster.Shards) == 0 {
			return &ConfigError{Path: path + ".shards", Problem: "a cluster needs at least one shard"}
		}
		names := activeShardNames(cluster.Shards)
		configured := make([]string, len(cluster.Shards))
		for i, sh := range cluster.Shards {
			configured[i] = sh.Name
		}
		if len(names) == 0 {
			return &ConfigError{Path: path + ".shards", Problem: "every shard is pending: at least one shard must hold the rows"}
		}
		if cluster.Migrations.DSN != "" {
			return &ConfigError{Path: path + ".migrations_dsn", Problem: "a migrations DSN names one database: set it on each shard (ShardConfig's Migrations.DSN), not on the cluster"}
		}
		if err := cluster.Pool.validate(path + ".pool"); err != nil {
			return err
		}
		if cluster.Health != nil {
			if err := cluster.Health.validate(path + ".health"); err != nil {
				return err
			}
		}
		for _, table := range slices.Sorted(maps.Keys(cluster.ShardKeys)) {
			key := cluster.ShardKeys[table]
			if table == "" || key.Column == "" || key.Strategy == nil {
				return &ConfigError{Path: dsnredact.JoinKey(path+".shard_keys", table), Problem: "a shard key needs a table, a column and a strategy"}
			}
			// Against every configured shard, pending ones too: a strategy
			// may name a shard that a reshard will switch to (a range
			// split); the placement decides which of them keys map over.
			if err := key.Strategy.Validate(configured); err != nil {
				return &ConfigError{Path: dsnredact.JoinKey(path+".shard_keys", table) + ".strategy", Problem: err.Error()}
			}
		}
		seen := make(map[string]bool, len(cluster.Shards))
		for i := range cluster.Shards {
			shard := &cluster.Shards[i]
			if c.plainShardValid(shard, seen) {
				continue // the common case, checked without building paths
			}
			sp := fmt.Sprintf("%s.shards[%d]", path, i)
			if err := checkName(sp+".name", shard.Name); err != nil {
				return err
			}
			if seen[shard.Name] {
				return &ConfigError{Path: sp + ".name", Problem: fmt.Sprintf("duplicate shard name %q in cluster %q", shard.Name, name)}
			}
			seen[shard.Name] = true
			if shard.Writer == nil {
				return &ConfigError{Path: sp + ".writer", Problem: fmt.Sprintf("missing: shard %q of cluster %q needs a writer", shard.Name, name)}
			}
			if err := c.validateDatabase(sp, name+"/"+shard.Name, shard.DatabaseConfig); err != nil {
				return err
			}
		}
	}
	return nil
}

// activeShardNames lists the shards that are not pending, in order: what
// the initial placement maps keys over.
func activeShardNames(shards []ShardConfig) []string {
	names := make([]string, 0, len(shards))
	for _, s := range shards {
		if !s.Pending {
			names = append(names, s.Name)
		}
	}
	return names
}

// plainShardValid reports whether shard is a writer-only shard with no
// settings of its own that passes every check validateDatabase would make,
// recording its name in seen. When it returns false the caller runs the
// full checks, which name the problem (if any).
func (c *Config) plainShardValid(shard *ShardConfig, seen map[string]bool) bool {
	w := shard.Writer
	if w == nil || len(shard.Replicas) > 0 || len(shard.Roles) > 0 || shard.Health != nil || shard.Pool != (PoolConfig{}) ||
		w.Pool != nil || w.Name != "" && !dsnredact.IsPlainName(w.Name) || shard.Name == "" || !dsnredact.IsPlainName(shard.Name) || seen[shard.Name] ||
		c.validateNode("", *w) != nil {
		return false
	}
	seen[shard.Name] = true
	return true
}

// Cluster is the runtime form of a ClusterConfig: its shards, each a
// Database, in configured order.
//
// A shard with a writer only (no replicas, no custom roles) is made on
// first use rather than at Build, so that a cluster of 100,000 tenant
// databases costs a name, an index entry and a pointer per shard until a
// statement needs one; Build has checked it all the same. Such a shard's
// ShardConfig is read when it is made: do not change the configuration
// after Use.
type Cluster struct {
	name  string
	names []string       // shard names in order
	index map[string]int // shard positions by name
	keys  map[string]sharding.ShardKey

	// placement is where keys map now (see Placement); one atomic load
	// per statement.
	placement atomic.Pointer[ShardPlacement]
	setMu     sync.Mutex // serializes placement changes

	slots []atomic.Pointer[Database]  // the shards made so far
	all   atomic.Pointer[[]*Database] // Shards, once every shard is made
	mu    sync.Mutex                  // serializes making shards
	make  func(i int) *Database       // makes shard i
}

// ShardKeyFor returns the shard key the configuration declares for table.
func (c *Cluster) ShardKeyFor(table string) (sharding.ShardKey, bool) {
	k, ok := c.keys[table]
	return k, ok
}

// Name is the cluster's configured name.
func (c *Cluster) Name() string { return c.name }

// Shards lists the cluster's shards in configured order, making those not
// made yet. Use ShardAt or Shard for one.
func (c *Cluster) Shards() []*Database {
	if all := c.all.Load(); all != nil {
		return *all
	}
	all := make([]*Database, len(c.slots))
	for i := range all {
		all[i] = c.ShardAt(i)
	}
	c.all.Store(&all)
	return all
}

// ShardCount is the number of shards.
func (c *Cluster) ShardCount() int { return len(c.slots) }

// ShardAt returns the shard at position i (0 <= i < ShardCount), making it
// on first use.
func (c *Cluster) ShardAt(i int) *Database {
	if d := c.slots[i].Load(); d != nil {
		return d
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if d := c.slots[i].Load(); d != nil {
		return d
	}
	d := c.make(i)
	c.slots[i].Store(d)
	return d
}

// made lists the shards made so far, in order.
func (c *Cluster) made() []*Database {
	var out []*Database
	for i := range c.slots {
		if d := c.slots[i].Load(); d != nil {
			out = append(out, d)
		}
	}
	return out
}

// ShardNames lists the shard names in configured order.
func (c *Cluster) ShardNames() []string { return c.names }

// Index is the position of the named shard, or -1.
func (c *Cluster) Index(name string) int {
	if i, ok := c.index[name]; ok {
		return i
	}
	return -1
}

// Shard returns the named shard, or a *RouteError wrapping ErrUnknownShard
// that lists the cluster's shards.
func (c *Cluster) Shard(name string) (*Database, error) {
	if i, ok := c.index[name]; ok {
		return c.ShardAt(i), nil
	}
	return nil, &RouteError{Err: ErrUnknownShard, Route: Route{Database: c.name, Shard: name},
		Detail: fmt.Sprintf("cluster %q has shards: %s", c.name, strings.Join(c.names, ", "))}
}

// buildClusters makes each cluster: a shard with replicas or custom roles
// (or every shard, under strict write prevention, whose check needs the
// nodes) at once, the others on first use. Their nodes' dialects are
// checked here, so making one later cannot fail.
func (t *Topology) buildClusters(cfg *Config, build func(path, name, shard string, dc DatabaseConfig) (*Database, error), dialect string) error {
	for _, name := range slices.Sorted(maps.Keys(cfg.Clusters)) {
		cc := cfg.Clusters[name]
		cluster := &Cluster{name: name, index: make(map[string]int, len(cc.Shards)), keys: cc.ShardKeys,
			names: make([]string, len(cc.Shards)), slots: make([]atomic.Pointer[Database], len(cc.Shards))}
		config := func(i int) DatabaseConfig {
			dc := cc.Shards[i].DatabaseConfig
			dc.Migrations, dc.Migrations.DSN = cc.Migrations, cc.Shards[i].Migrations.DSN
			dc.Pool = dc.Pool.merge(cc.Pool)
			if dc.Policy == nil {
				dc.Policy = cc.Policy
			}
			if dc.Health == nil {
				dc.Health = cc.Health
			}
			return dc
		}
		cluster.make = func(i int) *Database {
			d, err := build("", name, cc.Shards[i].Name, config(i))
			if err != nil {
				// Build checked every shard's dialect, the only thing
				// making a shard can fail on.
				panic(fmt.Sprintf("grant: making shard %q of cluster %q: %v", cc.Shards[i].Name, name, err))
			}
			d.cluster, d.index = cluster, i
			return d
		}
		dialects := map[string]string{}
		for i, sc := range cc.Shards {
			cluster.names[i] = sc.Name
			cluster.index[sc.Name] = i
			if len(sc.Replicas) > 0 || len(sc.Roles) > 0 || cfg.StrictPreventWrites {
				d, err := build(fmt.Sprintf("clusters.%s.shards[%d]", name, i), name, sc.Name, config(i))
				if err != nil {
					return err
				}
				d.cluster, d.index = cluster, i
				cluster.slots[i].Store(d)
				continue
			}
			if err := checkDialect(cfg, sc.Writer, dialect, dialects); err != nil {
				return &ConfigError{Path: fmt.Sprintf("clusters.%s.shards[%d].writer", name, i), Problem: err.Error()}
			}
		}
		cluster.placement.Store(newShardPlacement(cluster, PlacementRecord{Cluster: name,
			Read: activeShardNames(cc.Shards), Write: activeShardNames(cc.Shards)}, false, time.Time{}))
		t.clusters[name] = cluster
	}
	return nil
}

// checkDialect is newNode's dialect check, without making the node;
// dialects caches each adapter's dialect name.
func checkDialect(cfg *Config, nc *NodeConfig, dialect string, dialects map[string]string) error {
	if dialect == "" {
		return nil
	}
	var got string
	if nc.Dialector != nil {
		got = nc.Dialector.Name()
	} else if d, ok := dialects[nc.Adapter]; ok {
		got = d
	} else {
		got = cfg.adapter(nc.Adapter)("").Name()
		dialects[nc.Adapter] = got
	}
	return sameDialect(got, dialect)
}

// sameDialect refuses a node whose dialect is not the handle's.
func sameDialect(got, handle string) error {
	if handle != "" && got != handle {
		return fmt.Errorf("dialect %q differs from the handle's %q: GORM builds SQL in the handle's dialect, so this node would receive SQL it cannot run", got, handle)
	}
	return nil
}
