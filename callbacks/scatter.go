package callbacks

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/grant-go/grant/resolver"
	"github.com/grant-go/grant/sharding/scatter"
)

// scatterKey marks a statement running on a scatter-gather pool, so the
// pool is closed once the query's callbacks are done.
const scatterKey = "grant:scatter"

type scatterClause struct {
	pool  *sql.DB
	route resolver.Route // for span attributes
}

func (scatterClause) Build(clause.Builder) {}

// partialKey holds a statement's opt-in to partial scatter-gather results.
const partialKey = "grant:partial"

type partialClause struct{ result *scatter.Result }

func (partialClause) Build(clause.Builder) {}

// WithPartialResults lets the statement's scatter-gather read succeed when
// some shards fail, recording which in result. It is what grant's scope calls.
func WithPartialResults(db *gorm.DB, result *scatter.Result) *gorm.DB {
	db.Statement.Clauses[partialKey] = clause.Clause{Expression: partialClause{result: result}}
	return db
}

// scatterPool hands GORM the scatter-gather *sql.DB without its BeginTx: a
// pool that cannot begin makes GORM skip its default write transaction
// (gorm.ErrInvalidTransaction is ignored there), so an update or delete on
// every shard runs as one auto-committed statement per shard.
type scatterPool struct{ db *sql.DB }

func (p scatterPool) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return p.db.PrepareContext(ctx, query)
}
func (p scatterPool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return p.db.ExecContext(ctx, query, args...)
}
func (p scatterPool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return p.db.QueryContext(ctx, query, args...)
}
func (p scatterPool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return p.db.QueryRowContext(ctx, query, args...)
}

// routeScatter runs a builder statement on several shards in parallel. A
// query's rows are merged as if they came from one database: ORDER BY,
// LIMIT and OFFSET are pushed to every shard (LIMIT as limit+offset) and
// applied again after the merge; COUNT is summed. An update or delete under
// AllShards runs on every shard's writer, each shard committing its own
// part, with RowsAffected summed. Anything whose result grant cannot make
// exact — creates, updates of the shard key, locking reads, raw SQL,
// DISTINCT, HAVING, AVG — is refused before anything is sent. Columns the
// merge orders or groups by are added to the SELECT if missing (see
// selection).
func (r *Router) routeScatter(db *gorm.DB, kind statement, d decision, role string) {
	stmt := db.Statement
	route := resolver.Route{Database: d.shards[0].Name(), Shard: resolver.AllShards, Role: role}
	refuse := func(why string) {
		r.refuse(db, &resolver.RouteError{Err: resolver.ErrSpansShards, Route: route, Detail: why})
	}
	fanOutWrite := kind.fanOut && d.conn.Shard == resolver.AllShards
	switch {
	case fanOutWrite && kind.update && stmt.Schema != nil && r.assignsShardKey(stmt):
		refuse("an update on every shard cannot change the shard key")
		return
	case fanOutWrite:
	case kind.writes || kind.wantsWriter:
		refuse("a create goes to its rows' shard, and locking reads to one shard; only updates and deletes run on every shard (grant.AllShards)")
		return
	case stmt.SQL.Len() > 0 || kind.row:
		refuse("scatter-gather runs builder queries (Find, First, Take, Last, Count, Pluck), not raw SQL or Row/Rows")
		return
	case stmt.Distinct || hasClause(stmt, "HAVING"):
		refuse("DISTINCT and HAVING across shards are not supported yet")
		return
	}
	plan, err := scatter.Plan{}, error(nil)
	if !fanOutWrite {
		if plan, err = scatterPlan(stmt); err != nil {
			refuse(err.Error())
			return
		}
	}
	plan.NullsFirst = stmt.Dialector.Name() != "postgres"
	if p, ok := stmt.Clauses[partialKey].Expression.(partialClause); ok && !fanOutWrite {
		plan.AllowPartial, plan.Result = true, p.result
	}
	targets := make([]scatter.Target, len(d.shards))
	for i, shard := range d.shards {
		node, err := shard.Pick(role)
		if err != nil {
			r.refuse(db, err)
			return
		}
		pool, err := node.Pool(false)
		if err != nil {
			r.refuse(db, err)
			return
		}
		targets[i] = scatter.Target{Name: shard.Qualified(), Pool: pool}
	}
	pool := scatter.Open(targets, plan)
	stmt.Clauses[scatterKey] = clause.Clause{Expression: scatterClause{pool: pool, route: route}}
	stmt.ConnPool = scatterPool{db: pool}
	r.noteRoute(db, route) // trace: "[orders/*/reading]", every shard of the cluster
	r.noteScatter(db, len(targets))
}

// closeScatter runs after every query callback and closes the statement's
// scatter-gather pool, if it had one (the shards' own pools stay open).
func closeScatter(db *gorm.DB) {
	if c, ok := db.Statement.Clauses[scatterKey].Expression.(scatterClause); ok {
		delete(db.Statement.Clauses, scatterKey)
		_ = c.pool.Close()
	}
}

// scatterPlan reads ORDER BY, GROUP BY, aggregates and LIMIT/OFFSET from
// the statement and rewrites it so each shard returns what the merge needs:
// enough rows (LIMIT as limit+offset) and every column it sorts or groups by.
func scatterPlan(stmt *gorm.Statement) (scatter.Plan, error) {
	plan := scatter.Plan{Aggregates: map[string]scatter.Aggregate{}}
	selected := newSelection(stmt, &plan)
	if isCount(stmt) {
		if hasClause(stmt, "GROUP BY") {
			return plan, fmt.Errorf("Count with Group across shards is not supported yet")
		}
		// The result column of count(*) is named by the server.
		column := "count(*)"
		if stmt.Dialector.Name() == "postgres" {
			column = "count"
		}
		plan.Aggregates[column] = scatter.Sum
	} else if err := aggregatePlan(stmt, &plan, selected); err != nil {
		return plan, err
	}
	if c, ok := stmt.Clauses["ORDER BY"].Expression.(clause.OrderBy); ok {
		if c.Expression != nil {
			return plan, fmt.Errorf("ORDER BY expressions are not supported across shards")
		}
		for _, col := range c.Columns {
			if col.Column.Name == clause.PrimaryKey && stmt.Schema != nil && stmt.Schema.PrioritizedPrimaryField != nil {
				col.Column.Name = stmt.Schema.PrioritizedPrimaryField.DBName
			}
			if !col.Column.Raw { // one column, quoted by GORM
				name, err := selected.ensure(columnSQL(stmt, col.Column), unqualified(col.Column.Name))
				if err != nil {
					return plan, err
				}
				plan.OrderBy = append(plan.OrderBy, scatter.OrderColumn{Name: name, Desc: col.Desc})
				continue
			}
			for _, term := range strings.Split(col.Column.Name, ",") {
				fields := strings.Fields(term)
				if len(fields) == 0 || len(fields) > 2 || strings.ContainsAny(fields[0], "()") {
					return plan, fmt.Errorf("cannot merge ORDER BY %q across shards", term)
				}
				desc := col.Desc || len(fields) == 2 && strings.EqualFold(fields[1], "desc")
				name, err := selected.ensure(fields[0], unqualified(fields[0]))
				if err != nil {
					return plan, err
				}
				plan.OrderBy = append(plan.OrderBy, scatter.OrderColumn{Name: name, Desc: desc})
			}
		}
	}
	if c, ok := stmt.Clauses["LIMIT"]; ok {
		l, _ := c.Expression.(clause.Limit)
		if l.Limit != nil && *l.Limit == 0 {
			// No rows, as one database would answer; each shard is asked
			// for none, so the answer still carries the columns.
			l.Offset = 0
			c.Expression = l
			stmt.Clauses["LIMIT"] = c
			return plan, nil
		}
		if len(plan.GroupBy) > 0 && !orderedByGroups(plan) {
			// Groups merge across shards: a shard's first N groups by
			// another order are not the merged first N. Fetch all, cut after.
			plan.Offset = l.Offset
			if l.Limit != nil {
				plan.Limit = *l.Limit
			}
			delete(stmt.Clauses, "LIMIT")
			return plan, nil
		}
		plan.Offset = l.Offset
		if l.Limit != nil {
			plan.Limit = *l.Limit
			pushed := *l.Limit + l.Offset
			l.Limit = &pushed
		}
		l.Offset = 0
		c.Expression = l
		stmt.Clauses["LIMIT"] = c
	}
	return plan, nil
}

// assignsShardKey reports whether an update sets its model's shard key.
func (r *Router) assignsShardKey(stmt *gorm.Statement) bool {
	m := r.model(stmt.Schema)
	if m.key == nil {
		return false
	}
	_, ok := assignedKey(stmt, m.key.field)
	return ok
}

func hasClause(stmt *gorm.Statement, name string) bool {
	_, ok := stmt.Clauses[name]
	return ok
}

// isCount recognizes GORM's Count, which selects count(*) and nothing else
// (clause.Select stores such an expression as the clause's own expression).
func isCount(stmt *gorm.Statement) bool {
	expr, ok := stmt.Clauses["SELECT"].Expression.(clause.Expr)
	return ok && strings.EqualFold(expr.SQL, "count(*)")
}

// aggregatePlan reads GROUP BY and a select list of group columns and
// SUM/COUNT/MIN/MAX(...) AS alias terms into the plan. Aggregates need an
// alias (servers name them differently); AVG cannot be merged from per-shard
// averages, so it is refused with the way out.
func aggregatePlan(stmt *gorm.Statement, plan *scatter.Plan, selected *selection) error {
	if g, ok := stmt.Clauses["GROUP BY"].Expression.(clause.GroupBy); ok {
		for _, col := range g.Columns {
			terms := []string{col.Name}
			if col.Raw {
				terms = strings.Split(col.Name, ",") // Group("region, name") is one GORM column
			}
			for _, term := range terms {
				term = strings.TrimSpace(term)
				expr := term
				if !col.Raw {
					expr = columnSQL(stmt, col)
				}
				name, err := selected.ensure(expr, unqualified(term))
				if err != nil {
					return err
				}
				plan.GroupBy = append(plan.GroupBy, name)
			}
		}
	}
	if _, ok := stmt.Clauses["SELECT"].Expression.(clause.Expr); ok {
		return fmt.Errorf("a Select with arguments cannot be merged across shards")
	}
	for _, term := range splitTopLevel(strings.Join(stmt.Selects, ",")) {
		open := strings.IndexByte(term, '(')
		if open < 0 {
			continue // a plain column: a group key, or concatenated rows
		}
		fn := strings.ToUpper(strings.TrimSpace(term[:open]))
		var agg scatter.Aggregate
		switch fn {
		case "SUM", "COUNT":
			agg = scatter.Sum
		case "MIN":
			agg = scatter.Min
		case "MAX":
			agg = scatter.Max
		case "AVG":
			return fmt.Errorf("AVG cannot be merged across shards: select SUM(x) and COUNT(x) and divide")
		default:
			return fmt.Errorf("cannot merge %q across shards", term)
		}
		if strings.Contains(strings.ToUpper(term), "DISTINCT") {
			return fmt.Errorf("cannot merge %q across shards", term)
		}
		alias := aliasOf(term)
		if alias == "" {
			return fmt.Errorf("give %q an alias (… AS name) to merge it across shards", term)
		}
		plan.Aggregates[alias] = agg
	}
	if len(plan.GroupBy) > 0 && len(plan.Aggregates) == 0 {
		return fmt.Errorf("GROUP BY without SUM/COUNT/MIN/MAX across shards is not supported yet")
	}
	return nil
}

// splitTopLevel splits a select list on commas outside parentheses.
func splitTopLevel(list string) []string {
	var terms []string
	depth, start := 0, 0
	for i, c := range list {
		switch c {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				terms = append(terms, strings.TrimSpace(list[start:i]))
				start = i + 1
			}
		}
	}
	if rest := strings.TrimSpace(list[start:]); rest != "" {
		terms = append(terms, rest)
	}
	return terms
}

// aliasOf returns the alias after the closing parenthesis ("… AS total" or
// "… total"), or "".
func aliasOf(term string) string {
	rest := strings.Fields(term[strings.LastIndexByte(term, ')')+1:])
	if len(rest) == 2 && strings.EqualFold(rest[0], "AS") {
		return strings.Trim(rest[1], "`\"")
	}
	if len(rest) == 1 {
		return strings.Trim(rest[0], "`\"")
	}
	return ""
}

func unqualified(name string) string {
	return strings.Trim(name[strings.LastIndexByte(name, '.')+1:], "`\"")
}

// orderedByGroups: the ORDER BY terms are exactly the GROUP BY columns, so
// each shard's first groups are candidates for the merged first groups.
func orderedByGroups(plan scatter.Plan) bool {
	if len(plan.OrderBy) != len(plan.GroupBy) {
		return false
	}
	for i, o := range plan.OrderBy {
		if !strings.EqualFold(o.Name, plan.GroupBy[i]) {
			return false
		}
	}
	return true
}
