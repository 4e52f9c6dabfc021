package scatter

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func col(vals ...any) [][]any {
	out := make([][]any, len(vals))
	for i, v := range vals {
		out[i] = []any{v}
	}
	return out
}

func firsts(rows [][]any) []any {
	out := make([]any, len(rows))
	for i, r := range rows {
		out[i] = r[0]
	}
	return out
}

func mergeOne(t *testing.T, plan Plan, numeric bool, shards ...[][]any) []any {
	t.Helper()
	rows, err := merge(&plan, []string{"v"}, []bool{numeric}, shards)
	require.NoError(t, err)
	return firsts(rows)
}

func TestNullOrdering(t *testing.T) {
	a, b := col(int64(2), nil), col(nil, int64(1))
	asc := []OrderColumn{{Name: "v"}}
	desc := []OrderColumn{{Name: "V", Desc: true}}
	// Default: PostgreSQL — NULL above every value.
	assert.Equal(t, []any{int64(1), int64(2), nil, nil}, mergeOne(t, Plan{OrderBy: asc}, false, a, b))
	assert.Equal(t, []any{nil, nil, int64(2), int64(1)}, mergeOne(t, Plan{OrderBy: desc}, false, a, b))
	// NullsFirst: MySQL/SQLite — NULL below every value.
	assert.Equal(t, []any{nil, nil, int64(1), int64(2)}, mergeOne(t, Plan{OrderBy: asc, NullsFirst: true}, false, a, b))
	assert.Equal(t, []any{int64(2), int64(1), nil, nil}, mergeOne(t, Plan{OrderBy: desc, NullsFirst: true}, false, a, b))
}

func TestOrderNumericText(t *testing.T) {
	a, b := col([]byte("10"), []byte("9.5")), col([]byte("-2"), []byte("9"))
	asc := Plan{OrderBy: []OrderColumn{{Name: "v"}}}
	// DECIMAL column (MySQL's text protocol): numbers.
	assert.Equal(t, []any{[]byte("-2"), []byte("9"), []byte("9.5"), []byte("10")}, mergeOne(t, asc, true, a, b))
	// A text column: bytes.
	assert.Equal(t, []any{[]byte("-2"), []byte("10"), []byte("9"), []byte("9.5")}, mergeOne(t, asc, false, a, b))
	assert.True(t, numericType("decimal(10,2)"))
	assert.True(t, numericType("UNSIGNED BIGINT"))
	assert.True(t, numericType("NUMERIC"))
	assert.False(t, numericType("INTERVAL"))
	assert.False(t, numericType("POINT"))
	assert.False(t, numericType("VARCHAR"))
}

func TestOrderMixedNumbersTimesNaN(t *testing.T) {
	asc := Plan{OrderBy: []OrderColumn{{Name: "v"}}}
	got := mergeOne(t, asc, false, col(int64(3), math.NaN(), 2.5), col(int64(math.MaxInt64), float64(1<<62), int64(-1)))
	assert.Equal(t, int64(-1), got[0])
	assert.Equal(t, 2.5, got[1])
	assert.Equal(t, int64(3), got[2])
	assert.Equal(t, float64(1<<62), got[3])
	assert.Equal(t, int64(math.MaxInt64), got[4])
	assert.True(t, math.IsNaN(got[5].(float64)))

	t1 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	t0 := time.Date(2026, 1, 1, 13, 0, 0, 0, time.FixedZone("X", 2*3600)) // 11:00 UTC
	assert.Equal(t, []any{t0, t1}, mergeOne(t, asc, false, col(t1), col(t0)))
	assert.Equal(t, []any{false, true}, mergeOne(t, asc, false, col(true), col(false)))
}

func TestStableTiesKeepShardThenRowOrder(t *testing.T) {
	plan := Plan{OrderBy: []OrderColumn{{Name: "k"}}}
	shards := [][][]any{
		{{int64(1), "s0r0"}, {int64(2), "s0r1"}, {int64(2), "s0r2"}},
		{{int64(2), "s1r0"}, {int64(1), "s1r1"}},
	}
	rows, err := merge(&plan, []string{"k", "who"}, []bool{false, false}, shards)
	require.NoError(t, err)
	var who []any
	for _, r := range rows {
		who = append(who, r[1])
	}
	assert.Equal(t, []any{"s0r0", "s1r1", "s0r1", "s0r2", "s1r0"}, who)
}

func TestLimitOffset(t *testing.T) {
	a, b := col(int64(1), int64(3), int64(5)), col(int64(2), int64(4))
	asc := []OrderColumn{{Name: "v"}}
	assert.Equal(t, []any{int64(2), int64(3)}, mergeOne(t, Plan{OrderBy: asc, Limit: 2, Offset: 1}, false, a, b))
	assert.Equal(t, []any{int64(4), int64(5)}, mergeOne(t, Plan{OrderBy: asc, Offset: 3}, false, a, b))
	assert.Empty(t, mergeOne(t, Plan{OrderBy: asc, Limit: 2, Offset: 9}, false, a, b))
	assert.Equal(t, []any{int64(1), int64(3), int64(5), int64(2), int64(4)}, mergeOne(t, Plan{Limit: -1, Offset: -1}, false, a, b))
}

func TestSum(t *testing.T) {
	sum := func(vals ...any) any {
		t.Helper()
		plan := Plan{Aggregates: map[string]Aggregate{"v": Sum}}
		got := mergeOne(t, plan, false, col(vals...))
		require.Len(t, got, 1)
		return got[0]
	}
	assert.Equal(t, int64(6), sum(int64(1), nil, int64(5)))
	assert.Equal(t, 6.5, sum(int64(1), 5.5))
	assert.Nil(t, sum(nil, nil))
	// MySQL DECIMAL / PostgreSQL numeric text: exact, same Go type, widest scale.
	assert.Equal(t, []byte("6.75"), sum([]byte("1.50"), []byte("2.25"), []byte("3")))
	assert.Equal(t, "0.30", sum("0.1", "0.20"))
	assert.Equal(t, []byte("-1"), sum([]byte("2"), int64(-3)))
	assert.Equal(t, "100000000000000000000.5", sum("99999999999999999999.5", "1"))

	plan := Plan{Aggregates: map[string]Aggregate{"v": Sum}}
	_, err := merge(&plan, []string{"v"}, []bool{false}, [][][]any{col(int64(math.MaxInt64), int64(1))})
	assert.ErrorContains(t, err, "overflows")
	_, err = merge(&plan, []string{"v"}, []bool{false}, [][][]any{col("abc", "1")})
	assert.ErrorContains(t, err, "cannot SUM")
}

func TestMinMaxAndGroups(t *testing.T) {
	cols := []string{"g", "mn", "mx", "first"}
	plan := Plan{
		GroupBy:    []string{"G"},
		Aggregates: map[string]Aggregate{"mn": Min, "mx": Max},
		OrderBy:    []OrderColumn{{Name: "g"}},
	}
	t1 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	t2 := t1.Add(time.Hour)
	shards := [][][]any{
		{{int64(1), []byte("9"), t1, "a"}, {[]byte("2.0"), nil, nil, "b"}},
		{{1.0, []byte("10"), t2, "c"}, {int64(2), []byte("3"), t1, "d"}},
		{{[]byte("1.00"), nil, nil, "e"}},
	}
	// numeric: g and mn are DECIMAL columns.
	rows, err := merge(&plan, cols, []bool{true, true, false, false}, shards)
	require.NoError(t, err)
	assert.Equal(t, [][]any{
		{int64(1), []byte("9"), t2, "a"},
		{[]byte("2.0"), []byte("3"), t1, "b"},
	}, rows)

	// The same values in a text column compare as bytes: "10" < "9".
	rows, err = merge(&Plan{Aggregates: map[string]Aggregate{"mn": Min}}, cols, []bool{false, false, false, false},
		[][][]any{{{nil, []byte("9"), nil, nil}}, {{nil, []byte("10"), nil, nil}}})
	require.NoError(t, err)
	assert.Equal(t, [][]any{{nil, []byte("10"), nil, nil}}, rows)

	// GroupBy alone is DISTINCT.
	rows, err = merge(&Plan{GroupBy: []string{"v"}}, []string{"v"}, []bool{false},
		[][][]any{col("x", "y", nil), col("y", nil, "z")})
	require.NoError(t, err)
	assert.Equal(t, []any{"x", "y", nil, "z"}, firsts(rows))
}

// BenchmarkMergeOrdered: merging 8 shards × 1,000 rows by (int64 DESC, text).
func BenchmarkMergeOrdered(b *testing.B) {
	shards := make([][][]any, 8)
	for s := range shards {
		for i := range 1000 {
			shards[s] = append(shards[s], []any{int64((i * 7919 * (s + 1)) % 5000), "name" + string(rune('a'+i%26))})
		}
	}
	plan := Plan{OrderBy: []OrderColumn{{Name: "n", Desc: true}, {Name: "s"}}, Limit: 10}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := merge(&plan, []string{"n", "s"}, []bool{false, false}, shards); err != nil {
			b.Fatal(err)
		}
	}
}
