package value_test

import (
	"errors"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant/sharding/scatter/value"
)

var (
	pgEnv     = value.NewEnv(value.Postgres)
	mysqlEnv  = value.NewEnv(value.MySQL)
	sqliteEnv = value.NewEnv(value.SQLite)
)

// col is the type of a result column as the driver describes it.
func col(env value.Env, name string, precision, scale int64) value.Type {
	return value.TypeOf(env, name, precision, scale, precision != 0 || scale != 0)
}

// from is a value of a column of type name, as the driver hands it over.
func from(t testing.TB, env value.Env, name string, v any) value.Value {
	t.Helper()
	w, err := value.FromDriver(col(env, name, 0, 0), v)
	require.NoError(t, err)
	return w
}

func pg(t testing.TB, name string, v any) value.Value { return from(t, pgEnv, name, v) }
func lite(t testing.TB, v any) value.Value            { return from(t, sqliteEnv, "", v) }
func myInt(t testing.TB, v int64) value.Value         { return from(t, mysqlEnv, "BIGINT", v) }
func myDouble(t testing.TB, v float64) value.Value    { return from(t, mysqlEnv, "DOUBLE", v) }
func literal(t testing.TB, env value.Env, s string) value.Value {
	t.Helper()
	v, err := value.Literal(env, s)
	require.NoError(t, err)
	return v
}

// myDec is a MySQL DECIMAL(p,s) value given as the driver's text.
func myDec(t testing.TB, p, s int64, text string) value.Value {
	t.Helper()
	v, err := value.FromDriver(col(mysqlEnv, "DECIMAL", p, s), []byte(text))
	require.NoError(t, err)
	return v
}

// arithCase is one computation and what it must give: want is the
// result's String(), or err a substring of the error (with "unsupported"
// meaning an error wrapping ErrUnsupported).
type arithCase struct {
	name string
	op   value.Op
	a, b value.Value
	want string
	err  string
}

func runArith(t *testing.T, env value.Env, cases []arithCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := value.Arith(env, c.op, c.a, c.b)
			checkResult(t, got, err, c.want, c.err)
		})
	}
}

func checkResult(t *testing.T, got value.Value, err error, want, wantErr string) {
	t.Helper()
	switch wantErr {
	case "":
		require.NoError(t, err)
		assert.Equal(t, want, got.String())
	case "unsupported":
		assert.ErrorIs(t, err, value.ErrUnsupported)
	default:
		require.Error(t, err)
		assert.True(t, errors.Is(err, value.ErrArithmetic), "%v wraps ErrArithmetic", err)
		assert.Contains(t, err.Error(), wantErr)
	}
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
