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

type scatterClause struct{ pool *sql.DB }

func (scatterClause) Build(clause.Builder) {}

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
// exact — creates, updates of the shard key, locking reads, raw SQL, GROUP
// BY, aggregate selects, DISTINCT — is refused before anything is sent.
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
	case stmt.Distinct || hasClause(stmt, "GROUP BY") || hasAggregateSelect(stmt):
		refuse("GROUP BY, DISTINCT and aggregate selects across shards are not supported yet")
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
	stmt.ConnPool = scatterPool{db: pool}
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
