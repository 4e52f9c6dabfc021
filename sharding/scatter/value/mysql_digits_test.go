package value_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant/sharding/scatter/value"
)

// myExpr computes a chain of MySQL operations: each step applies op to
// the result so far and a literal.
func myExpr(t *testing.T, env value.Env, first string, steps ...any) value.Value {
	t.Helper()
	v := literal(t, env, first)
	for i := 0; i < len(steps); i += 2 {
		var err error
		v, err = value.Arith(env, steps[i].(value.Op), v, literal(t, env, steps[i+1].(string)))
		require.NoError(t, err)
	}
	return v
}

// sum3 is v + v + v.
func sum3(t *testing.T, v value.Value) value.Value {
	t.Helper()
	return mustArith(t, mysqlEnv, value.Add, mustArith(t, mysqlEnv, value.Add, v, v), v)
}

// shows is what the driver hands over for v in a column of v's type.
func shows(t *testing.T, v value.Value) string {
	t.Helper()
	out, err := v.Driver(v.Type())
	require.NoError(t, err)
	return string(out.([]byte))
}

func TestMySQLDigitsBeyondTheScale(t *testing.T) {
	cases := []struct {
		name  string
		v     value.Value
		shown string
	}{
		// MariaDB: SELECT (2/3)*3, 1/3 + 1/3 + 1/3, (2/3)*1000000000
		{"(2/3)*3", myExpr(t, mysqlEnv, "2", value.Div, "3", value.Mul, "3"), "2.0000"},
		{"1/3 + 1/3 + 1/3", sum3(t, myExpr(t, mysqlEnv, "1", value.Div, "3")), "1.0000"},
		{"the quotient is truncated", myExpr(t, mysqlEnv, "2", value.Div, "3", value.Mul, "1000000000"), "666666666.0000"},
		{"a nested quotient counts the dividend's words", myExpr(t, mysqlEnv, "1", value.Div, "3", value.Div, "3"), "0.11111111"},
		// SELECT (1.000000 - 1.000000 + 1) / 7: equal terms make a zero
		// without fractional digits, so the quotient has one word.
		{"a difference of equal terms", myExpr(t, mysqlEnv, "1.000000", value.Sub, "1.000000", value.Add, "1", value.Div, "7"), "0.1428571420"},
		{"a sum of zeros keeps its digits", myExpr(t, mysqlEnv, "0.000000", value.Add, "0.000000", value.Add, "1", value.Div, "7"), "0.1428571429"},
		{"a product of zero with a negative", myExpr(t, mysqlEnv, "0.000000", value.Mul, "-1.50000", value.Add, "1", value.Div, "7"), "0.142857142000000"},
		{"a product of zero with a positive", myExpr(t, mysqlEnv, "0.000000", value.Mul, "1.50000", value.Add, "1", value.Div, "7"), "0.142857142857143"},
		{"a zero dividend", myExpr(t, mysqlEnv, "0.000000", value.Div, "3", value.Add, "1", value.Div, "7"), "0.14285714200000"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.shown, shows(t, c.v), "%v", c.v)
		})
	}
}

func TestMySQLAvgInArithmetic(t *testing.T) {
	// MariaDB over the rows 12, 12, 13: avg(q) 12.3333, avg(q)*2 24.6667,
	// avg(q)*3 37.0000.
	avg, err := value.Avg(mysqlEnv, myDec(t, 32, 0, "37"), myInt(t, 3))
	require.NoError(t, err)
	assert.Equal(t, "12.3333", shows(t, avg))
	assert.Equal(t, "24.6667", shows(t, mustArith(t, mysqlEnv, value.Mul, avg, literal(t, mysqlEnv, "2"))))
	assert.Equal(t, "37.0000", shows(t, mustArith(t, mysqlEnv, value.Mul, avg, literal(t, mysqlEnv, "3"))))

	// HAVING AVG(q) > 12.3333 rounds the average first.
	c, err := value.Compare(mysqlEnv, avg, literal(t, mysqlEnv, "12.3333"), nil)
	require.NoError(t, err)
	assert.Equal(t, 0, c)

	// In a double context the server divides the sum as a double, or
	// converts the quotient, as the plan goes: 12.333333333333334 or
	// 12.333333333.
	_, err = value.Arith(mysqlEnv, value.Mul, avg, literal(t, mysqlEnv, "1e0"))
	assert.ErrorIs(t, err, value.ErrUnsupported)
	_, err = value.Compare(mysqlEnv, avg, literal(t, mysqlEnv, "12.3333333331e0"), nil)
	assert.ErrorIs(t, err, value.ErrUnsupported, "between the two doubles")
	c, err = value.Compare(mysqlEnv, avg, literal(t, mysqlEnv, "12.3e0"), nil)
	require.NoError(t, err, "HAVING AVG(q) > 12.3e0 is true either way")
	assert.Equal(t, 1, c)
	// Where both are one double, it is computed.
	half, err := value.Avg(mysqlEnv, myDec(t, 32, 0, "3"), myInt(t, 2))
	require.NoError(t, err)
	assert.Equal(t, "DOUBLE 1.5", mustArith(t, mysqlEnv, value.Mul, half, literal(t, mysqlEnv, "1e0")).String())

	// A partial SUM holding digits beyond its scale is no shard's.
	_, err = value.Sum(mysqlEnv, value.Null(), avg)
	require.NoError(t, err)
	_, err = value.Sum(mysqlEnv, avg, avg)
	assert.ErrorIs(t, err, value.ErrUnsupported)
}

func TestMySQLCompareDigits(t *testing.T) {
	third := myExpr(t, mysqlEnv, "1", value.Div, "3")
	cases := []struct {
		name        string
		a, b        value.Value
		op, exactly int
	}{
		{"(2/3)*3 = 2", myExpr(t, mysqlEnv, "2", value.Div, "3", value.Mul, "3"), literal(t, mysqlEnv, "2"), 0, -1},
		{"1/3 = 0.3333", third, literal(t, mysqlEnv, "0.3333"), 0, 1},
		{"1/3 < 0.33334", third, literal(t, mysqlEnv, "0.33334"), -1, -1},
		{"1/3 against a double uses all digits", third, literal(t, mysqlEnv, "0.3333e0"), 1, 1},
		{"each side rounds to its own scale", third, literal(t, mysqlEnv, "0.33333"), -1, 1},
		{"two quotients that show alike", third, myExpr(t, mysqlEnv, "3333", value.Div, "10000"), 0, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := value.Compare(mysqlEnv, c.a, c.b, nil)
			require.NoError(t, err)
			assert.Equal(t, c.op, got, "Compare")
			got, err = value.CompareExact(mysqlEnv, c.a, c.b, nil)
			require.NoError(t, err)
			assert.Equal(t, c.exactly, got, "CompareExact")
		})
	}

	// With div_precision_increment 9, -1/10000000000 is "-0.000000000",
	// which the server orders below 0 (SELECT -1/10000000000 < 0 is 1).
	env := value.Env{Dialect: value.MySQL, DivPrecisionIncrement: 9}
	negZero := myExpr(t, env, "-1", value.Div, "10000000000")
	assert.Equal(t, "-0.000000000", shows(t, negZero))
	c, err := value.Compare(env, negZero, literal(t, env, "0"), nil)
	require.NoError(t, err)
	assert.Equal(t, -1, c)
	truth, known := value.Truth(negZero)
	assert.True(t, known)
	assert.False(t, truth)
}

func TestMySQLDigitsTruthAndKeys(t *testing.T) {
	tiny := myExpr(t, mysqlEnv, "1", value.Div, "100000")
	assert.Equal(t, "0.0000", shows(t, tiny))
	truth, known := value.Truth(tiny)
	assert.True(t, known)
	assert.True(t, truth, "IF(1/100000, 1, 0) is 1")

	// GROUP BY x/y puts 1/3 and 3333/10000 in one group: both show 0.3333.
	a := myExpr(t, mysqlEnv, "1", value.Div, "3")
	b := myExpr(t, mysqlEnv, "3333", value.Div, "10000")
	assert.True(t, bytes.Equal(a.AppendKey(nil, nil), b.AppendKey(nil, nil)))
	assert.True(t, bytes.Equal(a.AppendKey(nil, nil), literal(t, mysqlEnv, "0.3333").AppendKey(nil, nil)))
	assert.Equal(t, "DECIMAL 0.3333 (0.333333333)", a.String())

	// Negation keeps the digits: -(1/3) * 3 is -1.0000.
	n, err := value.Negate(mysqlEnv, a)
	require.NoError(t, err)
	assert.Equal(t, "-1.0000", shows(t, mustArith(t, mysqlEnv, value.Mul, n, literal(t, mysqlEnv, "3"))))
}

func TestMySQLNegativeZero(t *testing.T) {
	// MariaDB: SELECT -4.00 % 2 is -0.00; -4.00 % 2 = 0 is 0, < 0 is 1,
	// IN (0, 1) is 0; ORDER BY, GROUP BY and DISTINCT take it as 0.
	z := myExpr(t, mysqlEnv, "-4.00", value.Mod, "2")
	assert.Equal(t, "-0.00", shows(t, z))
	zero := literal(t, mysqlEnv, "0")
	for _, c := range []struct {
		name string
		cmp  func(value.Env, value.Value, value.Value, func(a, b string) int) (int, error)
		want int
	}{{"Compare", value.Compare, -1}, {"CompareExact", value.CompareExact, -1}, {"CompareOrder", value.CompareOrder, 0}} {
		got, err := c.cmp(mysqlEnv, z, zero, nil)
		require.NoError(t, err)
		assert.Equal(t, c.want, got, c.name)
	}
	assert.True(t, bytes.Equal(z.AppendKey(nil, nil), zero.AppendKey(nil, nil)))
	// -4.00 % 2 + 0 is 0.00 (do_sub of equal magnitudes), -4.00 % 2 - 0
	// is -0.00 (do_add keeps the first operand's sign).
	assert.Equal(t, "0.00", shows(t, mustArith(t, mysqlEnv, value.Add, z, zero)))
	assert.Equal(t, "-0.00", shows(t, mustArith(t, mysqlEnv, value.Sub, z, zero)))
}

func TestMySQLMayExceedPrecision(t *testing.T) {
	third := myExpr(t, mysqlEnv, "1", value.Div, "3")
	assert.False(t, third.MayExceedPrecision())
	// 1/(1/300000) is 300030.0030, of type DECIMAL(9,4).
	big := mustArith(t, mysqlEnv, value.Div, literal(t, mysqlEnv, "1"), myExpr(t, mysqlEnv, "1", value.Div, "300000"))
	assert.Equal(t, "300030.0030", shows(t, big))
	assert.True(t, big.MayExceedPrecision())
	assert.True(t, mustArith(t, mysqlEnv, value.Mul, big, literal(t, mysqlEnv, "2")).MayExceedPrecision())
	_, err := value.CompareOrder(mysqlEnv, big, third, nil)
	assert.ErrorIs(t, err, value.ErrUnsupported)
	c, err := value.Compare(mysqlEnv, big, third, nil)
	require.NoError(t, err)
	assert.Equal(t, 1, c)
}
