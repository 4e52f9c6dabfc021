package value

import (
	"math"
)

// mysqlRange is MariaDB's error for a result beyond its type (the server
// adds " in '<expression>'").
func mysqlRange(name string) error { return arithErr(name + " value is out of range") }

func mysqlArith(env Env, op Op, a, b Value) (Value, error) {
	a, b = asInt(env, a), asInt(env, b)
	if !numberKinds(env, a, b) {
		return Value{}, unsupported("MySQL %s %s %s", a.typ.Kind, op, b.typ.Kind)
	}
	if a.typ.Kind == KindNull && b.typ.Kind == KindNull {
		return Null(), nil
	}
	// An untyped NULL computes as the other operand's class.
	if a.typ.Kind == KindNull {
		a = nullOf(b.typ)
	}
	if b.typ.Kind == KindNull {
		b = nullOf(a.typ)
	}
	if a.typ.Unsigned || b.typ.Unsigned {
		return Value{}, unsupported("MySQL arithmetic on UNSIGNED values")
	}
	switch {
	case a.typ.Kind == KindFloat || b.typ.Kind == KindFloat:
		return mysqlFloatArith(op, a, b)
	case a.typ.Kind == KindDecimal || b.typ.Kind == KindDecimal || op == Div:
		return mysqlDecimalArith(env, op, a, b)
	}
	return mysqlIntArith(op, a, b)
}

func mysqlIntArith(op Op, a, b Value) (Value, error) {
	t := mysqlBigint
	if a.null || b.null {
		return nullOf(t), nil
	}
	x, y := a.i, b.i
	switch op {
	case Add, Sub, Mul:
		if op == Sub && x == 0 && y == math.MinInt64 {
			// MariaDB misses this overflow and returns -2^63.
			return Value{}, unsupported("MySQL 0 - (-9223372036854775808)")
		}
		r, over := intOp(op, x, y)
		if over {
			return Value{}, mysqlRange("BIGINT")
		}
		return intValue(t, r), nil
	case Mod:
		if y == 0 {
			return nullOf(t), nil
		}
		if y == -1 {
			return intValue(t, 0), nil
		}
		return intValue(t, x%y), nil
	}
	// IntDiv
	if y == 0 {
		return nullOf(t), nil
	}
	if x == math.MinInt64 && y == -1 {
		return Value{}, mysqlRange("BIGINT")
	}
	return intValue(t, x/y), nil
}

// mysqlFloatArith computes with DOUBLE: any operand that is DOUBLE makes
// the other one a double too (a decimal with all the digits it holds; an
// AVG as either double the plan may give it, which must give one result:
// see mysqlReals). Dividing by zero gives NULL, and a result beyond
// double's range fails as the server's check_float_overflow does.
func mysqlFloatArith(op Op, a, b Value) (Value, error) {
	for _, v := range []Value{a, b} {
		if v.typ.Kind == KindFloat && (v.typ.Bits != 64 || v.typ.Scale >= 0) {
			return Value{}, unsupported("MySQL arithmetic on %s with its own float width or decimals", v.typ.Name)
		}
	}
	if op == IntDiv {
		return Value{}, unsupported("MySQL DIV with a DOUBLE operand")
	}
	t := mysqlDouble
	if a.null || b.null {
		return nullOf(t), nil
	}
	xs, err := mysqlReals(a)
	if err != nil {
		return Value{}, err
	}
	ys, err := mysqlReals(b)
	if err != nil {
		return Value{}, err
	}
	r, err := mysqlDoubleOp(op, xs[0], ys[0])
	for _, x := range xs {
		for _, y := range ys {
			r2, err2 := mysqlDoubleOp(op, x, y)
			if (err == nil) != (err2 == nil) || math.Float64bits(r.f) != math.Float64bits(r2.f) || r.IsNull() != r2.IsNull() {
				return Value{}, unsupported("MySQL AVG in double arithmetic, whose double depends on the plan")
			}
		}
	}
	return r, err
}

// mysqlDoubleOp is x op y in DOUBLE.
func mysqlDoubleOp(op Op, x, y float64) (Value, error) {
	var r float64
	switch {
	case (op == Div || op == Mod) && y == 0:
		return nullOf(mysqlDouble), nil
	case op == Mod:
		r = math.Mod(x, y)
	default:
		r = floatOp(op, x, y)
	}
	if math.IsInf(r, 0) || math.IsNaN(r) {
		return Value{}, mysqlRange("DOUBLE")
	}
	return floatValue(mysqlDouble, mysqlZero(r)), nil
}

// mysqlZero turns -0 into 0: MariaDB hands no negative zero double over.
func mysqlZero(f float64) float64 {
	if f == 0 {
		return 0
	}
	return f
}

func mysqlNegate(a Value) (Value, error) {
	switch k := a.typ.Kind; {
	case k == KindFloat && (a.typ.Bits != 64 || a.typ.Scale >= 0):
		return Value{}, unsupported("negating MySQL %s", a.typ.Name)
	case a.null && (k == KindInt || k == KindDecimal || k == KindFloat):
		return a, nil
	case k == KindFloat:
		return floatValue(mysqlDouble, mysqlZero(-a.f)), nil
	case k == KindDecimal:
		// The negation of a zero is a plain zero, even of "-0.0"; it
		// keeps every digit the decimal holds.
		w := decValue(a.typ, decNeg(a.d))
		w.myIntg, w.beyond = a.myIntg, a.beyond
		return w, nil
	case k != KindInt:
		return Value{}, unsupported("negating a %s value", k)
	}
	switch {
	case a.typ.Unsigned:
		return Value{}, unsupported("negating an UNSIGNED value")
	case a.constant && a.i < 0:
		// A BIGINT cannot hold -(-2^63), so the server makes the negation
		// of any negative constant expression a DECIMAL.
		return decValue(mysqlDecimal(0, 20), decNeg(decInt(a.i, 0))), nil
	case a.i == math.MinInt64:
		return Value{}, mysqlRange("BIGINT")
	}
	return intValue(mysqlBigint, -a.i), nil
}
