package value_test

import (
	"database/sql"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant/sharding/scatter/value"
)

// testZeros computes, on MariaDB, zeros of every origin (a product with a
// zero factor, equal terms subtracted, a remainder, a zero dividend, a
// quotient truncated to zero) and then divides with them: how many
// fractional digits a zero holds, and whether it kept a negative sign,
// shows in the digits of a later quotient and in comparisons. It runs
// with the default div_precision_increment and with 9, where quotients
// truncate to a negative zero ("-0.000000000").
func (b *backend) testZeros(t *testing.T) {
	if b.env.Dialect != value.MySQL {
		t.Skip("MySQL only")
	}
	r := newRand(9)
	for _, incr := range []int{value.DefaultDivPrecisionIncrement, 9} {
		db, err := sql.Open("mysql", b.data.DSN+"&div_precision_increment="+strconv.Itoa(incr))
		require.NoError(t, err)
		defer db.Close()
		s := &backend{name: b.name + " increment " + strconv.Itoa(incr), env: value.Env{Dialect: value.MySQL, DivPrecisionIncrement: incr}, db: db}
		gen := newNestGen(r, s.env, nil, nil)
		var probes []*probe
		add := func(form string, e nestNode) {
			probes = append(probes, &probe{group: form, expr: lit(e.sql), model: func([]value.Value) (value.Value, error) { return e.eval(nil) }})
		}
		for range 250 {
			z := gen.zero()
			k := gen.literal(gen.lits[r.Intn(len(gen.lits))])
			d := gen.literal([]string{"3", "7", "9", "11", "-7"}[r.Intn(5)])
			q := gen.binary(value.Div, gen.binary(value.Add, z, k), d)
			add("zero", z)
			add("zero + k, divided", q)
			add("... and multiplied back", gen.binary(value.Mul, q, d))
			add("zero compared", gen.compare(z, gen.literal([]string{"0", "0.0", "-0.0000", "0.0000000001"}[r.Intn(4)]), gen.cmpOp()))
			add("zero as a condition", gen.caseWhen(z, gen.literal("1")))
			zz := gen.binary([]value.Op{value.Add, value.Sub}[r.Intn(2)], z, gen.zero())
			add("zero and zero", zz)
			add("zero and zero compared", gen.compare(zz, gen.literal("0"), gen.cmpOp()))
			add("zero and zero + k, divided", gen.binary(value.Div, gen.binary(value.Add, zz, k), d))
		}
		tl := newTally()
		s.run(t, probes, tl)
		tl.report(t, "zeros with increment "+strconv.Itoa(incr))
	}
}

// zero returns an expression of literals whose value is zero.
func (n *nestGen) zero() nestNode {
	r := n.r
	zero := func() string {
		if r.Intn(4) == 0 {
			return "0"
		}
		return "0." + strings.Repeat("0", 1+r.Intn(8))
	}
	num := func() string { return randDecimal(r, 1+r.Intn(3), r.Intn(7)) }
	padded := func(s string) string { // s with more fractional digits
		if !strings.Contains(s, ".") {
			s += "."
		}
		return s + strings.Repeat("0", 1+r.Intn(5))
	}
	lit := func(s string) nestNode { return n.literal(s) }
	switch r.Intn(8) {
	case 0:
		return n.binary(value.Mul, lit(zero()), lit(num()))
	case 1:
		v := num()
		return n.binary(value.Sub, lit(v), lit(padded(v)))
	case 2:
		v := num()
		return n.binary(value.Add, lit(v), n.neg(lit(padded(v))))
	case 3:
		return n.binary(value.Add, lit(zero()), lit(zero()))
	case 4:
		return n.binary(value.Div, lit(zero()), lit(num()))
	case 5:
		v := strings.TrimPrefix(num(), "-")
		if strings.Trim(v, "0.") == "" {
			v = "1.5"
		}
		m := n.binary(value.Mul, lit(v), lit([]string{"2", "-3", "1.00"}[r.Intn(3)]))
		return n.binary(value.Mod, m, lit(v))
	case 6:
		return n.neg(lit(zero()))
	}
	// A quotient truncated to zero: negative when the signs differ.
	return n.binary(value.Div, lit([]string{"1", "-1", "-0.5", "-3"}[r.Intn(4)]), lit([]string{"10000000000", "-30000000000", "7000000000000"}[r.Intn(3)]))
}
