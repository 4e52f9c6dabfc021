package value_test

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant/sharding/scatter/value"
)

func TestLiteral(t *testing.T) {
	cases := []struct {
		env  value.Env
		text string
		want string
	}{
		{pgEnv, "42", "INT4 42"},
		{pgEnv, "3000000000", "INT8 3000000000"},
		{pgEnv, "-2147483648", "INT4 -2147483648"},
		{pgEnv, "9223372036854775808", "NUMERIC 9223372036854775808"},
		{pgEnv, "-9223372036854775808", "INT8 -9223372036854775808"},
		{pgEnv, "1.50", "NUMERIC 1.50"},
		{pgEnv, ".5", "NUMERIC 0.5"},
		{pgEnv, "5.", "NUMERIC 5"},
		{pgEnv, "1e3", "NUMERIC 1000"},
		{pgEnv, "1E-2", "NUMERIC 0.01"},
		{pgEnv, "1.50e1", "NUMERIC 15.0"},
		{pgEnv, "-0.0", "NUMERIC 0.0"},
		{mysqlEnv, "42", "BIGINT 42"},
		{mysqlEnv, "9223372036854775808", "UNSIGNED BIGINT 9223372036854775808"},
		{mysqlEnv, "-9223372036854775808", "BIGINT -9223372036854775808"},
		{mysqlEnv, "18446744073709551616", "DECIMAL 18446744073709551616"},
		{mysqlEnv, "1.50", "DECIMAL 1.50"},
		{mysqlEnv, "1e3", "DOUBLE 1000"},
		{mysqlEnv, "-0e0", "DOUBLE 0"},
		{sqliteEnv, "42", "INTEGER 42"},
		{sqliteEnv, "-9223372036854775808", "INTEGER -9223372036854775808"},
		{sqliteEnv, "9223372036854775808", "REAL 9.223372036854776e+18"},
		{sqliteEnv, "1.5", "REAL 1.5"},
		{sqliteEnv, "-0.0", "REAL -0"},
	}
	for _, c := range cases {
		got, err := value.Literal(c.env, c.text)
		require.NoError(t, err, "%s %s", c.env.Dialect, c.text)
		assert.Equal(t, c.want, got.String(), "%s %s", c.env.Dialect, c.text)
	}
	for _, bad := range []string{"", "-", "1.2.3", "e5", "1e", "1e+-2", "0x10", " 1", "--1"} {
		_, err := value.Literal(pgEnv, bad)
		assert.ErrorIs(t, err, value.ErrTypeMismatch, "%q", bad)
	}
	_, err := value.Literal(mysqlEnv, "1e400")
	assert.ErrorIs(t, err, value.ErrUnsupported)
}

func TestNegateFoldsLiterals(t *testing.T) {
	// PostgreSQL re-reads the literal: -(-2147483648) is the int8 2147483648.
	v, err := value.Negate(pgEnv, literal(t, pgEnv, "-2147483648"))
	require.NoError(t, err)
	assert.Equal(t, "INT8 2147483648", v.String())
	// A computed int4 overflows instead.
	_, err = value.Negate(pgEnv, pg(t, "INT4", int64(math.MinInt32)))
	assert.ErrorContains(t, err, "integer out of range")
}

func TestParam(t *testing.T) {
	cases := []struct {
		env  value.Env
		v    any
		want string
	}{
		{pgEnv, 5, "INT8 5"},
		{pgEnv, uint32(5), "INT8 5"},
		{pgEnv, "x", `TEXT "x"`},
		{pgEnv, nil, "NULL"},
		{pgEnv, true, "BOOL true"},
		{mysqlEnv, uint64(math.MaxUint64), "UNSIGNED BIGINT 18446744073709551615"},
		{mysqlEnv, float32(0.5), "DOUBLE 0.5"},
		{sqliteEnv, 2.5, "REAL 2.5"},
		{sqliteEnv, int8(-3), "INTEGER -3"},
	}
	for _, c := range cases {
		got, err := value.Param(c.env, c.v)
		require.NoError(t, err, "%s %#v", c.env.Dialect, c.v)
		assert.Equal(t, c.want, got.String(), "%s %#v", c.env.Dialect, c.v)
	}
	tm, err := value.Param(pgEnv, time.Unix(0, 0))
	require.NoError(t, err)
	assert.Equal(t, value.KindTime, tm.Type().Kind)
	for _, bad := range []struct {
		env value.Env
		v   any
	}{{pgEnv, 1.5}, {pgEnv, uint64(math.MaxUint64)}, {mysqlEnv, []byte("x")}, {sqliteEnv, struct{}{}}} {
		_, err := value.Param(bad.env, bad.v)
		assert.ErrorIs(t, err, value.ErrUnsupported, "%s %#v", bad.env.Dialect, bad.v)
	}
}
