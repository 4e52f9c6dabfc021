package scatter

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/grant-go/grant/sharding/scatter/collate"
	"github.com/grant-go/grant/sharding/scatter/sqlexpr"
)

// PlanQuery decides how to run q on every shard and merge the answers so
// that they equal one database's. It reads each fragment with q's
// dialect's grammar and accepts only what it can prove it merges exactly;
// anything else is refused with a *Refusal, before any shard is contacted.
func PlanQuery(q Query) (*Planned, error) {
	d := q.Env.Dialect
	p := &planner{q: q, d: d, prog: &Program{Env: q.Env, Limit: q.Limit, Offset: q.Offset, MaxDistinct: q.MaxDistinct},
		colls: map[collate.Collation]*Collation{}, components: map[string]int{}}
	if q.Limit < 0 && q.Offset > 0 && d == sqlexpr.MySQL {
		return nil, &Refusal{Reason: ReasonClause, Fragment: "OFFSET " + strconv.Itoa(q.Offset),
			Detail: "MySQL and MariaDB have no OFFSET without LIMIT", Hint: "add a Limit"}
	}
	if err := p.parse(); err != nil {
		return nil, err
	}
	var err error
	if p.grouped() {
		err = p.planGrouped()
	} else {
		err = p.planRows()
	}
	if err != nil {
		return nil, err
	}
	p.shard.Select.Text = p.selectText()
	return &Planned{Shard: p.shard, Program: p.prog}, nil
}

// fragment is a parsed clause with the values of its parameters.
type fragment struct {
	sqlexpr.Fragment
	vars []any
}

type planner struct {
	q    Query
	d    sqlexpr.Dialect
	prog *Program

	sel                   sqlexpr.SelectList
	selFrag, groupFrag    fragment
	havingFrag, orderFrag fragment
	group                 []sqlexpr.Node
	having                sqlexpr.Node
	order                 []sqlexpr.OrderItem
	keys, sets            []groupKey
	shard                 ShardQuery
	selectItems           []string // the shards' select list, "\x00" for parameters
	distinctShards        bool
	colls                 map[collate.Collation]*Collation
	components            map[string]int // aggregate SQL → shard column
	names                 int
}

// groupKey is a GROUP BY term (or COUNT(DISTINCT) argument) and its column.
type groupKey struct {
	node sqlexpr.Node
	frag *fragment
	col  int
}

func (p *planner) parse() error {
	var err error
	if p.sel, p.selFrag, err = parseFragment(p.d, p.q.Select, sqlexpr.ParseSelect); err != nil {
		return err
	}
	if p.q.GroupBy.Text != "" {
		if p.group, p.groupFrag, err = parseFragment(p.d, p.q.GroupBy, sqlexpr.ParseGroup); err != nil {
			return err
		}
	}
	if p.q.Having.Text != "" {
		if p.having, p.havingFrag, err = parseFragment(p.d, p.q.Having, sqlexpr.ParseExpr); err != nil {
			return err
		}
	}
	if p.q.OrderBy.Text != "" {
		if p.order, p.orderFrag, err = parseFragment(p.d, p.q.OrderBy, sqlexpr.ParseOrder); err != nil {
			return err
		}
	}
	for _, item := range p.sel.Items {
		if err := p.vet(item.Expr, &p.selFrag); err != nil {
			return err
		}
	}
	for _, g := range p.group {
		if err := p.vet(g, &p.groupFrag); err != nil {
			return err
		}
		if hasAggregate(g) {
			return p.refuse(ReasonSyntax, &p.groupFrag, g, "an aggregate in GROUP BY", "")
		}
	}
	if p.having != nil {
		if err := p.vet(p.having, &p.havingFrag); err != nil {
			return err
		}
	}
	for _, o := range p.order {
		if err := p.vet(o.Expr, &p.orderFrag); err != nil {
			return err
		}
	}
	return nil
}

// parseFragment parses one clause and checks that its parameters match its
// values.
func parseFragment[T any](d sqlexpr.Dialect, s SQL, parse func(sqlexpr.Dialect, string) (T, sqlexpr.Fragment, error)) (T, fragment, error) {
	out, f, err := parse(d, s.Text)
	frag := fragment{Fragment: f, vars: s.Vars}
	if err != nil {
		var se *sqlexpr.SyntaxError
		detail := err.Error()
		if errors.As(err, &se) {
			detail = se.Msg
		}
		return out, frag, &Refusal{Reason: ReasonSyntax, Fragment: s.Text, Detail: detail,
			Hint: "grant merges only what its grammar reads; run the query on one shard (grant.Shard) or rewrite it"}
	}
	used := make([]bool, len(s.Vars))
	for _, ref := range f.Params {
		if ref.Index >= len(s.Vars) {
			return out, frag, &Refusal{Reason: ReasonParameter, Fragment: s.Text, Detail: "a placeholder has no value"}
		}
		used[ref.Index] = true
	}
	for _, u := range used {
		if !u {
			return out, frag, &Refusal{Reason: ReasonParameter, Fragment: s.Text,
				Detail: "a value has no placeholder (a '?' inside a quoted string?)"}
		}
	}
	return out, frag, nil
}

// vet refuses what no merge can make exact wherever it appears: subqueries,
// window functions, aggregates the merge cannot rebuild, and functions the
// planner does not know.
func (p *planner) vet(n sqlexpr.Node, f *fragment) error {
	var err error
	sqlexpr.Walk(n, func(x sqlexpr.Node) bool {
		if err != nil {
			return false
		}
		switch c := x.(type) {
		case *sqlexpr.Subquery, *sqlexpr.Exists:
			err = p.refuse(ReasonSubquery, f, x, "a subquery here runs on each shard alone",
				"keep subqueries in WHERE, as `key IN (SELECT key FROM co-located table …)`, or run the query on one shard")
		case *sqlexpr.Call:
			err = p.vetCall(c, f)
		}
		return err == nil
	})
	return err
}

func (p *planner) vetCall(c *sqlexpr.Call, f *fragment) error {
	switch {
	case c.Over != nil || windowOnly[c.Name]:
		return p.refuse(ReasonWindow, f, c, "a window function needs every shard's rows at once",
			"compute it in Go over the merged rows, or run the query on one shard")
	case c.Schema != "":
		return p.refuse(ReasonFunction, f, c, "a schema-qualified function may be an aggregate", "")
	case c.Ordered:
		return p.refuse(ReasonAggregate, f, c, "an ordered aggregate cannot be rebuilt from per-shard results", "")
	case c.Filter != nil:
		return p.refuse(ReasonAggregate, f, c, "FILTER (WHERE …) is not merged",
			"write the condition inside the aggregate: SUM(CASE WHEN … THEN x END)")
	case unmergeable[c.Name]:
		return p.refuse(ReasonAggregate, f, c, c.Name+" cannot be rebuilt from per-shard results",
			"select what it is computed from (for example SUM, COUNT) and finish in Go, or run the query on one shard")
	case mergeable[c.Name]:
		if len(c.Args) > 1 || !c.Star && len(c.Args) == 0 || c.Star && c.Name != "count" {
			return p.refuse(ReasonSyntax, f, c, "unexpected arguments", "")
		}
		for _, a := range c.Args {
			if hasAggregate(a) {
				return p.refuse(ReasonSyntax, f, c, "nested aggregates", "")
			}
			if p.d == sqlexpr.MySQL && c.Name != "count" && hasDivision(a) {
				// MariaDB aggregates a quotient's hidden digits; each shard
				// hands over its partial rounded to the declared scale.
				return p.refuse(ReasonAggregate, f, c, "on MySQL and MariaDB an aggregate of a division is not merged exactly",
					"aggregate the dividend and divide after: SUM(x) / 3")
			}
		}
	case !scalars[c.Name]:
		return p.refuse(ReasonFunction, f, c, fmt.Sprintf("grant does not know whether %s() is an aggregate", c.Name),
			"run the query on one shard, or compute it in Go")
	}
	return nil
}

// refuse builds a Refusal about node n of fragment f.
func (p *planner) refuse(reason Reason, f *fragment, n sqlexpr.Node, detail, hint string) error {
	frag := f.Src
	if n != nil {
		frag = sqlexpr.Text(f.Src, n)
	}
	return &Refusal{Reason: reason, Fragment: frag, Detail: detail, Hint: hint}
}

// grouped reports whether the query aggregates: GROUP BY, HAVING, or an
// aggregate in the select list or ORDER BY.
func (p *planner) grouped() bool {
	if len(p.group) > 0 || p.having != nil {
		return true
	}
	for _, item := range p.sel.Items {
		if hasAggregate(item.Expr) {
			return true
		}
	}
	for _, o := range p.order {
		if hasAggregate(o.Expr) {
			return true
		}
	}
	return false
}

// hasDivision reports whether n divides, or averages.
func hasDivision(n sqlexpr.Node) bool {
	found := false
	sqlexpr.Walk(n, func(x sqlexpr.Node) bool {
		switch y := x.(type) {
		case *sqlexpr.Binary:
			found = found || y.Op == "/"
		case *sqlexpr.Call:
			found = found || y.Name == "avg"
		}
		return !found
	})
	return found
}

func isAggregate(n sqlexpr.Node) bool {
	c, ok := n.(*sqlexpr.Call)
	return ok && mergeable[c.Name] && c.Schema == ""
}

func hasAggregate(n sqlexpr.Node) bool {
	found := false
	sqlexpr.Walk(n, func(x sqlexpr.Node) bool {
		found = found || isAggregate(x)
		return !found
	})
	return found
}

// emit writes span s of f with its parameters as NUL bytes, appending their
// values to vars.
func (f *fragment) emit(s sqlexpr.Span, vars *[]any) string {
	var b strings.Builder
	at := s.Start
	for _, ref := range f.ParamsIn(s) {
		b.WriteString(f.Src[at:ref.Start])
		b.WriteByte(0)
		*vars = append(*vars, f.vars[ref.Index])
		at = ref.End
	}
	b.WriteString(f.Src[at:s.End])
	return b.String()
}

// addColumn appends a column to the shards' select list and returns its
// index.
func (p *planner) addColumn(sql string) int {
	p.selectItems = append(p.selectItems, sql)
	return len(p.selectItems) - 1
}

// column adds expression n of f to the shards' select list under a private
// alias. On SQLite the expression is written +(…): a unary plus changes no
// value but makes the column an expression, which the driver hands over as
// stored (DATETIME as its text, which is what SQLite orders and groups by)
// instead of converting it by the column's declared type.
func (p *planner) column(n sqlexpr.Node, f *fragment, prefix string) int {
	p.names++
	expr := f.emit(sqlexpr.SpanOf(n), &p.shard.Select.Vars)
	if p.d == sqlexpr.SQLite {
		expr = "+(" + expr + ")"
	}
	return p.addColumn(expr + " AS grant_" + prefix + strconv.Itoa(p.names))
}

// hiddenColumn adds a table column by name to the shards' select list
// under a private alias, as column does for expressions.
func (p *planner) hiddenColumn(name string) int {
	p.names++
	expr := quoteIdent(p.d, name)
	if p.d == sqlexpr.SQLite {
		expr = "+(" + expr + ")"
	}
	return p.addColumn(expr + " AS grant_o" + strconv.Itoa(p.names))
}

// quoteIdent quotes a name as the dialect quotes identifiers.
func quoteIdent(d sqlexpr.Dialect, name string) string {
	q := "`"
	if d == sqlexpr.Postgres {
		q = `"`
	}
	return q + strings.ReplaceAll(name, q, q+q) + q
}

func (p *planner) selectText() string {
	text := strings.Join(p.selectItems, ", ")
	if p.distinctShards {
		return "DISTINCT " + text
	}
	return text
}

// nullsFirst says whether NULL comes first for an ORDER BY term, by the
// dialect's default unless NULLS FIRST/LAST is written.
func (p *planner) nullsFirst(o sqlexpr.OrderItem) bool {
	switch o.Nulls {
	case "FIRST":
		return true
	case "LAST":
		return false
	}
	// PostgreSQL sorts NULL above every value; MySQL and SQLite below.
	if p.d == sqlexpr.Postgres {
		return o.Desc
	}
	return !o.Desc
}

// position reads an ORDER BY or GROUP BY integer constant: a position in
// the select list.
func position(n sqlexpr.Node) (int, bool) {
	lit, ok := sqlexpr.Unparen(n).(*sqlexpr.Literal)
	if !ok || lit.Kind != sqlexpr.NumberLit {
		return 0, false
	}
	k, err := strconv.Atoi(lit.Text)
	return k, err == nil
}
