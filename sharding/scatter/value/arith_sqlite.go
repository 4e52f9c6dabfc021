package value

import (
	"math"
)

// sqliteArith follows SQLite's OP_Add and friends: integers stay integers
// until + - * overflow, which turns the result into a real computed from
// the operands as reals; dividing by zero, and a real result that is NaN,
// give NULL; % works on the operands truncated to integers.
func sqliteArith(op Op, a, b Value) (Value, error) {
	env := Env{Dialect: SQLite}
	a, b = asInt(env, a), asInt(env, b)
	if !numberKinds(env, a, b) || a.typ.Kind == KindDecimal || b.typ.Kind == KindDecimal {
		return Value{}, unsupported("SQLite %s %s %s", a.typ.Kind, op, b.typ.Kind)
	}
	if op == IntDiv {
		return Value{}, unsupported("SQLite has no DIV operator")
	}
	if a.IsNull() || b.IsNull() {
		return Null(), nil
	}
	if a.typ.Kind == KindInt && b.typ.Kind == KindInt {
		x, y := a.i, b.i
		switch op {
		case Add, Sub, Mul:
			if r, over := intOp(op, x, y); !over {
				return intValue(sqliteInt, r), nil
			}
		case Div:
			if y == 0 {
				return Null(), nil
			}
			if !(y == -1 && x == math.MinInt64) {
				return intValue(sqliteInt, x/y), nil
			}
		case Mod:
			return sqliteMod(x, y, false), nil
		}
	}
	if op == Mod {
		// Each operand is truncated to an integer; an integer stays as
		// it is.
		return sqliteMod(sqliteIntOf(a), sqliteIntOf(b), true), nil
	}
	x, _ := a.float()
	y, _ := b.float()
	if op == Div && y == 0 {
		return Null(), nil
	}
	r := floatOp(op, x, y)
	if math.IsNaN(r) {
		return Null(), nil
	}
	return floatValue(sqliteReal, r), nil
}

// sqliteMod is x % y on integers: NULL for y = 0, a real when asReal.
func sqliteMod(x, y int64, asReal bool) Value {
	if y == 0 {
		return Null()
	}
	var r int64
	if y != -1 {
		r = x % y
	}
	if asReal {
		return floatValue(sqliteReal, float64(r))
	}
	return intValue(sqliteInt, r)
}

// sqliteIntOf is v as SQLite's % takes it: an integer as it is, a real
// truncated, or clamped to int64's range (sqlite3VdbeIntValue; SQLite
// holds no NaN).
func sqliteIntOf(v Value) int64 {
	if v.typ.Kind == KindInt {
		return v.i
	}
	switch f := v.f; {
	case f <= math.MinInt64:
		return math.MinInt64
	case f >= math.MaxInt64:
		return math.MaxInt64
	default:
		return int64(f)
	}
}
