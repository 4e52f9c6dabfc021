package value_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant/sharding/scatter/value"
)

// fold sums partials with Sum, starting from NULL.
func fold(t *testing.T, env value.Env, partials ...value.Value) (value.Value, error) {
	t.Helper()
	acc := value.Null()
	for _, p := range partials {
		var err error
		if acc, err = value.Sum(env, acc, p); err != nil {
			return acc, err
		}
	}
	return acc, nil
}

func TestSum(t *testing.T) {
	cases := []struct {
		name     string
		env      value.Env
		partials []value.Value
		want     string
		err      string
	}{
		{"pg int8 partials", pgEnv, []value.Value{pg(t, "INT8", int64(5)), pg(t, "INT8", nil), pg(t, "INT8", int64(-2))}, "INT8 3", ""},
		{"pg int8 overflows", pgEnv, []value.Value{pg(t, "INT8", int64(math.MaxInt64)), pg(t, "INT8", int64(1))}, "", "bigint out of range"},
		{"pg numeric keeps the larger scale", pgEnv, []value.Value{pg(t, "NUMERIC", "1.5"), pg(t, "NUMERIC", "0.000")}, "NUMERIC 1.500", ""},
		{"pg float8 overflows", pgEnv, []value.Value{pg(t, "FLOAT8", 1e308), pg(t, "FLOAT8", 1e308)}, "", "value out of range: overflow"},
		{"pg float4", pgEnv, []value.Value{pg(t, "FLOAT4", 0.5), pg(t, "FLOAT4", 0.25)}, "FLOAT4 0.75", ""},
		{"pg all NULL", pgEnv, []value.Value{pg(t, "NUMERIC", nil), pg(t, "NUMERIC", nil)}, "NULL", ""},
		{"pg partials of different types", pgEnv, []value.Value{pg(t, "INT8", int64(1)), pg(t, "NUMERIC", "1")}, "", "unsupported"},
		{"mysql decimal", mysqlEnv, []value.Value{myDec(t, 32, 2, "1.25"), myDec(t, 32, 2, "-0.25")}, "DECIMAL 1.00", ""},
		{"mysql count", mysqlEnv, []value.Value{myInt(t, 3), myInt(t, 4)}, "BIGINT 7", ""},
		{"mysql double", mysqlEnv, []value.Value{myDouble(t, 0.5), myDouble(t, -0.5)}, "DOUBLE 0", ""},
		{"mysql double overflow reads 0 on the server", mysqlEnv, []value.Value{myDouble(t, 1e308), myDouble(t, 1e308)}, "", "unsupported"},
		{"sqlite integers overflow", sqliteEnv, []value.Value{lite(t, int64(1)<<62), lite(t, int64(1)<<62)}, "", "integer overflow"},
		{"sqlite a real makes it real", sqliteEnv, []value.Value{lite(t, int64(1)), lite(t, 0.5)}, "REAL 1.5", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := fold(t, c.env, c.partials...)
			checkResult(t, got, err, c.want, c.err)
		})
	}
}

func TestAvg(t *testing.T) {
	cases := []struct {
		name       string
		env        value.Env
		sum, count value.Value
		want       string
		err        string
	}{
		{"pg integers", pgEnv, pg(t, "INT8", int64(5)), pg(t, "INT8", int64(3)), "NUMERIC 1.6666666666666667", ""},
		{"pg numeric keeps the sum's scale", pgEnv, pg(t, "NUMERIC", "5.655"), pg(t, "INT8", int64(3)), "NUMERIC 1.8850000000000000", ""},
		{"pg large sum", pgEnv, pg(t, "NUMERIC", "123456789012345678901234"), pg(t, "INT8", int64(7)), "NUMERIC 17636684144620811271605", ""},
		{"pg float8", pgEnv, pg(t, "FLOAT8", 5.0), pg(t, "INT8", int64(4)), "FLOAT8 1.25", ""},
		{"pg float4 is not its SUM's", pgEnv, pg(t, "FLOAT4", 5.0), pg(t, "INT8", int64(4)), "", "unsupported"},
		{"pg no rows", pgEnv, pg(t, "NUMERIC", nil), pg(t, "INT8", int64(0)), "NULL", ""},
		{"mysql integers", mysqlEnv, myDec(t, 32, 0, "5"), myInt(t, 3), "DECIMAL 1.6667 (1.666666666)", ""},
		{"mysql decimal truncates in the last word", mysqlEnv, myDec(t, 32, 5, "5.00000"), myInt(t, 3), "DECIMAL 1.666666666", ""},
		{"mysql double", mysqlEnv, myDouble(t, 5), myInt(t, 4), "DOUBLE 1.25", ""},
		{"sqlite", sqliteEnv, lite(t, int64(5)), lite(t, int64(3)), "REAL 1.6666666666666667", ""},
		{"count zero", sqliteEnv, lite(t, nil), lite(t, int64(0)), "NULL", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := value.Avg(c.env, c.sum, c.count)
			checkResult(t, got, err, c.want, c.err)
		})
	}
}

func TestSumOfTypedDecimalKeepsTheColumnType(t *testing.T) {
	got, err := fold(t, mysqlEnv, myDec(t, 32, 2, "1.25"), myDec(t, 32, 2, "2.00"))
	require.NoError(t, err)
	out, err := got.Driver(col(mysqlEnv, "DECIMAL", 32, 2))
	require.NoError(t, err)
	assert.Equal(t, []byte("3.25"), out)
}
