package value_test

import (
	"math"
	"testing"

	"github.com/grant-go/grant/sharding/scatter/value"
)

func TestArithSQLite(t *testing.T) {
	i := func(v int64) value.Value { return lite(t, v) }
	f := func(v float64) value.Value { return lite(t, v) }
	runArith(t, sqliteEnv, []arithCase{
		{"integers stay integers", value.Add, i(1), i(2), "INTEGER 3", ""},
		{"overflow makes a real", value.Add, i(math.MaxInt64), i(1), "REAL 9.223372036854776e+18", ""},
		{"product overflow makes a real", value.Mul, i(math.MaxInt64), i(2), "REAL 1.8446744073709552e+19", ""},
		{"integer division truncates", value.Div, i(-7), i(2), "INTEGER -3", ""},
		{"min / -1 is a real", value.Div, i(math.MinInt64), i(-1), "REAL 9.223372036854776e+18", ""},
		{"division by zero is NULL", value.Div, i(1), i(0), "NULL", ""},
		{"real division by zero is NULL", value.Div, f(1.5), f(0), "NULL", ""},
		{"modulo by zero is NULL", value.Mod, i(1), i(0), "NULL", ""},
		{"modulo of reals truncates them", value.Mod, f(7.9), f(2.5), "REAL 1", ""},
		{"modulo keeps an integer operand whole", value.Mod, i(-9223372036854775807), f(-1272.2), "REAL -775", ""},
		{"modulo clamps a huge real", value.Mod, f(1e300), i(1000), "REAL 807", ""},
		{"NaN is NULL", value.Sub, f(math.Inf(1)), f(math.Inf(1)), "NULL", ""},
		{"mixed is real", value.Add, i(1), f(0.5), "REAL 1.5", ""},
		{"no DIV", value.IntDiv, i(1), i(1), "", "unsupported"},
		{"text is not computed", value.Add, i(1), lite(t, "1"), "", "unsupported"},
	})
}

func TestNegateSQLite(t *testing.T) {
	cases := []struct {
		name string
		v    value.Value
		want string
	}{
		{"a column", lite(t, int64(5)), "INTEGER -5"},
		{"the most negative becomes a real", lite(t, int64(math.MinInt64)), "REAL 9.223372036854776e+18"},
		{"a real zero is 0 - 0.0", lite(t, 0.0), "REAL 0"},
		{"a literal zero keeps its sign", literal(t, sqliteEnv, "0.0"), "REAL -0"},
		{"a literal folds 2^63", literal(t, sqliteEnv, "9223372036854775808"), "INTEGER -9223372036854775808"},
		{"a negative literal is 0 - x", literal(t, sqliteEnv, "-9223372036854775808"), "REAL 9.223372036854776e+18"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := value.Negate(sqliteEnv, c.v)
			checkResult(t, got, err, c.want, "")
		})
	}
}
