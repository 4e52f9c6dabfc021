package value

import "math"

// Op is an arithmetic operator.
type Op uint8

// The operators.
const (
	// Add is '+'.
	Add Op = iota + 1
	// Sub is binary '-'.
	Sub
	// Mul is '*'.
	Mul
	// Div is '/'.
	Div
	// Mod is '%' (MySQL's MOD too).
	Mod
	// IntDiv is MySQL's DIV.
	IntDiv
)

var opNames = [...]string{Add: "+", Sub: "-", Mul: "*", Div: "/", Mod: "%", IntDiv: "DIV"}

// String returns the operator as SQL writes it ("+", "DIV").
func (op Op) String() string {
	if int(op) < len(opNames) && opNames[op] != "" {
		return opNames[op]
	}
	return "op(" + itoa(int64(op)) + ")"
}

// Arith computes a op b with the dialect's result type, rounding, overflow
// and division rules. A NULL operand gives NULL (of the result type). What
// the server would fail the statement with (integer out of range, division
// by zero on PostgreSQL, a float overflow) comes back as an error wrapping
// ErrArithmetic whose text is the server's message ("bigint out of range",
// "division by zero", "BIGINT value is out of range"). Combinations of
// types and operators whose semantics this package does not reproduce
// fail with ErrUnsupported; so do operands that are not numbers.
//
// A MySQL DECIMAL result holds the digits the server holds, which may be
// more than its type's scale (a quotient keeps whole 9-digit words): they
// carry into later operations, and Driver, Compare and AppendKey round
// them to the scale as the server does.
func Arith(env Env, op Op, a, b Value) (Value, error) {
	if op < Add || op > IntDiv {
		return Value{}, unsupported("operator %s", op)
	}
	var r Value
	var err error
	switch env.Dialect {
	case Postgres:
		r, err = pgArith(op, a, b)
	case MySQL:
		r, err = mysqlArith(env, op, a, b)
	case SQLite:
		r, err = sqliteArith(op, a, b)
	default:
		return Value{}, unsupported("dialect %s", env.Dialect)
	}
	r.constant = err == nil && a.constant && b.constant
	return r, err
}

// Negate computes unary minus with the dialect's rules: integer negation
// overflows as the server's does (PostgreSQL "integer out of range",
// MySQL "BIGINT value is out of range"), decimals keep their scale, NULL
// stays NULL. The negation of a literal is the negative literal, as the
// parsers fold it (see Literal). Otherwise SQLite computes -x as 0 - x (so
// -(-2^63) is a real and -(0.0) is 0.0), and MySQL makes the negation of
// a negative constant expression a DECIMAL. Non-numbers and MySQL
// UNSIGNED values that are not literals fail with ErrUnsupported.
func Negate(env Env, a Value) (Value, error) {
	if a.literal != "" {
		if r, ok, err := negateLiteral(env, a); ok {
			return r, err
		}
	}
	a = asInt(env, a)
	if a.typ.Kind == KindNull {
		return a, nil
	}
	var r Value
	var err error
	switch env.Dialect {
	case SQLite:
		r, err = sqliteArith(Sub, intValue(sqliteInt, 0), a)
	case Postgres:
		r, err = pgNegate(a)
	case MySQL:
		r, err = mysqlNegate(a)
	default:
		return Value{}, unsupported("dialect %s", env.Dialect)
	}
	r.constant = err == nil && a.constant
	return r, err
}

// minInt is the most negative integer of a signed width (64 when unset).
func minInt(bits int) int64 {
	if bits <= 0 || bits >= 64 {
		return math.MinInt64
	}
	return -1 << (bits - 1)
}

func add64(x, y int64) (int64, bool) {
	r := x + y
	return r, (x >= 0) == (y >= 0) && (r >= 0) != (x >= 0)
}

func sub64(x, y int64) (int64, bool) {
	r := x - y
	return r, (x >= 0) != (y >= 0) && (r >= 0) != (x >= 0)
}

func mul64(x, y int64) (int64, bool) {
	if x == 0 || y == 0 {
		return 0, false
	}
	r := x * y
	if (x == -1 && y == math.MinInt64) || (y == -1 && x == math.MinInt64) {
		return r, true
	}
	return r, r/y != x
}

// intOp computes x op y for + - * in 64 bits; overflow reports a result
// beyond int64.
func intOp(op Op, x, y int64) (int64, bool) {
	switch op {
	case Add:
		return add64(x, y)
	case Sub:
		return sub64(x, y)
	}
	return mul64(x, y)
}

// numberKinds reports whether both operands are numbers (or NULLs) the
// dialect computes with.
func numberKinds(env Env, a, b Value) bool {
	return (isNumber(env, a) || a.typ.Kind == KindNull) && (isNumber(env, b) || b.typ.Kind == KindNull)
}

// floatOp is x op y in IEEE double arithmetic for + - * / (a zero divisor
// gives an infinity or NaN; the dialects decide what that means).
func floatOp(op Op, x, y float64) float64 {
	switch op {
	case Add:
		return x + y
	case Sub:
		return x - y
	case Mul:
		return x * y
	}
	return x / y
}
