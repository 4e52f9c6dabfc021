package scatter

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// add returns a+b for two non-NULL values of a Sum column.
//
//   - int64 + int64 = int64 (overflow is an error, as in SQLite; MySQL and
//     PostgreSQL return SUM of integers as decimal text anyway);
//   - anything + float64 = float64;
//   - decimal text + a number = decimal text, exact, in a's Go type when a
//     is text (else b's), with the larger number of fractional digits.
func add(a, b any) (any, error) {
	na, okA := toNumber(a, true)
	nb, okB := toNumber(b, true)
	if !okA {
		return nil, fmt.Errorf("cannot SUM %T value %v", a, a)
	}
	if !okB {
		return nil, fmt.Errorf("cannot SUM %T value %v", b, b)
	}
	_, floatA := a.(float64)
	_, floatB := b.(float64)
	textA, textB := isText(a), isText(b)
	switch {
	case floatA || floatB || na.special() || nb.special():
		return na.float() + nb.float(), nil
	case textA || textB:
		sum := new(big.Rat).Add(na.rat(), nb.rat())
		form := a
		if !textA {
			form = b
		}
		if exponent(a) || exponent(b) {
			f, _ := sum.Float64()
			return sameText(form, strconv.FormatFloat(f, 'g', -1, 64)), nil
		}
		return sameText(form, sum.FloatString(max(scale(a), scale(b)))), nil
	case na.form == 'i' && nb.form == 'i':
		r := na.i + nb.i // wraps on overflow
		// Overflow when both operands share a sign the result lacks.
		if (na.i >= 0) == (nb.i >= 0) && (r >= 0) != (na.i >= 0) {
			return nil, fmt.Errorf("SUM overflows int64 (%d + %d)", na.i, nb.i)
		}
		return r, nil
	}
	// Integers beyond int64 (uint64): exact, returned as int64 if it fits.
	sum := new(big.Rat).Add(na.rat(), nb.rat())
	if sum.IsInt() && sum.Num().IsInt64() {
		return sum.Num().Int64(), nil
	}
	if sum.IsInt() && sum.Num().IsUint64() {
		return sum.Num().Uint64(), nil
	}
	return nil, fmt.Errorf("SUM of %v and %v overflows", a, b)
}

func isText(v any) bool {
	switch v.(type) {
	case string, []byte:
		return true
	}
	return false
}

func textOf(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	}
	return ""
}

// sameText returns s as the Go type of form (string or []byte).
func sameText(form any, s string) any {
	if _, ok := form.([]byte); ok {
		return []byte(s)
	}
	return s
}

// scale is the number of digits after the decimal point of decimal text.
func scale(v any) int {
	s := strings.TrimSpace(textOf(v))
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return len(s) - i - 1
	}
	return 0
}

func exponent(v any) bool {
	return strings.ContainsAny(textOf(v), "eE") // 1e5
}
