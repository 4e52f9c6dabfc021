package scatter

import (
	"github.com/grant-go/grant/sharding/scatter/value"
)

// eval computes e for group g with the dialect's semantics. Errors (a
// server error the expression raises, like a division by zero on
// PostgreSQL, or semantics the value package does not reproduce) are
// recorded in m.err and yield NULL.
func (m *merge) eval(e *Expr, g *group, kinds []FoldKind) value.Value {
	env := m.prog.Env
	check := func(v value.Value, err error) value.Value {
		if err != nil {
			m.fail(err)
			return value.Null()
		}
		return v
	}
	arg := func(i int) value.Value { return m.eval(e.Args[i], g, kinds) }
	switch e.Op {
	case ExprConst:
		return e.Value
	case ExprCol:
		return m.column(g, e.Col, kinds)
	case ExprAvg:
		return check(value.Avg(env, m.column(g, e.Col, kinds), m.column(g, e.Col2, kinds)))
	case ExprCount:
		return check(value.FromDriver(m.countType(), int64(len(g.sets[e.Col]))))
	case ExprArith:
		a, b := arg(0), arg(1)
		if a.IsNull() || b.IsNull() { // NULL in, NULL out, whatever the types
			return value.Null()
		}
		return check(value.Arith(env, e.Arith, a, b))
	case ExprNeg:
		a := arg(0)
		if a.IsNull() {
			return a
		}
		return check(value.Negate(env, a))
	case ExprCompare:
		return m.compare(e, arg(0), arg(1))
	case ExprAnd, ExprOr:
		a, aKnown := value.Truth(arg(0))
		if aKnown && a == (e.Op == ExprOr) { // FALSE AND …, TRUE OR …
			return m.boolean(a)
		}
		b, bKnown := value.Truth(arg(1))
		switch {
		case bKnown && b == (e.Op == ExprOr):
			return m.boolean(b)
		case !aKnown || !bKnown:
			return value.Null()
		}
		return m.boolean(b)
	case ExprNot:
		t, known := value.Truth(arg(0))
		if !known {
			return value.Null()
		}
		return m.boolean(!t)
	case ExprIsNull:
		return m.boolean(arg(0).IsNull() != e.Not)
	case ExprIsTrue:
		t, known := value.Truth(arg(0))
		return m.boolean((known && t == e.Truth) != e.Not)
	case ExprCase:
		return m.caseValue(e, g, kinds)
	case ExprIn:
		x := arg(0)
		if x.IsNull() {
			return value.Null()
		}
		sawNull := false
		for i := 1; i < len(e.Args); i++ {
			y := arg(i)
			if y.IsNull() {
				sawNull = true
				continue
			}
			cmp := m.cmp
			if len(e.Args) > 2 { // MySQL compares IN lists exactly, IN of one value as '='
				cmp = m.cmpExact
			}
			if cmp(x, y, e.Coll) == 0 {
				return m.boolean(!e.Not)
			}
		}
		if sawNull {
			return value.Null()
		}
		return m.boolean(e.Not)
	case ExprBetween:
		x, lo, hi := arg(0), arg(1), arg(2)
		between := func(cmp string, bound value.Value) value.Value {
			if x.IsNull() || bound.IsNull() {
				return value.Null()
			}
			c := m.cmpExact(x, bound, e.Coll)
			return m.boolean(cmp == ">=" && c >= 0 || cmp == "<=" && c <= 0)
		}
		geLo, leHi := between(">=", lo), between("<=", hi)
		in := m.eval(&Expr{Op: ExprAnd, Args: []*Expr{{Op: ExprConst, Value: geLo}, {Op: ExprConst, Value: leHi}}}, g, kinds)
		if !e.Not || in.IsNull() {
			return in
		}
		t, _ := value.Truth(in)
		return m.boolean(!t)
	case ExprCoalesce:
		for i := range e.Args {
			if v := arg(i); !v.IsNull() {
				return v
			}
		}
		return value.Null()
	case ExprNullIf:
		a, b := arg(0), arg(1)
		if a.IsNull() || b.IsNull() || m.cmp(a, b, e.Coll) != 0 {
			return a
		}
		return value.Null()
	}
	m.fail(errInternalExpr)
	return value.Null()
}

func (m *merge) caseValue(e *Expr, g *group, kinds []FoldKind) value.Value {
	args := e.Args
	i := 0
	var operand value.Value
	if e.HasOperand {
		operand, i = m.eval(args[0], g, kinds), 1
	}
	end := len(args)
	if e.HasElse {
		end--
	}
	for ; i+1 < end; i += 2 {
		cond := m.eval(args[i], g, kinds)
		var match bool
		if e.HasOperand {
			match = !operand.IsNull() && !cond.IsNull() && m.cmpExact(operand, cond, e.Coll) == 0
		} else {
			t, known := value.Truth(cond)
			match = known && t
		}
		if match {
			return m.eval(args[i+1], g, kinds)
		}
	}
	if e.HasElse {
		return m.eval(args[len(args)-1], g, kinds)
	}
	return value.Null()
}

// compare computes a comparison operator; NULL in gives NULL out, except
// for MySQL's null-safe <=>.
func (m *merge) compare(e *Expr, a, b value.Value) value.Value {
	if e.Cmp == "<=>" {
		if a.IsNull() || b.IsNull() {
			return m.boolean(a.IsNull() && b.IsNull())
		}
		return m.boolean(m.cmp(a, b, e.Coll) == 0)
	}
	if a.IsNull() || b.IsNull() {
		return value.Null()
	}
	c := m.cmp(a, b, e.Coll)
	switch e.Cmp {
	case "=":
		return m.boolean(c == 0)
	case "<>":
		return m.boolean(c != 0)
	case "<":
		return m.boolean(c < 0)
	case "<=":
		return m.boolean(c <= 0)
	case ">":
		return m.boolean(c > 0)
	}
	return m.boolean(c >= 0)
}

func (m *merge) cmp(a, b value.Value, coll *Collation) int {
	c, err := value.Compare(m.prog.Env, a, b, m.compareText(coll))
	if err != nil {
		m.fail(err)
	}
	return c
}

// cmpExact compares as MySQL's IN lists, BETWEEN and CASE x WHEN do: by
// every digit a decimal holds (value.CompareExact).
func (m *merge) cmpExact(a, b value.Value, coll *Collation) int {
	c, err := value.CompareExact(m.prog.Env, a, b, m.compareText(coll))
	if err != nil {
		m.fail(err)
	}
	return c
}

// boolean is a truth value as the dialect writes one: PostgreSQL's boolean,
// MySQL's and SQLite's integer 1 or 0.
func (m *merge) boolean(b bool) value.Value {
	if m.prog.Env.Dialect == value.Postgres {
		return value.Bool(b)
	}
	v, _ := value.Literal(m.prog.Env, pick(b, "1", "0"))
	return v
}

// countType is the type of COUNT's result in the dialect.
func (m *merge) countType() value.Type {
	name := "BIGINT"
	switch m.prog.Env.Dialect {
	case value.Postgres:
		name = "INT8"
	case value.SQLite:
		name = "INTEGER"
	}
	return value.TypeOf(m.prog.Env, name, 0, 0, false)
}
