package callbacks

import (
	"fmt"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/grant-go/grant/sharding/scatter"
)

// selection is a scatter-gather query's select list as far as the merge
// needs it: which result columns the shards will return, and a way to add
// one. The merge orders and groups by result columns, so a column the query
// orders or groups by but does not select is added to every shard's SELECT
// under a private alias and dropped after the merge, before GORM scans.
type selection struct {
	stmt  *gorm.Statement
	plan  *scatter.Plan
	names []string          // result column names known to be selected
	star  bool              // the list has * or table.*: the model's columns are there
	added map[string]string // column expression (lower case) → its private alias
}

func newSelection(stmt *gorm.Statement, plan *scatter.Plan) *selection {
	s := &selection{stmt: stmt, plan: plan}
	if sel, ok := stmt.Clauses["SELECT"].Expression.(clause.Select); ok && len(sel.Columns) > 0 {
		for _, col := range sel.Columns { // Pluck, or Clauses(clause.Select{…})
			if col.Alias != "" {
				s.names = append(s.names, col.Alias)
			} else {
				s.addTerms(col.Name)
			}
		}
		return s
	}
	if len(stmt.Selects) == 0 {
		s.star = true // SELECT * or the model's fields
		return s
	}
	s.addTerms(strings.Join(stmt.Selects, ","))
	return s
}

// addTerms records the result names of a comma-separated select list.
func (s *selection) addTerms(list string) {
	for _, term := range splitTopLevel(list) {
		if term == "*" || strings.HasSuffix(term, ".*") {
			s.star = true
			continue
		}
		if name := resultName(term); name != "" {
			s.names = append(s.names, name)
		}
	}
}

// resultName is the column name a server gives a select term: its alias,
// or a plain column's unqualified name; "" when it cannot tell.
func resultName(term string) string {
	if strings.ContainsRune(term, '(') {
		return aliasOf(term)
	}
	fields := strings.Fields(term)
	switch {
	case len(fields) == 1:
		return unqualified(fields[0])
	case len(fields) == 3 && strings.EqualFold(fields[1], "AS"), len(fields) == 2:
		return strings.Trim(fields[len(fields)-1], "`\"")
	}
	return ""
}

// has reports whether the shards will return a column named name.
func (s *selection) has(name string) bool {
	for _, n := range s.names {
		if strings.EqualFold(n, name) {
			return true
		}
	}
	if s.star && s.stmt.Schema != nil {
		for _, f := range s.stmt.Schema.Fields {
			if f.DBName != "" && strings.EqualFold(f.DBName, name) {
				return !s.omitted(f.DBName, f.Name)
			}
		}
	}
	return false
}

func (s *selection) omitted(names ...string) bool {
	for _, o := range s.stmt.Omits {
		for _, n := range names {
			if strings.EqualFold(o, n) {
				return true
			}
		}
	}
	return false
}

// ensure returns the result column the merge reads for the column name,
// written as expr in SQL: name itself when the query selects it, otherwise
// a private alias added to the SELECT and dropped after the merge.
func (s *selection) ensure(expr, name string) (string, error) {
	if s.has(name) {
		return name, nil
	}
	key := strings.ToLower(expr)
	if alias, ok := s.added[key]; ok {
		return alias, nil
	}
	if len(s.stmt.Selects) == 0 && !s.hasSelectColumns() {
		// The query selects the whole model, which lacks this column;
		// selecting it alone would replace the model's columns.
		return "", fmt.Errorf("%s is not among the columns selected from %s: select it to order or group by it across shards", expr, s.stmt.Table)
	}
	if s.added == nil {
		s.added = map[string]string{}
	}
	alias := fmt.Sprintf("grant_merge_%d", len(s.added)+1)
	s.added[key] = alias
	term := expr + " AS " + alias
	if sel, ok := s.stmt.Clauses["SELECT"].Expression.(clause.Select); ok && len(sel.Columns) > 0 {
		sel.Columns = append(sel.Columns[:len(sel.Columns):len(sel.Columns)], clause.Column{Name: term, Raw: true})
		c := s.stmt.Clauses["SELECT"]
		c.Expression = sel
		s.stmt.Clauses["SELECT"] = c
	} else {
		s.stmt.Selects = append(s.stmt.Selects[:len(s.stmt.Selects):len(s.stmt.Selects)], term)
	}
	s.plan.Drop = append(s.plan.Drop, alias)
	return alias, nil
}

func (s *selection) hasSelectColumns() bool {
	sel, ok := s.stmt.Clauses["SELECT"].Expression.(clause.Select)
	return ok && len(sel.Columns) > 0
}

// columnSQL writes a GORM column as SQL: raw text as the user wrote it,
// otherwise quoted the way GORM will quote it in the statement.
func columnSQL(stmt *gorm.Statement, col clause.Column) string {
	if col.Raw {
		return col.Name
	}
	return stmt.Quote(col)
}
