package scatter

import (
	"github.com/grant-go/grant/sharding/scatter/sqlexpr"
)

// planRows plans a query without aggregates: every shard runs the query as
// written (with LIMIT l+o and no OFFSET), adding each ORDER BY term as a
// hidden column so that the merge can compare rows; the merge interleaves
// the shards' sorted streams, drops the offset and cuts at the limit.
// DISTINCT is applied by each shard and again by the merge.
func (p *planner) planRows() error {
	p.selectItems = append(p.selectItems, p.selFrag.emit(sqlexpr.Span{Start: 0, End: len(p.selFrag.Src)}, &p.shard.Select.Vars))
	star := false
	p.prog.StarItem = -1
	for i, item := range p.sel.Items {
		if _, ok := item.Expr.(*sqlexpr.Star); ok {
			star = true
			p.prog.Items = append(p.prog.Items, nil)
			p.prog.StarItem = pick(p.prog.StarItem < 0, i, -2) // -2: several stars
			continue
		}
		p.prog.Items = append(p.prog.Items, p.collationOf(item.Expr, &p.selFrag))
	}
	if star {
		// The columns * stands for are known by name once the shards answer.
		p.prog.Lookup = func(name string) *Collation {
			ok, c := p.q.Catalog.Column(name, true)
			switch {
			case !ok:
				return &Collation{Fragment: name}
			case c == nil:
				return nil
			}
			return p.intern(c, name)
		}
	}
	if p.sel.Distinct {
		p.prog.Distinct = true
		if !star {
			p.prog.DistinctOn = p.prog.Items
		}
	}
	p.prog.Streamable = true
	for _, o := range p.order {
		key := OrderKey{Hidden: -1, Output: -1, Desc: o.Desc, NullsFirst: p.nullsFirst(o)}
		expr := sqlexpr.Unparen(o.Expr)
		frag := &p.orderFrag
		if k, ok := position(expr); ok {
			if k < 1 || !star && k > len(p.sel.Items) {
				return p.refuse(ReasonAmbiguous, frag, o.Expr, "ORDER BY position is not in the select list", "")
			}
			key.Position = k
			if !star {
				key.Coll = p.collationOf(p.sel.Items[k-1].Expr, &p.selFrag)
			} else if item, name, ok := p.starPosition(k); ok && p.d == sqlexpr.SQLite {
				key.Position = 0
				if name == "" {
					expr, frag = p.sel.Items[item].Expr, &p.selFrag
				} else {
					key.Hidden = p.prog.Hidden
					p.prog.Hidden++
					p.hiddenColumn(name)
					if _, c := p.q.Catalog.Column(name, true); c != nil {
						key.Coll = p.intern(c, name)
					}
				}
			}
		} else if item, ok, err := p.outputNamed(expr, frag); err != nil {
			return err
		} else if ok && p.sel.Distinct {
			key.Position = item + 1
			key.Coll = p.collationOf(p.sel.Items[item].Expr, &p.selFrag)
		} else if ok {
			expr, frag = p.sel.Items[item].Expr, &p.selFrag
		} else if err := p.noAliasInside(expr, frag); err != nil {
			return err
		} else if p.sel.Distinct {
			at := p.sameAsItem(expr, frag)
			if at < 0 {
				return p.refuse(ReasonClause, frag, o.Expr, "with DISTINCT, ORDER BY terms must be selected",
					"select what you order by")
			}
			key.Position = at + 1
			key.Coll = p.collationOf(p.sel.Items[at].Expr, &p.selFrag)
		}
		if key.Position > 0 && !star && p.d == sqlexpr.SQLite {
			// Compare what SQLite sorts, the stored value (see column): a
			// hidden copy of the selected item, which DISTINCT cannot change.
			expr, frag, key.Position = p.sel.Items[key.Position-1].Expr, &p.selFrag, 0
		}
		if key.Position == 0 && key.Hidden < 0 {
			if p.sel.Distinct && frag != &p.selFrag {
				return p.refuse(ReasonClause, frag, o.Expr, "with DISTINCT, ORDER BY terms must be selected", "select what you order by")
			}
			key.Hidden = p.prog.Hidden
			p.prog.Hidden++
			p.column(expr, frag, "o")
			key.Coll = p.collationOf(expr, frag)
		}
		if key.Coll != nil && (key.Coll.Collation == nil || !key.Coll.Native()) {
			p.prog.Streamable = false
		}
		if key.Position > 0 && star {
			p.prog.Streamable = false // the column's collation is learned from its name at merge time
		}
		p.prog.Order = append(p.prog.Order, key)
	}
	if p.sel.Distinct && star {
		p.prog.Streamable = false
	}
	for _, c := range p.prog.DistinctOn {
		if c != nil && (c.Collation == nil || !c.Native()) {
			p.prog.Streamable = false
		}
	}
	if len(p.order) > 0 {
		var vars []any
		p.shard.OrderBy = SQL{Text: p.orderFrag.emit(sqlexpr.Span{Start: 0, End: len(p.orderFrag.Src)}, &vars), Vars: vars}
	}
	p.shard.Limit = -1
	if p.q.Limit >= 0 {
		// Each shard's first l+o rows hold the merged first l+o.
		p.shard.Limit = p.q.Limit + p.q.Offset
		if p.q.Limit == 0 {
			p.shard.Limit = 0
		}
	}
	return nil
}

// starPosition resolves ORDER BY position k of a select list with one *
// whose columns the caller listed: a select item (name "") or a column of
// the *.
func (p *planner) starPosition(k int) (item int, name string, ok bool) {
	star, cols := p.prog.StarItem, p.q.StarColumns
	if star < 0 || cols == nil {
		return 0, "", false
	}
	switch {
	case k <= star:
		return k - 1, "", true
	case k <= star+len(cols):
		return 0, cols[k-star-1], true
	case k-len(cols) < len(p.sel.Items):
		return k - len(cols), "", true
	}
	return 0, "", false
}

// outputNamed finds the select item an ORDER BY term names when it is a
// bare name: an alias, or an unaliased column's name. Two such items are
// ambiguous.
func (p *planner) outputNamed(n sqlexpr.Node, f *fragment) (int, bool, error) {
	col, ok := n.(*sqlexpr.Column)
	if !ok || len(col.Parts) != 1 {
		return 0, false, nil
	}
	found := -1
	for i, item := range p.sel.Items {
		name, quoted := itemName(item)
		if name == "" || !sqlexpr.EqualName(p.d, name, quoted, col.Parts[0], col.Quoted[0]) {
			continue
		}
		if found >= 0 && !p.sameNode(p.sel.Items[found].Expr, &p.selFrag, item.Expr, &p.selFrag) {
			return 0, false, p.refuse(ReasonAmbiguous, f, n, "two selected columns have this name", "")
		}
		if found < 0 {
			found = i
		}
	}
	return found, found >= 0, nil
}

// itemName is the name a select item's column goes by for ORDER BY: its
// alias, or a plain column's own name.
func itemName(item sqlexpr.SelectItem) (string, bool) {
	if item.Alias != "" {
		return item.Alias, item.AliasQuoted
	}
	if c, ok := sqlexpr.Unparen(item.Expr).(*sqlexpr.Column); ok {
		return c.Name(), c.Quoted[len(c.Quoted)-1]
	}
	return "", false
}

// noAliasInside refuses an expression that uses a select alias inside it:
// PostgreSQL reads such a name as a table column, MySQL as the alias, and
// grant cannot tell which the user meant.
func (p *planner) noAliasInside(n sqlexpr.Node, f *fragment) error {
	var err error
	sqlexpr.Walk(n, func(x sqlexpr.Node) bool {
		col, ok := x.(*sqlexpr.Column)
		if !ok || len(col.Parts) != 1 || err != nil {
			return err == nil
		}
		for _, item := range p.sel.Items {
			if item.Alias == "" || !sqlexpr.EqualName(p.d, item.Alias, item.AliasQuoted, col.Parts[0], col.Quoted[0]) {
				continue
			}
			if c, ok := sqlexpr.Unparen(item.Expr).(*sqlexpr.Column); ok && sqlexpr.EqualName(p.d, c.Name(), c.Quoted[len(c.Quoted)-1], col.Parts[0], col.Quoted[0]) {
				continue // "name AS name": the same column either way
			}
			if ok, _ := p.q.Catalog.Column(col.Parts[0], col.Quoted[0]); ok || n != x {
				err = p.refuse(ReasonAmbiguous, f, x, "the name is both a select alias and usable as a column here",
					"order by the alias alone, or repeat its expression")
			}
		}
		return err == nil
	})
	return err
}

// sameAsItem returns the select item whose expression is n, or -1.
func (p *planner) sameAsItem(n sqlexpr.Node, f *fragment) int {
	for i, item := range p.sel.Items {
		if p.sameNode(item.Expr, &p.selFrag, n, f) {
			return i
		}
	}
	return -1
}

// sameNode compares two expressions by structure: the same columns,
// functions, operators and constants, whatever the spacing, parentheses or
// letter case of keywords.
func (p *planner) sameNode(a sqlexpr.Node, fa *fragment, b sqlexpr.Node, fb *fragment) bool {
	a, b = sqlexpr.Unparen(a), sqlexpr.Unparen(b)
	switch x := a.(type) {
	case *sqlexpr.Column:
		y, ok := b.(*sqlexpr.Column)
		if !ok || !sqlexpr.EqualName(p.d, x.Name(), x.Quoted[len(x.Quoted)-1], y.Name(), y.Quoted[len(y.Quoted)-1]) {
			return false
		}
		// t.a and a are the same column when one is unqualified.
		if len(x.Parts) > 1 && len(y.Parts) > 1 {
			return sqlexpr.EqualName(p.d, x.Parts[len(x.Parts)-2], x.Quoted[len(x.Quoted)-2], y.Parts[len(y.Parts)-2], y.Quoted[len(y.Quoted)-2])
		}
		return true
	case *sqlexpr.Literal:
		y, ok := b.(*sqlexpr.Literal)
		return ok && x.Kind == y.Kind && x.Text == y.Text
	case *sqlexpr.Param:
		y, ok := b.(*sqlexpr.Param)
		return ok && sameValue(fa.vars[x.Index], fb.vars[y.Index])
	case *sqlexpr.Unary:
		y, ok := b.(*sqlexpr.Unary)
		return ok && x.Op == y.Op && p.sameNode(x.X, fa, y.X, fb)
	case *sqlexpr.Binary:
		y, ok := b.(*sqlexpr.Binary)
		return ok && x.Op == y.Op && p.sameNode(x.L, fa, y.L, fb) && p.sameNode(x.R, fa, y.R, fb)
	case *sqlexpr.Call:
		y, ok := b.(*sqlexpr.Call)
		if !ok || x.Name != y.Name || x.Distinct != y.Distinct || x.Star != y.Star || x.Special || y.Special || len(x.Args) != len(y.Args) {
			return false
		}
		for i := range x.Args {
			if !p.sameNode(x.Args[i], fa, y.Args[i], fb) {
				return false
			}
		}
		return x.Over == nil && y.Over == nil && x.Filter == nil && y.Filter == nil
	case *sqlexpr.Cast:
		y, ok := b.(*sqlexpr.Cast)
		return ok && x.Type == y.Type && p.sameNode(x.X, fa, y.X, fb)
	case *sqlexpr.Collate:
		y, ok := b.(*sqlexpr.Collate)
		return ok && x.Collation == y.Collation && p.sameNode(x.X, fa, y.X, fb)
	case *sqlexpr.Is:
		y, ok := b.(*sqlexpr.Is)
		return ok && x.Not == y.Not && x.What == y.What && p.sameNode(x.X, fa, y.X, fb)
	}
	// CASE, IN, BETWEEN and the rest: the same text is the same expression.
	return sqlexpr.Text(fa.Src, a) == sqlexpr.Text(fb.Src, b) && len(fa.ParamsIn(sqlexpr.SpanOf(a))) == 0 && len(fb.ParamsIn(sqlexpr.SpanOf(b))) == 0
}

func sameValue(a, b any) bool {
	defer func() { _ = recover() }() // uncomparable values are not the same
	return a == b
}
