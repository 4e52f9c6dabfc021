package value_test

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/grant-go/grant/sharding/scatter/value"
)

// nestProbe is one expression of the nested tests, counted under form.
type nestProbe struct {
	form string
	node nestNode
}

// boolean is a comparison's result as the dialect types it.
func (n *nestGen) boolean(b bool) (value.Value, error) {
	if n.env.Dialect == value.Postgres {
		return value.Bool(b), nil
	}
	if b {
		return value.Literal(n.env, "1")
	}
	return value.Literal(n.env, "0")
}

// compare is a op b, as the merge computes comparison operators.
func (n *nestGen) compare(a, b nestNode, op string) nestNode {
	return nestNode{sql: "(" + a.sql + ") " + op + " (" + b.sql + ")", agg: a.agg || b.agg, eval: func(g *nestGroup) (value.Value, error) {
		x, err := a.eval(g)
		if err != nil {
			return x, err
		}
		y, err := b.eval(g)
		if err != nil {
			return y, n.after(x, err)
		}
		if x.IsNull() || y.IsNull() {
			if op == n.nsEq {
				return n.boolean(x.IsNull() && y.IsNull())
			}
			return value.Null(), nil
		}
		c, err := value.Compare(n.env, x, y, nil)
		if err != nil {
			return value.Value{}, err
		}
		return n.boolean(map[string]bool{"=": c == 0, n.nsEq: c == 0, "<>": c != 0, "<": c < 0, "<=": c <= 0, ">": c > 0, ">=": c >= 0}[op])
	}}
}

func (n *nestGen) cmpOp() string {
	ops := []string{"=", "<>", "<", "<=", ">", ">=", n.nsEq}
	return ops[n.r.Intn(len(ops))]
}

// exactLit is a literal near e's value that is not a double (a double in
// an IN list or BETWEEN makes MySQL compare every member as a double).
func (n *nestGen) exactLit(e nestNode, g *nestGroup) nestNode {
	s := n.near(e, g)
	for strings.ContainsAny(s, "eE") {
		s = n.near(e, g)
	}
	return n.literal(s)
}

// forms returns t and some of the conditions and CASE expressions built on
// it, with literals close to its value for group g.
func (n *nestGen) forms(t nestNode, g *nestGroup) []nestProbe {
	out := []nestProbe{{"value", t}}
	for range 2 {
		var p nestProbe
		switch k := n.r.Intn(9); {
		case k < 2:
			p = nestProbe{"compare", n.compare(t, n.literal(n.near(t, g)), n.cmpOp())}
		case k == 2:
			p = nestProbe{"compare trees", n.compare(t, n.tree(1+n.r.Intn(2)), n.cmpOp())}
		case k == 3:
			p = nestProbe{"case when", n.caseWhen(n.compare(t, n.literal(n.near(t, g)), n.cmpOp()), n.tree(n.r.Intn(3)))}
		case k == 4:
			p = nestProbe{"case operand", n.caseOperand(t, n.exactLit(t, g))}
		case k == 5:
			p = nestProbe{"in", n.in(t, n.exactLit(t, g), n.exactLit(t, g))}
		case k == 6:
			p = nestProbe{"between", n.between(t, n.exactLit(t, g), n.exactLit(t, g))}
		case k == 7 && !t.float:
			p = nestProbe{"key", n.sameKey(t, n.exactLit(t, g))}
		case n.truth:
			p = nestProbe{"truth", n.caseWhen(t, n.literal("1"))}
		default:
			p = nestProbe{"case when", n.caseWhen(n.compare(t, n.literal(n.near(t, g)), n.cmpOp()), t)}
		}
		out = append(out, p)
	}
	return out
}

// caseWhen is CASE WHEN cond THEN then END: then's value when cond is
// true, else NULL.
func (n *nestGen) caseWhen(cond, then nestNode) nestNode {
	return nestNode{sql: "CASE WHEN " + cond.sql + " THEN " + then.sql + " END", agg: true, eval: func(g *nestGroup) (value.Value, error) {
		c, err := cond.eval(g)
		if err != nil {
			return c, err
		}
		if ok, known := value.Truth(c); !ok || !known {
			return value.Null(), nil
		}
		return then.eval(g)
	}}
}

// caseOperand is CASE t WHEN lit THEN 1 ELSE 0 END.
func (n *nestGen) caseOperand(t, lit nestNode) nestNode {
	return nestNode{sql: "CASE " + t.sql + " WHEN " + lit.sql + " THEN 1 ELSE 0 END", agg: true, eval: func(g *nestGroup) (value.Value, error) {
		x, err := t.eval(g)
		if err != nil {
			return x, err
		}
		y, err := lit.eval(g)
		if err != nil {
			return y, err
		}
		if x.IsNull() {
			return value.Literal(n.env, "0")
		}
		c, err := value.CompareExact(n.env, x, y, nil)
		if err != nil {
			return value.Value{}, err
		}
		if c == 0 {
			return value.Literal(n.env, "1")
		}
		return value.Literal(n.env, "0")
	}}
}

// in is t IN (a, b).
func (n *nestGen) in(t, a, b nestNode) nestNode {
	return nestNode{sql: "(" + t.sql + ") IN (" + a.sql + ", " + b.sql + ")", agg: true, eval: func(g *nestGroup) (value.Value, error) {
		x, err := t.eval(g)
		if err != nil || x.IsNull() {
			return x, err
		}
		found := false
		for _, m := range []nestNode{a, b} {
			y, err := m.eval(g)
			if err != nil {
				return y, err
			}
			c, err := value.CompareExact(n.env, x, y, nil)
			if err != nil {
				return value.Value{}, err
			}
			found = found || c == 0
		}
		return n.boolean(found)
	}}
}

// between is t BETWEEN lo AND hi.
func (n *nestGen) between(t, lo, hi nestNode) nestNode {
	return nestNode{sql: "(" + t.sql + ") BETWEEN " + lo.sql + " AND " + hi.sql, agg: true, eval: func(g *nestGroup) (value.Value, error) {
		x, err := t.eval(g)
		if err != nil || x.IsNull() {
			return x, err
		}
		l, err := lo.eval(g)
		if err != nil {
			return l, err
		}
		h, err := hi.eval(g)
		if err != nil {
			return h, err
		}
		cl, err := value.CompareExact(n.env, x, l, nil)
		if err != nil {
			return value.Value{}, err
		}
		ch, err := value.CompareExact(n.env, x, h, nil)
		if err != nil {
			return value.Value{}, err
		}
		return n.boolean(cl >= 0 && ch <= 0)
	}}
}

// sameKey is 1 when the null-safe '=' finds a and b equal, which the merge
// decides by their keys (AppendKey), else 0. Keys match '=' only between
// exact values: a and b must not be floats.
func (n *nestGen) sameKey(a, b nestNode) nestNode {
	return nestNode{sql: "CASE WHEN (" + a.sql + ") " + n.nsEq + " (" + b.sql + ") THEN 1 ELSE 0 END", agg: true, eval: func(g *nestGroup) (value.Value, error) {
		x, err := a.eval(g)
		if err != nil {
			return x, err
		}
		y, err := b.eval(g)
		if err != nil {
			return y, err
		}
		if negativeZero(x) || negativeZero(y) {
			// '=' finds "-0.00" below 0; keys follow GROUP BY, which
			// does not.
			return value.Value{}, fmt.Errorf("%w: a negative zero's key", value.ErrUnsupported)
		}
		if bytes.Equal(x.AppendKey(nil, nil), y.AppendKey(nil, nil)) {
			return value.Literal(n.env, "1")
		}
		return value.Literal(n.env, "0")
	}}
}

// negativeZero reports whether v shows as a zero with a minus sign.
func negativeZero(v value.Value) bool {
	out, err := v.Driver(v.Type())
	b, ok := out.([]byte)
	return err == nil && ok && len(b) > 1 && b[0] == '-' && strings.Trim(string(b[1:]), "0.") == ""
}
