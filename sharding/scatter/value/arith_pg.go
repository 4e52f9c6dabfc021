package value

import (
	"math"
)

// pgRange is PostgreSQL's error for an integer result beyond its type.
func pgRange(bits int) error {
	switch bits {
	case 16:
		return arithErr("smallint out of range")
	case 32:
		return arithErr("integer out of range")
	}
	return arithErr("bigint out of range")
}

var errPgDivZero = arithErr("division by zero")

func pgArith(op Op, a, b Value) (Value, error) {
	if op == IntDiv {
		return Value{}, unsupported("PostgreSQL has no DIV operator")
	}
	a, b, err := pgUnify(a, b)
	if err != nil {
		return Value{}, err
	}
	ka, kb := a.typ.Kind, b.typ.Kind
	switch {
	case ka == KindInt && kb == KindInt:
		return pgIntArith(op, a, b)
	case (ka == KindInt || ka == KindDecimal) && (kb == KindInt || kb == KindDecimal):
		return pgNumericArith(op, a, b)
	case (ka == KindFloat || ka == KindInt || ka == KindDecimal) && (kb == KindFloat || kb == KindInt || kb == KindDecimal):
		return pgFloatArith(op, a, b)
	}
	return Value{}, unsupported("PostgreSQL %s %s %s", a.typ.Name, op, b.typ.Name)
}

// pgUnify gives an untyped NULL and a parameter the other operand's type,
// as PostgreSQL resolves an unknown-typed operand.
func pgUnify(a, b Value) (Value, Value, error) {
	if (a.param || a.typ.Kind == KindNull) && (b.param || b.typ.Kind == KindNull) {
		return a, b, unsupported("PostgreSQL cannot type an operation whose operands are both parameters or NULL")
	}
	var err error
	if a.param || a.typ.Kind == KindNull {
		a, err = pgAdopt(a, b.typ)
	} else if b.param || b.typ.Kind == KindNull {
		b, err = pgAdopt(b, a.typ)
	}
	return a, b, err
}

// pgAdopt converts a parameter (or an untyped NULL) to type t, as the server
// does when it infers the parameter's type from the other operand and the
// driver encodes the Go value into it.
func pgAdopt(p Value, t Type) (Value, error) {
	if p.IsNull() {
		return nullOf(t), nil
	}
	w := p
	w.param = false
	switch {
	case p.typ.Kind == KindInt && t.Kind == KindInt:
		if !intFits(t, p.i, p.i < 0) {
			return Value{}, unsupported("parameter %d does not fit %s", p.i, t.Name)
		}
		w.typ = pgInt(t.Bits)
	case p.typ.Kind == KindInt && t.Kind == KindDecimal:
		w = decValue(pgNumeric, decInt(p.i, 0))
	case p.typ.Kind == KindInt && t.Kind == KindFloat:
		lim := int64(1) << 53
		if t.Bits == 32 {
			lim = 1 << 24
		}
		if p.i > lim || p.i < -lim {
			return Value{}, unsupported("parameter %d is not exact in %s", p.i, t.Name)
		}
		w = floatValue(pgFloat(t.Bits), float64(p.i))
	case p.typ.Kind == KindText && t.Kind == KindText,
		p.typ.Kind == KindBool && t.Kind == KindBool:
		w.typ = t
	case p.typ.Kind == KindTime && t.Kind == KindTime && t.Name == "TIMESTAMPTZ":
		w.typ = t
	default:
		return Value{}, unsupported("a %s parameter where PostgreSQL infers %s", p.typ.Kind, t.Name)
	}
	return w, nil
}

func bitsOf(t Type) int {
	if t.Bits == 16 || t.Bits == 32 {
		return t.Bits
	}
	return 64
}

func pgIntArith(op Op, a, b Value) (Value, error) {
	bits := max(bitsOf(a.typ), bitsOf(b.typ))
	t := pgInt(bits)
	if a.null || b.null {
		return nullOf(t), nil
	}
	x, y := a.i, b.i
	var r int64
	switch op {
	case Add, Sub, Mul:
		var over bool
		r, over = intOp(op, x, y)
		if over || !intFits(t, r, r < 0) {
			return Value{}, pgRange(bits)
		}
	case Div:
		if y == 0 {
			return Value{}, errPgDivZero
		}
		if y == -1 && x == minInt(bits) {
			return Value{}, pgRange(bits)
		}
		r = x / y
	case Mod:
		if y == 0 {
			return Value{}, errPgDivZero
		}
		if y != -1 {
			r = x % y
		}
	}
	return intValue(t, r), nil
}

// pgNumericMaxDigits is the most digits numeric holds before the point.
const pgNumericMaxDigits = 131072

func pgNumericArith(op Op, a, b Value) (Value, error) {
	if a.null || b.null {
		return nullOf(pgNumeric), nil
	}
	x, y := a.dec(), b.dec()
	if x.special != finite || y.special != finite {
		return Value{}, unsupported("arithmetic on numeric NaN or Infinity")
	}
	var r decimal
	switch {
	case (op == Div || op == Mod) && y.isZero():
		return Value{}, errPgDivZero
	case op == Div:
		r = decQuo(x, y, pgDivScale(x, y), halfAway)
	default:
		r = decOp(op, x, y)
	}
	if r.scale > 1000 {
		return Value{}, unsupported("numeric with scale %d", r.scale)
	}
	if r.intDigits() > pgNumericMaxDigits {
		return Value{}, arithErr("value overflows numeric format")
	}
	return decValue(pgNumeric, r), nil
}

// pgDivScale is the scale PostgreSQL's numeric division gives its result
// (select_div_scale in numeric.c): enough fractional digits for at least
// 16 significant digits, estimated from the operands' weights and first
// digits in base 10000, and no fewer than either operand's display scale;
// at most 1000.
func pgDivScale(x, y decimal) int {
	w1, f1 := pgWeight(x)
	w2, f2 := pgWeight(y)
	qweight := w1 - w2
	if f1 <= f2 {
		qweight--
	}
	rscale := 16 - qweight*4
	rscale = max(rscale, x.scale, y.scale, 0)
	return min(rscale, 1000)
}

// pgWeight returns the weight and the value of the first non-zero digit of
// d in PostgreSQL's base-10000 representation (digits aligned on the
// decimal point); zero has weight 0 and first digit 0.
func pgWeight(d decimal) (int, int64) { return d.leading(4) }

func pgFloatArith(op Op, a, b Value) (Value, error) {
	if op == Mod {
		return Value{}, unsupported("PostgreSQL has no %% operator for double precision")
	}
	bits := 64
	if a.typ.Kind == KindFloat && b.typ.Kind == KindFloat && a.typ.Bits == 32 && b.typ.Bits == 32 {
		bits = 32
	}
	t := pgFloat(bits)
	if a.null || b.null {
		return nullOf(t), nil
	}
	x, okx := a.float()
	y, oky := b.float()
	if !okx || !oky || (a.typ.Kind == KindDecimal && x == 0 && !a.d.isZero()) || (b.typ.Kind == KindDecimal && y == 0 && !b.d.isZero()) {
		return Value{}, unsupported("numeric beyond double precision's range")
	}
	if bits == 32 {
		r, err := pgFloatOp(op, float64(float32(x)), float64(float32(y)), func(f float64) float64 { return float64(float32(f)) })
		return floatValue(t, r), err
	}
	r, err := pgFloatOp(op, x, y, func(f float64) float64 { return f })
	return floatValue(t, r), err
}

// pgFloatOp applies PostgreSQL's float checks (float.h's float8_pl and
// friends) around IEEE arithmetic rounded by round: an infinite result
// from finite operands overflows, a zero product or quotient from non-zero
// operands underflows, and dividing by zero fails unless the dividend is
// NaN.
func pgFloatOp(op Op, x, y float64, round func(float64) float64) (float64, error) {
	r := round(floatOp(op, x, y))
	switch {
	case op == Div && y == 0 && !math.IsNaN(x):
		return 0, errPgDivZero
	case op == Mul && r == 0 && x != 0 && y != 0,
		op == Div && r == 0 && x != 0 && !math.IsInf(y, 0):
		return 0, arithErr("value out of range: underflow")
	case math.IsInf(r, 0) && !math.IsInf(x, 0) && (op == Div || !math.IsInf(y, 0)):
		return 0, arithErr("value out of range: overflow")
	}
	return r, nil
}

func pgNegate(a Value) (Value, error) {
	if a.param {
		return Value{}, unsupported("-$n: PostgreSQL types the parameter from its context")
	}
	w := a
	switch {
	case a.null && (a.typ.Kind == KindInt || a.typ.Kind == KindDecimal || a.typ.Kind == KindFloat):
	case a.typ.Kind == KindInt:
		if a.i == minInt(bitsOf(a.typ)) {
			return Value{}, pgRange(bitsOf(a.typ))
		}
		w.i = -a.i
	case a.typ.Kind == KindFloat:
		w.f = -a.f
	case a.typ.Kind == KindDecimal:
		switch a.d.special {
		case posInf:
			w.d.special = negInf
		case negInf:
			w.d.special = posInf
		case finite:
			w.d = decNeg(a.d)
		}
	default:
		return Value{}, unsupported("-(%s)", a.typ.Name)
	}
	return w, nil
}
