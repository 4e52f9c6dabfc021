package callbacks

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/grant-go/grant/sharding"
	"github.com/grant-go/grant/sharding/scatter"
	"github.com/grant-go/grant/sharding/scatter/sqlexpr"
	"github.com/grant-go/grant/topology"
)

// A subquery in the WHERE of a scatter-gather read runs on each shard over
// that shard's rows only. That is exact when every row the subquery needs
// for an outer row lives on the outer row's shard. grant accepts the two
// forms where the shard key proves it:
//
//	key IN (SELECT key FROM co-located …)            (also [NOT] IN is refused)
//	[NOT] EXISTS (SELECT … FROM co-located t WHERE t.key = outer.key AND …)
//
// where co-located means a table of the same cluster sharded by the same
// strategy: rows with equal keys are on one shard. The subquery may filter,
// group by its key and have subqueries of its own that pass the same test;
// LIMIT, joins and set operations are refused. Everything else — scalar
// subqueries such as score > (SELECT AVG(score) …) — needs every shard's
// rows and is refused.

// colocation is what the co-location proof needs of a table.
type colocation struct {
	names    []string // the table's name and alias, as SQL may qualify its columns
	column   string   // the shard key column
	strategy sharding.Strategy
	cluster  *topology.Cluster
}

// outerOf is the statement's own table, when its model has a shard key.
func (r *Router) outerOf(stmt *gorm.Statement, c scatterClause) *colocation {
	if c.key == nil || stmt.Schema == nil {
		return nil
	}
	names := []string{stmt.Schema.Table}
	if stmt.Table != "" && stmt.Table != stmt.Schema.Table {
		names = append(names, stmt.Table)
	}
	return &colocation{names: names, column: c.key.field.DBName, strategy: c.key.strategy, cluster: c.cluster}
}

func subqueryRefusal(text, detail string) error {
	return &scatter.Refusal{Reason: scatter.ReasonSubquery, Fragment: text, Detail: detail,
		Hint: "write it as `key IN (SELECT key FROM co-located table …)` or a correlated EXISTS on the shard key, or run the query on one shard"}
}

// checkSubqueries refuses the subqueries in a WHERE condition that are not
// proven co-located with outer.
func (r *Router) checkSubqueries(d sqlexpr.Dialect, where scatter.SQL, outer *colocation) error {
	words, err := sqlexpr.Words(d, where.Text)
	if err != nil {
		return nil // unreadable text holds no subquery grant could see; the server reads it
	}
	if !hasQuery(words) {
		return nil
	}
	return r.checkText(d, where.Text, outer)
}

func (r *Router) checkText(d sqlexpr.Dialect, text string, outer *colocation) error {
	n, _, err := sqlexpr.ParseExpr(d, text)
	if err != nil {
		return subqueryRefusal(text, "a condition with a subquery grant cannot read: "+err.Error())
	}
	if outer == nil {
		return subqueryRefusal(text, "the table has no shard key to prove the subquery co-located")
	}
	sqlexpr.Walk(n, func(x sqlexpr.Node) bool {
		if err != nil {
			return false
		}
		switch v := x.(type) {
		case *sqlexpr.In:
			if v.Subquery != nil {
				err = r.checkIn(d, text, v, outer)
				return false
			}
		case *sqlexpr.Exists:
			err = r.checkExists(d, text, v, outer)
			return false
		case *sqlexpr.Subquery:
			err = subqueryRefusal(sqlexpr.Text(text, v), "this subquery needs every shard's rows")
			return false
		}
		return true
	})
	return err
}

func (r *Router) checkIn(d sqlexpr.Dialect, text string, in *sqlexpr.In, outer *colocation) error {
	frag := sqlexpr.Text(text, in)
	if in.Not {
		return subqueryRefusal(frag, "NOT IN (subquery) depends on NULLs in every shard's rows")
	}
	col, ok := sqlexpr.Unparen(in.X).(*sqlexpr.Column)
	if !ok || !refersTo(d, col, outer, true) {
		return subqueryRefusal(frag, fmt.Sprintf("only the shard key %s may be compared with a subquery", outer.column))
	}
	sel, inner, err := r.innerSelect(d, text, in.Subquery, outer)
	if err != nil {
		return err
	}
	if len(sel.List.Items) != 1 {
		return subqueryRefusal(frag, "the subquery must select its shard key alone")
	}
	if c, ok := sqlexpr.Unparen(sel.List.Items[0].Expr).(*sqlexpr.Column); !ok || !refersTo(d, c, inner, true) {
		return subqueryRefusal(frag, fmt.Sprintf("the subquery must select its shard key %s", inner.column))
	}
	return r.checkInner(d, sel, inner)
}

func (r *Router) checkExists(d sqlexpr.Dialect, text string, ex *sqlexpr.Exists, outer *colocation) error {
	frag := sqlexpr.Text(text, ex)
	sel, inner, err := r.innerSelect(d, text, ex.Subquery, outer)
	if err != nil {
		return err
	}
	for _, n := range outer.names {
		for _, m := range inner.names {
			if n == m {
				return subqueryRefusal(frag, "give the subquery's table an alias, so its columns and the outer table's cannot be mistaken")
			}
		}
	}
	correlated := false
	for _, conj := range conjuncts(sel.Where) {
		b, ok := conj.(*sqlexpr.Binary)
		if !ok || b.Op != "=" {
			continue
		}
		l, lok := sqlexpr.Unparen(b.L).(*sqlexpr.Column)
		rc, rok := sqlexpr.Unparen(b.R).(*sqlexpr.Column)
		if lok && rok && (refersTo(d, l, inner, true) && refersTo(d, rc, outer, false) || refersTo(d, rc, inner, true) && refersTo(d, l, outer, false)) {
			correlated = true
		}
	}
	if !correlated {
		return subqueryRefusal(frag, fmt.Sprintf("EXISTS must match the shard keys: WHERE %s.%s = %s.%s", inner.names[len(inner.names)-1], inner.column, outer.names[0], outer.column))
	}
	for _, item := range sel.List.Items {
		if hasAggregateNode(item.Expr) {
			return subqueryRefusal(frag, "an aggregate in an EXISTS subquery")
		}
	}
	return r.checkInner(d, sel, inner)
}

// innerSelect parses a subquery and finds its table's co-location.
func (r *Router) innerSelect(d sqlexpr.Dialect, text string, sub *sqlexpr.Subquery, outer *colocation) (*sqlexpr.Select, *colocation, error) {
	body := text[sub.Body.Start:sub.Body.End]
	sel, err := sqlexpr.ParseSelectStatement(d, body)
	if err != nil {
		return nil, nil, subqueryRefusal(body, "not a subquery grant can prove co-located: "+err.Error())
	}
	name := sel.Table[len(sel.Table)-1]
	inner := r.colocated(outer.cluster, name)
	if inner == nil {
		return nil, nil, subqueryRefusal(body, fmt.Sprintf("table %q is not a sharded table of cluster %q grant knows (declare its model, or its shard key in ClusterConfig.ShardKeys)", name, outer.cluster.Name()))
	}
	if !sameStrategy(inner.strategy, outer.strategy) {
		return nil, nil, subqueryRefusal(body, fmt.Sprintf("table %q is sharded by another strategy", name))
	}
	if sel.Alias != "" {
		inner.names = append(inner.names, sel.Alias)
	}
	return sel, inner, nil
}

// checkInner checks the subquery's own grouping and nested subqueries.
func (r *Router) checkInner(d sqlexpr.Dialect, sel *sqlexpr.Select, inner *colocation) error {
	if len(sel.GroupBy) > 0 {
		keyed := false
		for _, g := range sel.GroupBy {
			if c, ok := sqlexpr.Unparen(g).(*sqlexpr.Column); ok && refersTo(d, c, inner, true) {
				keyed = true
			}
		}
		if !keyed {
			return subqueryRefusal(sel.Src, "a subquery's GROUP BY must include its shard key, so each group lives on one shard")
		}
	}
	for _, n := range []sqlexpr.Node{sel.Where, sel.Having} {
		if n == nil {
			continue
		}
		text := sqlexpr.Text(sel.Src, n)
		words, err := sqlexpr.Words(d, text)
		if err == nil && !hasQuery(words) {
			continue
		}
		if err := r.checkText(d, text, inner); err != nil {
			return err
		}
	}
	return nil
}

// refersTo reports whether col is table t's shard key column: unqualified
// (when allowed), or qualified by t's name or alias.
func refersTo(d sqlexpr.Dialect, col *sqlexpr.Column, t *colocation, unqualified bool) bool {
	if !sqlexpr.EqualName(d, col.Name(), col.Quoted[len(col.Quoted)-1], t.column, false) {
		return false
	}
	if len(col.Parts) == 1 {
		return unqualified
	}
	table := sqlexpr.Fold(d, col.Parts[len(col.Parts)-2], col.Quoted[len(col.Quoted)-2])
	for _, n := range t.names {
		if strings.EqualFold(table, n) {
			return true
		}
	}
	return false
}

func conjuncts(n sqlexpr.Node) []sqlexpr.Node {
	n = sqlexpr.Unparen(n)
	if b, ok := n.(*sqlexpr.Binary); ok && b.Op == "AND" {
		return append(conjuncts(b.L), conjuncts(b.R)...)
	}
	if n == nil {
		return nil
	}
	return []sqlexpr.Node{n}
}

func hasAggregateNode(n sqlexpr.Node) bool {
	found := false
	sqlexpr.Walk(n, func(x sqlexpr.Node) bool {
		if c, ok := x.(*sqlexpr.Call); ok && (c.Name == "count" || c.Name == "sum" || c.Name == "min" || c.Name == "max" || c.Name == "avg") {
			found = true
		}
		return !found
	})
	return found
}

// colocated finds a table of cluster c by name: a model grant has seen, or
// a shard key configured for the table.
func (r *Router) colocated(c *topology.Cluster, table string) *colocation {
	for s, m := range *r.models.Load() {
		if strings.EqualFold(s.Table, table) && m.key != nil && m.conn.Database == c.Name() {
			return &colocation{names: []string{s.Table}, column: m.key.field.DBName, strategy: m.key.strategy, cluster: c}
		}
	}
	if spec, ok := c.ShardKeyFor(table); ok && spec.Strategy != nil {
		return &colocation{names: []string{table}, column: spec.Column, strategy: spec.Strategy, cluster: c}
	}
	return nil
}

// sameStrategy reports whether two strategies map every key alike: the
// same value, field by field (strategies holding functions never are).
func sameStrategy(a, b sharding.Strategy) bool { return reflect.DeepEqual(a, b) }

// mayHaveSubquery is a quick test, cheap enough for every statement routed
// by its key: could the WHERE hold a subquery (a SELECT in its text, a
// *gorm.DB argument, an expression grant does not know)?
func mayHaveSubquery(stmt *gorm.Statement) bool {
	where, ok := stmt.Clauses["WHERE"].Expression.(clause.Where)
	return ok && mayHold(where.Exprs)
}

func mayHold(exprs []clause.Expression) bool {
	for _, e := range exprs {
		switch x := e.(type) {
		case clause.Expr:
			if containsFold(x.SQL, "select") || anySubquery(x.Vars) {
				return true
			}
		case clause.NamedExpr:
			if containsFold(x.SQL, "select") || anySubquery(x.Vars) {
				return true
			}
		case clause.AndConditions:
			if mayHold(x.Exprs) {
				return true
			}
		case clause.OrConditions:
			if mayHold(x.Exprs) {
				return true
			}
		case clause.NotConditions:
			if mayHold(x.Exprs) {
				return true
			}
		case clause.Eq:
			if anySubquery([]any{x.Value}) {
				return true
			}
		case clause.Neq:
			if anySubquery([]any{x.Value}) {
				return true
			}
		case clause.IN:
			if anySubquery(x.Values) {
				return true
			}
		case clause.Gt, clause.Gte, clause.Lt, clause.Lte, clause.Like:
		default:
			return true // an expression of another package: read its SQL
		}
	}
	return false
}

func anySubquery(vars []any) bool {
	for _, v := range vars {
		switch x := v.(type) {
		case *gorm.DB:
			return true
		case clause.Expression:
			if mayHold([]clause.Expression{x}) {
				return true
			}
		}
	}
	return false
}

// containsFold reports whether s contains the lower-case ASCII word w in
// any case, without allocating.
func containsFold(s, w string) bool {
	for i := 0; i+len(w) <= len(s); i++ {
		j := 0
		for j < len(w) && (s[i+j]|0x20) == w[j] {
			j++
		}
		if j == len(w) {
			return true
		}
	}
	return false
}

// checkRoutedSubqueries proves the subqueries of a statement routed to one
// shard by its key co-located, as a scatter-gather read's: the shard grant
// chose holds every row the outer statement touches, not every row its
// subqueries read.
func (r *Router) checkRoutedSubqueries(db *gorm.DB, shard *topology.Database) error {
	stmt := db.Statement
	dialect, ok := sqlexpr.DialectOf(stmt.Dialector.Name())
	if !ok {
		return nil
	}
	where, _ := stmt.Clauses["WHERE"].Expression.(clause.Where)
	c := scatterClause{cluster: shard.Cluster()}
	if stmt.Schema != nil {
		c.key = r.model(stmt.Schema).key
	}
	route := topology.Route{Database: shard.Name(), Shard: shard.Shard()}
	err := r.checkSubqueries(dialect, capture(stmt, where.Build), r.outerOf(stmt, c))
	var refusal *scatter.Refusal
	if errors.As(err, &refusal) {
		return &topology.RouteError{Err: topology.ErrSpansShards, Route: route, Detail: refusal.Error(), Cause: refusal}
	}
	return err
}
