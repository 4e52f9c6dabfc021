package value_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant/sharding/scatter/value"
)

func TestArithMySQLIntegers(t *testing.T) {
	runArith(t, mysqlEnv, []arithCase{
		{"add", value.Add, myInt(t, 1), myInt(t, 2), "BIGINT 3", ""},
		{"overflow", value.Add, myInt(t, math.MaxInt64), myInt(t, 1), "", "BIGINT value is out of range"},
		{"subtraction overflow", value.Sub, myInt(t, 1), myInt(t, math.MinInt64), "", "BIGINT value is out of range"},
		{"0 - -2^63, which MariaDB wraps", value.Sub, myInt(t, 0), myInt(t, math.MinInt64), "", "unsupported"},
		{"'/' is decimal", value.Div, myInt(t, 2), myInt(t, 3), "DECIMAL 0.6667 (0.666666666)", ""},
		{"'/' by zero is NULL", value.Div, myInt(t, 2), myInt(t, 0), "NULL", ""},
		{"DIV truncates", value.IntDiv, myInt(t, -7), myInt(t, 2), "BIGINT -3", ""},
		{"DIV by zero is NULL", value.IntDiv, myInt(t, 7), myInt(t, 0), "NULL", ""},
		{"DIV overflows", value.IntDiv, myInt(t, math.MinInt64), myInt(t, -1), "", "BIGINT value is out of range"},
		{"MOD takes the dividend's sign", value.Mod, myInt(t, -7), myInt(t, 3), "BIGINT -1", ""},
		{"MOD by zero is NULL", value.Mod, myInt(t, 7), myInt(t, 0), "NULL", ""},
		{"TRUE is 1", value.Add, value.Bool(true), myInt(t, 1), "BIGINT 2", ""},
		{"UNSIGNED is not computed", value.Add, from(t, mysqlEnv, "UNSIGNED BIGINT", uint64(1)), myInt(t, 1), "", "unsupported"},
	})
}

func TestArithMySQLDecimal(t *testing.T) {
	d := func(s int64, text string) value.Value { return myDec(t, 30, s, text) }
	runArith(t, mysqlEnv, []arithCase{
		{"add keeps the larger scale", value.Add, d(2, "1.50"), d(1, "1.5"), "DECIMAL 3.00", ""},
		{"sub to zero is a plain zero", value.Sub, d(1, "1.5"), d(1, "1.5"), "DECIMAL 0.0 (0)", ""},
		{"mul adds the scales", value.Mul, d(2, "1.50"), d(1, "-1.5"), "DECIMAL -2.250", ""},
		{"mul rounds beyond scale 38", value.Mul, d(20, "0.12345678901234567890"), d(20, "0.12345678901234567890"), "DECIMAL 0.01524157875323883675019051998750190521 (0.0152415787532388367501905199875019052100)", ""},
		{"mul of nine words is refused", value.Mul, myDec(t, 65, 30, "1.123456789012345678901234567891"), myDec(t, 65, 30, "1.123456789012345678901234567891"), "", "unsupported"},
		{"div rounds half up", value.Div, myInt(t, 2), myInt(t, 3), "DECIMAL 0.6667 (0.666666666)", ""},
		{"div rounds negative half up", value.Div, myInt(t, -2), myInt(t, 3), "DECIMAL -0.6667 (-0.666666666)", ""},
		{"div scale follows the dividend", value.Div, d(20, "1.00000000000000000000"), d(25, "3.0000000000000000000000000"), "DECIMAL 0.333333333333333333333333 (0.333333333333333333333333333333333333333333333333333333)", ""},
		{"div truncates when the words hold exactly the scale", value.Div, d(5, "1.00001"), myInt(t, 3), "DECIMAL 0.333336666", ""},
		{"div rounds when they hold more", value.Div, d(6, "2.000000"), myInt(t, 3), "DECIMAL 0.6666666667 (0.666666666666666666)", ""},
		{"div truncated to zero keeps the sign", value.Div, d(5, "-1.00000"), myInt(t, 3000000000), "DECIMAL -0.000000000", ""},
		{"div rounded to zero drops it", value.Div, myInt(t, -1), myInt(t, 30000), "DECIMAL 0.0000 (-0.000033333)", ""},
		{"div by zero is NULL", value.Div, d(1, "1.0"), d(1, "0.0"), "NULL", ""},
		{"mod keeps the larger scale", value.Mod, d(1, "7.5"), d(2, "2.25"), "DECIMAL 0.75", ""},
		{"mod keeps a negative zero", value.Mod, myInt(t, -7), d(1, "0.5"), "DECIMAL -0.0", ""},
		{"mod of scale 0 by a small divisor", value.Mod, myDec(t, 10, 0, "-221"), myDec(t, 10, 0, "-221"), "DECIMAL 0", ""},
		{"mod of scale 0 by a large divisor", value.Mod, myDec(t, 20, 0, "-20000000000"), myDec(t, 20, 0, "10000000000"), "DECIMAL -0", ""},
		{"DIV of decimals", value.IntDiv, d(1, "-7.5"), myInt(t, 2), "BIGINT -3", ""},
		{"DIV of decimals overflows", value.IntDiv, myDec(t, 30, 0, "100000000000000000000"), myInt(t, 2), "", "BIGINT value is out of range"},
	})
}

func TestArithMySQLDouble(t *testing.T) {
	runArith(t, mysqlEnv, []arithCase{
		{"decimal becomes double", value.Add, myDec(t, 10, 1, "0.1"), myDouble(t, 0.2), "DOUBLE 0.30000000000000004", ""},
		{"negative zero becomes zero", value.Mul, myDouble(t, 0), myInt(t, -5), "DOUBLE 0", ""},
		{"overflow", value.Mul, myDouble(t, 1e308), myInt(t, 10), "", "DOUBLE value is out of range"},
		{"division by zero is NULL", value.Div, myDouble(t, 1), myDouble(t, 0), "NULL", ""},
		{"modulo is fmod", value.Mod, myDouble(t, -7.5), myInt(t, 2), "DOUBLE -1.5", ""},
		{"DIV of doubles is not computed", value.IntDiv, myDouble(t, 7), myInt(t, 2), "", "unsupported"},
		{"FLOAT is not computed", value.Add, from(t, mysqlEnv, "FLOAT", float32(1)), myInt(t, 1), "", "unsupported"},
	})
}

func TestNegateMySQL(t *testing.T) {
	cases := []struct {
		name string
		v    value.Value
		want string
		err  string
	}{
		{"a column", myInt(t, -5), "BIGINT 5", ""},
		{"the most negative", myInt(t, math.MinInt64), "", "BIGINT value is out of range"},
		{"a negative constant expression is DECIMAL", mustArith(t, mysqlEnv, value.Sub, literal(t, mysqlEnv, "1"), literal(t, mysqlEnv, "2")), "DECIMAL 1", ""},
		{"a literal folds", literal(t, mysqlEnv, "5"), "BIGINT -5", ""},
		{"a negative literal folds back", literal(t, mysqlEnv, "-5"), "BIGINT 5", ""},
		{"-2^63 is a BIGINT literal", literal(t, mysqlEnv, "9223372036854775808"), "BIGINT -9223372036854775808", ""},
		{"its negation is DECIMAL", literal(t, mysqlEnv, "-9223372036854775808"), "DECIMAL 9223372036854775808", ""},
		{"decimal zero loses its sign", myDec(t, 10, 1, "-0.0"), "DECIMAL 0.0", ""},
		{"double zero", myDouble(t, 0), "DOUBLE 0", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := value.Negate(mysqlEnv, c.v)
			checkResult(t, got, err, c.want, c.err)
		})
	}
}

func mustArith(t *testing.T, env value.Env, op value.Op, a, b value.Value) value.Value {
	t.Helper()
	v, err := value.Arith(env, op, a, b)
	require.NoError(t, err)
	return v
}

func TestDivPrecisionIncrement(t *testing.T) {
	cases := []struct {
		incr int
		a, b value.Value
		want string
	}{
		{0, myInt(t, 2), myInt(t, 3), "DECIMAL 0"},
		{0, myInt(t, 5), myInt(t, 3), "DECIMAL 1"},
		{0, myDec(t, 10, 1, "1.5"), myInt(t, 2), "DECIMAL 0.8 (0.750000000)"},
		{9, myInt(t, 2), myInt(t, 3), "DECIMAL 0.666666666"},
		{9, myInt(t, 2), myDec(t, 10, 1, "3.0"), "DECIMAL 0.666666667 (0.666666666666666666)"},
		{5, myDec(t, 10, 4, "2.0000"), myInt(t, 3), "DECIMAL 0.666666666"},
		{5, myDec(t, 10, 5, "2.00000"), myInt(t, 3), "DECIMAL 0.6666666667 (0.666666666666666666)"},
	}
	for _, c := range cases {
		env := value.Env{Dialect: value.MySQL, DivPrecisionIncrement: c.incr}
		got, err := value.Arith(env, value.Div, c.a, c.b)
		require.NoError(t, err)
		assert.Equal(t, c.want, got.String(), "%v / %v with increment %d", c.a, c.b, c.incr)
	}
	_, err := value.Arith(value.Env{Dialect: value.MySQL, DivPrecisionIncrement: 31}, value.Div, myInt(t, 2), myInt(t, 3))
	assert.ErrorIs(t, err, value.ErrUnsupported)
}
