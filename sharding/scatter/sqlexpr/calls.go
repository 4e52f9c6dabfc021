package sqlexpr

import "strings"

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
