package value

import (
	"math"
	"strconv"
	"strings"
)

// Literal types a numeric literal written in SQL ("42", "3000000000",
// "1.50", ".5", "1e3", "1E-2") as the dialect does:
//
//   - PostgreSQL: an integer is int4 if it fits, else int8, else numeric;
//     with '.' or an exponent it is numeric (scale: the fractional digits
//     less the exponent, at least 0).
//   - MySQL: an integer is BIGINT, BIGINT UNSIGNED beyond int64, DECIMAL
//     beyond that; with '.' DECIMAL of that scale; with an exponent DOUBLE.
//   - SQLite: an integer is an integer (a real beyond int64); with '.' or
//     an exponent a real.
//
// Every dialect's parser folds a minus sign written before a numeric
// literal into the literal, so text may start with '-': in PostgreSQL
// -2147483648 is an int4 and -9223372036854775808 an int8, in MySQL
// -9223372036854775808 is a BIGINT, in SQLite -0.0 is a negative zero.
// Negate folds the same way when given a literal.
//
// Malformed text fails with ErrTypeMismatch; literals the dialect would
// not type as described (a MySQL DECIMAL beyond 65 digits, a double out of
// range) with ErrUnsupported.
func Literal(env Env, text string) (Value, error) {
	body, neg := strings.CutPrefix(text, "-")
	if !literalSyntax(body) {
		return Value{}, mismatch("%q is not a numeric literal", text)
	}
	var v Value
	var err error
	integer := !strings.ContainsAny(body, ".eE")
	switch env.Dialect {
	case Postgres:
		v, err = pgLiteral(text, integer)
	case MySQL:
		v, err = mysqlLiteral(body, integer, neg)
	case SQLite:
		v, err = sqliteLiteral(text, integer)
	default:
		return Value{}, unsupported("literals of dialect %s", env.Dialect)
	}
	if err != nil {
		return Value{}, err
	}
	v.constant, v.literal = true, text
	return v, nil
}

// negateLiteral is the literal the dialect's parser makes of -v, v being
// a literal: PostgreSQL re-reads the literal with the sign flipped;
// MySQL negates it keeping its kind (Item::neg), except that the integer
// -2^63 becomes a DECIMAL and an unsigned integer a signed one; SQLite
// folds one minus sign only, computing -(-1) as 0 - (-1).
func negateLiteral(env Env, v Value) (Value, bool, error) {
	body, neg := strings.CutPrefix(v.literal, "-")
	flipped := "-" + body
	if neg {
		flipped = body
	}
	var w Value
	switch {
	case env.Dialect == SQLite && neg:
		return Value{}, false, nil
	case env.Dialect != MySQL || v.typ.Unsigned:
		w, err := Literal(env, flipped)
		return w, true, err
	case v.typ.Kind == KindInt && v.i == math.MinInt64:
		d, _ := parseDecimal(body)
		w = decValue(mysqlDecimal(0, 19), d)
	case v.typ.Kind == KindInt:
		w = intValue(mysqlBigint, -v.i)
	case v.typ.Kind == KindDecimal:
		w = decValue(v.typ, decNeg(v.d)) // the negation of 0.0 is 0.0
	default:
		w = floatValue(mysqlDouble, mysqlZero(-v.f))
	}
	w.constant, w.literal = true, flipped
	return w, true, nil
}

func pgLiteral(text string, integer bool) (Value, error) {
	if integer {
		if i, err := strconv.ParseInt(text, 10, 64); err == nil {
			if i >= math.MinInt32 && i <= math.MaxInt32 {
				return intValue(pgInt(32), i), nil
			}
			return intValue(pgInt(64), i), nil
		}
	}
	d, ok := parseDecimal(text)
	if !ok {
		return Value{}, unsupported("PostgreSQL literal %s is out of range", text)
	}
	d.negZero = false // numeric has no negative zero
	return decValue(pgNumeric, d), nil
}

func sqliteLiteral(text string, integer bool) (Value, error) {
	if integer {
		if i, err := strconv.ParseInt(text, 10, 64); err == nil {
			return intValue(sqliteInt, i), nil
		}
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return Value{}, unsupported("SQLite literal %s is out of range", text)
	}
	return floatValue(sqliteReal, f), nil
}

// mysqlLiteral types the unsigned literal body, then negates it as the
// parser's Item::neg does when neg.
func mysqlLiteral(body string, integer, neg bool) (Value, error) {
	if strings.ContainsAny(body, "eE") {
		f, err := strconv.ParseFloat(body, 64)
		if err != nil {
			return Value{}, unsupported("MySQL literal %s is out of range", body)
		}
		if neg {
			f = -f
		}
		return floatValue(mysqlDouble, mysqlZero(f)), nil
	}
	if integer {
		if i, err := strconv.ParseInt(body, 10, 64); err == nil {
			if neg {
				i = -i
			}
			return intValue(mysqlBigint, i), nil
		}
		if u, err := strconv.ParseUint(body, 10, 64); err == nil {
			switch {
			case neg && u == 1<<63:
				return intValue(mysqlBigint, math.MinInt64), nil
			case !neg:
				t := mysqlBigint
				t.Unsigned, t.Name = true, "UNSIGNED BIGINT"
				return intValue(t, int64(u)), nil
			}
		}
	}
	d, ok := parseDecimal(body)
	if !ok {
		return Value{}, unsupported("MySQL literal %s is out of range", body)
	}
	p := max(d.digits(), d.scale, 1)
	if p > 65 || d.scale > 38 {
		return Value{}, unsupported("MySQL literal %s has more digits than DECIMAL holds", body)
	}
	if neg {
		d = decNeg(d) // the negation of 0.0 is 0.0
	}
	return decValue(mysqlDecimal(d.scale, p), d), nil
}

// literalSyntax accepts digits[.digits][e[+-]digits] with at least one
// digit in the mantissa (".5" and "5." too).
func literalSyntax(s string) bool {
	i, n := 0, 0
	digits := func() int {
		k := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i, k = i+1, k+1
		}
		return k
	}
	n += digits()
	if i < len(s) && s[i] == '.' {
		i++
		n += digits()
	}
	if n == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}
