package callbacks

import (
	"reflect"

	"gorm.io/gorm"

	"github.com/grant-go/grant/resolver"
)

// scopeKey holds a statement's own resolver.Connection in Statement.Settings.
const scopeKey = "grant:connection"

// dbresolver's clause settings, honoured so that code written for dbresolver
// keeps its meaning under grant.
const (
	dbresolverWrite = "gorm:db_resolver:write"
	dbresolverRead  = "gorm:db_resolver:read"
	dbresolverUsing = "gorm:db_resolver:using"
)

// WithScope layers c over the Connection db's statement already carries: a
// later scope wins field by field. It is what grant's scopes call.
func WithScope(db *gorm.DB, c resolver.Connection) *gorm.DB {
	if v, ok := db.Statement.Settings.Load(scopeKey); ok {
		c = c.Over(v.(resolver.Connection))
	}
	db.Statement.Settings.Store(scopeKey, c)
	return db
}

// scopeConnection is the statement-level Connection: grant's scopes, then
// dbresolver's Write/Read/Use clauses.
func scopeConnection(stmt *gorm.Statement) resolver.Connection {
	var c resolver.Connection
	if v, ok := stmt.Settings.Load(scopeKey); ok {
		c = v.(resolver.Connection)
	}
	if c.Role == "" {
		if _, ok := stmt.Settings.Load(dbresolverWrite); ok {
			c.Role = resolver.Writing
		} else if _, ok := stmt.Settings.Load(dbresolverRead); ok {
			c.Role = resolver.Reading
		}
	}
	if c.Database == "" {
		if using, ok := stmt.Clauses[dbresolverUsing]; ok {
			c.Database = usingName(using.Expression)
		}
	}
	return c
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
