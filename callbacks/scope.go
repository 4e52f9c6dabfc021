package callbacks

import (
	"reflect"
	"sync/atomic"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/grant-go/grant/resolver"
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
type connectionClause struct{ conn resolver.Connection }

func (*connectionClause) Build(clause.Builder) {}

// scopesUsed is set the first time any statement gets a Connection of its
// own: until then routing skips looking for one.
var scopesUsed atomic.Bool

// ScopeFunc returns a GORM scope that layers c over the Connection the
// statement already carries (a later scope wins field by field). The
// clause is made once, here: the scope itself allocates nothing. It is what
// grant's scopes return.
func ScopeFunc(c resolver.Connection) func(*gorm.DB) *gorm.DB {
	made := clause.Clause{Expression: &connectionClause{conn: c}}
	return func(db *gorm.DB) *gorm.DB { return withScope(db, c, made) }
}

// WithScope layers c over the Connection db's statement already carries.
func WithScope(db *gorm.DB, c resolver.Connection) *gorm.DB {
	return withScope(db, c, clause.Clause{Expression: &connectionClause{conn: c}})
}

func withScope(db *gorm.DB, c resolver.Connection, made clause.Clause) *gorm.DB {
	if !scopesUsed.Load() {
		scopesUsed.Store(true)
	}
	if v, ok := db.Statement.Clauses[scopeKey].Expression.(*connectionClause); ok {
		made = clause.Clause{Expression: &connectionClause{conn: c.Over(v.conn)}}
	}
	db.Statement.Clauses[scopeKey] = made
	return db
}

// scopeConnection is the statement-level Connection, nil when it has none;
// it is shared and must not be modified. Until a program uses a scope it
// costs one atomic load.
func scopeConnection(stmt *gorm.Statement) *resolver.Connection {
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
	var c resolver.Connection
	if _, ok := stmt.Settings.Load(dbresolverWrite); ok {
		c.Role = resolver.Writing
	} else if _, ok := stmt.Settings.Load(dbresolverRead); ok {
		c.Role = resolver.Reading
	}
	if using, ok := stmt.Clauses[dbresolverUsing]; ok {
		c.Database = usingName(using.Expression)
	}
	if c != (resolver.Connection{}) {
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
