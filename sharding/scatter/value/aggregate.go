package value

import "math"

// Sum adds one more shard's partial SUM (or COUNT) v into acc, keeping the
// partial's type, as the server's SUM would have added the rows: on
// PostgreSQL SUM(int2/int4) and COUNT are int8 (overflow fails with
// "bigint out of range"), SUM(int8) and SUM(numeric) numeric (exact, the
// larger display scale), SUM(float4) float4, SUM(float8) float8; on MySQL
// SUM of integers and DECIMAL is DECIMAL (exact, the column's scale), of
// DOUBLE and FLOAT a DOUBLE, COUNT a BIGINT; on SQLite integer sums fail
// with "integer overflow" as sum() does, and a real makes the sum real.
// NULL partials are skipped; the sum of none but NULLs is NULL, of the
// partials' type when they have one (start with acc = Null()). Partials
// of kinds that cannot be one column's SUM fail with ErrUnsupported.
//
// Float sums are exact only when the partial sums add up without rounding:
// the server adds rows in its own order (and SQLite compensates rounding
// errors), so no fold of partial sums reproduces every float sum bit for
// bit.
func Sum(env Env, acc, v Value) (Value, error) {
	if v.IsNull() {
		if acc.typ.Kind == KindNull && v.typ.Kind != KindNull {
			return nullOf(v.typ), nil // a NULL of the SUM's type
		}
		return acc, nil
	}
	if acc.IsNull() {
		if !isNumber(env, v) {
			return Value{}, unsupported("SUM of %s", v.typ.Kind)
		}
		v.param, v.bytesForm, v.constant, v.literal = false, false, false, ""
		return v, nil
	}
	ka, kv := acc.typ.Kind, v.typ.Kind
	switch env.Dialect {
	case Postgres:
		if ka != kv || (ka == KindFloat && acc.typ.Bits != v.typ.Bits) {
			break
		}
		switch ka {
		case KindInt:
			return pgIntArith(Add, acc, v)
		case KindDecimal:
			return pgNumericArith(Add, acc, v)
		case KindFloat:
			return pgFloatArith(Add, acc, v)
		}
	case MySQL:
		if ka != kv || acc.typ.Unsigned || v.typ.Unsigned {
			break
		}
		switch ka {
		case KindInt:
			return mysqlIntArith(Add, acc, v)
		case KindDecimal:
			return mysqlSumDecimal(acc, v)
		case KindFloat:
			return mysqlSumDouble(acc, v)
		}
	case SQLite:
		return sqliteSum(acc, v)
	}
	return Value{}, unsupported("%s SUM of partials %s and %s", env.Dialect, acc.typ.Name, v.typ.Name)
}

// mysqlSumDecimal adds two partial DECIMAL sums; the sum keeps the
// partials' type. A partial holding digits beyond its scale is no shard's
// SUM as the driver hands it over.
func mysqlSumDecimal(acc, v Value) (Value, error) {
	if acc.hidden() || v.hidden() {
		return Value{}, unsupported("a MySQL partial SUM with digits beyond its scale")
	}
	if acc.d.scale != v.d.scale {
		return Value{}, unsupported("MySQL partial sums of scales %d and %d", acc.d.scale, v.d.scale)
	}
	r := decAdd(acc.d, v.d)
	if r.intDigits()+r.scale > mysqlMaxPrecision {
		return Value{}, unsupported("MySQL DECIMAL sum beyond %d digits", mysqlMaxPrecision)
	}
	w := decValue(acc.typ, r)
	return w, nil
}

func mysqlSumDouble(acc, v Value) (Value, error) {
	if acc.typ.Scale >= 0 || v.typ.Scale >= 0 {
		return Value{}, unsupported("MySQL SUM of a DOUBLE with fixed decimals")
	}
	r := acc.f + v.f
	if math.IsInf(r, 0) {
		// MariaDB's SUM hands an overflowed double over as 0.
		return Value{}, unsupported("MySQL SUM of doubles beyond double's range")
	}
	return floatValue(acc.typ, mysqlZero(r)), nil
}

func sqliteSum(acc, v Value) (Value, error) {
	env := Env{Dialect: SQLite}
	acc, v = asInt(env, acc), asInt(env, v)
	switch {
	case acc.typ.Kind == KindInt && v.typ.Kind == KindInt:
		r, over := add64(acc.i, v.i)
		if over {
			return Value{}, arithErr("integer overflow")
		}
		return intValue(sqliteInt, r), nil
	case isNumber(env, acc) && isNumber(env, v) && acc.typ.Kind != KindDecimal && v.typ.Kind != KindDecimal:
		x, _ := acc.float()
		y, _ := v.float()
		return floatValue(sqliteReal, x+y), nil
	}
	return Value{}, unsupported("SQLite SUM of %s and %s", acc.typ.Kind, v.typ.Kind)
}

// Avg is the dialect's AVG(x) from the merged SUM(x) and COUNT(x) of the
// same argument; the SUM's type tells the argument's class. PostgreSQL:
// over integers and numeric, numeric division of the sum by the count
// (select_div_scale: at least 16 significant digits, no fewer fractional
// digits than the sum has, rounded half away from zero); over float8 the
// float8 quotient (AVG(float4) accumulates in float8, which its float4
// SUM does not: ErrUnsupported). MySQL: over integers and DECIMAL, the
// DECIMAL quotient with the sum's scale plus div_precision_increment,
// holding the digits '/' holds, which show rounded half up (so AVG(x) * 2
// is computed from all of them, as the server does); in arithmetic or
// comparisons with a DOUBLE its double depends on the plan (the double sum
// divided by the count, or the quotient's double), and where the two give
// different results they fail with ErrUnsupported; over DOUBLE the double
// quotient. SQLite: the real quotient. A zero or NULL count, or a NULL
// sum, gives NULL.
func Avg(env Env, sum, count Value) (Value, error) {
	if !count.IsNull() && count.typ.Kind != KindInt {
		return Value{}, unsupported("AVG with a %s count", count.typ.Kind)
	}
	if !sum.IsNull() && !isNumber(env, sum) {
		return Value{}, unsupported("AVG of %s", sum.typ.Kind)
	}
	empty := sum.IsNull() || count.IsNull() || count.i == 0
	switch env.Dialect {
	case Postgres:
		switch sum.typ.Kind {
		case KindInt, KindDecimal:
			if empty {
				return nullOf(pgNumeric), nil
			}
			return pgNumericArith(Div, sum, count)
		case KindFloat:
			if empty {
				return nullOf(pgFloat(64)), nil
			}
			if sum.typ.Bits != 64 {
				break
			}
			return floatValue(pgFloat(64), sum.f/float64(count.i)), nil
		}
	case MySQL:
		switch sum.typ.Kind {
		case KindInt, KindDecimal:
			if empty {
				return nullOf(mysqlDecimal(0, 0)), nil
			}
			if sum.hidden() {
				return Value{}, unsupported("a MySQL AVG from a SUM with digits beyond its scale")
			}
			r, err := mysqlDiv(env, sum, count)
			if err == nil && !r.IsNull() {
				// What Item_sum_avg::val_real gives: the server's double
				// unless it reads the average from a temporary table.
				f, ok := sum.float()
				if !ok {
					return Value{}, unsupported("a MySQL AVG of a sum beyond double's range")
				}
				r.avgReal, r.f = true, f/float64(count.i)
			}
			return r, err
		case KindFloat:
			if sum.typ.Scale >= 0 {
				break
			}
			if empty {
				return nullOf(mysqlDouble), nil
			}
			return floatValue(mysqlDouble, sum.f/float64(count.i)), nil
		}
	case SQLite:
		if empty {
			return Null(), nil
		}
		x, _ := asInt(env, sum).float()
		return floatValue(sqliteReal, x/float64(count.i)), nil
	}
	if empty && sum.typ.Kind == KindNull {
		return Null(), nil
	}
	return Value{}, unsupported("%s AVG from a %s sum", env.Dialect, sum.typ.Name)
}
