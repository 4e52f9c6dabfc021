package value

import (
	"cmp"
	"math"
	"math/big"
	"strings"
)

// Compare orders two non-NULL values as the dialect's comparison operators
// do (= <> < <= > >=, MySQL's <=>, and so NULLIF, MIN and MAX), returning
// -1, 0 or +1. Numbers compare across the int, decimal and float kinds as
// the server compares them: PostgreSQL and MySQL compare a float with
// anything as two doubles (a numeric or DECIMAL converted to the nearest
// double, a MySQL decimal with all the digits it holds) and integers and
// decimals exactly; SQLite compares an integer with a real exactly.
// PostgreSQL orders NaN above every other number and equal to itself.
// MySQL first rounds each decimal half up to its own declared scale
// (Arg_comparator::compare_decimal), so (2/3)*3 = 2 although the product
// holds 1.999999998, and orders a decimal zero that kept a negative sign
// (-4.00 % 2 is "-0.00") below 0, as the server does; CompareExact and
// CompareOrder are MySQL's other ways. Two texts are ordered by text (the
// collation is the caller's business; nil means byte order), bytes by
// byte order, booleans false first, times by instant (but not SQLite's,
// which it compares as the text they are stored as). SQLite orders blobs
// after numbers and text; a number and a text fail, since SQLite first
// converts the text when the other operand has numeric affinity. Other
// pairs, and NULLs, fail with ErrUnsupported.
func Compare(env Env, a, b Value, text func(a, b string) int) (int, error) {
	return compare(env, a, b, text, cmpOperator)
}

// CompareExact is Compare as MySQL's IN (of a list of two values or more;
// IN of one value is '='), BETWEEN, CASE x WHEN, GREATEST and LEAST
// compare: decimals by all the digits they hold, not rounded to their
// declared scales (1/3 BETWEEN 0.3333 AND 0.3333 is false, while
// 1/3 = 0.3333 is true). For PostgreSQL and SQLite it is Compare.
func CompareExact(env Env, a, b Value, text func(a, b string) int) (int, error) {
	return compare(env, a, b, text, cmpExact)
}

// CompareOrder is Compare as ORDER BY sorts (and as GROUP BY and DISTINCT
// group, see AppendKey): MySQL rounds decimals to their declared scales,
// as Compare does, but its sort keys lose the sign of a zero, so "-0.00"
// sorts as 0. A MySQL decimal that may exceed its type's precision (a
// quotient by a divisor smaller than its scale shows, which MariaDB's
// sort keys clip) fails with ErrUnsupported. For PostgreSQL and SQLite it
// is Compare.
func CompareOrder(env Env, a, b Value, text func(a, b string) int) (int, error) {
	return compare(env, a, b, text, cmpOrder)
}

// cmpMode is how MySQL compares decimals: by the digits they show or all
// the digits they hold, and with or without the sign of a zero.
type cmpMode uint8

const (
	cmpOperator cmpMode = iota // shown digits, signed zeros
	cmpExact                   // all digits, signed zeros
	cmpOrder                   // shown digits, unsigned zeros
)

func compare(env Env, a, b Value, text func(a, b string) int, mode cmpMode) (int, error) {
	if a.IsNull() || b.IsNull() {
		return 0, unsupported("comparing NULL")
	}
	if env.Dialect == Postgres && (a.param || b.param) {
		var err error
		if a, b, err = pgUnify(a, b); err != nil {
			return 0, err
		}
	} else {
		a, b = asInt(env, a), asInt(env, b)
	}
	if isNumber(env, a) && isNumber(env, b) {
		return compareNumbers(env, a, b, mode)
	}
	ka, kb := a.typ.Kind, b.typ.Kind
	if ka != kb {
		// SQLite orders numbers and text before blobs; it converts text
		// to a number when the other side has numeric affinity, which a
		// value does not tell.
		if ra, rb := sqliteClass(ka), sqliteClass(kb); env.Dialect == SQLite && ra != 0 && rb != 0 && (ra == 3 || rb == 3) {
			return cmp.Compare(ra, rb), nil
		}
		return 0, unsupported("comparing %s with %s", ka, kb)
	}
	switch ka {
	case KindText:
		if text == nil {
			return strings.Compare(a.s, b.s), nil
		}
		return sign(text(a.s, b.s)), nil
	case KindBytes:
		return strings.Compare(a.s, b.s), nil
	case KindBool:
		return cmp.Compare(a.i, b.i), nil
	case KindTime:
		switch {
		case env.Dialect == SQLite:
			// SQLite compares the text the driver parsed, which orders
			// instants only when every value has one format and zone.
		case a.rawTime && b.rawTime:
			return strings.Compare(a.s, b.s), nil
		case !a.rawTime && !b.rawTime:
			return a.t.Compare(b.t), nil
		}
	}
	return 0, unsupported("comparing %s values", ka)
}

// sqliteClass ranks SQLite's storage classes in ORDER BY's order.
func sqliteClass(k Kind) int {
	switch k {
	case KindInt, KindFloat, KindBool:
		return 1
	case KindText:
		return 2
	case KindBytes:
		return 3
	}
	return 0
}

func sign(c int) int { return cmp.Compare(c, 0) }

// compareNumbers compares two numbers; mode tells how MySQL compares
// decimals.
func compareNumbers(env Env, a, b Value, mode cmpMode) (int, error) {
	fa, fb := a.typ.Kind == KindFloat, b.typ.Kind == KindFloat
	switch {
	case fa && fb:
		return compareFloats(a.f, b.f), nil
	case (fa || fb) && env.Dialect == SQLite:
		if fa {
			return -compareIntFloat(b.i, a.f), nil
		}
		return compareIntFloat(a.i, b.f), nil
	case (fa || fb) && env.Dialect == MySQL:
		xs, err := mysqlReals(a)
		if err != nil {
			return 0, err
		}
		ys, err := mysqlReals(b)
		if err != nil {
			return 0, err
		}
		c := compareFloats(xs[0], ys[0])
		for _, x := range xs {
			for _, y := range ys {
				if compareFloats(x, y) != c {
					return 0, unsupported("comparing a MySQL AVG as a double, which depends on the plan")
				}
			}
		}
		return c, nil
	case fa || fb:
		x, okx := a.float()
		y, oky := b.float()
		if !okx || !oky {
			return 0, unsupported("a decimal beyond double's range")
		}
		return compareFloats(x, y), nil
	case a.typ.Kind == KindInt && b.typ.Kind == KindInt && !a.typ.Unsigned && !b.typ.Unsigned:
		return cmp.Compare(a.i, b.i), nil
	case env.Dialect == MySQL:
		// Arg_comparator::compare_decimal rounds each side to its own
		// declared scale (round_self_if_needed), as sort keys do.
		x, y := a.shown(), b.shown()
		switch mode {
		case cmpExact:
			x, y = a.dec(), b.dec()
		case cmpOrder:
			if a.beyond || b.beyond {
				return 0, unsupported("ordering a MySQL decimal that may exceed its declared precision")
			}
			x.negZero, y.negZero = false, false
		}
		return mysqlDecCmp(x, y), nil
	}
	x, y := a.dec(), b.dec()
	if x.special != finite || y.special != finite {
		return cmp.Compare(specialRank(x), specialRank(y)), nil
	}
	return decCmp(x, y), nil
}

// specialRank orders numeric's non-finite values around the finite ones
// (rank 2), as PostgreSQL does: -Infinity, numbers, Infinity, NaN.
func specialRank(d decimal) int {
	switch d.special {
	case negInf:
		return 1
	case posInf:
		return 3
	case nan:
		return 4
	}
	return 2
}

// compareFloats orders doubles as PostgreSQL's float8_cmp_internal does:
// NaN equals NaN and is above everything else; -0 equals 0. (MySQL and
// SQLite never hold NaN.)
func compareFloats(x, y float64) int {
	switch nx, ny := math.IsNaN(x), math.IsNaN(y); {
	case nx && ny:
		return 0
	case nx:
		return 1
	case ny:
		return -1
	}
	return cmp.Compare(x, y)
}

// compareIntFloat compares an integer with a real exactly, as SQLite does.
func compareIntFloat(i int64, f float64) int {
	switch {
	case math.IsNaN(f):
		return -1
	case math.IsInf(f, 1):
		return -1
	case math.IsInf(f, -1):
		return 1
	}
	return new(big.Rat).SetInt64(i).Cmp(new(big.Rat).SetFloat64(f))
}
