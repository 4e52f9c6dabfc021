package scatter

import (
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/grant-go/grant/sharding/scatter/sqlexpr"
	"github.com/grant-go/grant/sharding/scatter/value"
)

// build turns an expression over aggregates (a select item, HAVING, an
// ORDER BY term) into an Expr the merge computes per group. Parts without
// aggregates are group keys, constants, or row-level expressions the shards
// compute per group; around aggregates only arithmetic, comparisons, logic,
// CASE, IN, BETWEEN, IS, COALESCE and NULLIF are computed — the operations
// whose semantics the value package reproduces per dialect.
func (p *planner) build(n sqlexpr.Node, f *fragment) (*Expr, error) {
	n = sqlexpr.Unparen(n)
	if !hasAggregate(n) {
		return p.scalar(n, f)
	}
	switch x := n.(type) {
	case *sqlexpr.Call:
		if isAggregate(x) {
			return p.aggregate(x, f)
		}
		if x.Name == "coalesce" && p.d == sqlexpr.MySQL && anyDivision(x.Args) {
			return nil, p.branchRefusal(f, x)
		}
		switch x.Name {
		case "coalesce", "nullif":
			args, err := p.buildAll(x.Args, f)
			if err != nil {
				return nil, err
			}
			if x.Name == "nullif" {
				if len(args) != 2 {
					return nil, p.refuse(ReasonSyntax, f, x, "NULLIF takes two arguments", "")
				}
				return &Expr{Op: ExprNullIf, Args: args, Coll: p.among(x.Args, f, x)}, nil
			}
			return &Expr{Op: ExprCoalesce, Args: args}, nil
		}
		return nil, p.refuse(ReasonFunction, f, x, x.Name+"() over merged aggregates is not computed by the merge",
			"select the aggregate and apply the function in Go")
	case *sqlexpr.Binary:
		return p.binary(x, f)
	case *sqlexpr.Unary:
		if x.Op == "NOT" && p.avgOperand(x.X) {
			return nil, p.avgRefusal(f, x)
		}
		arg, err := p.build(x.X, f)
		switch {
		case err != nil:
			return nil, err
		case x.Op == "-":
			return &Expr{Op: ExprNeg, Args: []*Expr{arg}}, nil
		case x.Op == "NOT":
			return &Expr{Op: ExprNot, Args: []*Expr{arg}}, nil
		}
		return arg, nil // unary plus
	case *sqlexpr.Is:
		if x.What != "NULL" && x.What != "UNKNOWN" && p.avgOperand(x.X) {
			return nil, p.avgRefusal(f, x)
		}
		arg, err := p.build(x.X, f)
		if err != nil {
			return nil, err
		}
		if x.What == "NULL" || x.What == "UNKNOWN" {
			return &Expr{Op: ExprIsNull, Args: []*Expr{arg}, Not: x.Not}, nil
		}
		return &Expr{Op: ExprIsTrue, Args: []*Expr{arg}, Not: x.Not, Truth: x.What == "TRUE"}, nil
	case *sqlexpr.Between:
		if p.avgOperand(x.X) || p.avgOperand(x.Lo) || p.avgOperand(x.Hi) {
			return nil, p.avgRefusal(f, x)
		}
		args, err := p.buildAll([]sqlexpr.Node{x.X, x.Lo, x.Hi}, f)
		if err != nil {
			return nil, err
		}
		return &Expr{Op: ExprBetween, Args: args, Not: x.Not, Coll: p.among([]sqlexpr.Node{x.X, x.Lo, x.Hi}, f, x)}, nil
	case *sqlexpr.In:
		if x.Subquery != nil {
			return nil, p.refuse(ReasonSubquery, f, x, "a subquery over merged aggregates", "")
		}
		all := append([]sqlexpr.Node{x.X}, x.List...)
		if len(x.List) > 1 && slices.ContainsFunc(all, p.avgOperand) {
			return nil, p.avgRefusal(f, x)
		}
		args, err := p.buildAll(all, f)
		if err != nil {
			return nil, err
		}
		return &Expr{Op: ExprIn, Args: args, Not: x.Not, Coll: p.among(all, f, x)}, nil
	case *sqlexpr.Case:
		return p.caseExpr(x, f)
	}
	return nil, p.refuse(ReasonFunction, f, n, "this operation over merged aggregates is not computed by the merge",
		"select the aggregate and finish in Go")
}

func (p *planner) buildAll(nodes []sqlexpr.Node, f *fragment) ([]*Expr, error) {
	out := make([]*Expr, len(nodes))
	for i, n := range nodes {
		e, err := p.build(n, f)
		if err != nil {
			return nil, err
		}
		out[i] = e
	}
	return out, nil
}

var ariths = map[string]value.Op{"+": value.Add, "-": value.Sub, "*": value.Mul, "/": value.Div, "%": value.Mod, "MOD": value.Mod, "DIV": value.IntDiv}

func (p *planner) binary(x *sqlexpr.Binary, f *fragment) (*Expr, error) {
	op, arith := ariths[x.Op]
	_, compare := comparisons[x.Op]
	logic := x.Op == "AND" || x.Op == "OR"
	if !arith && !compare && !logic {
		return nil, p.refuse(ReasonFunction, f, x, x.Op+" over merged aggregates is not computed by the merge", "")
	}
	if (arith || logic) && (p.avgOperand(x.L) || p.avgOperand(x.R)) {
		return nil, p.avgRefusal(f, x)
	}
	args, err := p.buildAll([]sqlexpr.Node{x.L, x.R}, f)
	if err != nil {
		return nil, err
	}
	switch {
	case arith:
		return &Expr{Op: ExprArith, Arith: op, Args: args}, nil
	case compare:
		return &Expr{Op: ExprCompare, Cmp: x.Op, Args: args, Coll: p.among([]sqlexpr.Node{x.L, x.R}, f, x)}, nil
	case x.Op == "AND":
		return &Expr{Op: ExprAnd, Args: args}, nil
	}
	return &Expr{Op: ExprOr, Args: args}, nil
}

var comparisons = map[string]bool{"=": true, "<>": true, "<": true, "<=": true, ">": true, ">=": true, "<=>": true}

func (p *planner) caseExpr(x *sqlexpr.Case, f *fragment) (*Expr, error) {
	if p.d == sqlexpr.MySQL {
		results := []sqlexpr.Node{x.Else}
		for _, w := range x.Whens {
			results = append(results, w.Result)
		}
		if anyDivision(results) {
			return nil, p.branchRefusal(f, x)
		}
	}
	for _, w := range x.Whens {
		if x.Operand != nil && (p.avgOperand(x.Operand) || p.avgOperand(w.Cond)) || x.Operand == nil && p.avgOperand(w.Cond) {
			return nil, p.avgRefusal(f, x)
		}
	}
	e := &Expr{Op: ExprCase, HasOperand: x.Operand != nil, HasElse: x.Else != nil}
	var texts []sqlexpr.Node
	if x.Operand != nil {
		arg, err := p.build(x.Operand, f)
		if err != nil {
			return nil, err
		}
		e.Args = append(e.Args, arg)
		texts = append(texts, x.Operand)
	}
	for _, w := range x.Whens {
		args, err := p.buildAll([]sqlexpr.Node{w.Cond, w.Result}, f)
		if err != nil {
			return nil, err
		}
		e.Args = append(e.Args, args...)
		if x.Operand != nil {
			texts = append(texts, w.Cond)
		}
	}
	if x.Else != nil {
		arg, err := p.build(x.Else, f)
		if err != nil {
			return nil, err
		}
		e.Args = append(e.Args, arg)
	}
	if x.Operand != nil {
		e.Coll = p.among(texts, f, x)
	}
	return e, nil
}

// aggregate plans one aggregate call inside a computed expression.
func (p *planner) aggregate(c *sqlexpr.Call, f *fragment) (*Expr, error) {
	var vars []any
	switch {
	case simpleAggregate(c):
		sql := f.emit(sqlexpr.SpanOf(c), &vars)
		var arg sqlexpr.Node
		if len(c.Args) > 0 {
			arg = c.Args[0]
		}
		return &Expr{Op: ExprCol, Col: p.component(sql, vars, c.Name, arg, f)}, nil
	case c.Name == "avg" && !c.Distinct:
		arg := f.emit(sqlexpr.SpanOf(c.Args[0]), &vars)
		sum := p.component("SUM("+arg+")", vars, "sum", nil, f)
		count := p.component("COUNT("+arg+")", vars, "count", nil, f)
		return &Expr{Op: ExprAvg, Col: sum, Col2: count}, nil
	case c.Name == "count" && c.Distinct:
		return &Expr{Op: ExprCount, Col: p.set(c.Args[0], f)}, nil
	}
	return nil, p.refuse(ReasonAggregate, f, c, "SUM(DISTINCT …) and AVG(DISTINCT …) are not merged",
		"select COUNT(DISTINCT …) or group by the column and finish in Go")
}

// set returns the index of the distinct set of expression n, adding it: the
// shards group by n too and return its values.
func (p *planner) set(n sqlexpr.Node, f *fragment) int {
	var vars []any
	key := f.emit(sqlexpr.SpanOf(n), &vars) + signature(vars)
	for i, s := range p.sets {
		var other []any
		if s.frag.emit(sqlexpr.SpanOf(s.node), &other)+signature(other) == key {
			return i
		}
	}
	col := p.column(n, f, "d")
	p.sets = append(p.sets, groupKey{node: n, frag: f, col: col})
	p.prog.Sets = append(p.prog.Sets, Key{Col: col, Coll: p.collationOf(n, f)})
	return len(p.sets) - 1
}

// scalar plans an expression without aggregates inside a computed one: a
// group key, a constant, or a row-level expression every shard computes per
// group (a function of the keys; or a column the server lets through
// ungrouped, as MySQL does, where any row's value is the answer).
func (p *planner) scalar(n sqlexpr.Node, f *fragment) (*Expr, error) {
	for _, k := range p.keys {
		if p.sameNode(k.node, k.frag, n, f) {
			return &Expr{Op: ExprCol, Col: k.col}, nil
		}
	}
	switch x := n.(type) {
	case *sqlexpr.Literal:
		if x.Kind != sqlexpr.TypedLit {
			return p.constant(x, f)
		}
	case *sqlexpr.Param:
		return p.param(x, f)
	}
	return &Expr{Op: ExprCol, Col: p.column(n, f, "h")}, nil
}

func (p *planner) constant(lit *sqlexpr.Literal, f *fragment) (*Expr, error) {
	var v value.Value
	var err error
	switch lit.Kind {
	case sqlexpr.NumberLit:
		v, err = value.Literal(p.q.Env, lit.Text)
	case sqlexpr.StringLit:
		v = value.Text(lit.Text)
		if c := p.collationOf(lit, f); c != nil && c.Collation != nil && !c.Native() {
			p.prog.Texts = append(p.prog.Texts, RankedText{Coll: c, Text: lit.Text})
		}
	case sqlexpr.NullLit:
		v = value.Null()
	case sqlexpr.TrueLit, sqlexpr.FalseLit:
		v = value.Bool(lit.Kind == sqlexpr.TrueLit)
	default:
		err = errors.New("typed literal")
	}
	if err != nil {
		return nil, p.refuse(ReasonSyntax, f, lit, "the merge cannot type this constant: "+err.Error(), "")
	}
	return &Expr{Op: ExprConst, Value: v}, nil
}

func (p *planner) param(x *sqlexpr.Param, f *fragment) (*Expr, error) {
	raw := f.vars[x.Index]
	v, err := value.Param(p.q.Env, raw)
	if err != nil {
		return nil, p.refuse(ReasonParameter, f, x, fmt.Sprintf("a %T value computed with after the merge: %v", raw, err),
			"write the constant in the SQL, or bind an integer or a string")
	}
	if s, ok := raw.(string); ok {
		if c := p.collationOf(x, f); c != nil && c.Collation != nil && !c.Native() {
			p.prog.Texts = append(p.prog.Texts, RankedText{Coll: c, Text: s})
		}
	}
	return &Expr{Op: ExprConst, Value: v}, nil
}

// signature tells apart the same SQL with different bound values.
func signature(vars []any) string {
	if len(vars) == 0 {
		return ""
	}
	return fmt.Sprintf("\x00%#v", vars)
}

func itoa(i int) string { return strconv.Itoa(i) }

// among is the collation under which nodes compare with each other, for the
// expression whole they are part of.
func (p *planner) among(nodes []sqlexpr.Node, f *fragment, whole sqlexpr.Node) *Collation {
	return p.derived(nodes, f, &Collation{Fragment: sqlexpr.Text(f.Src, whole)})
}

func anyDivision(nodes []sqlexpr.Node) bool {
	for _, n := range nodes {
		if n != nil && hasDivision(n) {
			return true
		}
	}
	return false
}

// branchRefusal: MySQL's CASE and COALESCE give every branch the largest
// declared scale among them, letting a quotient's hidden digits show.
func (p *planner) branchRefusal(f *fragment, n sqlexpr.Node) error {
	return p.refuse(ReasonFunction, f, n, "on MySQL and MariaDB a CASE or COALESCE over a division or AVG is not computed by the merge",
		"select the division on its own and choose in Go")
}

// avgOperand reports, on MySQL and MariaDB, an AVG used where the digits it
// holds beyond its declared scale matter (arithmetic, a truth test, IN
// lists, BETWEEN, CASE x WHEN). MariaDB keeps them or rounds them away
// depending on the plan (an aggregate held in a temporary table is
// rounded), so no merge can reproduce it. Comparison operators, ORDER BY
// and output round it either way, and stay allowed.
func (p *planner) avgOperand(n sqlexpr.Node) bool {
	c, ok := sqlexpr.Unparen(n).(*sqlexpr.Call)
	return ok && p.d == sqlexpr.MySQL && c.Name == "avg"
}

func (p *planner) avgRefusal(f *fragment, n sqlexpr.Node) error {
	return p.refuse(ReasonAggregate, f, n, "MariaDB computes with AVG's hidden digits or without them depending on its plan",
		"select AVG on its own, or SUM(x) / COUNT(x), which it computes the same way every time")
}
