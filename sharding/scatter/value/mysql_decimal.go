package value

import "math/big"

// MySQL's DECIMAL limits.
const (
	mysqlMaxPrecision = 65
	mysqlMaxScale     = 38
	// mysqlWords is how many 9-digit words a decimal computation holds
	// (DECIMAL_BUFF_LENGTH); beyond it the server drops fractional digits.
	mysqlWords = 9
	// mysqlSafeWords is how many words a sum or product may take for the
	// model to trust it: MariaDB 10.11 returns wrong products that fill
	// all nine words (1.123456789012345678901234567891 squared in
	// DECIMAL(65,30) is ...448634378311336, not ...448734478311237).
	mysqlSafeWords = 8
)

// words is the number of 9-digit words n digits take (ROUND_UP).
func words(n int) int { return (max(n, 0) + 8) / 9 }

// mysqlPrecScale returns the declared precision and scale of a MySQL Int
// or Decimal value: the column's when known, else its own digits. (The
// digits a computed decimal holds may exceed that scale: see dec.)
func mysqlPrecScale(v Value) (int, int) {
	if v.typ.Kind == KindInt {
		switch v.typ.Bits {
		case 8:
			return 3, 0
		case 16:
			return 5, 0
		case 24:
			return 8, 0
		case 32:
			return 10, 0
		}
		return 19, 0
	}
	s := v.d.scale
	if v.typ.Scale >= 0 && v.typ.Kind == KindDecimal && v.typ.Dialect == MySQL {
		s = v.typ.Scale
	}
	return max(v.typ.Precision, v.shown().digits(), s, 1), s
}

// intg is the number of integer digits the server's decimal holds for v
// (its own digits, at least 1: the server counts by the value, not by its
// column's precision).
func intg(v Value) int {
	if v.IsNull() {
		return 1
	}
	return max(1, v.dec().intDigits())
}

// mysqlDecimalArith computes + - * % on exact operands with all the digits
// they hold (see mysql_digits.go); the result's type has the declared
// scale: the larger of the operands' for + - %, their sum (at most 38)
// for *.
func mysqlDecimalArith(env Env, op Op, a, b Value) (Value, error) {
	switch op {
	case Div:
		return mysqlDiv(env, a, b)
	case IntDiv:
		return mysqlIntDiv(a, b)
	}
	p1, s1 := mysqlPrecScale(a)
	p2, s2 := mysqlPrecScale(b)
	var t Type
	switch op {
	case Add, Sub:
		t = mysqlDecimal(max(s1, s2), min(mysqlMaxPrecision, max(p1-s1, p2-s2)+1+max(s1, s2)))
	case Mul:
		t = mysqlDecimal(min(s1+s2, mysqlMaxScale), min(mysqlMaxPrecision, p1+p2))
	case Mod:
		t = mysqlDecimal(max(s1, s2), min(mysqlMaxPrecision, max(p1-s1, p2-s2)+max(s1, s2)))
	}
	if a.null || b.null {
		return nullOf(t), nil
	}
	x, y := a.dec(), b.dec()
	f1, f2 := x.scale, y.scale // the digits the server holds
	i1, i2 := serverIntg(a), serverIntg(b)
	var r decimal
	myIntg := 0
	switch op {
	case Add, Sub:
		if words(max(i1, i2))+1+words(max(f1, f2)) > mysqlSafeWords {
			return Value{}, unsupported("a MySQL DECIMAL sum of more than %d words", mysqlSafeWords)
		}
		r = decOp(op, x, y)
		// decimal_add adds magnitudes (do_add) when the signs agree and
		// subtracts them (do_sub) when they differ; decimal_sub the other
		// way round. do_add gives the first operand's sign, even to a
		// zero (-0.00 - 0 is -0.00), and may take one more word for a
		// carry; do_sub makes equal magnitudes a plain zero with no
		// fractional digits.
		magnitudes := (mysqlNeg(x) == mysqlNeg(y)) == (op == Add)
		switch {
		case r.isZero() && !magnitudes:
			r = decimal{}
		case magnitudes:
			r.negZero = r.isZero() && mysqlNeg(x)
			myIntg = 9 * (max(words(i1), words(i2)) + 1)
		default:
			myIntg = 9 * max(words(i1), words(i2))
		}
	case Mul:
		if words(i1+i2)+words(f1)+words(f2) > mysqlSafeWords {
			return Value{}, unsupported("a MySQL DECIMAL product of more than %d words", mysqlSafeWords)
		}
		r = decMul(x, y)
		if r.isZero() && mysqlNeg(x) != mysqlNeg(y) {
			r = decimal{} // decimal_mul makes a negative zero a plain one
		}
	case Mod:
		if words(i2)+words(max(f1, f2)) > mysqlSafeWords {
			return Value{}, unsupported("a MySQL DECIMAL remainder of more than %d words", mysqlSafeWords)
		}
		if y.isZero() {
			return nullOf(t), nil
		}
		if x.isZero() {
			return decValue(t, decimal{}), nil // decimal_make_zero
		}
		r = decRem(x, y)
		// The remainder keeps the dividend's sign even when it is zero,
		// which shows when it has fractional digits, or when the divisor
		// has more than one 9-digit word of integer digits.
		r.negZero = r.isZero() && x.sign() < 0 && (r.scale > 0 || y.intDigits() > 9)
		myIntg = i2
	}
	w := decValue(t, r)
	w.myIntg, w.beyond = myIntg, a.beyond || b.beyond
	if s := w.shown(); s.intDigits()+s.scale > mysqlMaxPrecision {
		return Value{}, unsupported("MySQL DECIMAL result beyond %d digits", mysqlMaxPrecision)
	}
	return w, nil
}

// mysqlDiv is MySQL's '/' on exact operands: DECIMAL with the dividend's
// scale plus div_precision_increment (at most 38). The server computes the
// quotient truncated to a number of 9-digit words (do_div_mod in
// strings/decimal.c) and keeps all of them; they show rounded half up to
// the result's scale (see shown), and a quotient truncated to zero keeps
// the sign ("-0.000000000") where no rounding drops it. x/0 is NULL.
func mysqlDiv(env Env, a, b Value) (Value, error) {
	incr := env.DivPrecisionIncrement
	if incr < 0 || incr > 30 {
		return Value{}, unsupported("div_precision_increment %d", incr)
	}
	p1, s1 := mysqlPrecScale(a)
	_, s2 := mysqlPrecScale(b)
	scale := min(s1+incr, mysqlMaxScale)
	t := mysqlDecimal(scale, min(mysqlMaxPrecision, p1+s2+incr))
	if a.null || b.null {
		return nullOf(t), nil
	}
	x, y := a.dec(), b.dec()
	if y.isZero() {
		return nullOf(t), nil
	}
	if x.isZero() {
		return decValue(t, decimal{}), nil // decimal_make_zero
	}
	// The operands' fractional digits count in whole words; the increment
	// only adds what their padding does not already hold.
	frac1, frac2 := 9*words(x.scale), 9*words(y.scale)
	extra := max(0, incr-(frac1-x.scale)-(frac2-y.scale))
	fracWords := words(frac1 + frac2 + extra)
	intWords := mysqlQuotientWords(x, y)
	if intWords+fracWords > mysqlWords {
		return Value{}, unsupported("MySQL DECIMAL quotient beyond %d words", mysqlWords)
	}
	if intWords+fracWords == 0 {
		return decValue(t, decimal{}), nil
	}
	q := decQuo(x, y, 9*fracWords, truncate)
	q.negZero = q.isZero() && (x.sign() < 0) != (y.sign() < 0)
	w := decValue(t, q)
	w.myIntg = 9 * intWords
	// The type's precision counts on a divisor of at least 10^-s2.
	w.beyond = a.beyond || b.beyond || decCmp(decimal{coef: new(big.Int).Abs(y.big()), scale: y.scale}, decimal{coef: bigOne, scale: s2}) < 0
	if s := w.shown(); s.intDigits()+scale > mysqlMaxPrecision {
		return Value{}, unsupported("MySQL DECIMAL quotient beyond %d digits", mysqlMaxPrecision)
	}
	return w, nil
}

// mysqlQuotientWords is the number of 9-digit words the server gives the
// integer part of x/y (do_div_mod): the difference of the operands'
// integer digit counts, plus one when x's first word is not below y's.
func mysqlQuotientWords(x, y decimal) int {
	dintg := x.digits() - x.scale - (y.digits() - y.scale)
	if firstWord(x) >= firstWord(y) {
		dintg++
	}
	return words(dintg)
}

// firstWord is the first non-zero 9-digit word of d, the words aligned
// on the decimal point as the server stores decimals.
func firstWord(d decimal) int64 {
	_, w := d.leading(9)
	return w
}

// mysqlIntDiv is DIV with a DECIMAL operand: the quotient truncated to an
// integer, a BIGINT; x DIV 0 is NULL.
func mysqlIntDiv(a, b Value) (Value, error) {
	t := mysqlBigint
	if a.null || b.null {
		return nullOf(t), nil
	}
	x, y := a.dec(), b.dec()
	if y.isZero() {
		return nullOf(t), nil
	}
	if mysqlQuotientWords(x, y)+words(9*words(x.scale)+9*words(y.scale)) > mysqlWords {
		return Value{}, unsupported("MySQL DECIMAL quotient beyond %d words", mysqlWords)
	}
	q := decQuo(x, y, 0, truncate).big()
	if !q.IsInt64() {
		return Value{}, mysqlRange("BIGINT")
	}
	return intValue(t, q.Int64()), nil
}
