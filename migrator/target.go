package migrator

import (
	"fmt"
	"os"
	"strings"

	"github.com/pressly/goose/v3"

	"github.com/grant-go/grant/topology"
)

// target is one physical writer to migrate: a database's, or a shard's.
type target struct {
	name     string // "primary", or "orders/shard1"
	database string // topology.Database.Name(): the database's, or the shard's cluster's
	cluster  string // "" unless a shard
	shard    string // "" unless a shard
	db       *topology.Database
	config   topology.MigrationsConfig
	goMigs   []*goose.Migration
}

// table is the target's version table.
func (t *target) table() string {
	if t.config.Table != "" {
		return t.config.Table
	}
	return topology.DefaultMigrationsTable
}

// group is what runs as a unit: one database, or every selected shard of one
// cluster (which run in parallel).
type group struct {
	cluster string // "" for a database
	targets []*target
}

// resolve turns a target name into the groups to run, in report order:
// databases by name, then clusters by name with their shards in cluster
// order. "" selects everything that has migrations and is not disabled; a
// name selects that database or cluster (an error if it is disabled or has
// no migrations); "cluster/shard" selects one shard. A configured directory
// that does not exist is an error in every case.
func (m *Migrator) resolve(name string) ([]group, error) {
	if name == "" {
		var groups []group
		for _, d := range m.topology.Databases() {
			if g, ok, err := m.databaseGroup(d, false); err != nil {
				return nil, err
			} else if ok {
				groups = append(groups, g)
			}
		}
		for _, c := range m.topology.Clusters() {
			if g, ok, err := m.clusterGroup(c, c.Shards(), false); err != nil {
				return nil, err
			} else if ok {
				groups = append(groups, g)
			}
		}
		return groups, nil
	}
	if c, ok := m.topology.Cluster(name); ok {
		g, _, err := m.clusterGroup(c, c.Shards(), true)
		if err != nil {
			return nil, err
		}
		return []group{g}, nil
	}
	if clusterName, shardName, ok := strings.Cut(name, "/"); ok {
		c, found := m.topology.Cluster(clusterName)
		if !found {
			return nil, fmt.Errorf("%w %q: no cluster %q; %s", ErrUnknownTarget, name, clusterName, m.validNames())
		}
		shard, err := c.Shard(shardName)
		if err != nil {
			return nil, fmt.Errorf("%w %q: cluster %q has shards %s", ErrUnknownTarget, name, clusterName, strings.Join(c.ShardNames(), ", "))
		}
		g, _, err := m.clusterGroup(c, []*topology.Database{shard}, true)
		if err != nil {
			return nil, err
		}
		return []group{g}, nil
	}
	d, err := m.topology.Database(name)
	if err != nil {
		return nil, fmt.Errorf("%w %q; %s", ErrUnknownTarget, name, m.validNames())
	}
	g, _, err := m.databaseGroup(d, true)
	if err != nil {
		return nil, err
	}
	return []group{g}, nil
}

func (m *Migrator) databaseGroup(d *topology.Database, named bool) (group, bool, error) {
	cfg := d.Migrations()
	ok, err := m.check(d.Name(), "database", cfg, named)
	if !ok || err != nil {
		return group{}, false, err
	}
	t := &target{name: d.Qualified(), database: d.Name(), db: d, config: cfg, goMigs: m.opts.goMigs[d.Name()]}
	return group{targets: []*target{t}}, true, nil
}

func (m *Migrator) clusterGroup(c *topology.Cluster, shards []*topology.Database, named bool) (group, bool, error) {
	cfg := c.Shards()[0].Migrations() // every shard carries its cluster's (but its own DSN)
	ok, err := m.check(c.Name(), "cluster", cfg, named)
	if !ok || err != nil {
		return group{}, false, err
	}
	g := group{cluster: c.Name()}
	for _, s := range shards {
		// The cluster's settings, with the shard's own migrations DSN.
		sc := cfg
		sc.DSN = s.Migrations().DSN
		g.targets = append(g.targets, &target{name: s.Qualified(), database: s.Name(), cluster: c.Name(), shard: s.Shard(),
			db: s, config: sc, goMigs: m.opts.goMigs[c.Name()]})
	}
	return g, true, nil
}

// check decides whether a database or cluster is migrated: ok is false for
// one that is disabled or has no migrations when it was not named; named,
// those are errors. A directory that does not exist is always an error.
func (m *Migrator) check(name, kind string, cfg topology.MigrationsConfig, named bool) (bool, error) {
	if cfg.Disabled {
		if named {
			return false, fmt.Errorf("%w: %s %q has MigrationsConfig.Disabled set", ErrDisabled, kind, name)
		}
		return false, nil
	}
	if cfg.Dir == "" && len(m.opts.goMigs[name]) == 0 {
		if named {
			return false, fmt.Errorf("%w: %s %q has no migrations directory (MigrationsConfig.Dir) and no Go migrations", ErrNoMigrations, kind, name)
		}
		return false, nil
	}
	if cfg.Dir != "" {
		info, err := os.Stat(cfg.Dir)
		if err != nil {
			return false, fmt.Errorf("%w: %s %q: migrations directory %q does not exist or cannot be read: %v", ErrNoMigrations, kind, name, cfg.Dir, err)
		}
		if !info.IsDir() {
			return false, fmt.Errorf("%w: %s %q: migrations directory %q is not a directory", ErrNoMigrations, kind, name, cfg.Dir)
		}
	}
	return true, nil
}

// validNames lists what a target may be, for ErrUnknownTarget.
func (m *Migrator) validNames() string {
	var dbs, clusters []string
	for _, d := range m.topology.Databases() {
		dbs = append(dbs, d.Name())
	}
	for _, c := range m.topology.Clusters() {
		clusters = append(clusters, c.Name())
	}
	s := "databases: " + strings.Join(dbs, ", ")
	if len(clusters) > 0 {
		s += "; clusters: " + strings.Join(clusters, ", ") + " (or cluster/shard)"
	}
	return s + `; or "" for all`
}
