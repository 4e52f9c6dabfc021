package topology

import (
	"fmt"
	"sort"

	"go.yaml.in/yaml/v3"
)

// This file maps the databases and clusters sections of a topology file
// onto DatabaseConfig and ClusterConfig.

// nodeSpec is a node as written, with where it was written.
type nodeSpec struct {
	path    string // key path of the node's mapping; of the database for "dsn:"
	line    int    // the node's first line
	dsnLine int    // the dsn key's line, or line
	node    NodeConfig
}

// dbSpec is a database or shard section as written, before the adapter
// default, the DSN override and the checks are applied.
type dbSpec struct {
	path    string
	line    int // the section's key (or list item) line
	name    string
	adapter string
	hasName bool
	dsn     *nodeSpec // short form: "dsn:"
	writer  *nodeSpec // long form: "writer:"
	writerL int       // the writer key's line
	// replicas and roles in file order; roles by name.
	replicas []nodeSpec
	roles    map[string][]nodeSpec
	db       DatabaseConfig // Pool, Policy, Migrations, Health
	// passwordFile is the short form's "password_file:", for its dsn.
	passwordFile  string
	passwordFileL int
}

func (p *parser) databases(n *yaml.Node, defaultName string) (map[string]DatabaseConfig, error) {
	entries, err := p.mapping("databases", n, nil)
	if err != nil || len(entries) == 0 {
		return nil, err
	}
	out := make(map[string]DatabaseConfig, len(entries))
	for _, e := range entries {
		path := join("databases", e.key)
		if err := p.checkName(path, e.line, e.key); err != nil {
			return nil, err
		}
		spec, err := p.dbSection(path, e.line, e.value, databaseKeys)
		if err != nil {
			return nil, err
		}
		db, err := p.build(spec, buildOpts{
			what:          fmt.Sprintf("database %q", e.key),
			envVar:        overrideVar(e.key),
			mayOmitWriter: e.key == defaultName,
			adapter:       spec.adapter,
		})
		if err != nil {
			return nil, err
		}
		out[e.key] = db
	}
	return out, nil
}

func (p *parser) clusters(n *yaml.Node) (map[string]ClusterConfig, error) {
	entries, err := p.mapping("clusters", n, nil)
	if err != nil || len(entries) == 0 {
		return nil, err
	}
	out := make(map[string]ClusterConfig, len(entries))
	for _, e := range entries {
		path := join("clusters", e.key)
		if err := p.checkName(path, e.line, e.key); err != nil {
			return nil, err
		}
		cluster, err := p.cluster(e.key, path, e.line, e.value)
		if err != nil {
			return nil, err
		}
		out[e.key] = cluster
	}
	return out, nil
}

func (p *parser) cluster(name, path string, line int, n *yaml.Node) (ClusterConfig, error) {
	var c ClusterConfig
	entries, err := p.mapping(path, n, clusterKeys)
	if err != nil {
		return c, err
	}
	var adapter string
	var shards *entry
	for _, e := range entries {
		if handled, err := p.migrations(path, e, &c.Migrations); handled {
			if err != nil {
				return c, err
			}
			continue
		}
		switch e.key {
		case "adapter":
			adapter, err = p.str(path+".adapter", e.value)
		case "pool":
			c.Pool, err = p.pool(path+".pool", e.value)
		case "policy":
			c.Policy, err = p.policy(path+".policy", e.value)
		case "health":
			c.Health, err = p.healthOverride(path+".health", e.value)
		case "max_open_pools":
			c.MaxOpenPools, err = p.integer(path+".max_open_pools", e.value)
		case "shard_keys":
			c.ShardKeys, err = p.shardKeys(path+".shard_keys", e.value)
		case "shards":
			shards = &e
		}
		if err != nil {
			return c, err
		}
	}
	if shards == nil {
		return c, p.fail(line, path+".shards", "missing: cluster %q needs at least one shard", name)
	}
	items, err := p.list(path+".shards", shards.value, "shards")
	if err != nil {
		return c, err
	}
	if len(items) == 0 {
		return c, p.fail(shards.line, path+".shards", "cluster %q needs at least one shard", name)
	}
	seen := map[string]int{}
	for i, item := range items {
		sp := fmt.Sprintf("%s.shards[%d]", path, i)
		spec, err := p.dbSection(sp, lineOf(item), item, shardKeys)
		if err != nil {
			return c, err
		}
		if !spec.hasName {
			return c, p.fail(spec.line, sp+".name", "missing: every shard needs a name")
		}
		if first, dup := seen[spec.name]; dup {
			return c, p.fail(spec.line, sp+".name", "duplicate shard name %q in cluster %q (first at line %d)", spec.name, name, first)
		}
		seen[spec.name] = spec.line
		db, err := p.build(spec, buildOpts{
			what:    fmt.Sprintf("shard %q of cluster %q", spec.name, name),
			envVar:  overrideVar(name, spec.name),
			shard:   true,
			adapter: adapter,
		})
		if err != nil {
			return c, err
		}
		c.Shards = append(c.Shards, ShardConfig{Name: spec.name, DatabaseConfig: db})
	}
	return c, nil
}

// dbSection reads a database or shard mapping; allowed says which of the
// two it is.
func (p *parser) dbSection(path string, line int, n *yaml.Node, allowed []string) (*dbSpec, error) {
	spec := &dbSpec{path: path, line: line}
	entries, err := p.mapping(path, n, allowed)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if handled, err := p.migrations(path, e, &spec.db.Migrations); handled {
			if err != nil {
				return nil, err
			}
			continue
		}
		key := join(path, e.key)
		switch e.key {
		case "name":
			if spec.name, err = p.str(key, e.value); err == nil && spec.name != "" {
				spec.hasName = true
				err = p.checkName(key, lineOf(e.value), spec.name)
			}
		case "adapter":
			spec.adapter, err = p.str(key, e.value)
		case "dsn":
			var dsn string
			if dsn, err = p.str(key, e.value); err == nil {
				spec.dsn = &nodeSpec{path: path, line: e.line, dsnLine: e.line, node: NodeConfig{DSN: dsn}}
			}
		case "password_file":
			spec.passwordFile, err = p.str(key, e.value)
			spec.passwordFileL = e.line
		case "writer":
			var w nodeSpec
			if w, err = p.node(key, e.line, e.value); err == nil {
				spec.writer, spec.writerL = &w, e.line
			}
		case "replicas":
			spec.replicas, err = p.nodes(key, e.value)
		case "roles":
			spec.roles, err = p.roles(key, e.value)
		case "pool":
			spec.db.Pool, err = p.pool(key, e.value)
		case "policy":
			spec.db.Policy, err = p.policy(key, e.value)
		case "health":
			spec.db.Health, err = p.healthOverride(key, e.value)
		}
		if err != nil {
			return nil, err
		}
	}
	return spec, nil
}

func (p *parser) roles(path string, n *yaml.Node) (map[string][]nodeSpec, error) {
	entries, err := p.mapping(path, n, nil)
	if err != nil || len(entries) == 0 {
		return nil, err
	}
	roles := make(map[string][]nodeSpec, len(entries))
	for _, e := range entries {
		rp := join(path, e.key)
		if err := p.checkName(rp, e.line, e.key); err != nil {
			return nil, err
		}
		if e.key == Writing || e.key == Reading {
			return nil, p.fail(e.line, rp, "%q is a built-in role: use writer/replicas instead", e.key)
		}
		nodes, err := p.nodes(rp, e.value)
		if err != nil {
			return nil, err
		}
		if len(nodes) == 0 {
			return nil, p.fail(e.line, rp, "a custom role needs at least one node")
		}
		roles[e.key] = nodes
	}
	return roles, nil
}

func (p *parser) nodes(path string, n *yaml.Node) ([]nodeSpec, error) {
	items, err := p.list(path, n, "nodes (name, dsn, adapter, weight, pool)")
	if err != nil {
		return nil, err
	}
	nodes := make([]nodeSpec, 0, len(items))
	for i, item := range items {
		node, err := p.node(fmt.Sprintf("%s[%d]", path, i), lineOf(item), item)
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, node)
	}
	return nodes, nil
}

func (p *parser) node(path string, line int, n *yaml.Node) (nodeSpec, error) {
	if l := lineOf(n); l > 0 && !isNull(n) {
		line = l
	}
	spec := nodeSpec{path: path, line: line, dsnLine: line}
	entries, err := p.mapping(path, n, nodeKeys)
	if err != nil {
		return spec, err
	}
	for _, e := range entries {
		key := join(path, e.key)
		switch e.key {
		case "name":
			// An empty name is the default one, as in NodeConfig.
			if spec.node.Name, err = p.str(key, e.value); err == nil && spec.node.Name != "" {
				err = p.checkName(key, lineOf(e.value), spec.node.Name)
			}
		case "dsn":
			spec.node.DSN, err = p.str(key, e.value)
			spec.dsnLine = e.line
		case "adapter":
			spec.node.Adapter, err = p.str(key, e.value)
		case "weight":
			spec.node.Weight, err = p.integer(key, e.value)
		case "pool":
			var pool PoolConfig
			if pool, err = p.pool(key, e.value); err == nil {
				spec.node.Pool = &pool
			}
		case "password_file":
			spec.node.PasswordFile, err = p.str(key, e.value)
		}
		if err != nil {
			return spec, err
		}
	}
	return spec, nil
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
func (p *parser) build(s *dbSpec, o buildOpts) (DatabaseConfig, error) {
	db := s.db
	if s.dsn != nil && s.writer != nil {
		return db, p.fail(s.writerL, s.path+".writer", "give either dsn or writer, not both")
	}
	w := s.dsn
	if w == nil {
		w = s.writer
	}
	overridden := false
	if v, ok := p.env(o.envVar); ok && v != "" {
		if w == nil {
			w = &nodeSpec{path: s.path, line: s.line, dsnLine: s.line}
		}
		w.node.DSN, overridden = v, true
	}
	if s.passwordFile != "" {
		if s.writer != nil {
			return db, p.fail(s.passwordFileL, s.path+".password_file", "goes with the short form (dsn:); with writer:, put password_file inside the writer")
		}
		if w != nil {
			w.node.PasswordFile = s.passwordFile
		}
	}
	if w == nil && !o.mayOmitWriter {
		problem := "missing writer: give dsn or writer, or set " + o.envVar
		if o.shard {
			return db, p.fail(s.line, s.path+".writer", "%s (every shard needs a writer)", problem)
		}
		return db, p.fail(s.line, s.path+".writer", "%s (only the default database may omit its writer)", problem)
	}

	var all []*nodeSpec
	if w != nil {
		all = append(all, w)
	}
	for i := range s.replicas {
		all = append(all, &s.replicas[i])
	}
	roleNames := make([]string, 0, len(s.roles))
	for role := range s.roles {
		roleNames = append(roleNames, role)
	}
	sort.Strings(roleNames)
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
			return db, p.fail(n.dsnLine, n.path+".dsn", "missing DSN")
		}
		if n.node.Adapter == "" {
			return db, p.fail(n.line, n.path+".adapter", "missing: set adapter on this node or on %s", o.what)
		}
		p.adapters[n.node.Adapter] = true
	}
	for _, r := range s.replicas {
		if w != nil && r.node.DSN == w.node.DSN {
			problem := "replica listed as writer: its DSN is the writer's DSN of " + o.what
			if overridden {
				problem += " (set by " + o.envVar + ")"
			}
			return db, p.fail(r.dsnLine, r.path+".dsn", "%s", problem)
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
			db.Roles = make(map[string][]NodeConfig, len(roleNames))
		}
		for _, n := range s.roles[role] {
			db.Roles[role] = append(db.Roles[role], n.node)
		}
	}
	return db, nil
}
