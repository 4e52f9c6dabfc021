package scatter

import (
	"strings"

	"github.com/grant-go/grant/sharding/scatter/sqlexpr"
)

// planGrouped plans an aggregate query. Every shard groups its rows by the
// query's GROUP BY terms (and by the arguments of COUNT(DISTINCT …)) and
// returns, per group, the key values and the parts the aggregates are made
// of: SUM and COUNT add up, MIN and MAX compare, AVG is SUM over COUNT. The
// merge folds the groups of all shards, then computes each output column,
// HAVING, DISTINCT, ORDER BY and LIMIT as the database would have. An
// output the merge computes is also sent to the shards wrapped as CASE WHEN
// 1=0 THEN (…) END: never evaluated there, it tells the merge the type the
// server gives it, so the computed value is handed over exactly as the
// server would hand it over, or the query fails rather than guess.
func (p *planner) planGrouped() error {
	p.prog.Grouped = true
	p.prog.Overall = len(p.group) == 0
	for _, g := range p.group {
		node, frag, err := p.groupTerm(g)
		if err != nil {
			return err
		}
		col := p.column(node, frag, "k")
		p.keys = append(p.keys, groupKey{node: node, frag: frag, col: col})
		p.prog.Keys = append(p.prog.Keys, Key{Col: col, Coll: p.collationOf(node, frag)})
	}
	for _, item := range p.sel.Items {
		out, err := p.output(item)
		if err != nil {
			return err
		}
		p.prog.Outputs = append(p.prog.Outputs, out)
	}
	if p.having != nil {
		if err := p.noAliasInside(p.having, &p.havingFrag); err != nil {
			return err
		}
		e, err := p.build(p.having, &p.havingFrag)
		if err != nil {
			return err
		}
		p.prog.Having = e
	}
	if p.sel.Distinct {
		p.prog.Distinct = true
		for _, item := range p.sel.Items {
			p.prog.DistinctOn = append(p.prog.DistinctOn, p.collationOf(item.Expr, &p.selFrag))
		}
	}
	for _, o := range p.order {
		key, err := p.groupedOrder(o)
		if err != nil {
			return err
		}
		p.prog.Order = append(p.prog.Order, key)
	}
	var terms []string
	var vars []any
	for _, k := range p.keys {
		terms = append(terms, k.frag.emit(sqlexpr.SpanOf(k.node), &vars))
	}
	for _, s := range p.sets {
		terms = append(terms, s.frag.emit(sqlexpr.SpanOf(s.node), &vars))
	}
	if len(terms) > 0 {
		p.shard.GroupBy = SQL{Text: strings.Join(terms, ", "), Vars: vars}
	}
	p.shard.Limit = -1 // a shard's first groups are not the merged first groups
	if p.prog.Overall && len(p.sets) > 0 {
		return p.overallWithSets()
	}
	return nil
}

// groupTerm resolves a GROUP BY term as the servers do: a position names a
// select item; a bare name is a table column if there is one, else a
// select alias.
func (p *planner) groupTerm(g sqlexpr.Node) (sqlexpr.Node, *fragment, error) {
	if k, ok := position(g); ok {
		if k < 1 || k > len(p.sel.Items) {
			return nil, nil, p.refuse(ReasonAmbiguous, &p.groupFrag, g, "GROUP BY position is not in the select list", "")
		}
		item := p.sel.Items[k-1]
		if _, star := item.Expr.(*sqlexpr.Star); star || hasAggregate(item.Expr) {
			return nil, nil, p.refuse(ReasonSyntax, &p.groupFrag, g, "GROUP BY position names an aggregate or *", "")
		}
		return item.Expr, &p.selFrag, nil
	}
	if col, ok := sqlexpr.Unparen(g).(*sqlexpr.Column); ok && len(col.Parts) == 1 {
		if exists, _ := p.q.Catalog.Column(col.Parts[0], col.Quoted[0]); !exists {
			for _, item := range p.sel.Items {
				if item.Alias != "" && sqlexpr.EqualName(p.d, item.Alias, item.AliasQuoted, col.Parts[0], col.Quoted[0]) {
					if hasAggregate(item.Expr) {
						return nil, nil, p.refuse(ReasonSyntax, &p.groupFrag, g, "GROUP BY names an aggregate", "")
					}
					return item.Expr, &p.selFrag, nil
				}
			}
		}
	}
	return g, &p.groupFrag, nil
}

// output plans one select item of an aggregate query.
func (p *planner) output(item sqlexpr.SelectItem) (Output, error) {
	e := sqlexpr.Unparen(item.Expr)
	if _, star := e.(*sqlexpr.Star); star {
		return Output{}, p.refuse(ReasonClause, &p.selFrag, item.Expr, "* with aggregates or GROUP BY", "select the grouped columns by name")
	}
	verbatim := func() int { return p.addColumn(p.selFrag.emit(item.Span, &p.shard.Select.Vars)) }
	switch {
	case !hasAggregate(e):
		if lit, ok := e.(*sqlexpr.Literal); ok && lit.Kind != sqlexpr.TypedLit {
			c, err := p.constant(lit, &p.selFrag)
			return Output{Col: verbatim(), Expr: c, Check: true}, err
		}
		if par, ok := e.(*sqlexpr.Param); ok {
			c, err := p.param(par, &p.selFrag)
			return Output{Col: verbatim(), Expr: c, Check: true}, err
		}
		return Output{Col: verbatim()}, nil // a group key, or what depends on it: any shard's value
	case isAggregate(e) && simpleAggregate(e.(*sqlexpr.Call)):
		col := verbatim()
		p.registerComponent(e.(*sqlexpr.Call), &p.selFrag, col)
		return Output{Col: col}, nil
	}
	expr, err := p.build(e, &p.selFrag)
	if err != nil {
		return Output{}, err
	}
	if isAggregate(e) { // AVG, COUNT(DISTINCT): safe to run on each shard for its type and name
		return Output{Col: verbatim(), Expr: expr, Check: true}, nil
	}
	if item.Alias == "" {
		return Output{}, p.refuse(ReasonAmbiguous, &p.selFrag, item.Expr, "servers name this column differently",
			"give it an alias (… AS name)")
	}
	carrier := "CASE WHEN 1=0 THEN (" + p.selFrag.emit(sqlexpr.SpanOf(item.Expr), &p.shard.Select.Vars) + ") END AS " +
		p.selFrag.Src[item.AliasSpan.Start:item.AliasSpan.End]
	return Output{Col: p.addColumn(carrier), Expr: expr, Check: true}, nil
}

// simpleAggregate: the shards' own values fold into the answer (COUNT,
// SUM, MIN, MAX, and MIN/MAX of DISTINCT, which is the same).
func simpleAggregate(c *sqlexpr.Call) bool {
	switch c.Name {
	case "count", "sum":
		return !c.Distinct
	case "min", "max":
		return true
	}
	return false
}

// registerComponent records that shard column col holds aggregate c, and
// how it folds.
func (p *planner) registerComponent(c *sqlexpr.Call, f *fragment, col int) {
	var vars []any
	key := f.emit(sqlexpr.SpanOf(c), &vars) + signature(vars)
	p.components[key] = col
	fold := Fold{Col: col}
	switch c.Name {
	case "count":
		fold.Kind = FoldCount
	case "sum":
		fold.Kind = FoldSum
	case "min", "max":
		fold.Kind = FoldMin
		if c.Name == "max" {
			fold.Kind = FoldMax
		}
		fold.Coll = p.collationOf(c.Args[0], f)
	}
	p.prog.Folds = append(p.prog.Folds, fold)
}

// component returns the shard column holding aggregate call text sql (made
// of f's spans), adding it if needed.
func (p *planner) component(sql string, vars []any, name string, arg sqlexpr.Node, f *fragment) int {
	key := sql + signature(vars)
	if col, ok := p.components[key]; ok {
		return col
	}
	p.names++
	col := p.addColumn(sql + " AS grant_a" + itoa(p.names))
	p.shard.Select.Vars = append(p.shard.Select.Vars, vars...)
	p.components[key] = col
	fold := Fold{Col: col, Kind: FoldSum}
	switch name {
	case "count":
		fold.Kind = FoldCount
	case "min":
		fold.Kind, fold.Coll = FoldMin, p.collationOf(arg, f)
	case "max":
		fold.Kind, fold.Coll = FoldMax, p.collationOf(arg, f)
	}
	p.prog.Folds = append(p.prog.Folds, fold)
	return col
}

// overallWithSets checks an aggregate without GROUP BY whose COUNT(DISTINCT)
// makes the shards group: a shard without rows then returns none, so the
// merge makes the one answer row itself, and can only for outputs built of
// aggregates and constants.
func (p *planner) overallWithSets() error {
	for i, item := range p.sel.Items {
		e := sqlexpr.Unparen(item.Expr)
		if hasAggregate(e) || p.prog.Outputs[i].Expr != nil {
			continue
		}
		if _, ok := e.(*sqlexpr.Column); ok {
			continue // no rows: NULL, as the server says
		}
		return p.refuse(ReasonClause, &p.selFrag, item.Expr, "with COUNT(DISTINCT …) and no GROUP BY, select only aggregates, columns and constants", "")
	}
	return nil
}

// groupedOrder plans an ORDER BY term of an aggregate query. On SQLite an
// answer column that names a selected item is ordered by the item's
// expression, computed as the merge computes it (a group key is compared
// as SQLite stores it, see column), not by the value the driver converted.
func (p *planner) groupedOrder(o sqlexpr.OrderItem) (OrderKey, error) {
	key, err := p.groupedOrderTerm(o)
	if err == nil && key.Output >= 0 && p.d == sqlexpr.SQLite {
		key.Expr, err = p.build(p.sel.Items[key.Output].Expr, &p.selFrag)
		key.Output = -1
	}
	return key, err
}

func (p *planner) groupedOrderTerm(o sqlexpr.OrderItem) (OrderKey, error) {
	key := OrderKey{Hidden: -1, Output: -1, Desc: o.Desc, NullsFirst: p.nullsFirst(o)}
	expr := sqlexpr.Unparen(o.Expr)
	if k, ok := position(expr); ok {
		if k < 1 || k > len(p.sel.Items) {
			return key, p.refuse(ReasonAmbiguous, &p.orderFrag, o.Expr, "ORDER BY position is not in the select list", "")
		}
		key.Output, key.Coll = k-1, p.collationOf(p.sel.Items[k-1].Expr, &p.selFrag)
		return key, nil
	}
	if i, ok, err := p.outputNamed(expr, &p.orderFrag); err != nil || ok {
		if ok {
			key.Output, key.Coll = i, p.collationOf(p.sel.Items[i].Expr, &p.selFrag)
		}
		return key, err
	}
	if err := p.noAliasInside(expr, &p.orderFrag); err != nil {
		return key, err
	}
	if i := p.sameAsItem(expr, &p.orderFrag); i >= 0 {
		key.Output, key.Coll = i, p.collationOf(p.sel.Items[i].Expr, &p.selFrag)
		return key, nil
	}
	if p.sel.Distinct {
		return key, p.refuse(ReasonClause, &p.orderFrag, o.Expr, "with DISTINCT, ORDER BY terms must be selected", "select what you order by")
	}
	e, err := p.build(expr, &p.orderFrag)
	key.Expr, key.Coll = e, p.collationOf(expr, &p.orderFrag)
	return key, err
}
