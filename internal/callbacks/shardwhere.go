package callbacks

import (
	"reflect"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"
)

// keysFromWhere collects the shard key values a statement's WHERE pins the
// key to: `key = v` or `key IN (…)` as a top-level AND condition, whether
// written as a string (Where("customer_id = ?", 7)), a struct or map
// condition, or a primary-key lookup when the key is the primary key. It
// returns nil when no such condition exists; OR branches and other
// operators never count, so a key is only used when every matching row must
// carry it.
func keysFromWhere(stmt *gorm.Statement, field *schema.Field) []any {
	values, _ := keysAndRest(stmt, field)
	return values
}

// keysAndRest is keysFromWhere that also says whether the key condition is
// the whole WHERE: then the WHERE holds no subquery, and a statement routed
// by it needs no further look (the point query's path stays this cheap).
func keysAndRest(stmt *gorm.Statement, field *schema.Field) (values []any, onlyKey bool) {
	where, ok := stmt.Clauses["WHERE"].Expression.(clause.Where)
	if !ok {
		return nil, false
	}
	values = keysFromConditions(where.Exprs, field)
	return values, len(values) > 0 && len(where.Exprs) == 1 && !anySubquery(values)
}

func keysFromConditions(exprs []clause.Expression, field *schema.Field) []any {
	for i, expr := range exprs {
		// GORM joins a one-condition Or (db.Where(a).Or(b)) to the previous
		// condition with OR: then the list is no conjunction, and no
		// condition in it pins the key.
		if or, ok := expr.(clause.OrConditions); ok && i > 0 && len(or.Exprs) == 1 {
			return nil
		}
	}
	for _, expr := range exprs {
		var values []any
		switch e := expr.(type) {
		case clause.Eq:
			if isKeyColumn(e.Column, field) {
				values = spread(e.Value)
			}
		case clause.IN:
			if isKeyColumn(e.Column, field) {
				for _, v := range e.Values {
					values = append(values, spread(v)...)
				}
			}
		case clause.Expr:
			values = keysFromExpr(e, field)
		case clause.AndConditions:
			values = keysFromConditions(e.Exprs, field)
		}
		if len(values) > 0 {
			return values
		}
	}
	return nil
}

func isKeyColumn(column any, field *schema.Field) bool {
	switch c := column.(type) {
	case string:
		return sameColumn(c, field)
	case clause.Column:
		if c.Name == clause.PrimaryKey {
			return field.PrimaryKey
		}
		return sameColumn(c.Name, field)
	}
	return false
}

// sameColumn compares a possibly qualified, possibly quoted column name.
func sameColumn(name string, field *schema.Field) bool {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		name = name[i+1:]
	}
	for len(name) > 0 && isQuoteOrSpace(name[0]) {
		name = name[1:]
	}
	for len(name) > 0 && isQuoteOrSpace(name[len(name)-1]) {
		name = name[:len(name)-1]
	}
	return name == field.DBName || name == field.Name
}

func isQuoteOrSpace(c byte) bool { return c == '`' || c == '"' || c == '[' || c == ']' || c == ' ' }

// trimBlank trims ASCII white space (what people put around a condition)
// without strings.TrimSpace's Unicode tables; other text fails to match,
// and finds no key.
func trimBlank(s string) string {
	for len(s) > 0 && isBlank(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isBlank(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// isList reports whether v is a list of keys (IN ?), not one key; byte
// slices and arrays (UUIDs) are single keys.
func isList(v any) bool {
	rv := reflect.ValueOf(v)
	return (rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array) && rv.Type().Elem().Kind() != reflect.Uint8
}

// spread turns a slice value (IN ?, or Eq with a slice) into its elements.
func spread(v any) []any {
	if isList(v) {
		rv := reflect.ValueOf(v)
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = rv.Index(i).Interface()
		}
		return out
	}
	return []any{v}
}

// keysFromExpr understands the string conditions people write for a key:
// "col = ?", "col IN ?", "col IN (?, ?, …)", with the column optionally
// qualified and quoted. Anything else (other operators, literals in the SQL,
// several conditions in one string) yields nothing.
func keysFromExpr(e clause.Expr, field *schema.Field) []any {
	sql := trimBlank(e.SQL)
	end := 0
	for end < len(sql) && sql[end] != ' ' && sql[end] != '=' {
		end++
	}
	if end == 0 || end == len(sql) || !sameColumn(sql[:end], field) {
		return nil
	}
	rest := trimBlank(sql[end:])
	switch {
	case rest == "= ?" || rest == "=?":
		if len(e.Vars) == 1 {
			if isList(e.Vars[0]) {
				return spread(e.Vars[0])
			}
			return e.Vars[:1] // no copy: the common point query allocates nothing here
		}
	case len(rest) > 2 && strings.EqualFold(rest[:2], "IN"):
		list := strings.ReplaceAll(strings.TrimSpace(rest[2:]), " ", "")
		if list == "?" && len(e.Vars) == 1 {
			return spread(e.Vars[0])
		}
		if strings.HasPrefix(list, "(") && strings.HasSuffix(list, ")") {
			marks := strings.Split(list[1:len(list)-1], ",")
			for _, m := range marks {
				if m != "?" {
					return nil
				}
			}
			if len(marks) == len(e.Vars) {
				return e.Vars
			}
		}
	}
	return nil
}
