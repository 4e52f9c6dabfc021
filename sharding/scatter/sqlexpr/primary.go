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
	end := p.tok.end
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

// special lists the functions whose arguments are separated by keywords.
var special = map[string]bool{"extract": true, "substring": true, "trim": true, "position": true, "overlay": true}

// call reads the parenthesized arguments of call and what may follow them:
// WITHIN GROUP, FILTER, OVER.
func (p *parser) call(call *Call) (Node, error) {
	if err := p.advance(); err != nil { // '('
		return nil, err
	}
	var err error
	switch {
	case special[call.Name] && !p.isOp(")"):
		call.Special = true
		err = p.specialArgs(call)
	case call.Name == "convert" && p.lex.d == MySQL:
		return nil, p.fail("CONVERT")
	default:
		err = p.args(call)
	}
	if err != nil {
		return nil, err
	}
	call.End = p.tok.end
	if _, err := p.expectOp(")"); err != nil {
		return nil, err
	}
	if p.isWord("WITHIN") {
		call.Ordered = true
		if err := p.advance(); err != nil {
			return nil, err
		}
		if err := p.expectWord("GROUP"); err != nil {
			return nil, err
		}
		if call.End, err = p.skipParens(); err != nil {
			return nil, err
		}
	}
	if p.isWord("FILTER") {
		if err := p.advance(); err != nil {
			return nil, err
		}
		if _, err := p.expectOp("("); err != nil {
			return nil, err
		}
		if err := p.expectWord("WHERE"); err != nil {
			return nil, err
		}
		if call.Filter, err = p.expr(); err != nil {
			return nil, err
		}
		if call.End, err = p.expectOp(")"); err != nil {
			return nil, err
		}
	}
	if p.isWord("OVER") {
		over := Span{Start: p.tok.start}
		if err := p.advance(); err != nil {
			return nil, err
		}
		if p.isOp("(") {
			if over.End, err = p.skipParens(); err != nil {
				return nil, err
			}
		} else if p.tok.kind == tWord || p.tok.kind == tIdent {
			over.End = p.tok.end
			if err := p.advance(); err != nil {
				return nil, err
			}
		} else {
			return nil, p.fail("expected a window after OVER")
		}
		call.Over, call.End = &over, over.End
	}
	return call, nil
}

func (p *parser) args(call *Call) error {
	if p.isOp(")") {
		return nil
	}
	if p.isOp("*") {
		call.Star = true
		return p.advance()
	}
	if p.isWord("DISTINCT") {
		call.Distinct = true
		if err := p.advance(); err != nil {
			return err
		}
	} else if p.isWord("ALL") {
		if err := p.advance(); err != nil {
			return err
		}
	}
	for {
		a, err := p.expr()
		if err != nil {
			return err
		}
		call.Args = append(call.Args, a)
		if p.isWord("ORDER") || p.isWord("SEPARATOR") {
			// string_agg(x, ',' ORDER BY y), GROUP_CONCAT(x SEPARATOR ','):
			// an ordered aggregate, which no merge reproduces; skip to ')'.
			call.Ordered = true
			return p.skipTo(")")
		}
		if !p.isOp(",") {
			return nil
		}
		if err := p.advance(); err != nil {
			return err
		}
	}
}

// specialArgs reads EXTRACT(field FROM x), SUBSTRING(x FROM a FOR b),
// TRIM([LEADING|TRAILING|BOTH] [c] FROM x), POSITION(a IN b) and OVERLAY
// (x PLACING y FROM a FOR b): expressions separated by keywords, or commas.
func (p *parser) specialArgs(call *Call) error {
	if call.Name == "extract" {
		if p.tok.kind != tWord && p.tok.kind != tString {
			return p.fail("expected a field name in EXTRACT")
		}
		if err := p.advance(); err != nil {
			return err
		}
	}
	for !p.isOp(")") {
		switch {
		case p.isOp(","), p.isWord("FROM"), p.isWord("FOR"), p.isWord("IN"), p.isWord("PLACING"),
			p.isWord("LEADING"), p.isWord("TRAILING"), p.isWord("BOTH"):
			if err := p.advance(); err != nil {
				return err
			}
		default:
			a, err := p.concat() // not p.expr(): IN separates POSITION's arguments
			if err != nil {
				return err
			}
			call.Args = append(call.Args, a)
		}
		if p.tok.kind == tEOF {
			return p.fail("unterminated %s(", strings.ToUpper(call.Name))
		}
	}
	return nil
}

// skipParens consumes a balanced parenthesized group starting at the
// current '(' and returns the end of its ')'.
func (p *parser) skipParens() (int, error) {
	if _, err := p.expectOp("("); err != nil {
		return 0, err
	}
	if err := p.skipTo(")"); err != nil {
		return 0, err
	}
	end := p.tok.end
	return end, p.advance()
}

// skipTo consumes tokens up to (not including) the closing op at depth 0.
func (p *parser) skipTo(closing string) error {
	depth := 0
	for {
		switch {
		case p.tok.kind == tEOF:
			return p.fail("missing %q", closing)
		case p.isOp("("):
			depth++
		case p.isOp(")"):
			if depth == 0 {
				return nil
			}
			depth--
		}
		if err := p.advance(); err != nil {
			return err
		}
	}
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

// multiword lists the type names that continue with more words.
var multiword = map[string][]string{
	"DOUBLE": {"PRECISION"}, "CHARACTER": {"VARYING"}, "CHAR": {"VARYING"}, "BIT": {"VARYING"},
	"NATIONAL":  {"CHARACTER", "CHAR", "VARYING"},
	"TIMESTAMP": {"WITH", "WITHOUT", "TIME", "ZONE"}, "TIME": {"WITH", "WITHOUT", "TIME", "ZONE"},
	"UNSIGNED": {"INTEGER", "INT"}, "SIGNED": {"INTEGER", "INT"},
}

// typeName reads a type name: words, an optional (n[, m]), no arrays.
func (p *parser) typeName() (string, int, error) {
	if p.tok.kind != tWord && p.tok.kind != tIdent {
		return "", 0, p.fail("expected a type name")
	}
	words := []string{strings.ToLower(p.tok.text)}
	end := p.tok.end
	follow := multiword[strings.ToUpper(p.tok.text)]
	if err := p.advance(); err != nil {
		return "", 0, err
	}
	for p.tok.kind == tWord && oneOfFold(p.tok.text, follow...) {
		words = append(words, strings.ToLower(p.tok.text))
		end = p.tok.end
		if err := p.advance(); err != nil {
			return "", 0, err
		}
	}
	typ := strings.Join(words, " ")
	if p.isOp("(") {
		var mods []string
		if err := p.advance(); err != nil {
			return "", 0, err
		}
		for !p.isOp(")") {
			if p.tok.kind != tNumber {
				return "", 0, p.fail("expected a number in the type's modifiers")
			}
			mods = append(mods, p.tok.text)
			if err := p.advance(); err != nil {
				return "", 0, err
			}
			if p.isOp(",") {
				if err := p.advance(); err != nil {
					return "", 0, err
				}
			} else if !p.isOp(")") {
				return "", 0, p.fail("expected ',' or ')'")
			}
		}
		end = p.tok.end
		if err := p.advance(); err != nil {
			return "", 0, err
		}
		typ += "(" + strings.Join(mods, ",") + ")"
	}
	if p.isOp("[") {
		return "", 0, p.fail("array type")
	}
	return typ, end, nil
}
