package value_test

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant/sharding/scatter/value"
)

func TestCompare(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		env  value.Env
		a, b value.Value
		want int
	}{
		{"int and numeric exactly", pgEnv, pg(t, "INT8", int64(1)), pg(t, "NUMERIC", "1.00"), 0},
		{"numeric and float8 as float8", pgEnv, pg(t, "NUMERIC", "0.1"), pg(t, "FLOAT8", 0.1), 0},
		{"int and float8 as float8", pgEnv, pg(t, "INT8", int64(9007199254740993)), pg(t, "FLOAT8", 9007199254740992.0), 0},
		{"float4 and int as float8", pgEnv, pg(t, "INT4", int64(16777217)), pg(t, "FLOAT4", 16777216.0), 1},
		{"NaN is above all", pgEnv, pg(t, "FLOAT8", math.NaN()), pg(t, "FLOAT8", math.Inf(1)), 1},
		{"NaN equals NaN", pgEnv, pg(t, "FLOAT8", math.NaN()), pg(t, "FLOAT8", math.NaN()), 0},
		{"numeric NaN above Infinity", pgEnv, pg(t, "NUMERIC", "NaN"), pg(t, "NUMERIC", "Infinity"), 1},
		{"-0 equals 0", pgEnv, pg(t, "FLOAT8", math.Copysign(0, -1)), pg(t, "FLOAT8", 0.0), 0},
		{"false before true", pgEnv, pg(t, "BOOL", false), pg(t, "BOOL", true), -1},
		{"times by instant", pgEnv, pg(t, "TIMESTAMPTZ", t0), pg(t, "TIMESTAMPTZ", t0.In(time.FixedZone("x", 3600))), 0},
		{"decimal and double as double", mysqlEnv, myDec(t, 10, 1, "0.1"), myDouble(t, 0.1), 0},
		{"unsigned above signed", mysqlEnv, from(t, mysqlEnv, "UNSIGNED BIGINT", uint64(math.MaxUint64)), myInt(t, -1), 1},
		{"TRUE is 1", mysqlEnv, value.Bool(true), myInt(t, 1), 0},
		{"int and real exactly", sqliteEnv, lite(t, int64(9007199254740993)), lite(t, 9007199254740992.0), 1},
		{"numbers before blobs", sqliteEnv, lite(t, int64(5)), lite(t, []byte("1")), -1},
		{"text before blobs", sqliteEnv, lite(t, "z"), lite(t, []byte("a")), -1},
		{"text in byte order", sqliteEnv, lite(t, "B"), lite(t, "a"), -1},
	}
	for _, c := range cases {
		got, err := value.Compare(c.env, c.a, c.b, nil)
		require.NoError(t, err, c.name)
		assert.Equal(t, c.want, got, c.name)
		back, err := value.Compare(c.env, c.b, c.a, nil)
		require.NoError(t, err, c.name)
		assert.Equal(t, -c.want, back, c.name+" reversed")
	}
}

func TestCompareText(t *testing.T) {
	fold := func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) * 7 }
	got, err := value.Compare(mysqlEnv, from(t, mysqlEnv, "VARCHAR", []byte("B")), from(t, mysqlEnv, "VARCHAR", []byte("a")), fold)
	require.NoError(t, err)
	assert.Equal(t, 1, got, "the collation decides, and the result is a sign")
}

func TestCompareRefuses(t *testing.T) {
	cases := []struct {
		env  value.Env
		a, b value.Value
	}{
		{pgEnv, pg(t, "INT4", int64(1)), pg(t, "TEXT", "1")},
		{mysqlEnv, myInt(t, 1), from(t, mysqlEnv, "VARCHAR", []byte("1"))},
		{pgEnv, pg(t, "INT4", int64(1)), value.Null()},
		{pgEnv, pg(t, "UUID", "x"), pg(t, "UUID", "x")},
		{sqliteEnv, lite(t, int64(5)), lite(t, "1")},
	}
	for _, c := range cases {
		_, err := value.Compare(c.env, c.a, c.b, nil)
		assert.ErrorIs(t, err, value.ErrUnsupported, "%v vs %v", c.a, c.b)
	}
}

func TestTruth(t *testing.T) {
	cases := []struct {
		v            value.Value
		value, known bool
	}{
		{value.Null(), false, false},
		{value.Bool(true), true, true},
		{myInt(t, 0), false, true},
		{myDec(t, 10, 2, "0.01"), true, true},
		{myDouble(t, 0), false, true},
		{from(t, mysqlEnv, "VARCHAR", []byte("1")), false, false},
	}
	for _, c := range cases {
		v, known := value.Truth(c.v)
		assert.Equal(t, c.value, v, "%v", c.v)
		assert.Equal(t, c.known, known, "%v", c.v)
	}
	_, _, err := value.TruthOf(pgEnv, pg(t, "INT4", int64(1)))
	assert.ErrorIs(t, err, value.ErrUnsupported, "PostgreSQL takes only booleans as conditions")
	v, known, err := value.TruthOf(mysqlEnv, myInt(t, 2))
	require.NoError(t, err)
	assert.True(t, v && known)
	_, _, err = value.TruthOf(mysqlEnv, from(t, mysqlEnv, "VARCHAR", []byte("1")))
	assert.ErrorIs(t, err, value.ErrUnsupported)
}

func TestAppendKey(t *testing.T) {
	key := func(v value.Value) string { return string(v.AppendKey(nil, nil)) }
	equal := [][]value.Value{
		{pg(t, "INT4", int64(1)), pg(t, "NUMERIC", "1.00"), pg(t, "FLOAT8", 1.0), myDec(t, 10, 3, "1.000"), value.Bool(true)},
		{myDec(t, 10, 1, "-0.0"), myDec(t, 10, 2, "0.00"), pg(t, "FLOAT8", math.Copysign(0, -1)), lite(t, int64(0))},
		{pg(t, "FLOAT8", math.NaN()), pg(t, "NUMERIC", "NaN")},
		{pg(t, "FLOAT8", 0.1), pg(t, "NUMERIC", "0.1")},
		{lite(t, int64(4611686018427387904)), lite(t, 4611686018427387904.0)},
		{pg(t, "TIMESTAMPTZ", time.Unix(5, 7)), pg(t, "TIMESTAMPTZ", time.Unix(5, 7).In(time.FixedZone("x", 7200)))},
		{value.Null(), pg(t, "INT8", nil)},
	}
	for _, group := range equal {
		for _, v := range group[1:] {
			assert.Equal(t, key(group[0]), key(v), "%v and %v", group[0], v)
		}
	}
	distinct := []value.Value{
		pg(t, "INT8", int64(2)), pg(t, "NUMERIC", "2.5"), pg(t, "NUMERIC", "-2.5"), pg(t, "FLOAT8", math.Inf(1)),
		lite(t, int64(4611686018427387904)+1), lite(t, 4611686018427387904.0*2), lite(t, "2"), lite(t, []byte("2")),
		value.Null(), pg(t, "FLOAT4", float64(float32(0.1))), pg(t, "TEXT", ""),
	}
	seen := map[string]value.Value{}
	for _, v := range distinct {
		k := key(v)
		if prev, ok := seen[k]; ok {
			t.Errorf("%v and %v share key %q", prev, v, k)
		}
		seen[k] = v
	}
}

func TestAppendKeyDelimits(t *testing.T) {
	// ("ab", "c") and ("a", "bc") must not concatenate to one key.
	a := lite(t, "ab").AppendKey(nil, nil)
	a = lite(t, "c").AppendKey(a, nil)
	b := lite(t, "a").AppendKey(nil, nil)
	b = lite(t, "bc").AppendKey(b, nil)
	assert.False(t, bytes.Equal(a, b))
	// The collation's key decides text equality.
	fold := func(dst []byte, s string) []byte { return append(dst, strings.ToLower(s)...) }
	assert.Equal(t, lite(t, "ABC").AppendKey(nil, fold), lite(t, "abc").AppendKey(nil, fold))
}
