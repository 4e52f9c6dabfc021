package sqlexpr

import "strings"

// Span is a node's byte range [Start, End) in the fragment it was read from.
type Span struct{ Start, End int }

// Node is an expression. Its concrete type is one of the types below.
type Node interface {
	span() Span
}

// SpanOf returns n's byte range in its fragment.
func SpanOf(n Node) Span { return n.span() }

func (s Span) span() Span { return s }

// Column is a column reference: name, table.name or schema.table.name.
// Names are as the server would match them: quoted parts verbatim,
// unquoted parts as written (Name compares them by the dialect's rules).
type Column struct {
	Span
	Parts  []string
	Quoted []bool
}

// Name is the column's own name (the last part).
func (c *Column) Name() string { return c.Parts[len(c.Parts)-1] }

// Star is * or table.*.
type Star struct {
	Span
	Table []string // nil for a bare *
}

// LiteralKind is the kind of a Literal.
type LiteralKind uint8

// Literal kinds.
const (
	NumberLit LiteralKind = iota + 1
	StringLit
	NullLit
	TrueLit
	FalseLit
	TypedLit // DATE '…', TIMESTAMP '…', INTERVAL '…', or a prefixed string (E'…', _utf8mb4'…')
)

// Literal is a constant written in the SQL.
type Literal struct {
	Span
	Kind LiteralKind
	Text string // NumberLit: as written; StringLit: the value; TypedLit: the type word
}

// Param is a bound value: '?' (or PostgreSQL's $n), Index counting from 0.
type Param struct {
	Span
	Index int
}

// Unary is a prefix operator: "-", "+" or "NOT".
type Unary struct {
	Span
	Op string
	X  Node
}

// Binary is an infix operator. Op is upper case for words ("AND", "OR",
// "LIKE", "NOT LIKE", "ILIKE", "DIV", "MOD", "IS DISTINCT FROM", "IS NOT
// DISTINCT FROM") and the symbol otherwise ("+", "<>", "||", …).
type Binary struct {
	Span
	Op   string
	L, R Node
}

// Is is "X IS [NOT] NULL/TRUE/FALSE/UNKNOWN".
type Is struct {
	Span
	X    Node
	Not  bool
	What string // "NULL", "TRUE", "FALSE" or "UNKNOWN"
}

// Between is "X [NOT] BETWEEN Lo AND Hi".
type Between struct {
	Span
	X, Lo, Hi Node
	Not       bool
}

// In is "X [NOT] IN (list)" or "X [NOT] IN (subquery)".
type In struct {
	Span
	X        Node
	Not      bool
	List     []Node    // nil when Subquery is set
	Subquery *Subquery // (SELECT …)
}

// Subquery is a parenthesized SELECT, kept as text for the planner to
// analyze: Body is the span inside the parentheses.
type Subquery struct {
	Span
	Body Span
}

// Exists is "[NOT] EXISTS (subquery)".
type Exists struct {
	Span
	Not      bool
	Subquery *Subquery
}

// When is one WHEN … THEN … of a Case.
type When struct {
	Cond, Result Node
}

// Case is CASE [Operand] WHEN … THEN … [ELSE …] END.
type Case struct {
	Span
	Operand Node // nil for a searched CASE
	Whens   []When
	Else    Node // nil when absent
}

// Call is a function call. Name is lower case (quoted names verbatim);
// Schema is a qualifying schema, if any. Aggregates and window functions
// are calls too: the planner decides by Name, Over and Filter.
type Call struct {
	Span
	Schema   string
	Name     string
	Distinct bool
	Star     bool // f(*)
	Args     []Node
	// Over is set for a window function call (… OVER (…) or OVER name).
	Over *Span
	// Filter is an aggregate's FILTER (WHERE …) condition.
	Filter Node
	// Ordered: the call has an ORDER BY inside its parentheses, or WITHIN
	// GROUP (ORDER BY …): an ordered-set or string aggregate.
	Ordered bool
	// Special: the arguments were written with keywords (EXTRACT(YEAR FROM
	// ts), TRIM(LEADING 'x' FROM s), SUBSTRING(s FROM 2 FOR 3)); Args holds
	// the expressions only.
	Special bool
}

// Cast is CAST(X AS Type), X::Type, or CONVERT(X, Type).
type Cast struct {
	Span
	X    Node
	Type string // as written, normalized to single spaces
}

// Collate is "X COLLATE name".
type Collate struct {
	Span
	X         Node
	Collation string
}

// Paren is a parenthesized expression.
type Paren struct {
	Span
	X Node
}

// SelectItem is one item of a select list: an expression with an optional
// alias, or a star.
type SelectItem struct {
	Span
	Expr  Node   // a *Star for * and t.*
	Alias string // "" when none; unquoted as the server would name the column
	// AliasQuoted is true when the alias was written in quotes.
	AliasQuoted bool
	// AliasSpan is where the alias is written (zero when there is none).
	AliasSpan Span
}

// OrderItem is one ORDER BY term.
type OrderItem struct {
	Span
	Expr  Node
	Desc  bool
	Nulls string // "", "FIRST" or "LAST"
}

// Walk calls fn for n and every node below it, depth first, parents before
// children; it stops descending where fn returns false.
func Walk(n Node, fn func(Node) bool) {
	if n == nil || !fn(n) {
		return
	}
	switch x := n.(type) {
	case *Unary:
		Walk(x.X, fn)
	case *Binary:
		Walk(x.L, fn)
		Walk(x.R, fn)
	case *Is:
		Walk(x.X, fn)
	case *Between:
		Walk(x.X, fn)
		Walk(x.Lo, fn)
		Walk(x.Hi, fn)
	case *In:
		Walk(x.X, fn)
		for _, e := range x.List {
			Walk(e, fn)
		}
		if x.Subquery != nil {
			Walk(x.Subquery, fn)
		}
	case *Exists:
		Walk(x.Subquery, fn)
	case *Case:
		Walk(x.Operand, fn)
		for _, w := range x.Whens {
			Walk(w.Cond, fn)
			Walk(w.Result, fn)
		}
		Walk(x.Else, fn)
	case *Call:
		for _, a := range x.Args {
			Walk(a, fn)
		}
		Walk(x.Filter, fn)
	case *Cast:
		Walk(x.X, fn)
	case *Collate:
		Walk(x.X, fn)
	case *Paren:
		Walk(x.X, fn)
	}
}

// Unparen strips parentheses around n.
func Unparen(n Node) Node {
	for {
		p, ok := n.(*Paren)
		if !ok {
			return n
		}
		n = p.X
	}
}

// Text returns the source of n's span in src.
func Text(src string, n Node) string {
	s := n.span()
	return src[s.Start:s.End]
}

// EqualName compares two identifiers as the dialect matches column names:
// case-insensitively for unquoted names (PostgreSQL folds them to lower
// case, MySQL and SQLite compare column names without case).
func EqualName(d Dialect, a string, aQuoted bool, b string, bQuoted bool) bool {
	if d == Postgres {
		return fold(a, aQuoted) == fold(b, bQuoted)
	}
	return strings.EqualFold(a, b)
}

// Fold returns name as PostgreSQL would store it: unquoted names in lower
// case; other dialects keep it.
func Fold(d Dialect, name string, quoted bool) string {
	if d == Postgres {
		return fold(name, quoted)
	}
	return name
}

func fold(s string, quoted bool) string {
	if quoted {
		return s
	}
	return strings.ToLower(s)
}
