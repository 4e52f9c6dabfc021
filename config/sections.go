package config

import (
	"fmt"
	"github.com/grant-go/grant/internal/dsnredact"
	"maps"
	"slices"

	"github.com/grant-go/grant/topology"
)

// This file maps the databases and clusters sections onto DatabaseConfig
// and ClusterConfig: writers in their short (dsn) or long (writer) form,
// the GRANT_<NAME>_DSN overrides, adapter defaults, shard names.

// nodeSpec is a node as written, with where it was written.
type nodeSpec struct {
	path string // key path of the node's mapping; of the section for a writer given by "dsn:" or GRANT_<NAME>_DSN
	form nodeForm
	node topology.NodeConfig
}

type nodeForm int

const (
	nodeMapping nodeForm = iota // writer:, an item of replicas or of a role
	shortForm                   // the section's dsn:
	fromEnv                     // GRANT_<NAME>_DSN, for a section without a writer
)

// lines returns where a node begins and where its DSN is (or would be)
// written. Only errors need them.
func (b *builder) lines(n *nodeSpec) (line, dsnLine int) {
	switch n.form {
	case shortForm:
		line = b.idx.keyLine(n.path + ".dsn")
		return line, line
	case fromEnv:
		line = b.idx.keyLine(n.path)
		return line, line
	}
	line = b.idx.nodeLine(n.path)
	if b.idx.written(n.path + ".dsn") {
		return line, b.idx.keyLine(n.path + ".dsn")
	}
	return line, line
}

// dbSpec is a database or shard section as written, before the adapter
// default, the DSN override and the checks are applied.
type dbSpec struct {
	path   string
	dsn    *nodeSpec // short form: "dsn:"
	writer *nodeSpec // long form: "writer:"
	// replicas and roles in file order; roles by name.
	replicas []nodeSpec
	roles    map[string][]nodeSpec
	db       topology.DatabaseConfig // Pool, Policy, Migrations, Health
	// passwordFile is the short form's "password_file:", for its dsn.
	passwordFile string
}

func (b *builder) databases(m map[string]databaseDoc, defaultName string) map[string]topology.DatabaseConfig {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]topology.DatabaseConfig, len(m))
	for _, name := range inFileOrder(b, "databases", m) {
		path, d := dsnredact.JoinKey("databases", name), m[name]
		b.checkName(path, name, nil)
		adapter := b.str(path+".adapter", d.Adapter.node)
		spec := b.section(path, &d.sectionDoc)
		spec.db.Migrations = b.migrations(path, &d.Migrations, &d.MigrationsTable, &d.MigrationsDSN, &d.Tasks)
		spec.db.Health = b.healthOverride(path+".health", d.Health)
		out[name] = b.build(spec, buildOpts{
			name:          name,
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
		path, c := dsnredact.JoinKey("clusters", name), m[name]
		b.checkName(path, name, nil)
		out[name] = b.cluster(name, path, &c)
	}
	return out
}

func (b *builder) cluster(name, path string, d *clusterDoc) topology.ClusterConfig {
	adapter := b.str(path+".adapter", d.Adapter.node)
	c := topology.ClusterConfig{
		Pool:         b.pool(path+".pool", &d.Pool),
		Policy:       b.policy(path+".policy", d.Policy.node),
		Migrations:   b.migrations(path, &d.Migrations, &d.MigrationsTable, nil, &d.Tasks),
		Health:       b.healthOverride(path+".health", d.Health),
		MaxOpenPools: b.integer(path+".max_open_pools", d.MaxOpenPools.node),
		ShardKeys:    b.shardKeys(path+".shard_keys", d.ShardKeys),
	}
	switch {
	case len(d.Shards) > 0:
	case b.idx.written(path + ".shards"):
		b.fail(b.idx.keyLine(path+".shards"), path+".shards", "cluster %q needs at least one shard", name)
	default:
		b.fail(b.idx.keyLine(path), path+".shards", "missing: cluster %q needs at least one shard", name)
	}
	seen := make(map[string]int, len(d.Shards))
	c.Shards = make([]topology.ShardConfig, 0, len(d.Shards))
	for i := range d.Shards {
		sd, sp := &d.Shards[i], listItem(path+".shards", i)
		shard := b.name(sp+".name", sd.Name.node)
		if first, dup := seen[shard]; dup && b.err == nil {
			firstLine := b.idx.keyLine(listItem(path+".shards", first))
			b.fail(b.idx.keyLine(sp), sp+".name", "duplicate shard name %q in cluster %q (first at line %d)", shard, name, firstLine)
		} else if shard == "" && b.err == nil {
			b.fail(b.idx.keyLine(sp), sp+".name", "missing: every shard needs a name")
		}
		seen[shard] = i
		spec := b.section(sp, &sd.sectionDoc)
		spec.db.Health = b.healthOverride(sp+".health", sd.Health)
		spec.db.Migrations = b.migrations(sp, nil, nil, &sd.MigrationsDSN, nil)
		db := b.build(spec, buildOpts{
			name:    shard,
			cluster: name,
			envVar:  overrideVar(name, shard),
			shard:   true,
			adapter: adapter,
		})
		c.Shards = append(c.Shards, topology.ShardConfig{Name: shard, Pending: b.boolean(sp+".pending", sd.Pending.node), DatabaseConfig: db})
	}
	return c
}

// section reads what databases and shards share.
func (b *builder) section(path string, s *sectionDoc) *dbSpec {
	spec := &dbSpec{path: path}
	if s.DSN.node != nil || b.nulls[path+".dsn"] { // written, even null (an empty DSN: an error in build)
		spec.dsn = &nodeSpec{path: path, form: shortForm, node: topology.NodeConfig{DSN: b.str(path+".dsn", s.DSN.node)}}
	}
	spec.passwordFile = b.str(path+".password_file", s.PasswordFile.node)
	if s.Writer != nil || b.nulls[path+".writer"] { // "writer:" with a null value is a writer without a DSN
		w := s.Writer
		if w == nil {
			w = &nodeDoc{}
		}
		node := b.node(path+".writer", w)
		spec.writer = &node
	}
	spec.replicas = b.nodes(path+".replicas", s.Replicas)
	spec.roles = b.roles(path+".roles", s.Roles)
	spec.db.Pool = b.pool(path+".pool", &s.Pool)
	spec.db.Policy = b.policy(path+".policy", s.Policy.node)
	return spec
}

func (b *builder) roles(path string, m map[string][]nodeDoc) map[string][]nodeSpec {
	if len(m) == 0 {
		return nil
	}
	roles := make(map[string][]nodeSpec, len(m))
	for _, role := range inFileOrder(b, path, m) {
		rp := dsnredact.JoinKey(path, role)
		b.checkName(rp, role, nil)
		switch {
		case b.err != nil:
		case role == topology.Writing || role == topology.Reading:
			b.fail(b.idx.keyLine(rp), rp, "%q is a built-in role: use writer/replicas instead", role)
		case len(m[role]) == 0:
			b.fail(b.idx.keyLine(rp), rp, "a custom role needs at least one node")
		}
		roles[role] = b.nodes(rp, m[role])
	}
	return roles
}

func (b *builder) nodes(path string, docs []nodeDoc) []nodeSpec {
	nodes := make([]nodeSpec, len(docs))
	for i := range docs {
		nodes[i] = b.node(listItem(path, i), &docs[i])
	}
	return nodes
}

func (b *builder) node(path string, n *nodeDoc) nodeSpec {
	spec := nodeSpec{path: path}
	spec.node = topology.NodeConfig{
		Name:    b.name(path+".name", n.Name.node), // "" is the default name, as in NodeConfig
		DSN:     b.str(path+".dsn", n.DSN.node),
		Adapter: b.str(path+".adapter", n.Adapter.node),
		Weight:  b.integer(path+".weight", n.Weight.node),
	}
	if n.Pool != nil {
		pool := b.pool(path+".pool", n.Pool)
		spec.node.Pool = &pool
	}
	spec.node.PasswordFile = b.str(path+".password_file", n.PasswordFile.node)
	return spec
}

type buildOpts struct {
	name, cluster string // the database's name; a shard's and its cluster's
	envVar        string // GRANT_..._DSN
	mayOmitWriter bool   // the default database
	shard         bool
	adapter       string // default adapter of the nodes
}

// what names the section in errors: `database "primary"`, `shard "s1"
// of cluster "orders"`.
func (o buildOpts) what() string {
	if o.shard {
		return fmt.Sprintf("shard %q of cluster %q", o.name, o.cluster)
	}
	return fmt.Sprintf("database %q", o.name)
}

// build applies the DSN override and the adapter default to a section and
// checks its nodes.
func (b *builder) build(s *dbSpec, o buildOpts) (db topology.DatabaseConfig) {
	if b.err != nil {
		return db
	}
	db = s.db
	if s.dsn != nil && s.writer != nil {
		b.fail(b.idx.keyLine(s.path+".writer"), s.path+".writer", "give either dsn or writer, not both")
		return db
	}
	w := s.dsn
	if w == nil {
		w = s.writer
	}
	overridden := false
	if v, ok := b.env(o.envVar); ok && v != "" {
		if w == nil {
			w = &nodeSpec{path: s.path, form: fromEnv}
		}
		w.node.DSN, overridden = v, true
	}
	if s.passwordFile != "" {
		if s.writer != nil {
			b.fail(b.idx.keyLine(s.path+".password_file"), s.path+".password_file", "goes with the short form (dsn:); with writer:, put password_file inside the writer")
			return db
		}
		if w != nil {
			w.node.PasswordFile = s.passwordFile
		}
	}
	if w == nil && !o.mayOmitWriter {
		problem := "missing writer: give dsn or writer, or set " + o.envVar
		if o.shard {
			b.fail(b.idx.keyLine(s.path), s.path+".writer", "%s (every shard needs a writer)", problem)
		} else {
			b.fail(b.idx.keyLine(s.path), s.path+".writer", "%s (only the default database may omit its writer)", problem)
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
	roleNames := slices.Sorted(maps.Keys(s.roles))
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
			_, dsnLine := b.lines(n)
			b.fail(dsnLine, n.path+".dsn", "missing DSN")
			return db
		}
		if n.node.Adapter == "" {
			line, _ := b.lines(n)
			b.fail(line, n.path+".adapter", "missing: set adapter on this node or on %s", o.what())
			return db
		}
		b.adapters[n.node.Adapter] = true
	}
	for _, r := range s.replicas {
		if w != nil && r.node.DSN == w.node.DSN {
			problem := "replica listed as writer: its DSN is the writer's DSN of " + o.what()
			if overridden {
				problem += " (set by " + o.envVar + ")"
			}
			_, dsnLine := b.lines(&r)
			b.fail(dsnLine, r.path+".dsn", "%s", problem)
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
