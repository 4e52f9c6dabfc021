package value

import (
	"cmp"
	"math"
	"math/big"
	"strings"
)

// Compare orders two non-NULL values as the dialect's comparison operators
// do, returning -1, 0 or +1. Numbers compare across the int, decimal and
// float kinds as the server compares them: PostgreSQL and MySQL compare a
// float with anything as two doubles (a numeric or DECIMAL converted to
// the nearest double) and integers and decimals exactly; SQLite compares
// an integer with a real exactly. PostgreSQL orders NaN above every other
// number and equal to itself. Two texts are ordered by text (the
// collation is the caller's business; nil means byte order), bytes by
// byte order, booleans false first, times by instant (but not SQLite's,
// which it compares as the text they are stored as). SQLite orders blobs
// after numbers and text; a number and a text fail, since SQLite first
// converts the text when the other operand has numeric affinity. Other
// pairs, and NULLs, fail with ErrUnsupported.
func Compare(env Env, a, b Value, text func(a, b string) int) (int, error) {
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
		return compareNumbers(env, a, b)
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

func compareNumbers(env Env, a, b Value) (int, error) {
	fa, fb := a.typ.Kind == KindFloat, b.typ.Kind == KindFloat
	switch {
	case fa && fb:
		return compareFloats(a.f, b.f), nil
	case (fa || fb) && env.Dialect == SQLite:
		if fa {
			return -compareIntFloat(b.i, a.f), nil
		}
		return compareIntFloat(a.i, b.f), nil
	case fa || fb:
		x, okx := a.float()
		y, oky := b.float()
		if !okx || !oky {
			return 0, unsupported("a decimal beyond double's range")
		}
		return compareFloats(x, y), nil
	case a.typ.Kind == KindInt && b.typ.Kind == KindInt && !a.typ.Unsigned && !b.typ.Unsigned:
		return cmp.Compare(a.i, b.i), nil
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
