package topology

import "context"

// Built-in role names. A database's writer serves Writing, its replicas
// Reading; any other name is a custom role configured on the database.
const (
	Writing = "writing"
	Reading = "reading"
)

// Route is where one statement went: the database, the role within it, and
// the node that served it. It is a plain value, safe to copy and to keep.
type Route struct {
	Database string
	// Shard is the shard of a sharded cluster (Database names the
	// cluster); empty for unsharded databases.
	Shard string
	Role  string
	// Node is the serving node's label, "primary/writing" or
	// "primary/reading#1"; empty when the statement was refused before a
	// node was chosen.
	Node string
	// PreventWrites is true when writes were refused on this route.
	PreventWrites bool
	// InTransaction is true when the statement ran inside a transaction.
	InTransaction bool
}

// String renders the route as "database/role", or the node label when known.
func (r Route) String() string {
	if r.Node != "" {
		return r.Node
	}
	s := r.Database
	if r.Shard != "" {
		s += "/" + r.Shard
	}
	if r.Role != "" {
		s += "/" + r.Role
	}
	return s
}

// Connection says where statements should go: a database, a role and whether
// writes are prevented. Zero fields mean "not said here", so Connections
// layer: a statement scope over a context over a model over the defaults.
type Connection struct {
	// Database names a database or a sharded cluster.
	Database string
	// Shard names a shard; it applies to statements whose model lives in a
	// cluster and is ignored by unsharded databases (as Rails' shard
	// switching leaves unsharded models alone).
	Shard         string
	Role          string
	PreventWrites bool
}

// Over returns c with its zero fields taken from outer: the innermost
// (c) wins field by field. PreventWrites, once set by an outer layer, stays
// set: an inner layer cannot lift a caller's write prevention.
func (c Connection) Over(outer Connection) Connection {
	if c.Database == "" {
		c.Database = outer.Database
	}
	if c.Role == "" {
		c.Role = outer.Role
	}
	if c.Shard == "" {
		c.Shard = outer.Shard
	}
	c.PreventWrites = c.PreventWrites || outer.PreventWrites
	return c
}

// AllShards as Connection.Shard asks for every shard of the cluster: reads
// are scattered to all of them and merged.
const AllShards = "*"

type connectionKey struct{}

// WithConnection returns a context carrying c layered over any Connection ctx
// already carries. The value lives only in the returned context, so other
// goroutines and requests never see it.
func WithConnection(ctx context.Context, c Connection) context.Context {
	if outer, ok := ConnectionFrom(ctx); ok {
		c = c.Over(outer)
	}
	return context.WithValue(ctx, connectionKey{}, &c)
}

// ConnectionFrom returns the Connection ctx carries, if any.
func ConnectionFrom(ctx context.Context) (Connection, bool) {
	if c := ConnectionIn(ctx); c != nil {
		return *c, true
	}
	return Connection{}, false
}

// ConnectionIn is ConnectionFrom without the copy: the Connection ctx
// carries, or nil. It is shared by every statement of the context and must
// not be modified.
func ConnectionIn(ctx context.Context) *Connection {
	if ctx == nil {
		return nil
	}
	c, _ := ctx.Value(connectionKey{}).(*Connection)
	return c
}
