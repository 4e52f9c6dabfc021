package resolver

import (
	"fmt"
	"strings"

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
	DatabaseConfig
}

func (c *Config) validateClusters() error {
	for _, name := range sortedKeys(c.Clusters) {
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
		for _, table := range sortedKeys(cluster.ShardKeys) {
			key := cluster.ShardKeys[table]
			if table == "" || key.Column == "" || key.Strategy == nil {
				return &ConfigError{Path: join(path+".shard_keys", table), Problem: "a shard key needs a table, a column and a strategy"}
			}
			names := make([]string, len(cluster.Shards))
			for i, shard := range cluster.Shards {
				names[i] = shard.Name
			}
			if err := key.Strategy.Validate(names); err != nil {
				return &ConfigError{Path: join(path+".shard_keys", table) + ".strategy", Problem: err.Error()}
			}
		}
		seen := map[string]bool{}
		for i, shard := range cluster.Shards {
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

// Cluster is the runtime form of a ClusterConfig: its shards, each a
// Database, in configured order.
type Cluster struct {
	name   string
	shards []*Database
	byName map[string]*Database
	names  []string
	keys   map[string]sharding.ShardKey
}

// ShardKeyFor returns the shard key the configuration declares for table.
func (c *Cluster) ShardKeyFor(table string) (sharding.ShardKey, bool) {
	k, ok := c.keys[table]
	return k, ok
}

// Name is the cluster's configured name.
func (c *Cluster) Name() string { return c.name }

// Shards lists the cluster's shards in configured order.
func (c *Cluster) Shards() []*Database { return c.shards }

// ShardNames lists the shard names in configured order.
func (c *Cluster) ShardNames() []string { return c.names }

// Index is the position of the named shard, or -1.
func (c *Cluster) Index(name string) int {
	if d, ok := c.byName[name]; ok {
		return d.index
	}
	return -1
}

// Shard returns the named shard, or a *RouteError wrapping ErrUnknownShard
// that lists the cluster's shards.
func (c *Cluster) Shard(name string) (*Database, error) {
	if d, ok := c.byName[name]; ok {
		return d, nil
	}
	return nil, &RouteError{Err: ErrUnknownShard, Route: Route{Database: c.name, Shard: name},
		Detail: fmt.Sprintf("cluster %q has shards: %s", c.name, strings.Join(c.names, ", "))}
}

func (t *Topology) buildClusters(cfg *Config, build func(path, name, shard string, dc DatabaseConfig) (*Database, error)) error {
	for _, name := range sortedKeys(cfg.Clusters) {
		cc := cfg.Clusters[name]
		cluster := &Cluster{name: name, byName: map[string]*Database{}, keys: cc.ShardKeys}
		for i, sc := range cc.Shards {
			dc := sc.DatabaseConfig
			dc.Migrations, dc.Migrations.DSN = cc.Migrations, sc.Migrations.DSN
			dc.Pool = dc.Pool.merge(cc.Pool)
			if dc.Policy == nil {
				dc.Policy = cc.Policy
			}
			if dc.Health == nil {
				dc.Health = cc.Health
			}
			d, err := build(fmt.Sprintf("clusters.%s.shards[%d]", name, i), name, sc.Name, dc)
			if err != nil {
				return err
			}
			d.cluster, d.index = cluster, i
			cluster.shards = append(cluster.shards, d)
			cluster.byName[sc.Name] = d
			cluster.names = append(cluster.names, sc.Name)
		}
		t.clusters[name] = cluster
	}
	return nil
}
