package callbacks

import (
	"reflect"
	"sync/atomic"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/grant-go/grant/topology"
)

// A statement's own Connection — from grant's scopes and dbresolver's
// clauses, merged — lives in Statement.Clauses under one key, not in
// Settings: reading a sync.Map nothing has written yet allocates its root
// (Go 1.24+), and one map lookup is all the read path spends on it.
const scopeKey = "grant:connection"

// dbresolver's names, honoured so that code written for dbresolver keeps its
// meaning under grant.
const (
	dbresolverCallback = "gorm:db_resolver"
	dbresolverWrite    = "gorm:db_resolver:write"
	dbresolverRead     = "gorm:db_resolver:read"
	dbresolverUsing    = "gorm:db_resolver:using"
)

// connectionClause carries a Connection in Statement.Clauses; it builds no
// SQL. Statements share the values a scope made (they are never changed),
// so applying a scope allocates nothing.
type connectionClause struct{ conn topology.Connection }

func (*connectionClause) Build(clause.Builder) {}

// scopesUsed is set the first time any statement gets a Connection of its
// own: until then routing skips looking for one.
var scopesUsed atomic.Bool

// ScopeFunc returns a GORM scope that layers c over the Connection the
// statement already carries (a later scope wins field by field). The
// clause is made once, here, and so is the scoped pool (see scopedPool):
// the scope itself allocates nothing. It is what grant's scopes return.
func ScopeFunc(c topology.Connection) func(*gorm.DB) *gorm.DB {
	made := &connectionClause{conn: c}
	var pool atomic.Pointer[scopedPool]
	return func(db *gorm.DB) *gorm.DB { return withScope(db, made, &pool) }
}

// WithScope layers c over the Connection db's statement already carries.
func WithScope(db *gorm.DB, c topology.Connection) *gorm.DB {
	return withScope(db, &connectionClause{conn: c}, nil)
}

// withScope records scope in the statement's clauses, merged over one
// already there. A statement's first scope from ScopeFunc is recorded in
// its pool too when that is grant's handle's, outside any transaction;
// cached keeps that scopedPool for the next statement.
func withScope(db *gorm.DB, scope *connectionClause, cached *atomic.Pointer[scopedPool]) *gorm.DB {
	if !scopesUsed.Load() {
		scopesUsed.Store(true)
	}
	stmt := db.Statement
	if v, ok := stmt.Clauses[scopeKey].Expression.(*connectionClause); ok {
		stmt.Clauses[scopeKey] = clause.Clause{Expression: &connectionClause{conn: scope.conn.Over(v.conn)}}
		if p, ok := stmt.ConnPool.(*scopedPool); ok {
			stmt.ConnPool = p.RoutingPool // the merged scope is read from the clause
		}
		return db
	}
	stmt.Clauses[scopeKey] = clause.Clause{Expression: scope}
	if p, ok := stmt.ConnPool.(*RoutingPool); ok {
		stmt.ConnPool = p.scoped(scope, cached)
	}
	return db
}

// scopedPool is grant's routing pool carrying a statement's scope, so that
// routing finds the scope without a map lookup. A scope sets it on a
// statement whose pool is the handle's RoutingPool (outside any
// transaction), alongside the clause that every other path reads: anything
// that replaces the pool before routing (GORM's default transaction begins
// through it) leaves the clause to carry the scope. It behaves as the
// RoutingPool it wraps.
type scopedPool struct {
	*RoutingPool
	scope *connectionClause
}

// scoped returns p carrying scope: the scopedPool cached for p, made on the
// first statement. A scope keeps one, for the first handle it meets; on
// another handle (or for WithScope) the clause alone carries the scope, so
// that alternating handles never allocate per statement.
func (p *RoutingPool) scoped(scope *connectionClause, cached *atomic.Pointer[scopedPool]) gorm.ConnPool {
	if cached == nil {
		return p
	}
	if sp := cached.Load(); sp != nil {
		if sp.RoutingPool == p {
			return sp
		}
		return p
	}
	sp := &scopedPool{RoutingPool: p, scope: scope}
	if cached.CompareAndSwap(nil, sp) {
		return sp
	}
	return p // another statement cached first; the clause carries this one
}

// scopeConnection is the statement-level Connection, nil when it has none;
// it is shared and must not be modified. Until a program uses a scope it
// costs one atomic load.
func scopeConnection(stmt *gorm.Statement) *topology.Connection {
	if !scopesUsed.Load() || len(stmt.Clauses) == 0 {
		return nil
	}
	if v, ok := stmt.Clauses[scopeKey].Expression.(*connectionClause); ok {
		return &v.conn
	}
	return nil
}

// onDBResolverClause is registered on the query processor under dbresolver's
// callback name, because dbresolver.Write, Read and Use call that callback
// right after recording themselves (in Settings, or Clauses for Use) while
// the chain is being built, before the statement has a destination. It folds
// them into the statement's Connection, so routing reads one map entry and
// never Settings. Run as an ordinary query callback (the destination is set
// by then) it does nothing. (It cannot be kept out of the chain: GORM's
// Get finds only callbacks that are in it.)
func onDBResolverClause(db *gorm.DB) {
	stmt := db.Statement
	if stmt.Dest != nil {
		return
	}
	var c topology.Connection
	if _, ok := stmt.Settings.Load(dbresolverWrite); ok {
		c.Role = topology.Writing
	} else if _, ok := stmt.Settings.Load(dbresolverRead); ok {
		c.Role = topology.Reading
	}
	if using, ok := stmt.Clauses[dbresolverUsing]; ok {
		c.Database = usingName(using.Expression)
	}
	if c != (topology.Connection{}) {
		WithScope(db, c)
	}
}

// usingName reads dbresolver.Use's name. Its type is unexported, so grant
// reads the field it is documented to carry.
func usingName(expr any) string {
	v := reflect.ValueOf(expr)
	if v.Kind() == reflect.Struct {
		if f := v.FieldByName("Use"); f.IsValid() && f.Kind() == reflect.String {
			return f.String()
		}
	}
	return ""
}
