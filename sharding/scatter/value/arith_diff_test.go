package value_test

import (
	"database/sql"
	"errors"
	"math/rand"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant/internal/testdb"
	"github.com/grant-go/grant/sharding/scatter/value"
)

// pairsPerCombination is how many random operand pairs each combination
// of operand types and operator gets.
const pairsPerCombination = 60

// TestDifferential asks each database for thousands of random
// computations and checks that the model computes the same value, SQL type
// and Go type, and fails where the server fails.
func TestDifferential(t *testing.T) {
	testdb.Each(t, func(t *testing.T, tb *testdb.Backend) {
		t.Parallel()
		b := openBackend(t, tb)
		t.Run("arith", func(t *testing.T) { b.testArith(t) })
		t.Run("div_precision_increment", func(t *testing.T) { b.testDivIncrement(t) })
		t.Run("negate", func(t *testing.T) { b.testNegate(t) })
		t.Run("literal", func(t *testing.T) { b.testLiteral(t) })
		t.Run("param", func(t *testing.T) { b.testParam(t) })
		t.Run("compare", func(t *testing.T) { b.testCompare(t) })
		t.Run("aggregate", func(t *testing.T) { b.testAggregate(t) })
		t.Run("nested", func(t *testing.T) { b.testNested(t) })
		t.Run("zeros", func(t *testing.T) { b.testZeros(t) })
	})
}

func (b *backend) testArith(t *testing.T) {
	tl := newTally()
	r := newRand(1)
	probes := b.arithProbes(r, opsOf(b.env.Dialect), pairsPerCombination)
	if b.env.Dialect == value.MySQL {
		probes = append(probes, mysqlWordProbes(b.env, r)...)
	}
	b.run(t, probes, tl)
	tl.report(t, "arithmetic")
}

// mysqlWordProbes divide and multiply decimals whose results fill the
// server's decimal buffer to the last word the model trusts: nine words
// for a quotient, eight for a product.
func mysqlWordProbes(env value.Env, r *rand.Rand) []*probe {
	var probes []*probe
	for range 150 {
		dividend := sqlType{name: "dec(65,30) 9 digits", cast: "DECIMAL(65,30)", gen: genDecimal(9, 30)}
		divisor := sqlType{name: "dec(65,30) 1 digit", cast: "DECIMAL(65,30)", gen: genDecimal(1, 30)}
		left := sqlType{name: "dec(65,30) 14 digits", cast: "DECIMAL(65,30)", gen: genDecimal(14, 30)}
		right := sqlType{name: "dec(20,4) 13 digits", cast: "DECIMAL(20,4)", gen: genDecimal(13, 4)}
		for _, p := range []struct {
			a, b sqlType
			op   value.Op
		}{{dividend, divisor, value.Div}, {left, right, value.Mul}} {
			x, y := p.a.operand(p.a.value(r), r.Intn(2) == 0), p.b.operand(p.b.value(r), r.Intn(2) == 0)
			probes = append(probes, &probe{
				group: p.a.name + " " + p.op.String() + " " + p.b.name,
				cols:  []expr{x, y},
				expr:  opSQL(x, p.op, y),
				model: func(ops []value.Value) (value.Value, error) { return value.Arith(env, p.op, ops[0], ops[1]) },
			})
		}
	}
	return probes
}

// testDivIncrement divides on MariaDB sessions with other
// div_precision_increment settings.
func (b *backend) testDivIncrement(t *testing.T) {
	if b.env.Dialect != value.MySQL {
		t.Skip("MySQL only")
	}
	for _, incr := range []int{0, 1, 9, 30} {
		db, err := sql.Open("mysql", b.data.DSN+"&div_precision_increment="+strconv.Itoa(incr))
		require.NoError(t, err)
		defer db.Close()
		s := &backend{name: b.name + " increment " + strconv.Itoa(incr), env: value.Env{Dialect: value.MySQL, DivPrecisionIncrement: incr}, db: db}
		tl := newTally()
		s.run(t, s.arithProbes(newRand(int64(incr)), []value.Op{value.Div}, pairsPerCombination/2), tl)
		tl.report(t, "division with increment "+strconv.Itoa(incr))
	}
}

// arithProbes computes pairs random operand pairs of every combination of
// types and operators.
func (b *backend) arithProbes(r *rand.Rand, ops []value.Op, pairs int) []*probe {
	types := typesOf(b.env.Dialect)
	var probes []*probe
	for _, ta := range types {
		for _, tb := range types {
			for _, op := range ops {
				for range pairs {
					x, y := ta.operand(ta.value(r), r.Intn(2) == 0), tb.operand(tb.value(r), r.Intn(2) == 0)
					if ta.name == tb.name && r.Intn(4) == 0 {
						y = x // x - x, x / x, x % x
					}
					probes = append(probes, &probe{
						group: ta.name + " " + op.String() + " " + tb.name,
						cols:  []expr{x, y},
						expr:  opSQL(x, op, y),
						model: func(ops []value.Value) (value.Value, error) { return value.Arith(b.env, op, ops[0], ops[1]) },
					})
				}
			}
		}
	}
	return probes
}

// testNegate negates values of table columns, which the servers do not
// fold as constants (MySQL types the negation of a negative constant
// apart; testLiteral covers constants).
func (b *backend) testNegate(t *testing.T) {
	r := newRand(2)
	tl := newTally()
	for i, ty := range typesOf(b.env.Dialect) {
		ddl := map[string]string{"SIGNED": "BIGINT", "": "REAL"}[ty.cast]
		if ddl == "" {
			ddl = ty.cast
		}
		if ty.inline {
			continue // literals: testLiteral
		}
		table := "neg_" + strconv.Itoa(i)
		_, err := b.db.Exec("CREATE TABLE " + table + " (id INT, x " + ddl + ")")
		require.NoError(t, err)
		var vals []string
		var args []any
		for id := range 100 {
			vals = append(vals, "("+strconv.Itoa(id)+", "+b.render(ty.operand(ty.value(r), false), &args)+")")
		}
		_, err = b.db.Exec("INSERT INTO "+table+" (id, x) VALUES "+strings.Join(vals, ", "), args...)
		require.NoError(t, err)
		q := "SELECT x, -x FROM " + table
		rows, err := b.query(q)
		if err != nil {
			// A value the server fails to negate fails the whole query:
			// ask for each row alone.
			rows = nil
			for id := range 100 {
				row, err := b.query(q + " WHERE id = " + strconv.Itoa(id))
				if err != nil {
					x, err2 := b.query("SELECT x FROM " + table + " WHERE id = " + strconv.Itoa(id))
					require.NoError(t, err2)
					row = [][]cell{{x[0][0], {err: err}}}
				}
				rows = append(rows, row[0])
			}
		}
		for _, row := range rows {
			x, err := value.FromDriver(row[0].typ, row[0].v)
			require.NoError(t, err)
			p := &probe{group: "-" + ty.name, expr: lit("-x FROM " + table), ops: []value.Value{x}, got: row[1]}
			p.want, p.wantErr = value.Negate(b.env, x)
			if errors.Is(p.wantErr, value.ErrUnsupported) {
				tl.count(tl.unsupported, p.group)
				continue
			}
			b.check(p, tl)
		}
	}
	tl.report(t, "negation")
}

// literals lists numeric literals whose typing differs between dialects
// or sits at a boundary.
var literals = []string{
	"0", "42", "007", "2147483647", "2147483648", "9223372036854775807", "9223372036854775808",
	"18446744073709551615", "18446744073709551616", "123456789012345678901234567890",
	"1.50", ".5", "5.", "00012.3400", "0.000", "1e3", "1E-2", "1.5e1", "1.50e1", "2.5e-3",
	"1e308", "4.9e-324", "0.1", "3.141592653589793238462643383279", "1e0", "0e5", "12345678901234567890.5",
}

func (b *backend) testLiteral(t *testing.T) {
	r := newRand(3)
	texts := append([]string(nil), literals...)
	for range 200 {
		s := randDecimal(r, 1+r.Intn(12), r.Intn(8))
		if s[0] == '-' {
			s = s[1:]
		}
		if r.Intn(3) == 0 {
			s += "e" + []string{"", "-", "+"}[r.Intn(3)] + []string{"0", "1", "5", "17", "22"}[r.Intn(5)]
		}
		texts = append(texts, s)
	}
	var probes []*probe
	for _, s := range texts {
		probes = append(probes, &probe{
			group: "literal",
			expr:  lit(s),
			model: func([]value.Value) (value.Value, error) { return value.Literal(b.env, s) },
		}, &probe{
			group: "-literal",
			expr:  lit("-" + s),
			model: func([]value.Value) (value.Value, error) {
				v, err := value.Literal(b.env, s)
				if err != nil {
					return v, err
				}
				return value.Negate(b.env, v)
			},
		}, &probe{
			group: "-(-literal)",
			expr:  lit("-(-(" + s + "))"),
			model: func([]value.Value) (value.Value, error) {
				v, err := value.Literal(b.env, s)
				if err == nil {
					v, err = value.Negate(b.env, v)
				}
				if err != nil {
					return v, err
				}
				return value.Negate(b.env, v)
			},
		})
	}
	tl := newTally()
	b.run(t, probes, tl)
	tl.report(t, "literals")
}

// testParam binds Go values to placeholders in arithmetic with typed
// operands: on PostgreSQL the parameter takes the other operand's type.
func (b *backend) testParam(t *testing.T) {
	r := newRand(4)
	var probes []*probe
	args := func() any {
		switch r.Intn(5) {
		case 0:
			return argInt(genInt(16)(r))
		case 1:
			return argInt(genInt(32)(r))
		case 2:
			return argFloat(genFloat(false)(r))
		case 3:
			return int32(r.Intn(100) - 50)
		}
		return argInt(genInt(64)(r))
	}
	for _, ty := range typesOf(b.env.Dialect) {
		for _, op := range []value.Op{value.Add, value.Sub, value.Mul, value.Div} {
			for range 30 {
				x, arg, left := ty.operand(ty.value(r), false), args(), r.Intn(2) == 0
				p := expr{sql: "{}", args: []any{arg}}
				e := opSQL(x, op, p)
				if left {
					e = opSQL(p, op, x)
				}
				probes = append(probes, &probe{
					group: "param " + op.String() + " " + ty.name,
					cols:  []expr{x},
					expr:  e,
					model: func(ops []value.Value) (value.Value, error) {
						pv, err := value.Param(b.env, arg)
						if err != nil {
							return value.Value{}, err
						}
						if left {
							return value.Arith(b.env, op, pv, ops[0])
						}
						return value.Arith(b.env, op, ops[0], pv)
					},
				})
			}
		}
	}
	tl := newTally()
	b.run(t, probes, tl)
	tl.report(t, "parameters")
}
