package value

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func dec(t *testing.T, s string) decimal {
	t.Helper()
	d, ok := parseDecimal(s)
	require.True(t, ok, s)
	return d
}

func TestParseDecimal(t *testing.T) {
	cases := map[string]string{
		"0": "0", "-0.0": "-0.0", "1.50": "1.50", ".5": "0.5", "5.": "5", "+7": "7",
		"1e3": "1000", "1.50e1": "15.0", "1E-2": "0.01", "-12.345e-2": "-0.12345", "00012.3400": "12.3400",
	}
	for in, want := range cases {
		assert.Equal(t, want, dec(t, in).String(), in)
	}
	for _, bad := range []string{"", ".", "-", "1..2", "1e", "e1", "1x", "1e999999"} {
		_, ok := parseDecimal(bad)
		assert.False(t, ok, bad)
	}
}

func TestRounding(t *testing.T) {
	cases := []struct {
		in    string
		scale int
		mode  rounding
		want  string
	}{
		{"1.25", 1, halfAway, "1.3"},
		{"-1.25", 1, halfAway, "-1.3"},
		{"1.249", 1, halfAway, "1.2"},
		{"-1.29", 1, truncate, "-1.2"},
		{"0.5", 0, halfAway, "1"},
		{"-0.5", 0, halfAway, "-1"},
		{"1.5", 3, halfAway, "1.500"},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, dec(t, c.in).rescale(c.scale, c.mode).String(), "%s to %d", c.in, c.scale)
	}
	assert.Equal(t, "-0.6667", decQuo(dec(t, "-2"), dec(t, "3"), 4, halfAway).String())
	assert.Equal(t, "0.6666", decQuo(dec(t, "2"), dec(t, "3"), 4, truncate).String())
	assert.Equal(t, "2500", decQuo(dec(t, "10"), dec(t, "0.004"), 0, halfAway).String())
	assert.Equal(t, "-0.5", decRem(dec(t, "-7.5"), dec(t, "1")).String())
}

func TestPgDivScale(t *testing.T) {
	cases := []struct {
		x, y   string
		weight int
		first  int64
		scale  int
	}{
		{"1", "3", 0, 1, 20}, // 1 <= 3: one weight less, so 16 + 4 digits
		{"5", "3", 0, 5, 16}, // 5 > 3
		{"12345.6", "7", 1, 1, 16},
		{"0.00012", "1", -1, 1, 24},
		{"123456789012345678901234567890", "7", 7, 12, 0},
		{"1.00000000000000000000", "3", 0, 1, 20},
		{"0", "7", 0, 0, 20},
	}
	for _, c := range cases {
		w, f := pgWeight(dec(t, c.x))
		assert.Equal(t, c.weight, w, "weight of %s", c.x)
		assert.Equal(t, c.first, f, "first digit of %s", c.x)
		assert.Equal(t, c.scale, pgDivScale(dec(t, c.x), dec(t, c.y)), "%s / %s", c.x, c.y)
	}
}

func TestMySQLQuotientWords(t *testing.T) {
	cases := []struct {
		x, y  string
		words int
	}{
		{"1073741823", "1075644011", 1}, // first words 1 and 1: one integer word
		{"999999999", "1000000000", 0},
		{"1000000001", "2000000000", 0},
		{"1", "0.5", 1},
		{"1000000000000000000", "3", 2},
	}
	for _, c := range cases {
		assert.Equal(t, c.words, mysqlQuotientWords(dec(t, c.x), dec(t, c.y)), "%s / %s", c.x, c.y)
	}
}

func TestFloatKey(t *testing.T) {
	assert.Equal(t, "4611686018427387904", floatKeyDecimal(4611686018427387904.0, 64).String())
	assert.Equal(t, "0.1", floatKeyDecimal(0.1, 64).String())
	assert.Equal(t, "0.1", floatKeyDecimal(float64(float32(0.1)), 32).String())
}
