package sqlexpr

import (
	"strings"
)

// parser reads one fragment. It looks one token ahead.
type parser struct {
	lex  lexer
	tok  token // current token
	peek *token
}

func newParser(d Dialect, src string) (*parser, error) {
	p := &parser{lex: lexer{d: d, src: src}}
	if err := p.advance(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *parser) advance() error {
	if p.peek != nil {
		p.tok, p.peek = *p.peek, nil
		return nil
	}
	t, err := p.lex.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

// lookahead returns the token after the current one.
func (p *parser) lookahead() (token, error) {
	if p.peek == nil {
		t, err := p.lex.next()
		if err != nil {
			return token{}, err
		}
		p.peek = &t
	}
	return *p.peek, nil
}

func (p *parser) fail(format string, args ...any) error {
	return p.lex.fail(p.tok.start, format, args...)
}

// isWord reports whether the current token is the unquoted keyword kw
// (upper case).
func (p *parser) isWord(kw string) bool {
	return p.tok.kind == tWord && strings.EqualFold(p.tok.text, kw)
}
func (p *parser) isOp(op string) bool { return p.tok.kind == tOp && p.tok.text == op }

// accept consumes the keyword kw if it is the current token.
func (p *parser) accept(kw string) (bool, error) {
	if !p.isWord(kw) {
		return false, nil
	}
	return true, p.advance()
}

func (p *parser) expectWord(kw string) error {
	if !p.isWord(kw) {
		return p.fail("expected %s", kw)
	}
	return p.advance()
}

func (p *parser) expectOp(op string) (int, error) {
	if !p.isOp(op) {
		return 0, p.fail("expected %q", op)
	}
	end := p.tok.end
	return end, p.advance()
}

// expr reads a full expression: OR is the loosest operator.
func (p *parser) expr() (Node, error) { return p.or() }

func (p *parser) or() (Node, error) {
	l, err := p.and()
	for err == nil && (p.isWord("OR") || p.isWord("XOR") && p.lex.d == MySQL) {
		op := strings.ToUpper(p.tok.text)
		if err = p.advance(); err != nil {
			break
		}
		var r Node
		if r, err = p.and(); err == nil {
			l = &Binary{Span: Span{SpanOf(l).Start, SpanOf(r).End}, Op: op, L: l, R: r}
		}
	}
	return l, err
}

func (p *parser) and() (Node, error) {
	l, err := p.not()
	for err == nil && p.isWord("AND") {
		if err = p.advance(); err != nil {
			break
		}
		var r Node
		if r, err = p.not(); err == nil {
			l = &Binary{Span: Span{SpanOf(l).Start, SpanOf(r).End}, Op: "AND", L: l, R: r}
		}
	}
	return l, err
}

func (p *parser) not() (Node, error) {
	if !p.isWord("NOT") {
		return p.is()
	}
	start := p.tok.start
	if err := p.advance(); err != nil {
		return nil, err
	}
	x, err := p.not()
	if err != nil {
		return nil, err
	}
	return &Unary{Span: Span{start, SpanOf(x).End}, Op: "NOT", X: x}, nil
}

// is reads IS [NOT] NULL/TRUE/FALSE/UNKNOWN and IS [NOT] DISTINCT FROM,
// which bind more loosely than comparisons.
func (p *parser) is() (Node, error) {
	x, err := p.comparison()
	for err == nil && p.isWord("IS") {
		if err = p.advance(); err != nil {
			break
		}
		var not bool
		if not, err = p.accept("NOT"); err != nil {
			break
		}
		switch {
		case p.isWord("NULL"), p.isWord("TRUE"), p.isWord("FALSE"), p.isWord("UNKNOWN"):
			what, end := strings.ToUpper(p.tok.text), p.tok.end
			err = p.advance()
			x = &Is{Span: Span{SpanOf(x).Start, end}, X: x, Not: not, What: what}
		case p.isWord("DISTINCT") && p.lex.d != MySQL:
			if err = p.advance(); err == nil {
				err = p.expectWord("FROM")
			}
			var r Node
			if err == nil {
				r, err = p.comparison()
			}
			if err == nil {
				op := "IS DISTINCT FROM"
				if not {
					op = "IS NOT DISTINCT FROM"
				}
				x = &Binary{Span: Span{SpanOf(x).Start, SpanOf(r).End}, Op: op, L: x, R: r}
			}
		default:
			err = p.fail("expected NULL, TRUE, FALSE, UNKNOWN or DISTINCT FROM after IS")
		}
	}
	return x, err
}

var comparisons = map[string]string{"=": "=", "==": "=", "<>": "<>", "!=": "<>", "<": "<", ">": ">", "<=": "<=", ">=": ">=", "<=>": "<=>"}

// comparison reads one comparison, BETWEEN, IN or LIKE. They do not chain:
// a = b = c, and a = b BETWEEN x AND y (which PostgreSQL and MySQL group
// differently) are errors.
func (p *parser) comparison() (Node, error) {
	x, err := p.concat()
	if err != nil {
		return nil, err
	}
	n, matched, err := p.comparisonTail(x)
	if err != nil || !matched {
		return x, err
	}
	if _, again, err := p.comparisonTail(n); err != nil || again {
		if err == nil {
			err = p.lex.fail(SpanOf(n).End, "chained comparison: add parentheses")
		}
		return nil, err
	}
	return n, nil
}

func (p *parser) comparisonTail(x Node) (Node, bool, error) {
	start := SpanOf(x).Start
	if p.tok.kind == tOp {
		op, ok := comparisons[p.tok.text]
		if !ok || op == "<=>" && p.lex.d != MySQL || p.tok.text == "==" && p.lex.d != SQLite {
			return x, false, nil
		}
		if err := p.advance(); err != nil {
			return nil, false, err
		}
		if p.isWord("ANY") || p.isWord("ALL") || p.isWord("SOME") {
			return nil, false, p.fail("quantified comparison (ANY/ALL/SOME)")
		}
		r, err := p.concat()
		if err != nil {
			return nil, false, err
		}
		return &Binary{Span: Span{start, SpanOf(r).End}, Op: op, L: x, R: r}, true, nil
	}
	not := false
	if p.isWord("NOT") {
		next, err := p.lookahead()
		if err != nil {
			return nil, false, err
		}
		if next.kind != tWord || !oneOfFold(next.text, "BETWEEN", "IN", "LIKE", "ILIKE") {
			return x, false, nil
		}
		not = true
		if err := p.advance(); err != nil {
			return nil, false, err
		}
	}
	switch {
	case p.isWord("BETWEEN"):
		if err := p.advance(); err != nil {
			return nil, false, err
		}
		if p.isWord("SYMMETRIC") || p.isWord("ASYMMETRIC") {
			return nil, false, p.fail("BETWEEN SYMMETRIC")
		}
		lo, err := p.concat()
		if err != nil {
			return nil, false, err
		}
		if err := p.expectWord("AND"); err != nil {
			return nil, false, err
		}
		hi, err := p.concat()
		if err != nil {
			return nil, false, err
		}
		return &Between{Span: Span{start, SpanOf(hi).End}, X: x, Lo: lo, Hi: hi, Not: not}, true, nil
	case p.isWord("IN"):
		if err := p.advance(); err != nil {
			return nil, false, err
		}
		return p.in(x, not)
	case p.isWord("LIKE"), p.isWord("ILIKE") && p.lex.d == Postgres:
		op := strings.ToUpper(p.tok.text)
		if not {
			op = "NOT " + op
		}
		if err := p.advance(); err != nil {
			return nil, false, err
		}
		r, err := p.concat()
		if err != nil {
			return nil, false, err
		}
		if p.isWord("ESCAPE") {
			return nil, false, p.fail("LIKE … ESCAPE")
		}
		return &Binary{Span: Span{start, SpanOf(r).End}, Op: op, L: x, R: r}, true, nil
	}
	if not {
		return nil, false, p.fail("expected BETWEEN, IN or LIKE after NOT")
	}
	return x, false, nil
}

func (p *parser) in(x Node, not bool) (Node, bool, error) {
	if !p.isOp("(") {
		return nil, false, p.fail("expected '(' after IN")
	}
	if sub, ok, err := p.subquery(); err != nil || ok {
		if err != nil {
			return nil, false, err
		}
		return &In{Span: Span{SpanOf(x).Start, sub.End}, X: x, Not: not, Subquery: sub}, true, nil
	}
	if err := p.advance(); err != nil { // '('
		return nil, false, err
	}
	var list []Node
	for {
		e, err := p.expr()
		if err != nil {
			return nil, false, err
		}
		list = append(list, e)
		if !p.isOp(",") {
			break
		}
		if err := p.advance(); err != nil {
			return nil, false, err
		}
	}
	end, err := p.expectOp(")")
	if err != nil {
		return nil, false, err
	}
	return &In{Span: Span{SpanOf(x).Start, end}, X: x, Not: not, List: list}, true, nil
}

// concat reads ||, PostgreSQL's and SQLite's string concatenation. In
// MySQL || is OR, or concatenation under PIPES_AS_CONCAT: the server's mode
// decides, so grant does not read it.
func (p *parser) concat() (Node, error) {
	l, err := p.additive()
	for err == nil && p.isOp("||") {
		if p.lex.d == MySQL {
			return nil, p.fail("'||' means OR or concatenation depending on sql_mode: write OR or CONCAT()")
		}
		if err = p.advance(); err != nil {
			break
		}
		var r Node
		if r, err = p.additive(); err == nil {
			l = &Binary{Span: Span{SpanOf(l).Start, SpanOf(r).End}, Op: "||", L: l, R: r}
		}
	}
	return l, err
}

func (p *parser) additive() (Node, error) {
	l, err := p.multiplicative()
	for err == nil && (p.isOp("+") || p.isOp("-")) {
		op := p.tok.text
		if err = p.advance(); err != nil {
			break
		}
		var r Node
		if r, err = p.multiplicative(); err == nil {
			l = &Binary{Span: Span{SpanOf(l).Start, SpanOf(r).End}, Op: op, L: l, R: r}
		}
	}
	return l, err
}

func (p *parser) multiplicative() (Node, error) {
	l, err := p.collate()
	for err == nil {
		var op string
		switch {
		case p.isOp("*"), p.isOp("/"), p.isOp("%"):
			op = p.tok.text
		case p.lex.d == MySQL && (p.isWord("DIV") || p.isWord("MOD")):
			op = strings.ToUpper(p.tok.text)
		default:
			return l, nil
		}
		if err = p.advance(); err != nil {
			break
		}
		var r Node
		if r, err = p.collate(); err == nil {
			l = &Binary{Span: Span{SpanOf(l).Start, SpanOf(r).End}, Op: op, L: l, R: r}
		}
	}
	return l, err
}

func (p *parser) collate() (Node, error) {
	x, err := p.unary()
	for err == nil && p.isWord("COLLATE") {
		if err = p.advance(); err != nil {
			break
		}
		var name string
		switch p.tok.kind {
		case tWord, tIdent:
			name = p.tok.text
		case tString:
			if p.lex.d == MySQL {
				name = p.tok.text
				break
			}
			fallthrough
		default:
			return nil, p.fail("expected a collation name")
		}
		end := p.tok.end
		if err = p.advance(); err != nil {
			break
		}
		if p.isOp(".") {
			return nil, p.fail("schema-qualified collation")
		}
		x = &Collate{Span: Span{SpanOf(x).Start, end}, X: x, Collation: name}
	}
	return x, err
}

func (p *parser) unary() (Node, error) {
	if p.isOp("-") || p.isOp("+") {
		op, start := p.tok.text, p.tok.start
		if err := p.advance(); err != nil {
			return nil, err
		}
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &Unary{Span: Span{start, SpanOf(x).End}, Op: op, X: x}, nil
	}
	if p.tok.kind == tOp && strings.ContainsAny(p.tok.text, "~!@#^&|") {
		return nil, p.fail("operator %q", p.tok.text)
	}
	return p.postfix()
}

// postfix reads a primary and PostgreSQL's ::type casts after it.
func (p *parser) postfix() (Node, error) {
	x, err := p.primary()
	for err == nil && p.isOp("::") {
		if err = p.advance(); err != nil {
			break
		}
		var typ string
		var end int
		if typ, end, err = p.typeName(); err == nil {
			x = &Cast{Span: Span{SpanOf(x).Start, end}, X: x, Type: typ}
		}
	}
	if err == nil && p.isOp("[") {
		err = p.fail("array subscript")
	}
	return x, err
}

func oneOfFold(w string, uppers ...string) bool {
	for _, u := range uppers {
		if strings.EqualFold(w, u) {
			return true
		}
	}
	return false
}
