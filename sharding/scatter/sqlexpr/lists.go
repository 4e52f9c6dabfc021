package sqlexpr

import "strings"

// Fragment is one parsed piece of SQL and where its parameters are. Its
// nodes' spans index Src.
type Fragment struct {
	Src string
	// Params are every parameter in Src in order of appearance, including
	// those inside parts the grammar skips (a subquery's body, an OVER
	// clause), so that any span can be re-emitted with its bound values.
	Params []ParamRef
}

// ParamsIn returns the parameters inside span s, in order.
func (f Fragment) ParamsIn(s Span) []ParamRef {
	var in []ParamRef
	for _, p := range f.Params {
		if p.Start >= s.Start && p.End <= s.End {
			in = append(in, p)
		}
	}
	return in
}

// ParseExpr reads one expression, e.g. a HAVING predicate or a GROUP BY
// term.
func ParseExpr(d Dialect, src string) (Node, Fragment, error) {
	p, err := newParser(d, src)
	if err != nil {
		return nil, Fragment{}, err
	}
	n, err := p.expr()
	if err == nil && p.tok.kind != tEOF {
		err = p.fail("unexpected %q after the expression", p.tok.text)
	}
	return n, Fragment{Src: src, Params: p.lex.params}, err
}

// SelectList is a parsed select list.
type SelectList struct {
	Distinct bool // SELECT DISTINCT …
	Items    []SelectItem
}

// ParseSelect reads a select list: [DISTINCT | ALL] item, item, … where an
// item is *, table.*, or an expression with an optional [AS] alias.
func ParseSelect(d Dialect, src string) (SelectList, Fragment, error) {
	var list SelectList
	p, err := newParser(d, src)
	if err != nil {
		return list, Fragment{}, err
	}
	frag := func() Fragment { return Fragment{Src: src, Params: p.lex.params} }
	if p.isWord("DISTINCT") {
		list.Distinct = true
		if err := p.advance(); err != nil {
			return list, frag(), err
		}
		if p.isWord("ON") {
			return list, frag(), p.fail("DISTINCT ON")
		}
	} else if p.isWord("ALL") {
		if err := p.advance(); err != nil {
			return list, frag(), err
		}
	}
	for {
		item, err := p.selectItem()
		if err != nil {
			return list, frag(), err
		}
		list.Items = append(list.Items, item)
		if !p.isOp(",") {
			break
		}
		if err := p.advance(); err != nil {
			return list, frag(), err
		}
	}
	if p.tok.kind != tEOF {
		return list, frag(), p.fail("unexpected %q in the select list", p.tok.text)
	}
	return list, frag(), nil
}

func (p *parser) selectItem() (SelectItem, error) {
	start := p.tok.start
	x, err := p.expr()
	if err != nil {
		return SelectItem{}, err
	}
	item := SelectItem{Span: Span{start, SpanOf(x).End}, Expr: x}
	if _, star := x.(*Star); star {
		return item, nil
	}
	explicit, err := p.accept("AS")
	if err != nil {
		return item, err
	}
	switch {
	case p.tok.kind == tIdent, p.tok.kind == tWord && !isReserved(p.tok.text),
		p.tok.kind == tString && p.lex.d == MySQL && !p.tok.introduced:
		item.Alias, item.AliasQuoted = p.tok.text, p.tok.kind != tWord
		if p.tok.kind == tWord && p.lex.d == Postgres {
			item.Alias = strings.ToLower(item.Alias)
		}
		item.End = p.tok.end
		item.AliasSpan = Span{p.tok.start, p.tok.end}
		return item, p.advance()
	case explicit:
		return item, p.fail("expected an alias after AS")
	}
	return item, nil
}

// ParseOrder reads ORDER BY terms: expr [ASC | DESC] [NULLS FIRST | LAST],
// comma separated. NULLS FIRST/LAST is PostgreSQL and SQLite syntax.
func ParseOrder(d Dialect, src string) ([]OrderItem, Fragment, error) {
	p, err := newParser(d, src)
	if err != nil {
		return nil, Fragment{}, err
	}
	var items []OrderItem
	for {
		start := p.tok.start
		x, err := p.expr()
		if err != nil {
			return nil, Fragment{}, err
		}
		item := OrderItem{Span: Span{start, SpanOf(x).End}, Expr: x}
		if p.isWord("ASC") || p.isWord("DESC") {
			item.Desc, item.End = p.isWord("DESC"), p.tok.end
			if err := p.advance(); err != nil {
				return nil, Fragment{}, err
			}
		}
		if p.isWord("NULLS") {
			if d == MySQL {
				return nil, Fragment{}, p.fail("NULLS FIRST/LAST is not MySQL or MariaDB syntax")
			}
			if err := p.advance(); err != nil {
				return nil, Fragment{}, err
			}
			if !p.isWord("FIRST") && !p.isWord("LAST") {
				return nil, Fragment{}, p.fail("expected FIRST or LAST after NULLS")
			}
			item.Nulls, item.End = strings.ToUpper(p.tok.text), p.tok.end
			if err := p.advance(); err != nil {
				return nil, Fragment{}, err
			}
		}
		if p.isWord("USING") {
			return nil, Fragment{}, p.fail("ORDER BY … USING")
		}
		items = append(items, item)
		if !p.isOp(",") {
			break
		}
		if err := p.advance(); err != nil {
			return nil, Fragment{}, err
		}
	}
	if p.tok.kind != tEOF {
		return nil, Fragment{}, p.fail("unexpected %q in ORDER BY", p.tok.text)
	}
	return items, Fragment{Src: src, Params: p.lex.params}, nil
}

// ParseGroup reads GROUP BY terms, comma separated. ROLLUP, CUBE,
// GROUPING SETS and WITH ROLLUP are not this grammar.
func ParseGroup(d Dialect, src string) ([]Node, Fragment, error) {
	p, err := newParser(d, src)
	if err != nil {
		return nil, Fragment{}, err
	}
	var items []Node
	for {
		if p.isWord("ROLLUP") || p.isWord("CUBE") || p.isWord("GROUPING") || p.isOp("(") && p.emptyParens() {
			return nil, Fragment{}, p.fail("grouping sets")
		}
		x, err := p.expr()
		if err != nil {
			return nil, Fragment{}, err
		}
		if c, ok := x.(*Call); ok && oneOfFold(c.Name, "rollup", "cube") {
			return nil, Fragment{}, p.fail("grouping sets")
		}
		items = append(items, x)
		if !p.isOp(",") {
			break
		}
		if err := p.advance(); err != nil {
			return nil, Fragment{}, err
		}
	}
	if p.isWord("WITH") {
		return nil, Fragment{}, p.fail("WITH ROLLUP")
	}
	if p.tok.kind != tEOF {
		return nil, Fragment{}, p.fail("unexpected %q in GROUP BY", p.tok.text)
	}
	return items, Fragment{Src: src, Params: p.lex.params}, nil
}

func (p *parser) emptyParens() bool {
	next, err := p.lookahead()
	return err == nil && next.kind == tOp && next.text == ")"
}

// Words returns the unquoted words of src outside literals, comments and
// quoted identifiers, in order, as the dialect's lexer reads them; it stops
// at the first lexical error and returns it. The planner uses it to find
// SELECT in WHERE clauses it does not otherwise parse.
func Words(d Dialect, src string) ([]Word, error) {
	l := lexer{d: d, src: src}
	var words []Word
	for {
		t, err := l.next()
		if err != nil {
			return words, err
		}
		switch t.kind {
		case tEOF:
			return words, nil
		case tWord:
			words = append(words, Word{Text: t.text, Start: t.start})
		case tOp:
			if t.text == "(" || t.text == ")" {
				words = append(words, Word{Text: t.text, Start: t.start})
			}
		}
	}
}

// Word is an unquoted word (or a parenthesis) found by Words.
type Word struct {
	Text  string
	Start int
}
