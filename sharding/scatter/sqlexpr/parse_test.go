package sqlexpr

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sexpr prints a tree compactly, to compare structure in tests.
func sexpr(n Node) string {
	switch x := n.(type) {
	case nil:
		return "nil"
	case *Column:
		return strings.Join(x.Parts, ".")
	case *Star:
		return strings.Join(append(x.Table, "*"), ".")
	case *Literal:
		if x.Kind == StringLit {
			return "'" + x.Text + "'"
		}
		return x.Text
	case *Param:
		return fmt.Sprintf("$%d", x.Index+1)
	case *Unary:
		return "(" + x.Op + " " + sexpr(x.X) + ")"
	case *Binary:
		return "(" + x.Op + " " + sexpr(x.L) + " " + sexpr(x.R) + ")"
	case *Is:
		not := ""
		if x.Not {
			not = "not "
		}
		return "(is " + not + x.What + " " + sexpr(x.X) + ")"
	case *Between:
		return "(between " + sexpr(x.X) + " " + sexpr(x.Lo) + " " + sexpr(x.Hi) + ")"
	case *In:
		if x.Subquery != nil {
			return "(in " + sexpr(x.X) + " subquery)"
		}
		var parts []string
		for _, e := range x.List {
			parts = append(parts, sexpr(e))
		}
		return "(in " + sexpr(x.X) + " " + strings.Join(parts, " ") + ")"
	case *Subquery:
		return "subquery"
	case *Exists:
		return "(exists)"
	case *Case:
		s := "(case"
		if x.Operand != nil {
			s += " " + sexpr(x.Operand)
		}
		for _, w := range x.Whens {
			s += " (" + sexpr(w.Cond) + " " + sexpr(w.Result) + ")"
		}
		if x.Else != nil {
			s += " else " + sexpr(x.Else)
		}
		return s + ")"
	case *Call:
		var parts []string
		if x.Distinct {
			parts = append(parts, "distinct")
		}
		if x.Star {
			parts = append(parts, "*")
		}
		for _, a := range x.Args {
			parts = append(parts, sexpr(a))
		}
		s := x.Name + "(" + strings.Join(parts, " ") + ")"
		if x.Over != nil {
			s += " over"
		}
		if x.Filter != nil {
			s += " filter " + sexpr(x.Filter)
		}
		return s
	case *Cast:
		return "(cast " + sexpr(x.X) + " " + x.Type + ")"
	case *Collate:
		return "(collate " + sexpr(x.X) + " " + x.Collation + ")"
	case *Paren:
		return sexpr(x.X)
	}
	return fmt.Sprintf("%T", n)
}

func TestParseExpr(t *testing.T) {
	cases := []struct {
		d    Dialect
		src  string
		want string
	}{
		{Postgres, "COUNT(*) > $1", "(> count(*) $1)"},
		{MySQL, "COUNT(*) > ?", "(> count(*) $1)"},
		{MySQL, "SUM(score) / COUNT(score)", "(/ sum(score) count(score))"},
		{Postgres, "a + b * c - d", "(- (+ a (* b c)) d)"},
		{Postgres, "-a * b", "(* (- a) b)"},
		{Postgres, "-x::int", "(- (cast x int))"},
		{Postgres, "NOT a = 1 AND b OR c", "(OR (AND (NOT (= a 1)) b) c)"},
		{Postgres, "a IS NOT NULL", "(is not NULL a)"},
		{Postgres, "a = b IS NULL", "(is NULL (= a b))"},
		{Postgres, "x BETWEEN 1 AND 2 AND y", "(AND (between x 1 2) y)"},
		{Postgres, "x NOT IN (1, 2)", "(in x 1 2)"},
		{Postgres, "x IN (SELECT 1)", "(in x subquery)"},
		{Postgres, "CASE WHEN a > 0 THEN 'pos' ELSE 'neg' END", "(case ((> a 0) 'pos') else 'neg')"},
		{Postgres, "CASE grp WHEN 1 THEN 'x' END", "(case grp (1 'x'))"},
		{Postgres, "COUNT(DISTINCT (name))", "count(distinct name)"},
		{Postgres, "COUNT(*) OVER ()", "count(*) over"},
		{Postgres, "row_number() OVER w", "row_number() over"},
		{Postgres, "count(*) FILTER (WHERE a > 1)", "count(*) filter (> a 1)"},
		{Postgres, "name COLLATE \"en-x-icu\"", "(collate name en-x-icu)"},
		{Postgres, "CAST(a AS double precision)", "(cast a double precision)"},
		{Postgres, "a::numeric(10,2)", "(cast a numeric(10,2))"},
		{Postgres, "EXTRACT(YEAR FROM created_at)", "extract(created_at)"},
		{Postgres, "position('a' IN name)", "position('a' name)"},
		{MySQL, "a DIV 2 MOD 3", "(MOD (DIV a 2) 3)"},
		{MySQL, "`t`.`a` <=> NULL", "(<=> t.a NULL)"},
		{MySQL, `"it's" = 'a\'b'`, "(= 'it's' 'a'b')"},
		{Postgres, `'a\' = 'b'`, `(= 'a\' 'b')`},
		{Postgres, `E'a\'' = 'b'`, "(= a' 'b')"},
		{SQLite, "a == 1", "(= a 1)"},
		{Postgres, "price + 1 -- a comment\n", "(+ price 1)"},
		{Postgres, "/* a /* nested */ comment */ 1", "1"},
		{MySQL, "# comment\n1", "1"},
		{MySQL, "5--1", "(- 5 (- 1))"},
		{Postgres, "LEFT(name, 2)", "left(name 2)"},
		{Postgres, "CURRENT_DATE", "current_date()"},
		{Postgres, "DATE '2024-01-01'", "'DATE'"},
	}
	for _, c := range cases {
		n, _, err := ParseExpr(c.d, c.src)
		if !assert.NoError(t, err, "%s: %s", c.d, c.src) {
			continue
		}
		got := sexpr(n)
		if c.want == "'DATE'" {
			assert.Equal(t, TypedLit, n.(*Literal).Kind)
			continue
		}
		assert.Equal(t, c.want, got, "%s: %s", c.d, c.src)
		s := SpanOf(n)
		assert.True(t, s.Start >= 0 && s.End <= len(c.src) && s.Start < s.End, "span %v of %q", s, c.src)
	}
}

func TestParseRefuses(t *testing.T) {
	cases := []struct {
		d   Dialect
		src string
	}{
		{Postgres, "a = b = c"},
		{Postgres, "a = b BETWEEN 1 AND 2"},
		{MySQL, "a || b"},
		{MySQL, "/*! SELECT */ 1"},
		{Postgres, "a ->> 'x'"},
		{Postgres, "a ^ 2"},
		{Postgres, "(a, b)"},
		{Postgres, "arr[1]"},
		{Postgres, "'unterminated"},
		{Postgres, "a = ANY($1)"},
		{Postgres, "U&'x'"},
		{MySQL, "INTERVAL 1 DAY"},
		{Postgres, "1abc"},
		{Postgres, "x LIKE 'a' ESCAPE '!'"},
		{Postgres, "select"},
		{Postgres, "a b"},
		{Postgres, "'a'\n'b'"},
		{SQLite, "?1"},
		{Postgres, "x\x00"},
	}
	for _, c := range cases {
		_, _, err := ParseExpr(c.d, c.src)
		var se *SyntaxError
		assert.ErrorAs(t, err, &se, "%s: %q should be refused", c.d, c.src)
	}
}

func TestParseSelect(t *testing.T) {
	list, frag, err := ParseSelect(MySQL, "DISTINCT `tag`, SUM(score) AS total, price + 1 p1, t.*, *, COUNT(*) 'n'")
	require.NoError(t, err)
	assert.True(t, list.Distinct)
	require.Len(t, list.Items, 6)
	assert.Equal(t, "", list.Items[0].Alias)
	assert.Equal(t, "total", list.Items[1].Alias)
	assert.Equal(t, "p1", list.Items[2].Alias)
	assert.Equal(t, "t.*", sexpr(list.Items[3].Expr))
	assert.Equal(t, "*", sexpr(list.Items[4].Expr))
	assert.Equal(t, "n", list.Items[5].Alias)
	assert.Equal(t, "SUM(score) AS total", frag.Src[list.Items[1].Start:list.Items[1].End])
	assert.Equal(t, "SUM(score)", Text(frag.Src, list.Items[1].Expr))

	list, _, err = ParseSelect(Postgres, `"Name", AVG(score) Total`)
	require.NoError(t, err)
	assert.Equal(t, "total", list.Items[1].Alias, "PostgreSQL folds unquoted aliases")
	assert.True(t, list.Items[0].Expr.(*Column).Quoted[0])

	_, _, err = ParseSelect(Postgres, "DISTINCT ON (a) a, b")
	assert.Error(t, err)
	_, _, err = ParseSelect(Postgres, "a AS")
	assert.Error(t, err)
}

func TestParseOrderGroup(t *testing.T) {
	items, _, err := ParseOrder(Postgres, "1 DESC, name COLLATE \"C\" NULLS FIRST, p1")
	require.NoError(t, err)
	require.Len(t, items, 3)
	assert.True(t, items[0].Desc)
	assert.Equal(t, "FIRST", items[1].Nulls)
	assert.Equal(t, "p1", sexpr(items[2].Expr))
	_, _, err = ParseOrder(MySQL, "a NULLS LAST")
	assert.Error(t, err)

	groups, _, err := ParseGroup(MySQL, "region, CASE WHEN score > 0 THEN 1 END")
	require.NoError(t, err)
	assert.Len(t, groups, 2)
	for _, bad := range []string{"ROLLUP(a)", "a WITH ROLLUP", "GROUPING SETS ((a))", "()"} {
		_, _, err := ParseGroup(MySQL, bad)
		assert.Error(t, err, bad)
	}
}

func TestWords(t *testing.T) {
	words, err := Words(Postgres, `a = 'SELECT' AND "select" IN (SELECT b FROM t) -- select`)
	require.NoError(t, err)
	var texts []string
	for _, w := range words {
		texts = append(texts, w.Text)
	}
	assert.Equal(t, []string{"a", "AND", "IN", "(", "SELECT", "b", "FROM", "t", ")"}, texts)
}

// FuzzParse: the parser never panics, and spans stay inside the source.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"COUNT(*) > ?", "CASE WHEN a THEN b END", "a::int + $1", "x IN (SELECT 1)", "'a''b'", "f(x ORDER BY y)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		for _, d := range []Dialect{Postgres, MySQL, SQLite} {
			n, _, err := ParseExpr(d, src)
			if err != nil {
				continue
			}
			Walk(n, func(x Node) bool {
				s := SpanOf(x)
				if s.Start < 0 || s.End > len(src) || s.Start > s.End {
					t.Fatalf("%s: span %v outside %q", d, s, src)
				}
				return true
			})
		}
		_, _, _ = ParseSelect(Postgres, src)
		_, _, _ = ParseOrder(MySQL, src)
	})
}
