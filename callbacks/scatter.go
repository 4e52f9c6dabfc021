package callbacks

import (
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

type scatterClause struct{ pool *sql.DB }

func (scatterClause) Build(clause.Builder) {}

// routeScatter runs a builder query on several shards in parallel and merges
// the rows as if they came from one database: ORDER BY, LIMIT and OFFSET are
// pushed to every shard (LIMIT as limit+offset) and applied again after the
// merge; COUNT is summed. Anything whose merge grant cannot make exact —
// writes, raw SQL, GROUP BY, aggregate selects, DISTINCT — is refused
// before anything is sent.
func (r *Router) routeScatter(db *gorm.DB, kind statement, d decision, role string) {
	stmt := db.Statement
	route := resolver.Route{Database: d.shards[0].Name(), Shard: "*", Role: role}
	refuse := func(why string) {
		r.refuse(db, &resolver.RouteError{Err: resolver.ErrSpansShards, Route: route, Detail: why})
	}
	switch {
	case kind.writes || kind.wantsWriter:
		refuse("writes and locking reads on several shards are not supported yet: name one shard")
		return
	case stmt.SQL.Len() > 0 || kind.row:
		refuse("scatter-gather runs builder queries (Find, First, Take, Last, Count, Pluck), not raw SQL or Row/Rows")
		return
	case stmt.Distinct || hasClause(stmt, "GROUP BY") || hasAggregateSelect(stmt):
		refuse("GROUP BY, DISTINCT and aggregate selects across shards are not supported yet")
		return
	}
	plan, err := scatterPlan(stmt)
	if err != nil {
		refuse(err.Error())
		return
	}
	plan.NullsFirst = stmt.Dialector.Name() != "postgres"
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
	stmt.Clauses[scatterKey] = clause.Clause{Expression: scatterClause{pool: pool}}
	stmt.ConnPool = pool
	if r.trace {
		r.traceRoute(db, route) // "[orders/*/reading]": every shard of the cluster
	}
}

// closeScatter runs after every query callback and closes the statement's
// scatter-gather pool, if it had one (the shards' own pools stay open).
func closeScatter(db *gorm.DB) {
	if c, ok := db.Statement.Clauses[scatterKey].Expression.(scatterClause); ok {
		delete(db.Statement.Clauses, scatterKey)
		_ = c.pool.Close()
	}
}

// scatterPlan reads ORDER BY and LIMIT/OFFSET from the statement and
// rewrites LIMIT so each shard returns enough rows for the merge.
func scatterPlan(stmt *gorm.Statement) (scatter.Plan, error) {
	plan := scatter.Plan{Aggregates: map[string]scatter.Aggregate{}}
	if isCount(stmt) {
		// The result column of count(*) is named by the server.
		column := "count(*)"
		if stmt.Dialector.Name() == "postgres" {
			column = "count"
		}
		plan.Aggregates[column] = scatter.Sum
	}
	if c, ok := stmt.Clauses["ORDER BY"].Expression.(clause.OrderBy); ok {
		if c.Expression != nil {
			return plan, fmt.Errorf("ORDER BY expressions are not supported across shards")
		}
		for _, col := range c.Columns {
			if col.Column.Name == clause.PrimaryKey && stmt.Schema != nil && stmt.Schema.PrioritizedPrimaryField != nil {
				col.Column.Name = stmt.Schema.PrioritizedPrimaryField.DBName
			}
			for _, term := range strings.Split(col.Column.Name, ",") {
				fields := strings.Fields(term)
				if len(fields) == 0 || len(fields) > 2 || strings.ContainsAny(fields[0], "()") {
					return plan, fmt.Errorf("cannot merge ORDER BY %q across shards", term)
				}
				desc := col.Desc || len(fields) == 2 && strings.EqualFold(fields[1], "desc")
				name := fields[0][strings.LastIndexByte(fields[0], '.')+1:]
				plan.OrderBy = append(plan.OrderBy, scatter.OrderColumn{Name: strings.Trim(name, "`\""), Desc: desc})
			}
		}
	}
	if c, ok := stmt.Clauses["LIMIT"]; ok {
		l, _ := c.Expression.(clause.Limit)
		plan.Offset = l.Offset
		if l.Limit != nil {
			if *l.Limit == 0 {
				return plan, fmt.Errorf("LIMIT 0 needs no shards")
			}
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

// hasAggregateSelect spots Select("SUM(x) …") and the like, which would need
// a per-function merge.
func hasAggregateSelect(stmt *gorm.Statement) bool {
	if isCount(stmt) {
		return false
	}
	for _, s := range stmt.Selects {
		if strings.Contains(s, "(") {
			return true
		}
	}
	_, expr := stmt.Clauses["SELECT"].Expression.(clause.Expr)
	return expr
}
