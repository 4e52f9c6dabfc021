package callbacks

import (
	"strings"

	"gorm.io/gorm"
	gormcallbacks "gorm.io/gorm/callbacks"
	"gorm.io/gorm/clause"

	"github.com/grant-go/grant/sharding/scatter"
	"github.com/grant-go/grant/sharding/scatter/sqlexpr"
	"github.com/grant-go/grant/sharding/scatter/value"
)

// planScatter plans a scatter-gather read. It lets GORM put the statement's
// clauses together (as gorm:query would), reads each clause as the SQL
// GORM writes for it, asks the planner for the shards' statement and the
// merge, and rewrites the clauses so that the SQL GORM then runs on every
// shard is the planner's. The returned func puts the clauses back.
func (r *Router) planScatter(db *gorm.DB, c scatterClause) (restore func(), err error) {
	stmt := db.Statement
	gormcallbacks.BuildQuerySQL(db)
	if db.Error != nil {
		return nil, db.Error
	}
	saved := map[string]*clause.Clause{}
	for _, name := range []string{"SELECT", "GROUP BY", "ORDER BY", "LIMIT"} {
		if cl, ok := stmt.Clauses[name]; ok {
			saved[name] = &cl
		} else {
			saved[name] = nil
		}
	}
	restore = func() {
		for name, cl := range saved {
			if cl == nil {
				delete(stmt.Clauses, name)
			} else {
				stmt.Clauses[name] = *cl
			}
		}
	}
	d, ok := sqlexpr.DialectOf(stmt.Dialector.Name())
	if !ok {
		return nil, &scatter.Refusal{Reason: scatter.ReasonClause, Detail: "grant does not plan SQL for dialect " + stmt.Dialector.Name()}
	}
	if _, locking := stmt.Clauses["FOR"]; locking {
		return nil, &scatter.Refusal{Reason: scatter.ReasonClause, Fragment: "FOR UPDATE", Detail: "a locking read runs on one shard"}
	}
	if err := r.checkFrom(d, stmt); err != nil {
		return nil, err
	}
	if where, ok := stmt.Clauses["WHERE"].Expression.(clause.Where); ok {
		text := capture(stmt, where.Build)
		if err := r.checkSubqueries(d, text, r.outerOf(stmt, c)); err != nil {
			return nil, err
		}
	}
	table := tableOf(stmt)
	if stmt.Schema != nil {
		table = stmt.Schema.Table
	}
	cat, err := r.catalog(stmt.Context, c.cluster, table, c.st.Targets[0].Pool, stmt.Dialector.Name())
	if err != nil {
		return nil, err
	}
	vd, _ := value.DialectOf(stmt.Dialector.Name())
	env := value.NewEnv(vd)
	env.DivPrecisionIncrement = cat.Table.DivPrecisionIncrement
	q := scatter.Query{Env: env, Limit: -1, Catalog: cat, MaxDistinct: r.maxDistinct}
	if from, _ := stmt.Clauses["FROM"].Expression.(clause.From); len(from.Joins) == 0 && len(from.Tables) <= 1 && stmt.TableExpr == nil {
		for _, col := range cat.Table.Columns { // what * stands for: one table, no join
			q.StarColumns = append(q.StarColumns, col.Name)
		}
	}
	if sel, ok := stmt.Clauses["SELECT"]; ok && sel.Expression != nil {
		q.Select = captureSQL(stmt, sel.Expression.Build)
	} else {
		q.Select = scatter.SQL{Text: "*"}
	}
	if g, ok := stmt.Clauses["GROUP BY"].Expression.(clause.GroupBy); ok {
		q.GroupBy = captureSQL(stmt, func(b clause.Builder) {
			for i, col := range g.Columns {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteQuoted(col)
			}
		})
		if len(g.Having) > 0 {
			q.Having = captureSQL(stmt, clause.Where{Exprs: g.Having}.Build)
		}
	}
	if o, ok := stmt.Clauses["ORDER BY"].Expression.(clause.OrderBy); ok {
		q.OrderBy = captureSQL(stmt, o.Build)
	}
	if l, ok := stmt.Clauses["LIMIT"].Expression.(clause.Limit); ok {
		if l.Limit != nil {
			q.Limit = *l.Limit
		}
		q.Offset = l.Offset
	}
	planned, err := scatterEngine.Load().PlanQuery(q)
	if err != nil {
		return nil, err
	}
	shard := planned.Shard
	stmt.Clauses["SELECT"] = clause.Clause{Name: "SELECT", Expression: emitted(shard.Select)}
	setClause(stmt, "GROUP BY", shard.GroupBy)
	setClause(stmt, "ORDER BY", shard.OrderBy)
	if shard.Limit >= 0 {
		limit := shard.Limit
		stmt.Clauses["LIMIT"] = clause.Clause{Expression: clause.Limit{Limit: &limit}} // Limit writes its own keyword
	} else {
		delete(stmt.Clauses, "LIMIT")
	}
	stmt.SQL.Reset()
	stmt.Vars = nil
	stmt.Build(stmt.BuildClauses...)
	c.st.Program = planned.Program
	return restore, nil
}

func setClause(stmt *gorm.Statement, name string, sql scatter.SQL) {
	if sql.Text == "" {
		delete(stmt.Clauses, name)
		return
	}
	stmt.Clauses[name] = clause.Clause{Name: name, Expression: emitted(sql)}
}

// emitted builds planner SQL: its text, with each parameter bound again in
// order, so GORM numbers them as the dialect wants.
type emitted scatter.SQL

func (e emitted) Build(b clause.Builder) {
	parts := strings.Split(e.Text, "\x00")
	for i, part := range parts {
		b.WriteString(part)
		if i < len(parts)-1 {
			b.AddVar(b, e.Vars[i])
		}
	}
}

// captureSQL builds one clause as GORM would, into a scratch statement: the
// text with the dialect's bindvars, and the values bound.
func captureSQL(stmt *gorm.Statement, build func(clause.Builder)) scatter.SQL {
	scratch := &gorm.Statement{DB: stmt.DB, Context: stmt.Context, Table: stmt.Table, TableExpr: stmt.TableExpr,
		Schema: stmt.Schema, Clauses: map[string]clause.Clause{}}
	build(scratch)
	return scatter.SQL{Text: scratch.SQL.String(), Vars: scratch.Vars}
}

func capture(stmt *gorm.Statement, build func(clause.Builder)) scatter.SQL {
	return captureSQL(stmt, build)
}

// checkFrom refuses a FROM that reads a subquery, and joins whose SQL holds
// one: each shard would run them on its own rows.
func (r *Router) checkFrom(d sqlexpr.Dialect, stmt *gorm.Statement) error {
	var texts []string
	if stmt.TableExpr != nil {
		texts = append(texts, capture(stmt, stmt.TableExpr.Build).Text)
	}
	if from, ok := stmt.Clauses["FROM"].Expression.(clause.From); ok {
		texts = append(texts, capture(stmt, from.Build).Text)
	}
	for _, text := range texts {
		words, err := sqlexpr.Words(d, text)
		if err != nil || hasQuery(words) {
			return &scatter.Refusal{Reason: scatter.ReasonSubquery, Fragment: text,
				Detail: "a subquery in FROM or a join runs on each shard alone", Hint: "run the query on one shard, or join co-located tables"}
		}
	}
	return nil
}

// hasQuery reports whether SQL words hold a query: SELECT, WITH, or VALUES
// and TABLE right after a parenthesis.
func hasQuery(words []sqlexpr.Word) bool {
	for i, w := range words {
		switch strings.ToUpper(w.Text) {
		case "SELECT", "WITH":
			return true
		case "VALUES", "TABLE":
			if i > 0 && words[i-1].Text == "(" {
				return true
			}
		}
	}
	return false
}
