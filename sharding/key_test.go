package sharding

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type customerID int64
type tenant string
type rawUUID [16]byte
type namedTime time.Time
type valuerUUID [16]byte

func (u valuerUUID) Value() (driver.Value, error) { return uuidString(u), nil }

type loopValuer struct{}

func (loopValuer) Value() (driver.Value, error) { return loopValuer{}, nil }

type failingValuer struct{}

func (failingValuer) Value() (driver.Value, error) { return nil, errors.New("boom") }

func TestNormalize(t *testing.T) {
	u := [16]byte{0x55, 0x0e, 0x84, 0x00, 0xe2, 0x9b, 0x41, 0xd4, 0xa7, 0x16, 0x44, 0x66, 0x55, 0x44, 0x00, 0x00}
	const us = "550e8400-e29b-41d4-a716-446655440000"
	loc := time.FixedZone("X", 3600)
	tm := time.Date(2024, 3, 1, 10, 0, 0, 5, loc)
	i64 := int64(7)
	var nilPtr *int64
	var nilStrPtr *sql.NullString
	cases := []struct {
		name string
		in   any
		want Key
	}{
		{"int", 42, IntKey(42)},
		{"int8", int8(-8), IntKey(-8)},
		{"int16", int16(-16), IntKey(-16)},
		{"int32", int32(-32), IntKey(-32)},
		{"int64 min", int64(math.MinInt64), IntKey(math.MinInt64)},
		{"uint", uint(1), IntKey(1)},
		{"uint8", uint8(255), IntKey(255)},
		{"uint16", uint16(65535), IntKey(65535)},
		{"uint32", uint32(math.MaxUint32), IntKey(math.MaxUint32)},
		{"uint64 max int64", uint64(math.MaxInt64), IntKey(math.MaxInt64)},
		{"named int", customerID(9), IntKey(9)},
		{"string", "abc", StringKey("abc")},
		{"named string", tenant("acme"), StringKey("acme")},
		{"bytes", []byte("xyz"), StringKey("xyz")},
		{"empty bytes", []byte{}, StringKey("")},
		{"time in zone", tm, TimeKey(tm.UTC())},
		{"named time", namedTime(tm), TimeKey(tm)},
		{"uuid array", u, StringKey(us)},
		{"named uuid array", rawUUID(u), StringKey(us)},
		{"valuer uuid", valuerUUID(u), StringKey(us)},
		{"pointer", &i64, IntKey(7)},
		{"pointer to pointer", func() any { p := &i64; return &p }(), IntKey(7)},
		{"sql.NullInt64", sql.NullInt64{Int64: 5, Valid: true}, IntKey(5)},
		{"sql.NullString", sql.NullString{String: "s", Valid: true}, StringKey("s")},
		{"*sql.NullString", &sql.NullString{String: "p", Valid: true}, StringKey("p")},
		{"sql.NullTime", sql.NullTime{Time: tm, Valid: true}, TimeKey(tm)},
		{"Key", IntKey(3), IntKey(3)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Normalize(c.in)
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
			assert.True(t, got == c.want, "keys must be == comparable")
		})
	}

	errCases := []struct {
		name string
		in   any
		want error
		msg  string
	}{
		{"nil", nil, ErrNullKey, "NULL"},
		{"nil pointer", nilPtr, ErrNullKey, "NULL"},
		{"nil valuer pointer", nilStrPtr, ErrNullKey, "NULL"},
		{"nil bytes", []byte(nil), ErrNullKey, "NULL"},
		{"invalid NullInt64", sql.NullInt64{}, ErrNullKey, "NULL"},
		{"zero Key", Key{}, ErrNullKey, "NULL"},
		{"uint64 too big", uint64(math.MaxInt64) + 1, ErrKeyType, "9223372036854775808"},
		{"float", 1.5, ErrKeyType, "float64"},
		{"bool", true, ErrKeyType, "bool"},
		{"struct", struct{ A int }{1}, ErrKeyType, "struct"},
		{"slice", []int{1}, ErrKeyType, "[]int"},
		{"NullFloat64", sql.NullFloat64{Float64: 1, Valid: true}, ErrKeyType, "float64"},
		{"valuer loop", loopValuer{}, ErrKeyType, "indirections"},
	}
	for _, c := range errCases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Normalize(c.in)
			require.ErrorIs(t, err, c.want)
			var ke *KeyError
			require.ErrorAs(t, err, &ke)
			assert.Contains(t, err.Error(), c.msg)
		})
	}
	_, err := Normalize(failingValuer{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "boom")
}

func TestKeyAccessorsAndString(t *testing.T) {
	tm := time.Date(2024, 2, 29, 12, 34, 56, 789, time.UTC)
	assert.Equal(t, "42", IntKey(42).String())
	assert.Equal(t, "-3", IntKey(-3).String())
	assert.Equal(t, "abc", StringKey("abc").String())
	assert.Equal(t, "2024-02-29T12:34:56.000000789Z", TimeKey(tm).String())
	assert.Equal(t, "NULL", Key{}.String())
	assert.Equal(t, int64(42), IntKey(42).Int())
	assert.Equal(t, int64(0), StringKey("x").Int())
	assert.True(t, TimeKey(tm).Time().Equal(tm))
	assert.Equal(t, time.UTC, TimeKey(tm.In(time.FixedZone("Y", -7200))).Time().Location())
	assert.True(t, StringKey("x").Time().IsZero())
	assert.Equal(t, KindInt, IntKey(1).Kind())
	assert.Equal(t, KindString, StringKey("").Kind())
	assert.Equal(t, KindTime, TimeKey(tm).Kind())
	assert.Equal(t, KindInvalid, Key{}.Kind())
	for k, s := range map[Kind]string{KindInt: "int", KindString: "string", KindTime: "time", KindInvalid: "invalid"} {
		assert.Equal(t, s, k.String())
	}
	// the same instant in two zones is the same key
	assert.True(t, TimeKey(tm) == TimeKey(tm.In(time.FixedZone("Z", 5*3600))))
	// monotonic readings do not matter
	now := time.Now()
	assert.True(t, TimeKey(now) == TimeKey(now.Round(0)))
}

func TestKeyCompare(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	ordered := [][]Key{
		{IntKey(math.MinInt64), IntKey(-1), IntKey(0), IntKey(1), IntKey(math.MaxInt64)},
		{StringKey(""), StringKey("A"), StringKey("a"), StringKey("ab"), StringKey("b"), StringKey("é")},
		{TimeKey(t0.Add(-time.Nanosecond)), TimeKey(t0), TimeKey(t0.Add(time.Nanosecond)), TimeKey(t0.Add(time.Second))},
		{{}, IntKey(math.MaxInt64), StringKey(""), TimeKey(time.Unix(math.MinInt64/2, 0))},
	}
	for _, keys := range ordered {
		for i := range keys {
			for j := range keys {
				want := 0
				if i < j {
					want = -1
				} else if i > j {
					want = 1
				}
				assert.Equal(t, want, keys[i].Compare(keys[j]), "%v vs %v", keys[i], keys[j])
			}
		}
	}
}

func TestKeyBytes(t *testing.T) {
	tm := time.Date(2024, 1, 1, 0, 0, 0, 1, time.UTC)
	assert.Equal(t, []byte{0, 0, 0, 0, 0, 0, 0x01, 0x02}, IntKey(0x0102).Bytes())
	assert.Equal(t, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfd}, IntKey(-3).Bytes())
	assert.Equal(t, []byte("héllo"), StringKey("héllo").Bytes())
	nano := tm.UnixNano()
	assert.Equal(t, IntKey(nano).Bytes(), TimeKey(tm).Bytes())
	pre := time.Date(1900, 1, 1, 0, 0, 0, 7, time.UTC)
	assert.Equal(t, IntKey(pre.UnixNano()).Bytes(), TimeKey(pre).Bytes())
	assert.Empty(t, Key{}.Bytes())
	assert.Equal(t, []byte("x\x00\x00\x00\x00\x00\x00\x00\x05"), IntKey(5).AppendBytes([]byte("x")))

	k := IntKey(123456789)
	allocs := testing.AllocsPerRun(100, func() {
		if len(k.Bytes()) != 8 {
			t.Fatal("bad length")
		}
		if Hash64(k) == 0 {
			t.Fatal("zero hash")
		}
		if _, err := Normalize(int64(1 << 40)); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs, "Bytes, Hash64 and Normalize must not allocate for Int keys")
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []struct {
		i int64
		s string
		n uint8
	}{{0, "", 0}, {-1, "a", 1}, {math.MaxInt64, "550e8400-e29b-41d4-a716-446655440000", 63}, {math.MinInt64, "\xff\x00", 255}, {1 << 40, "é", 7}} {
		f.Add(s.i, s.s, s.n)
	}
	f.Fuzz(func(t *testing.T, i int64, s string, n uint8) {
		ki, err := Normalize(i)
		require.NoError(t, err)
		require.Equal(t, IntKey(i), ki)
		require.Equal(t, i, ki.Int())
		if i >= 0 {
			ku, err := Normalize(uint64(i))
			require.NoError(t, err)
			require.Equal(t, ki, ku)
		}
		ks, err := Normalize(s)
		require.NoError(t, err)
		kb, err := Normalize([]byte(s))
		require.NoError(t, err)
		require.Equal(t, ks, kb)
		require.Equal(t, s, ks.String())
		require.Equal(t, s, string(ks.Bytes()))
		tm := time.Unix(i, int64(n)*3_000_000)
		kt, err := Normalize(tm)
		require.NoError(t, err)
		require.Equal(t, 0, kt.Compare(TimeKey(kt.Time())), "Time round trip")
		var u [16]byte
		copy(u[:], s)
		ku, err := Normalize(u)
		require.NoError(t, err)
		require.Len(t, ku.String(), 36)
		for _, k := range []Key{ki, ks, kt, ku} {
			require.Equal(t, 0, k.Compare(k))
			require.Equal(t, string(k.Bytes()), string(k.AppendBytes(nil)))
			shards := fuzzShards(n)
			for _, st := range []Strategy{Hash(), JumpHash()} {
				a, errA := st.Map(t.Context(), shards, []Key{k})
				b, errB := st.Map(t.Context(), shards, []Key{k})
				require.NoError(t, errA)
				require.NoError(t, errB)
				require.Equal(t, a, b)
				require.Contains(t, shards, a[0])
			}
		}
	})
}
