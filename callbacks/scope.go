package callbacks

import (
	"reflect"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/grant-go/grant/resolver"
)

// Statement-level Connections live in Statement.Clauses, not Settings:
// reading a sync.Map that nothing has written yet allocates its root (Go
// 1.24+), and grant's read path must not allocate.
const (
	scopeKey      = "grant:connection"
	dbresolverKey = "grant:dbresolver-role"
)

// dbresolver's names, honoured so that code written for dbresolver keeps its
// meaning under grant.
const (
	dbresolverCallback = "gorm:db_resolver"
	dbresolverWrite    = "gorm:db_resolver:write"
	dbresolverRead     = "gorm:db_resolver:read"
	dbresolverUsing    = "gorm:db_resolver:using"
)

// connectionClause carries a Connection in Statement.Clauses; it builds no SQL.
type connectionClause struct{ conn resolver.Connection }

func (connectionClause) Build(clause.Builder) {}

// WithScope layers c over the Connection db's statement already carries: a
// later scope wins field by field. It is what grant's scopes call.
func WithScope(db *gorm.DB, c resolver.Connection) *gorm.DB {
	if v, ok := db.Statement.Clauses[scopeKey].Expression.(connectionClause); ok {
		c = c.Over(v.conn)
	}
	db.Statement.Clauses[scopeKey] = clause.Clause{Expression: connectionClause{conn: c}}
	return db
}

// scopeConnection is the statement-level Connection: grant's scopes, then
// dbresolver's Write/Read/Use clauses.
func scopeConnection(stmt *gorm.Statement) resolver.Connection {
	var c resolver.Connection
	if v, ok := stmt.Clauses[scopeKey].Expression.(connectionClause); ok {
		c = v.conn
	}
	if c.Role == "" {
		if v, ok := stmt.Clauses[dbresolverKey].Expression.(connectionClause); ok {
			c.Role = v.conn.Role
		}
	}
	if c.Database == "" {
		if using, ok := stmt.Clauses[dbresolverUsing]; ok {
			c.Database = usingName(using.Expression)
		}
	}
	return c
}

// onDBResolverClause is registered on the query processor under dbresolver's
// callback name, because dbresolver.Write and dbresolver.Read call that
// callback right after recording themselves in Statement.Settings (while the
// chain is being built, before the statement has a destination). It copies
// the role into Statement.Clauses so routing never reads Settings. Run as an
// ordinary query callback (the destination is set by then) it does nothing.
func onDBResolverClause(db *gorm.DB) {
	stmt := db.Statement
	if stmt.Dest != nil {
		return
	}
	role := ""
	if _, ok := stmt.Settings.Load(dbresolverWrite); ok {
		role = resolver.Writing
	} else if _, ok := stmt.Settings.Load(dbresolverRead); ok {
		role = resolver.Reading
	}
	if role != "" {
		stmt.Clauses[dbresolverKey] = clause.Clause{Expression: connectionClause{conn: resolver.Connection{Role: role}}}
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
