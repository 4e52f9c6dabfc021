package value_test

import (
	"bytes"
	"strconv"
	"testing"

	"github.com/grant-go/grant/sharding/scatter/value"
)

// signExpr is SQL giving -1, 0 or 1 as x is less than, equal to or greater
// than y (NULL when either is NULL). Each "{}" in x and y appears once per
// use, so their arguments repeat.
func signExpr(x, y expr) expr {
	e := expr{sql: "CASE WHEN (" + x.sql + ") < (" + y.sql + ") THEN -1 WHEN (" + x.sql + ") = (" + y.sql + ") THEN 0 WHEN (" + x.sql + ") > (" + y.sql + ") THEN 1 END"}
	for range 3 {
		e.args = append(append(e.args, x.args...), y.args...)
	}
	return e
}

// sameExpr is SQL giving 1 when GROUP BY would put x and y in one group
// (NULL-safe equality), else 0.
func (b *backend) sameExpr(x, y expr) expr {
	eq := map[value.Dialect]string{value.Postgres: "IS NOT DISTINCT FROM", value.MySQL: "<=>", value.SQLite: "IS"}[b.env.Dialect]
	return expr{sql: "CASE WHEN (" + x.sql + ") " + eq + " (" + y.sql + ") THEN 1 ELSE 0 END", args: append(append([]any(nil), x.args...), y.args...)}
}

// smallInt is the dialect's integer literal c (-1, 0 or 1).
func smallInt(env value.Env, c int) (value.Value, error) {
	v, err := value.Literal(env, strconv.Itoa(max(c, -c)))
	if err != nil || c >= 0 {
		return v, err
	}
	return value.Negate(env, v)
}

// exactType reports whether '=' between values of the two types is exact
// (not through double), where AppendKey promises to match it.
func exactType(d value.Dialect, a, b sqlType) bool {
	inexact := map[string]bool{"float8": true, "float4": true, "double": true}
	return d == value.SQLite || a.name == b.name || (!inexact[a.name] && !inexact[b.name])
}

func (b *backend) testCompare(t *testing.T) {
	r := newRand(5)
	types := typesOf(b.env.Dialect)
	var probes []*probe
	order := func(ops []value.Value) (value.Value, error) {
		if ops[0].IsNull() || ops[1].IsNull() {
			return value.Null(), nil
		}
		c, err := value.Compare(b.env, ops[0], ops[1], nil)
		if err != nil {
			return value.Value{}, err
		}
		return smallInt(b.env, c)
	}
	same := func(ops []value.Value) (value.Value, error) {
		ka, kb := ops[0].AppendKey(nil, nil), ops[1].AppendKey(nil, nil)
		if bytes.Equal(ka, kb) {
			return smallInt(b.env, 1)
		}
		return smallInt(b.env, 0)
	}
	type pair struct{ a, b sqlType }
	var pairs []pair
	for _, ta := range types {
		for _, tb := range types {
			pairs = append(pairs, pair{ta, tb})
		}
	}
	for _, te := range extraTypesOf(b.env.Dialect) {
		pairs = append(pairs, pair{te, te})
		if te.name == "ubigint" {
			pairs = append(pairs, pair{te, types[0]}, pair{types[0], te})
		}
	}
	for _, pr := range pairs {
		ta, tb := pr.a, pr.b
		for range 40 {
			sa, sb := ta.value(r), tb.value(r)
			switch {
			case r.Intn(3) > 0:
			case ta.name == tb.name:
				sb = sa
			default:
				sa = strconv.Itoa(r.Intn(7) - 3)
				sb = sa
			}
			x, y := ta.operand(sa, r.Intn(2) == 0), tb.operand(sb, r.Intn(2) == 0)
			probes = append(probes, &probe{group: "order " + ta.name + " " + tb.name, cols: []expr{x, y}, expr: signExpr(x, y), model: order})
			if exactType(b.env.Dialect, ta, tb) {
				probes = append(probes, &probe{group: "key " + ta.name + " " + tb.name, cols: []expr{x, y}, expr: b.sameExpr(x, y), model: same})
			}
		}
	}
	for _, ta := range types {
		// A bound Go integer compared with the type.
		for range 30 {
			// Not NULL: on PostgreSQL the driver fails to encode a
			// parameter beyond the inferred type even next to a NULL.
			x, arg := ta.operand(ta.gen(r), false), argInt(genInt(32)(r))
			p := expr{sql: "{}", args: []any{arg}}
			probes = append(probes, &probe{
				group: "order " + ta.name + " param",
				cols:  []expr{x},
				expr:  signExpr(x, p),
				model: func(ops []value.Value) (value.Value, error) {
					pv, err := value.Param(b.env, arg)
					if err != nil {
						return value.Value{}, err
					}
					return order([]value.Value{ops[0], pv})
				},
			})
		}
	}
	tl := newTally()
	b.run(t, probes, tl)
	tl.report(t, "comparisons")
}
