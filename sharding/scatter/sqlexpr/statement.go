package sqlexpr

import "strings"

// Select is a simple SELECT statement, as a subquery in WHERE may be:
// one table, an optional WHERE, GROUP BY and HAVING. Its spans index Src.
type Select struct {
	Src      string
	Params   []ParamRef
	List     SelectList
	Table    []string // the FROM table, schema-qualified or not
	Alias    string   // its alias, "" when none
	Where    Node     // nil when absent
	GroupBy  []Node
	Having   Node
	listBase int // where the select list starts in Src
}

// clauseWords are the keywords that start a clause of a SELECT statement.
var clauseWords = map[string]bool{"FROM": true, "WHERE": true, "GROUP": true, "HAVING": true, "ORDER": true,
	"LIMIT": true, "OFFSET": true, "FETCH": true, "UNION": true, "INTERSECT": true, "EXCEPT": true,
	"WINDOW": true, "FOR": true, "JOIN": true, "INNER": true, "LEFT": true, "RIGHT": true, "FULL": true,
	"CROSS": true, "NATURAL": true, "INTO": true, "LOCK": true, "RETURNING": true, "QUALIFY": true}

// ParseSelectStatement reads "SELECT [DISTINCT] list FROM table [[AS] alias]
// [WHERE cond] [GROUP BY terms [HAVING cond]] [ORDER BY terms]". Joins,
// several tables, LIMIT, OFFSET, set operations, WITH and locking are not
// this grammar: they are errors, so that a planner never takes such a
// subquery for a simple one.
func ParseSelectStatement(d Dialect, src string) (*Select, error) {
	l := lexer{d: d, src: src}
	var marks []mark
	depth := 0
	first := true
	var prev token
	for {
		t, err := l.next()
		if err != nil {
			return nil, err
		}
		if t.kind == tEOF {
			break
		}
		if first {
			if t.kind != tWord || !strings.EqualFold(t.text, "SELECT") {
				return nil, l.fail(t.start, "expected SELECT")
			}
			first = false
			marks = append(marks, mark{word: "SELECT", start: t.start, after: t.end})
			prev = t
			continue
		}
		switch {
		case t.kind == tOp && t.text == "(":
			depth++
		case t.kind == tOp && t.text == ")":
			depth--
		case t.kind == tOp && (t.text == ";" || t.text == ",") && depth == 0 && lastWord(marks) == "FROM":
			return nil, l.fail(t.start, "more than one table or statement")
		case t.kind == tWord && depth == 0 && clauseWords[strings.ToUpper(t.text)]:
			w := strings.ToUpper(t.text)
			if (w == "LEFT" || w == "RIGHT") && prev.kind == tWord && strings.EqualFold(prev.text, "SELECT") {
				break // SELECT LEFT(…): a function
			}
			switch w {
			case "FROM", "WHERE", "HAVING":
				marks = append(marks, mark{word: w, start: t.start, after: t.end})
			case "GROUP", "ORDER":
				by, err := l.next()
				if err != nil {
					return nil, err
				}
				if by.kind != tWord || !strings.EqualFold(by.text, "BY") {
					return nil, l.fail(by.start, "expected BY")
				}
				marks = append(marks, mark{word: w, start: t.start, after: by.end})
			default:
				return nil, l.fail(t.start, "%s in a subquery", w)
			}
		}
		prev = t
	}
	order := []string{"SELECT", "FROM", "WHERE", "GROUP", "HAVING", "ORDER"}
	rank := map[string]int{}
	for i, w := range order {
		rank[w] = i
	}
	for i := 1; i < len(marks); i++ {
		if rank[marks[i].word] <= rank[marks[i-1].word] {
			return nil, l.fail(marks[i].start, "%s out of place", marks[i].word)
		}
	}
	if len(marks) < 2 || marks[1].word != "FROM" {
		return nil, l.fail(len(src), "a subquery without FROM")
	}
	if has(marks, "HAVING") && !has(marks, "GROUP") {
		return nil, l.fail(len(src), "HAVING without GROUP BY")
	}
	body := func(i int) string {
		end := len(src)
		if i+1 < len(marks) {
			end = marks[i+1].start
		}
		return src[marks[i].after:end]
	}
	// Each clause is parsed alone, then its spans are moved to Src's.
	s := &Select{Src: src, Params: l.params}
	for i, m := range marks {
		text, base := body(i), m.after
		var err error
		switch m.word {
		case "SELECT":
			s.List, _, err = ParseSelect(d, text)
			s.listBase = base
			shiftList(&s.List, base)
		case "FROM":
			s.Table, s.Alias, err = parseTable(d, text)
		case "WHERE":
			s.Where, _, err = ParseExpr(d, text)
			shift(s.Where, base)
		case "GROUP":
			s.GroupBy, _, err = ParseGroup(d, text)
			for _, g := range s.GroupBy {
				shift(g, base)
			}
		case "HAVING":
			s.Having, _, err = ParseExpr(d, text)
			shift(s.Having, base)
		case "ORDER":
			_, _, err = ParseOrder(d, text) // without LIMIT an order changes nothing
		}
		if err != nil {
			if se, ok := err.(*SyntaxError); ok {
				se.Offset += base
			}
			return nil, err
		}
	}
	return s, nil
}

// mark is where a clause of a SELECT statement starts.
type mark struct {
	word  string
	start int // the keyword's start
	after int // just past the clause's keywords
}

func has(marks []mark, w string) bool {
	for _, m := range marks {
		if m.word == w {
			return true
		}
	}
	return false
}

func lastWord(marks []mark) string {
	if len(marks) == 0 {
		return ""
	}
	return marks[len(marks)-1].word
}

// parseTable reads "name [[AS] alias]" with name possibly schema-qualified.
func parseTable(d Dialect, src string) ([]string, string, error) {
	p, err := newParser(d, src)
	if err != nil {
		return nil, "", err
	}
	var parts []string
	for {
		if p.tok.kind != tIdent && (p.tok.kind != tWord || isReserved(p.tok.text)) {
			return nil, "", p.fail("expected a table name")
		}
		parts = append(parts, Fold(d, p.tok.text, p.tok.kind == tIdent))
		if err := p.advance(); err != nil {
			return nil, "", err
		}
		if !p.isOp(".") {
			break
		}
		if err := p.advance(); err != nil {
			return nil, "", err
		}
	}
	if p.isOp("(") {
		return nil, "", p.fail("a table function")
	}
	if _, err := p.accept("AS"); err != nil {
		return nil, "", err
	}
	alias := ""
	if p.tok.kind == tIdent || p.tok.kind == tWord && !isReserved(p.tok.text) {
		alias = Fold(d, p.tok.text, p.tok.kind == tIdent)
		if err := p.advance(); err != nil {
			return nil, "", err
		}
	}
	if p.tok.kind != tEOF {
		return nil, "", p.fail("unexpected %q after the table", p.tok.text)
	}
	return parts, alias, nil
}

// shift moves every span under n by base bytes.
func shift(n Node, base int) {
	Walk(n, func(x Node) bool {
		moveSpan(x, base)
		return true
	})
}

func shiftList(l *SelectList, base int) {
	for i := range l.Items {
		it := &l.Items[i]
		it.Start += base
		it.End += base
		if it.AliasSpan != (Span{}) {
			it.AliasSpan.Start += base
			it.AliasSpan.End += base
		}
		shift(it.Expr, base)
	}
}

// moveSpan adds base to the spans a node holds.
func moveSpan(n Node, base int) {
	move := func(s *Span) { s.Start += base; s.End += base }
	switch x := n.(type) {
	case *Column:
		move(&x.Span)
	case *Star:
		move(&x.Span)
	case *Literal:
		move(&x.Span)
	case *Param:
		move(&x.Span)
	case *Unary:
		move(&x.Span)
	case *Binary:
		move(&x.Span)
	case *Is:
		move(&x.Span)
	case *Between:
		move(&x.Span)
	case *In:
		move(&x.Span)
	case *Subquery:
		move(&x.Span)
		move(&x.Body)
	case *Exists:
		move(&x.Span)
	case *Case:
		move(&x.Span)
	case *Call:
		move(&x.Span)
		if x.Over != nil {
			move(x.Over)
		}
	case *Cast:
		move(&x.Span)
	case *Collate:
		move(&x.Span)
	case *Paren:
		move(&x.Span)
	}
}
