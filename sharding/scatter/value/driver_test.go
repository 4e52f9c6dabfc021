package value_test

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant/sharding/scatter/value"
)

func TestDialectOf(t *testing.T) {
	for name, want := range map[string]value.Dialect{"postgres": value.Postgres, "mysql": value.MySQL, "sqlite": value.SQLite} {
		d, ok := value.DialectOf(name)
		assert.True(t, ok)
		assert.Equal(t, want, d)
		assert.Equal(t, name, d.String())
	}
	_, ok := value.DialectOf("sqlserver")
	assert.False(t, ok)
}

func TestTypeOf(t *testing.T) {
	cases := []struct {
		env       value.Env
		name      string
		prec, scl int64
		hasSize   bool
		want      value.Type
	}{
		{pgEnv, "INT2", 0, 0, false, value.Type{Kind: value.KindInt, Bits: 16, Name: "INT2", Dialect: value.Postgres}},
		{pgEnv, "INT8", 0, 0, false, value.Type{Kind: value.KindInt, Bits: 64, Name: "INT8", Dialect: value.Postgres}},
		{pgEnv, "NUMERIC", 65535, 65531, true, value.Type{Kind: value.KindDecimal, Scale: -1, Name: "NUMERIC", Dialect: value.Postgres}},
		{pgEnv, "NUMERIC", 12, 3, true, value.Type{Kind: value.KindDecimal, Scale: 3, Precision: 12, Name: "NUMERIC", Dialect: value.Postgres}},
		{pgEnv, "FLOAT4", 0, 0, false, value.Type{Kind: value.KindFloat, Bits: 32, Name: "FLOAT4", Dialect: value.Postgres}},
		{pgEnv, "TIMESTAMPTZ", 0, 0, false, value.Type{Kind: value.KindTime, Name: "TIMESTAMPTZ", Dialect: value.Postgres}},
		{pgEnv, "UUID", 0, 0, false, value.Type{Kind: value.KindOther, Name: "UUID", Dialect: value.Postgres}},
		{mysqlEnv, "UNSIGNED BIGINT", 0, 0, false, value.Type{Kind: value.KindInt, Bits: 64, Unsigned: true, Name: "UNSIGNED BIGINT", Dialect: value.MySQL}},
		{mysqlEnv, "INT", 0, 0, false, value.Type{Kind: value.KindInt, Bits: 32, Name: "INT", Dialect: value.MySQL}},
		{mysqlEnv, "DECIMAL", 20, 4, true, value.Type{Kind: value.KindDecimal, Scale: 4, Precision: 20, Name: "DECIMAL", Dialect: value.MySQL}},
		{mysqlEnv, "DOUBLE", math.MaxInt64, math.MaxInt64, true, value.Type{Kind: value.KindFloat, Bits: 64, Scale: -1, Name: "DOUBLE", Dialect: value.MySQL}},
		{mysqlEnv, "DOUBLE", math.MaxInt64, 2, true, value.Type{Kind: value.KindFloat, Bits: 64, Scale: 2, Name: "DOUBLE", Dialect: value.MySQL}},
		{mysqlEnv, "VARCHAR", 0, 0, false, value.Type{Kind: value.KindText, Name: "VARCHAR", Dialect: value.MySQL}},
		{mysqlEnv, "DATETIME", 0, 0, true, value.Type{Kind: value.KindTime, Name: "DATETIME", Dialect: value.MySQL}},
		{sqliteEnv, "integer", 0, 0, false, value.Type{Kind: value.KindOther, Name: "INTEGER", Dialect: value.SQLite}},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, value.TypeOf(c.env, c.name, c.prec, c.scl, c.hasSize), "%s %s", c.env.Dialect, c.name)
	}
}

func TestFromDriverRejects(t *testing.T) {
	cases := []struct {
		t value.Type
		v any
	}{
		{col(pgEnv, "INT8", 0, 0), "1"},
		{col(pgEnv, "INT4", 0, 0), int64(math.MaxInt32 + 1)},
		{col(pgEnv, "NUMERIC", 0, 0), "1e5"},
		{col(pgEnv, "NUMERIC", 0, 0), 1.5},
		{col(pgEnv, "FLOAT4", 0, 0), 0.1},
		{col(mysqlEnv, "DECIMAL", 10, 2), []byte("1.5")},
		{col(mysqlEnv, "BIGINT", 0, 0), uint64(math.MaxUint64)},
		{col(mysqlEnv, "BIGINT", 0, 0), []byte("12")},
		{col(pgEnv, "BOOL", 0, 0), int64(1)},
	}
	for _, c := range cases {
		_, err := value.FromDriver(c.t, c.v)
		assert.ErrorIs(t, err, value.ErrTypeMismatch, "%+v %#v", c.t, c.v)
	}
}

// TestDriverRoundTrip hands back what the drivers hand over, for each
// dialect's types.
func TestDriverRoundTrip(t *testing.T) {
	now := time.Date(2024, 2, 29, 12, 30, 0, 123456000, time.UTC)
	cases := []struct {
		t value.Type
		v any
	}{
		{col(pgEnv, "INT4", 0, 0), int64(-5)},
		{col(pgEnv, "NUMERIC", 0, 0), "-1.2345"},
		{col(pgEnv, "NUMERIC", 0, 0), "0.00"},
		{col(pgEnv, "NUMERIC", 0, 0), "NaN"},
		{col(pgEnv, "NUMERIC", 0, 0), "-Infinity"},
		{col(pgEnv, "FLOAT4", 0, 0), float64(float32(0.1))},
		{col(pgEnv, "FLOAT8", 0, 0), math.Copysign(0, -1)},
		{col(pgEnv, "TEXT", 0, 0), "héllo"},
		{col(pgEnv, "BYTEA", 0, 0), []byte{0, 1}},
		{col(pgEnv, "BOOL", 0, 0), true},
		{col(pgEnv, "TIMESTAMPTZ", 0, 0), now},
		{col(pgEnv, "UUID", 0, 0), "5f0c2a9e-1c1b-4e7c-9a53-2b9d0b5a1f00"},
		{col(mysqlEnv, "BIGINT", 0, 0), int64(math.MinInt64)},
		{col(mysqlEnv, "UNSIGNED BIGINT", 0, 0), uint64(math.MaxUint64)},
		{col(mysqlEnv, "UNSIGNED BIGINT", 0, 0), []byte("18446744073709551615")},
		{col(mysqlEnv, "DECIMAL", 10, 1), []byte("-0.0")},
		{col(mysqlEnv, "DECIMAL", 10, 0), []byte("-0")},
		{col(mysqlEnv, "DOUBLE", math.MaxInt64, math.MaxInt64), 0.1},
		{col(mysqlEnv, "FLOAT", math.MaxInt64, math.MaxInt64), float32(0.1)},
		{col(mysqlEnv, "VARCHAR", 0, 0), []byte("x")},
		{col(mysqlEnv, "DATETIME", 0, 0), now},
		{col(mysqlEnv, "DATETIME", 0, 0), []byte("2024-02-29 12:30:00")},
		{col(mysqlEnv, "JSON", 0, 0), []byte(`{"a":1}`)},
		{col(sqliteEnv, "", 0, 0), int64(7)},
		{col(sqliteEnv, "INTEGER", 0, 0), 7.5},
		{col(sqliteEnv, "", 0, 0), "x"},
		{col(sqliteEnv, "DATETIME", 0, 0), now},
		{col(sqliteEnv, "", 0, 0), nil},
	}
	for _, c := range cases {
		v, err := value.FromDriver(c.t, c.v)
		require.NoError(t, err, "%+v %#v", c.t, c.v)
		got, err := v.Driver(c.t)
		require.NoError(t, err, "%+v %#v", c.t, c.v)
		assert.True(t, sameDriverValue(c.v, got), "%+v: %#v came back as %#v", c.t, c.v, got)
	}
}

func TestDriverRejects(t *testing.T) {
	cases := []struct {
		v value.Value
		t value.Type
	}{
		{myDec(t, 20, 6, "1.000000"), col(mysqlEnv, "DECIMAL", 20, 4)},
		{pg(t, "INT8", int64(1)<<40), col(pgEnv, "INT4", 0, 0)},
		{pg(t, "NUMERIC", "1.5"), col(pgEnv, "INT8", 0, 0)},
		{pg(t, "NUMERIC", "1.5"), col(pgEnv, "NUMERIC", 10, 2)},
		{pg(t, "FLOAT8", 0.1), col(pgEnv, "FLOAT4", 0, 0)},
		{from(t, mysqlEnv, "UNSIGNED BIGINT", uint64(math.MaxUint64)), col(mysqlEnv, "BIGINT", 0, 0)},
		{myInt(t, -1), col(mysqlEnv, "UNSIGNED BIGINT", 0, 0)},
	}
	for _, c := range cases {
		_, err := c.v.Driver(c.t)
		assert.ErrorIs(t, err, value.ErrTypeMismatch, "%v as %+v", c.v, c.t)
	}
}

func TestDriverRenders(t *testing.T) {
	// MySQL hands a DECIMAL over with exactly its scale, and integers
	// and booleans as int64.
	got, err := mustArith(t, mysqlEnv, value.Add, myDec(t, 10, 2, "1.25"), myInt(t, 1)).Driver(col(mysqlEnv, "DECIMAL", 13, 2))
	require.NoError(t, err)
	assert.Equal(t, []byte("2.25"), got)
	got, err = value.Bool(true).Driver(col(mysqlEnv, "INT", 0, 0))
	require.NoError(t, err)
	assert.Equal(t, int64(1), got)
	got, err = value.Null().Driver(col(pgEnv, "INT8", 0, 0))
	require.NoError(t, err)
	assert.Nil(t, got)
}
