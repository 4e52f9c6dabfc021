package scatter

import (
	"strings"

	"github.com/grant-go/grant/sharding/scatter/collate"
	"github.com/grant-go/grant/sharding/scatter/sqlexpr"
)

// collationOf is the collation text values of n compare under, derived the
// way the servers derive it: an explicit COLLATE, else a column's, else
// the literals' default. It returns nil when n is known not to be text, and
// a Collation with a nil collate.Collation when the planner cannot tell.
func (p *planner) collationOf(n sqlexpr.Node, f *fragment) *Collation {
	unknown := &Collation{Fragment: sqlexpr.Text(f.Src, n)}
	switch x := sqlexpr.Unparen(n).(type) {
	case *sqlexpr.Column:
		ok, c := p.q.Catalog.Column(x.Name(), x.Quoted[len(x.Quoted)-1])
		if !ok {
			return unknown
		}
		if c == nil {
			return nil
		}
		return p.intern(c, unknown.Fragment)
	case *sqlexpr.Collate:
		c, err := p.q.Catalog.Collation(x.Collation)
		if err != nil {
			return unknown
		}
		return p.intern(c, unknown.Fragment)
	case *sqlexpr.Literal:
		switch x.Kind {
		case sqlexpr.StringLit:
			return p.intern(p.q.Catalog.Literal(), unknown.Fragment)
		case sqlexpr.NumberLit, sqlexpr.NullLit, sqlexpr.TrueLit, sqlexpr.FalseLit:
			return nil
		}
	case *sqlexpr.Param:
		switch f.vars[x.Index].(type) {
		case string, []byte:
			return p.intern(p.q.Catalog.Literal(), unknown.Fragment)
		}
		return unknown
	case *sqlexpr.Call:
		if x.Name == "count" {
			return nil
		}
		if p.d == sqlexpr.SQLite {
			// SQLite gives a collation only to columns and COLLATE; what a
			// function returns compares as BINARY (MIN and MAX compare their
			// argument under its collation, which is Fold's business).
			return p.intern(p.q.Catalog.Literal(), unknown.Fragment)
		}
		if textPreserving[x.Name] {
			return p.derived(x.Args, f, unknown)
		}
	case *sqlexpr.Case:
		if p.d == sqlexpr.SQLite {
			return p.intern(p.q.Catalog.Literal(), unknown.Fragment)
		}
		results := make([]sqlexpr.Node, 0, len(x.Whens)+1)
		for _, w := range x.Whens {
			results = append(results, w.Result)
		}
		if x.Else != nil {
			results = append(results, x.Else)
		}
		return p.derived(results, f, unknown)
	case *sqlexpr.Binary:
		if x.Op == "||" && p.d == sqlexpr.SQLite {
			return p.intern(p.q.Catalog.Literal(), unknown.Fragment)
		}
		if x.Op == "||" {
			return p.derived([]sqlexpr.Node{x.L, x.R}, f, unknown)
		}
		if strings.ContainsAny(x.Op, "+-*/%") || x.Op == "DIV" || x.Op == "MOD" {
			return nil // arithmetic is never text
		}
	}
	return unknown
}

// derived is the collation of an expression made of nodes: the one
// collation of its text columns, else the literals'. Two different column
// collations are a conflict the servers resolve differently: unknown.
func (p *planner) derived(nodes []sqlexpr.Node, f *fragment, unknown *Collation) *Collation {
	var found, literal *Collation
	sawText := false
	for _, n := range nodes {
		c := p.collationOf(n, f)
		if c == nil {
			continue
		}
		sawText = true
		if c.Collation == nil {
			return unknown
		}
		if lit, ok := sqlexpr.Unparen(n).(*sqlexpr.Literal); ok && lit.Kind == sqlexpr.StringLit {
			literal = c
			continue
		}
		if _, ok := sqlexpr.Unparen(n).(*sqlexpr.Param); ok {
			literal = c
			continue
		}
		if found != nil && found.Collation != c.Collation {
			return unknown
		}
		found = c
	}
	switch {
	case found != nil:
		return found
	case literal != nil:
		return literal
	case !sawText:
		return nil
	}
	return unknown
}

// intern returns the one *Collation the plan uses for c, so that the merge
// ranks each collation once.
func (p *planner) intern(c collate.Collation, fragment string) *Collation {
	if c == nil {
		return &Collation{Fragment: fragment}
	}
	if have, ok := p.colls[c]; ok {
		return have
	}
	out := &Collation{Collation: c, Fragment: fragment}
	p.colls[c] = out
	return out
}
