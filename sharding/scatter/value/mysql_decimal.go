package value

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

// mysqlPrecScale returns the precision and scale of a MySQL Int or Decimal
// value: the column's when known, else its own digits.
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
	return max(v.typ.Precision, v.d.digits(), s, 1), s
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
		if words(max(intg(a), intg(b)))+1+words(max(s1, s2)) > mysqlSafeWords {
			return Value{}, unsupported("a MySQL DECIMAL sum of more than %d words", mysqlSafeWords)
		}
	case Mul:
		t = mysqlDecimal(min(s1+s2, mysqlMaxScale), min(mysqlMaxPrecision, p1+p2))
		if words(intg(a)+intg(b))+words(s1)+words(s2) > mysqlSafeWords {
			return Value{}, unsupported("a MySQL DECIMAL product of more than %d words", mysqlSafeWords)
		}
	case Mod:
		t = mysqlDecimal(max(s1, s2), min(mysqlMaxPrecision, max(p1-s1, p2-s2)+max(s1, s2)))
	}
	if a.null || b.null {
		return nullOf(t), nil
	}
	x, y := a.dec(), b.dec()
	if op == Mod && y.isZero() {
		return nullOf(t), nil
	}
	r := decOp(op, x, y).rescale(t.Scale, halfAway)
	if op == Mod {
		// The remainder keeps the dividend's sign even when it is zero,
		// which shows when it has fractional digits, or when the divisor
		// has more than one 9-digit word of integer digits.
		r.negZero = r.isZero() && x.sign() < 0 && (r.scale > 0 || y.intDigits() > 9)
	}
	if r.isZero() && (x.negZero || y.negZero) && op != Mul {
		return Value{}, unsupported("the sign of a MySQL decimal zero computed from -0")
	}
	if r.intDigits()+r.scale > mysqlMaxPrecision {
		return Value{}, unsupported("MySQL DECIMAL result beyond %d digits", mysqlMaxPrecision)
	}
	return decValue(t, r), nil
}

// mysqlDiv is MySQL's '/' on exact operands: DECIMAL with the dividend's
// scale plus div_precision_increment (at most 38). The server computes the
// quotient truncated to a number of 9-digit words (do_div_mod in
// strings/decimal.c) and then rounds it half up to the result's scale; when
// the words hold exactly the result's scale, the quotient is truncated,
// and a quotient truncated to zero keeps the sign ("-0.000000000"). x/0
// is NULL.
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
		return decValue(t, decimal{coef: nil, scale: scale}), nil
	}
	frac1, frac2 := 9*words(s1), 9*words(s2)
	extra := max(0, incr-(frac1-s1)-(frac2-s2))
	fracWords := words(frac1 + frac2 + extra)
	intWords := mysqlQuotientWords(x, y)
	if intWords+fracWords > mysqlWords {
		return Value{}, unsupported("MySQL DECIMAL quotient beyond %d words", mysqlWords)
	}
	q := decQuo(x, y, 9*fracWords, truncate)
	var r decimal
	if q.scale > scale {
		r = q.rescale(scale, halfAway)
	} else {
		// A truncated zero keeps the quotient's sign when it has a word
		// to show it in.
		r = q
		r.negZero = r.isZero() && (x.sign() < 0) != (y.sign() < 0) && (scale > 0 || intWords > 0)
	}
	if r.intDigits()+scale > mysqlMaxPrecision {
		return Value{}, unsupported("MySQL DECIMAL quotient beyond %d digits", mysqlMaxPrecision)
	}
	return decValue(t, r), nil
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
	_, s1 := mysqlPrecScale(a)
	_, s2 := mysqlPrecScale(b)
	if mysqlQuotientWords(x, y)+words(9*words(s1)+9*words(s2)) > mysqlWords {
		return Value{}, unsupported("MySQL DECIMAL quotient beyond %d words", mysqlWords)
	}
	q := decQuo(x, y, 0, truncate).big()
	if !q.IsInt64() {
		return Value{}, mysqlRange("BIGINT")
	}
	return intValue(t, q.Int64()), nil
}
