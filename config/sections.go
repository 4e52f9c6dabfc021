package config

import (
	"fmt"

	"github.com/grant-go/grant/topology"
)

// This file maps the databases and clusters sections onto DatabaseConfig
// and ClusterConfig: writers in their short (dsn) or long (writer) form,
// the GRANT_<NAME>_DSN overrides, adapter defaults, shard names.

// nodeSpec is a node as written, with where it was written.
type nodeSpec struct {
	path    string // key path of the node's mapping; of the section for "dsn:"
	line    int    // the node's first line
	dsnLine int    // the dsn key's line, or line
	node    topology.NodeConfig
}

// dbSpec is a database or shard section as written, before the adapter
// default, the DSN override and the checks are applied.
type dbSpec struct {
	path    string
	line    int       // the section's key (or list item) line
	dsn     *nodeSpec // short form: "dsn:"
	writer  *nodeSpec // long form: "writer:"
	writerL int       // the writer key's line
	// replicas and roles in file order; roles by name.
	replicas []nodeSpec
	roles    map[string][]nodeSpec
	db       topology.DatabaseConfig // Pool, Policy, Migrations, Health
	// passwordFile is the short form's "password_file:", for its dsn.
	passwordFile  string
	passwordFileL int
}

func (b *builder) databases(m map[string]databaseDoc, defaultName string) map[string]topology.DatabaseConfig {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]topology.DatabaseConfig, len(m))
	for _, name := range inFileOrder(b, "databases", m) {
		path, d := join("databases", name), m[name]
		line := b.idx.keyLine(path)
		b.checkName(path, line, name)
		adapter := b.str(path+".adapter", &d.Adapter)
		spec := b.section(path, line, &d.sectionDoc)
		spec.db.Migrations = b.migrations(path, &d.Migrations, &d.MigrationsTable, &d.MigrationsDSN, &d.Tasks)
		spec.db.Health = b.healthOverride(path+".health", d.Health)
		out[name] = b.build(spec, buildOpts{
			what:          fmt.Sprintf("database %q", name),
			envVar:        overrideVar(name),
			mayOmitWriter: name == defaultName,
			adapter:       adapter,
		})
	}
	return out
}

func (b *builder) clusters(m map[string]clusterDoc) map[string]topology.ClusterConfig {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]topology.ClusterConfig, len(m))
	for _, name := range inFileOrder(b, "clusters", m) {
		path, c := join("clusters", name), m[name]
		b.checkName(path, b.idx.keyLine(path), name)
		out[name] = b.cluster(name, path, &c)
	}
	return out
}

func (b *builder) cluster(name, path string, d *clusterDoc) topology.ClusterConfig {
	adapter := b.str(path+".adapter", &d.Adapter)
	c := topology.ClusterConfig{
		Pool:         b.pool(path+".pool", &d.Pool),
		Policy:       b.policy(path+".policy", &d.Policy),
		Migrations:   b.migrations(path, &d.Migrations, &d.MigrationsTable, nil, &d.Tasks),
		Health:       b.healthOverride(path+".health", d.Health),
		MaxOpenPools: b.integer(path+".max_open_pools", &d.MaxOpenPools),
		ShardKeys:    b.shardKeys(path+".shard_keys", d.ShardKeys),
	}
	switch {
	case len(d.Shards) > 0:
	case b.idx.written(path + ".shards"):
		b.fail(b.idx.keyLine(path+".shards"), path+".shards", "cluster %q needs at least one shard", name)
	default:
		b.fail(b.idx.keyLine(path), path+".shards", "missing: cluster %q needs at least one shard", name)
	}
	seen := map[string]int{}
	for i := range d.Shards {
		sd, sp := &d.Shards[i], fmt.Sprintf("%s.shards[%d]", path, i)
		line := b.idx.keyLine(sp)
		shard := b.name(sp+".name", &sd.Name)
		if first, dup := seen[shard]; dup {
			b.fail(line, sp+".name", "duplicate shard name %q in cluster %q (first at line %d)", shard, name, first)
		} else if shard == "" {
			b.fail(line, sp+".name", "missing: every shard needs a name")
		}
		seen[shard] = line
		spec := b.section(sp, line, &sd.sectionDoc)
		spec.db.Health = b.healthOverride(sp+".health", sd.Health)
		spec.db.Migrations = b.migrations(sp, nil, nil, &sd.MigrationsDSN, nil)
		db := b.build(spec, buildOpts{
			what:    fmt.Sprintf("shard %q of cluster %q", shard, name),
			envVar:  overrideVar(name, shard),
			shard:   true,
			adapter: adapter,
		})
		c.Shards = append(c.Shards, topology.ShardConfig{Name: shard, DatabaseConfig: db})
	}
	return c
}

// section reads what databases and shards share.
func (b *builder) section(path string, line int, s *sectionDoc) *dbSpec {
	spec := &dbSpec{path: path, line: line}
	if s.DSN.Kind != 0 { // written, even null (an empty DSN: an error in build)
		l := b.idx.keyLine(path + ".dsn")
		spec.dsn = &nodeSpec{path: path, line: l, dsnLine: l, node: topology.NodeConfig{DSN: b.str(path+".dsn", &s.DSN)}}
	}
	spec.passwordFile = b.str(path+".password_file", &s.PasswordFile)
	spec.passwordFileL = b.idx.keyLine(path + ".password_file")
	if s.Writer != nil || b.idx.written(path+".writer") { // "writer:" with a null value is a writer without a DSN
		w := s.Writer
		if w == nil {
			w = &nodeDoc{}
		}
		node := b.node(path+".writer", w)
		spec.writer, spec.writerL = &node, b.idx.keyLine(path+".writer")
	}
	spec.replicas = b.nodes(path+".replicas", s.Replicas)
	spec.roles = b.roles(path+".roles", s.Roles)
	spec.db.Pool = b.pool(path+".pool", &s.Pool)
	spec.db.Policy = b.policy(path+".policy", &s.Policy)
	return spec
}

func (b *builder) roles(path string, m map[string][]nodeDoc) map[string][]nodeSpec {
	if len(m) == 0 {
		return nil
	}
	roles := make(map[string][]nodeSpec, len(m))
	for _, role := range inFileOrder(b, path, m) {
		rp := join(path, role)
		line := b.idx.keyLine(rp)
		b.checkName(rp, line, role)
		switch {
		case role == topology.Writing || role == topology.Reading:
			b.fail(line, rp, "%q is a built-in role: use writer/replicas instead", role)
		case len(m[role]) == 0:
			b.fail(line, rp, "a custom role needs at least one node")
		}
		roles[role] = b.nodes(rp, m[role])
	}
	return roles
}

func (b *builder) nodes(path string, docs []nodeDoc) []nodeSpec {
	nodes := make([]nodeSpec, len(docs))
	for i := range docs {
		nodes[i] = b.node(fmt.Sprintf("%s[%d]", path, i), &docs[i])
	}
	return nodes
}

func (b *builder) node(path string, n *nodeDoc) nodeSpec {
	spec := nodeSpec{path: path, line: b.idx.nodeLine(path)}
	spec.dsnLine = spec.line
	if b.idx.written(path + ".dsn") {
		spec.dsnLine = b.idx.keyLine(path + ".dsn")
	}
	spec.node = topology.NodeConfig{
		Name:    b.name(path+".name", &n.Name), // "" is the default name, as in NodeConfig
		DSN:     b.str(path+".dsn", &n.DSN),
		Adapter: b.str(path+".adapter", &n.Adapter),
		Weight:  b.integer(path+".weight", &n.Weight),
	}
	if n.Pool != nil {
		pool := b.pool(path+".pool", n.Pool)
		spec.node.Pool = &pool
	}
	spec.node.PasswordFile = b.str(path+".password_file", &n.PasswordFile)
	return spec
}

type buildOpts struct {
	what          string // `database "primary"`, `shard "s1" of cluster "orders"`
	envVar        string // GRANT_..._DSN
	mayOmitWriter bool   // the default database
	shard         bool
	adapter       string // default adapter of the nodes
}

// build applies the DSN override and the adapter default to a section and
// checks its nodes.
func (b *builder) build(s *dbSpec, o buildOpts) (db topology.DatabaseConfig) {
	if b.err != nil {
		return db
	}
	db = s.db
	if s.dsn != nil && s.writer != nil {
		b.fail(s.writerL, s.path+".writer", "give either dsn or writer, not both")
		return db
	}
	w := s.dsn
	if w == nil {
		w = s.writer
	} else {
		// Validate's errors name the short form's writer ".writer".
		b.idx.alias(s.path+".writer", s.path+".dsn")
	}
	overridden := false
	if v, ok := b.env(o.envVar); ok && v != "" {
		if w == nil {
			w = &nodeSpec{path: s.path, line: s.line, dsnLine: s.line}
		}
		w.node.DSN, overridden = v, true
	}
	if s.passwordFile != "" {
		if s.writer != nil {
			b.fail(s.passwordFileL, s.path+".password_file", "goes with the short form (dsn:); with writer:, put password_file inside the writer")
			return db
		}
		if w != nil {
			w.node.PasswordFile = s.passwordFile
		}
	}
	if w == nil && !o.mayOmitWriter {
		problem := "missing writer: give dsn or writer, or set " + o.envVar
		if o.shard {
			b.fail(s.line, s.path+".writer", "%s (every shard needs a writer)", problem)
		} else {
			b.fail(s.line, s.path+".writer", "%s (only the default database may omit its writer)", problem)
		}
		return db
	}

	var all []*nodeSpec
	if w != nil {
		all = append(all, w)
	}
	for i := range s.replicas {
		all = append(all, &s.replicas[i])
	}
	roleNames := sortedKeys(s.roles)
	for _, role := range roleNames {
		for i := range s.roles[role] {
			all = append(all, &s.roles[role][i])
		}
	}
	for _, n := range all {
		if n.node.Adapter == "" {
			n.node.Adapter = o.adapter
		}
		if n.node.DSN == "" {
			b.fail(n.dsnLine, n.path+".dsn", "missing DSN")
			return db
		}
		if n.node.Adapter == "" {
			b.fail(n.line, n.path+".adapter", "missing: set adapter on this node or on %s", o.what)
			return db
		}
		b.adapters[n.node.Adapter] = true
	}
	for _, r := range s.replicas {
		if w != nil && r.node.DSN == w.node.DSN {
			problem := "replica listed as writer: its DSN is the writer's DSN of " + o.what
			if overridden {
				problem += " (set by " + o.envVar + ")"
			}
			b.fail(r.dsnLine, r.path+".dsn", "%s", problem)
			return db
		}
	}

	if w != nil {
		writer := w.node
		db.Writer = &writer
	}
	for _, r := range s.replicas {
		db.Replicas = append(db.Replicas, r.node)
	}
	for _, role := range roleNames {
		if db.Roles == nil {
			db.Roles = make(map[string][]topology.NodeConfig, len(roleNames))
		}
		for _, n := range s.roles[role] {
			db.Roles[role] = append(db.Roles[role], n.node)
		}
	}
	return db
}
