package value

// MariaDB computes with decimals that hold more digits than their declared
// scale. A quotient keeps whole 9-digit words of fractional digits
// (do_div_mod in strings/decimal.c: ROUND_UP(frac1 + frac2 +
// div_precision_increment) words, the operands' fractional digits counted
// in whole words, the quotient truncated), while its type's scale is the
// dividend's scale plus div_precision_increment. Sums, differences,
// products, remainders and negations compute with those digits exactly
// (a product keeps frac1 + frac2 of them), and AVG is the same quotient
// of its sum by its count. The server rounds the digits half up to the
// declared scale only where it shows the value: when it sends it (val_str),
// when a comparison operator compares it (Arg_comparator::compare_decimal
// rounds both sides to their own scales: (2/3)*3 = 2 is true), in sort
// keys, and in GROUP BY and DISTINCT keys. IN lists of two values or more,
// BETWEEN, simple CASE and GREATEST/LEAST compare the digits unrounded,
// and so do a condition's truth (1/100000 is true although it shows
// 0.0000) and the conversion to double.
//
// Zeros matter too. A zero dividend, equal magnitudes subtracted and a
// product with a negative sign make a zero with no fractional digits
// (decimal_make_zero), which changes how many words a later quotient
// takes; and a quotient truncated to zero, a remainder or a sum of zeros
// may keep a negative sign ("-0.00"), which comparison operators, IN and
// BETWEEN see (-4.00 % 2 = 0 is false) but sort and group keys do not.
//
// A Value keeps those digits in d and the declared scale in its type;
// shown rounds them.

// shown returns the decimal that v shows. For a MySQL decimal that is its
// digits rounded half up to its type's scale, a zero that the rounding
// makes losing its sign (decimal_round), or padded with zeros to it; for
// any other number its exact value.
func (v Value) shown() decimal {
	d := v.dec()
	if v.typ.Kind != KindDecimal || v.typ.Dialect != MySQL || v.typ.Scale < 0 || d.special != finite {
		return d
	}
	switch s := v.typ.Scale; {
	case d.scale > s:
		return d.rescale(s, halfAway)
	case d.scale < s:
		r := d.rescale(s, truncate)
		r.negZero = d.negZero
		return r
	}
	return d
}

// hidden reports whether v is a MySQL decimal holding digits beyond the
// scale it shows.
func (v Value) hidden() bool {
	return v.typ.Kind == KindDecimal && v.typ.Dialect == MySQL && v.typ.Scale >= 0 && v.d.scale > v.typ.Scale
}

// serverIntg is the number of integer digits MariaDB's decimal holds for
// v: its own (see intg), or more for a computed value whose leading words
// may be zero.
func serverIntg(v Value) int { return max(intg(v), v.myIntg) }

// mysqlNeg reports whether the server's decimal d has its sign set: a
// negative number, or a zero that kept a negative sign ("-0.000000000").
func mysqlNeg(d decimal) bool { return d.sign() < 0 || d.negZero }

// mysqlDecCmp compares two decimals as decimal_cmp does: by sign first,
// so that a zero with a negative sign is below a plain zero, then by
// value.
func mysqlDecCmp(x, y decimal) int {
	if nx, ny := mysqlNeg(x), mysqlNeg(y); nx != ny {
		if nx {
			return -1
		}
		return 1
	}
	return decCmp(x, y)
}

// mysqlReals returns the doubles MariaDB may convert a numeric v to
// (val_real): a decimal's digits, all of them, to the nearest double. The
// double of an AVG of integers or DECIMAL depends on the plan: read
// directly, the aggregate divides its sum as a double by its count; from
// a temporary table (GROUP BY) it converts the decimal quotient. The
// caller must get one result from both, or fail with ErrUnsupported.
func mysqlReals(v Value) ([]float64, error) {
	f, ok := v.float()
	if !ok {
		return nil, unsupported("a decimal beyond double's range")
	}
	if v.avgReal && v.typ.Kind == KindDecimal && !v.IsNull() && f != v.f {
		return []float64{f, v.f}, nil
	}
	return []float64{f}, nil
}

// MayExceedPrecision reports whether v is a MySQL decimal that may have
// more integer digits than its type's precision allows: a quotient by a
// divisor smaller than the scale it shows, or a value computed from one
// (1/(1/300000) is 300030.0030 and of type DECIMAL(9,4)). MariaDB shows
// and compares such a value whole, but where it stores it with its type
// it clips it to the largest value the type holds: (x - 100000000) /
// (0.5 % (2/52)) over a DECIMAL(10,5) x is -16666717413430000.000000000
// for x = -304.48058, yet GROUP BY and DISTINCT over it put every row in
// one group showing -99999999999999.999999999, and sorts may misorder it.
// AppendKey does not reproduce that, and CompareOrder fails: the merge
// must refuse GROUP BY, DISTINCT and ORDER BY over such a value.
func (v Value) MayExceedPrecision() bool { return v.beyond }
