package callbacks

import (
	"fmt"
	"reflect"

	"gorm.io/gorm/schema"

	"github.com/grant-go/grant/internal/route"
	"github.com/grant-go/grant/topology"
)

// ConnectsTo is implemented by models that live somewhere other than the
// default database: `func (Event) ConnectsTo() grant.Connection`.
type ConnectsTo interface {
	ConnectsTo() topology.Connection
}

// modelRoute is a model's declared Connection, computed once per schema.
type modelRoute struct {
	conn topology.Connection
	key  *shardKey // nil unless the model lives in a cluster and declares one
	err  error
	// route is the declaration as package route reads it.
	route route.Model
	// decided keeps its statements' decisions (see decided.go).
	decided decisions
}

// CheckModel reports what is wrong with a model's declaration (ConnectsTo,
// ShardKey, configured shard keys) against the topology, or nil. Statements
// of a model with an error fail with that error.
func (r *Router) CheckModel(s *schema.Schema) error { return r.model(s).err }

// model returns s's declaration. The cache is a plain map behind an atomic
// pointer, copied on the rare write (once per model): a read is one atomic
// load and one pointer-keyed map lookup, cheaper than sync.Map's.
func (r *Router) model(s *schema.Schema) *modelRoute {
	if m, ok := (*r.models.Load())[s]; ok {
		return m
	}
	r.modelsMu.Lock()
	defer r.modelsMu.Unlock()
	current := *r.models.Load()
	if m, ok := current[s]; ok {
		return m
	}
	m := r.declaration(s)
	next := make(map[*schema.Schema]*modelRoute, len(current)+1)
	for k, v := range current {
		next[k] = v
	}
	next[s] = m
	r.models.Store(&next)
	return m
}

// declaration asks the model (by value or by pointer, whichever has the
// method), then Config.Tables by the model's table.
func (r *Router) declaration(s *schema.Schema) *modelRoute {
	m := &modelRoute{}
	ptr := reflect.New(s.ModelType)
	if decl, ok := ptr.Interface().(ConnectsTo); ok {
		m.conn = decl.ConnectsTo()
	}
	if m.conn.Database == "" {
		if d := r.topology.ForTable(s.Table); d != nil {
			m.conn.Database = d.Name()
		} else if c := r.topology.ClusterForTable(s.Table); c != nil {
			m.conn.Database = c.Name()
		}
	}
	cluster, isCluster := r.topology.Cluster(m.conn.Database)
	if decl, ok := ptr.Interface().(ShardKeyed); ok {
		m.key, m.err = declareShardKey(s, decl.ShardKey(), cluster, r.resolveDatabase)
	} else if isCluster {
		if spec, ok := cluster.ShardKeyFor(s.Table); ok {
			m.key, m.err = declareShardKey(s, spec, cluster, r.resolveDatabase)
		}
	}
	if m.conn.Database != "" && !isCluster {
		if _, err := r.topology.Database(m.conn.Database); err != nil {
			m.err = &topology.RouteError{Err: topology.ErrUnknownDatabase, Table: s.Table, Route: topology.Route{Database: m.conn.Database},
				Detail: fmt.Sprintf("model %s declares it in ConnectsTo; %s", s.Name, err.(*topology.RouteError).Detail)}
		}
	}
	m.route = route.Model{Name: s.Name, Conn: m.conn, Err: m.err}
	if m.key != nil {
		m.route.Keyed, m.route.KeyColumn = true, m.key.field.DBName
		m.route.ScatterReads, m.route.IDs = m.key.scatterReads, m.key.ids != nil
	}
	return m
}

// DatabasesOf returns the databases a model lives in by its declaration or
// the table mapping: every shard of its cluster, its one database, or the
// default database.
func (r *Router) DatabasesOf(s *schema.Schema) ([]*topology.Database, error) {
	m := r.model(s)
	if m.err != nil {
		return nil, m.err
	}
	if m.conn.Database == "" {
		return []*topology.Database{r.topology.Default()}, nil
	}
	if c, ok := r.topology.Cluster(m.conn.Database); ok {
		return c.Shards(), nil
	}
	d, err := r.topology.Database(m.conn.Database)
	return []*topology.Database{d}, err
}
