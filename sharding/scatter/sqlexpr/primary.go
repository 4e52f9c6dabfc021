package sqlexpr

import "strings"

// reserved words cannot be column names or aliases without quotes in this
// grammar. The list is wider than some servers' (FILTER and NULLS are not
// reserved in PostgreSQL): a column so named must be quoted, or the query
// is refused — never misread.
var reserved = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`ALL AND ANY ARRAY AS ASC BETWEEN BOTH CASE CAST COLLATE CROSS
		CURRENT_DATE CURRENT_TIME CURRENT_TIMESTAMP DESC DISTINCT DIV ELSE END ESCAPE EXCEPT EXISTS
		FALSE FETCH FILTER FOR FROM FULL GROUP HAVING ILIKE IN INNER INTERSECT INTERVAL INTO IS ISNULL
		JOIN LEADING LEFT LIKE LIMIT LOCALTIME LOCALTIMESTAMP MOD NATURAL NOT NOTNULL NULL NULLS OFFSET
		ON OR ORDER OUTER OVER REGEXP RIGHT RLIKE ROLLUP SELECT SIMILAR SOME THEN TRAILING TRUE UNION
		UNKNOWN USING VALUES WHEN WHERE WINDOW WITH WITHIN XOR`) {
		reserved[w] = true
	}
}

func isReserved(w string) bool { return reserved[strings.ToUpper(w)] }

// niladic are keywords that stand for a value, as calls without parentheses.
var niladic = map[string]bool{"CURRENT_DATE": true, "CURRENT_TIME": true, "CURRENT_TIMESTAMP": true,
	"LOCALTIME": true, "LOCALTIMESTAMP": true}

func (p *parser) primary() (Node, error) {
	t := p.tok
	switch t.kind {
	case tNumber:
		return &Literal{Span: Span{t.start, t.end}, Kind: NumberLit, Text: t.text}, p.advance()
	case tString:
		kind := StringLit
		if t.introduced {
			kind = TypedLit
		}
		return &Literal{Span: Span{t.start, t.end}, Kind: kind, Text: t.text}, p.advance()
	case tParam:
		return &Param{Span: Span{t.start, t.end}, Index: t.param}, p.advance()
	case tOp:
		if t.text == "(" {
			return p.paren()
		}
		if t.text == "*" {
			return &Star{Span: Span{t.start, t.end}}, p.advance()
		}
		return nil, p.fail("unexpected %q", t.text)
	case tIdent:
		return p.name()
	case tEOF:
		return nil, p.fail("unexpected end")
	}
	w := strings.ToUpper(t.text)
	switch w {
	case "NULL", "TRUE", "FALSE":
		kind := map[string]LiteralKind{"NULL": NullLit, "TRUE": TrueLit, "FALSE": FalseLit}[w]
		return &Literal{Span: Span{t.start, t.end}, Kind: kind, Text: w}, p.advance()
	case "CASE":
		return p.caseExpr()
	case "CAST":
		return p.cast()
	case "EXISTS":
		if err := p.advance(); err != nil {
			return nil, err
		}
		sub, ok, err := p.subquery()
		if err == nil && !ok {
			err = p.fail("expected (SELECT …) after EXISTS")
		}
		if err != nil {
			return nil, err
		}
		return &Exists{Span: Span{t.start, sub.End}, Subquery: sub}, nil
	case "DATE", "TIME", "TIMESTAMP", "INTERVAL":
		next, err := p.lookahead()
		if err != nil {
			return nil, err
		}
		if next.kind == tString && !next.introduced {
			if err := p.advance(); err != nil {
				return nil, err
			}
			end := p.tok.end
			return &Literal{Span: Span{t.start, end}, Kind: TypedLit, Text: w}, p.advance()
		}
		if w == "INTERVAL" {
			return nil, p.fail("INTERVAL expression")
		}
	}
	if niladic[w] {
		if next, err := p.lookahead(); err != nil || next.kind == tOp && next.text == "(" {
			if err == nil {
				err = p.fail("%s with precision", w)
			}
			return nil, err
		}
		return &Call{Span: Span{t.start, t.end}, Name: strings.ToLower(w)}, p.advance()
	}
	if isReserved(t.text) {
		// LEFT(s, n), RIGHT(s, n) and MOD(a, b) are functions despite the keyword.
		if next, err := p.lookahead(); err != nil || !(next.kind == tOp && next.text == "(" && oneOfFold(w, "LEFT", "RIGHT", "MOD")) {
			if err == nil {
				err = p.fail("unexpected keyword %s", w)
			}
			return nil, err
		}
	}
	return p.name()
}

// name reads a column reference, table.*, or a function call.
func (p *parser) name() (Node, error) {
	start := p.tok.start
	var parts []string
	var quoted []bool
	var end int
	for {
		parts = append(parts, p.tok.text)
		quoted = append(quoted, p.tok.kind == tIdent)
		end = p.tok.end
		if err := p.advance(); err != nil {
			return nil, err
		}
		if !p.isOp(".") {
			break
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		switch {
		case p.isOp("*"):
			end = p.tok.end
			return &Star{Span: Span{start, end}, Table: parts}, p.advance()
		case p.tok.kind == tIdent, p.tok.kind == tWord && !isReserved(p.tok.text):
		default:
			return nil, p.fail("expected a name after '.'")
		}
	}
	if len(parts) > 3 {
		return nil, p.lex.fail(start, "name with %d parts", len(parts))
	}
	if p.isOp("(") {
		if len(parts) > 2 {
			return nil, p.lex.fail(start, "function name with %d parts", len(parts))
		}
		call := &Call{Span: Span{Start: start}}
		call.Name = Fold(p.lex.d, parts[len(parts)-1], quoted[len(quoted)-1])
		if !quoted[len(quoted)-1] {
			call.Name = strings.ToLower(call.Name)
		}
		if len(parts) == 2 {
			call.Schema = parts[0]
		}
		return p.call(call)
	}
	return &Column{Span: Span{start, end}, Parts: parts, Quoted: quoted}, nil
}

// paren reads a parenthesized expression or a subquery.
func (p *parser) paren() (Node, error) {
	if sub, ok, err := p.subquery(); err != nil || ok {
		return sub, err
	}
	start := p.tok.start
	if err := p.advance(); err != nil {
		return nil, err
	}
	x, err := p.expr()
	if err != nil {
		return nil, err
	}
	if p.isOp(",") {
		return nil, p.fail("row constructor")
	}
	end, err := p.expectOp(")")
	if err != nil {
		return nil, err
	}
	return &Paren{Span: Span{start, end}, X: x}, nil
}

// subquery reads "(SELECT …)" when the current '(' opens one.
func (p *parser) subquery() (*Subquery, bool, error) {
	if !p.isOp("(") {
		return nil, false, nil
	}
	next, err := p.lookahead()
	if err != nil {
		return nil, false, err
	}
	if next.kind != tWord || !oneOfFold(next.text, "SELECT", "WITH", "VALUES", "TABLE") {
		if next.kind == tOp && next.text == "(" {
			return nil, false, nil // ((…)): an expression, or a parenthesized subquery read one level down
		}
		return nil, false, nil
	}
	start := p.tok.start
	if err := p.advance(); err != nil {
		return nil, false, err
	}
	body := Span{Start: p.tok.start}
	if err := p.skipTo(")"); err != nil {
		return nil, false, err
	}
	body.End = p.tok.start
	end := p.tok.end
	return &Subquery{Span: Span{start, end}, Body: body}, true, p.advance()
}

func (p *parser) caseExpr() (Node, error) {
	c := &Case{Span: Span{Start: p.tok.start}}
	if err := p.advance(); err != nil {
		return nil, err
	}
	var err error
	if !p.isWord("WHEN") {
		if c.Operand, err = p.expr(); err != nil {
			return nil, err
		}
	}
	for p.isWord("WHEN") {
		if err := p.advance(); err != nil {
			return nil, err
		}
		var w When
		if w.Cond, err = p.expr(); err != nil {
			return nil, err
		}
		if err := p.expectWord("THEN"); err != nil {
			return nil, err
		}
		if w.Result, err = p.expr(); err != nil {
			return nil, err
		}
		c.Whens = append(c.Whens, w)
	}
	if len(c.Whens) == 0 {
		return nil, p.fail("CASE without WHEN")
	}
	if ok, err := p.accept("ELSE"); err != nil {
		return nil, err
	} else if ok {
		if c.Else, err = p.expr(); err != nil {
			return nil, err
		}
	}
	c.End = p.tok.end
	return c, p.expectWord("END")
}

func (p *parser) cast() (Node, error) {
	start := p.tok.start
	if err := p.advance(); err != nil {
		return nil, err
	}
	if _, err := p.expectOp("("); err != nil {
		return nil, err
	}
	x, err := p.expr()
	if err != nil {
		return nil, err
	}
	if err := p.expectWord("AS"); err != nil {
		return nil, err
	}
	typ, _, err := p.typeName()
	if err != nil {
		return nil, err
	}
	end, err := p.expectOp(")")
	if err != nil {
		return nil, err
	}
	return &Cast{Span: Span{start, end}, X: x, Type: typ}, nil
}
