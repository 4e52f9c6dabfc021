package value

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// Value is a SQL value with its SQL type. The zero Value is NULL (as is
// Null()). Values are immutable and safe to share between goroutines.
type Value struct {
	typ  Type
	null bool
	i    int64   // Int (an Unsigned one holds its uint64 bits), Bool as 0 or 1
	f    float64 // Float; a 32-bit float holds its exact widening
	// d is a Decimal. A computed MySQL decimal holds the fractional digits
	// the server's holds, which for a quotient (AVG), and what is computed
	// from one, are more than its type's Scale (and for some zeros fewer):
	// MariaDB rounds them half up to the declared scale only when it hands
	// the value over or compares it (see shown).
	d   decimal
	s   string // Text, Bytes, and a Time the driver handed over as text
	t   time.Time
	raw any // Other: the driver's value as it came
	// param marks a value bound to a PostgreSQL placeholder: the server
	// types it from the other operand, as it infers a parameter's type.
	param bool
	// bytesForm records that the driver handed a time, or an UNSIGNED
	// BIGINT beyond int64 (the binary protocol), over as []byte, so Driver
	// hands it back alike.
	bytesForm bool
	// rawTime marks a Time the driver handed over as text (no parseTime).
	rawTime bool
	// constant marks a literal, or an expression of literals: MySQL types
	// the negation of a negative constant as DECIMAL.
	constant bool
	// literal is a numeric literal's text, sign included: the parsers
	// fold a minus sign into the literal it precedes.
	literal string
	// myIntg is the number of integer digits MariaDB's decimal holds for a
	// computed MySQL decimal (a multiple of 9 for whole words, some of
	// them zero), when it may exceed the value's own; 0 when it does not.
	myIntg int
	// beyond marks a MySQL decimal that may have more integer digits than
	// its type's precision allows: a quotient by a divisor smaller than
	// the scale it shows (1/(1/300000) is 300030.0030 of type
	// DECIMAL(9,4)), or a value computed from one. MariaDB's sort keys
	// clip such values.
	beyond bool
	// avgReal marks a MySQL AVG of integers or DECIMAL: f is then the
	// double MariaDB computes for it in a double context when it reads
	// the aggregate directly (the double sum divided by the count), which
	// it uses instead of the quotient's double depending on the plan.
	avgReal bool
}

// Null returns the SQL NULL of no particular type.
func Null() Value { return Value{null: true} }

// IsNull reports whether v is NULL.
func (v Value) IsNull() bool { return v.null || v.typ.Kind == KindNull }

// Type returns v's SQL type. A NULL that FromDriver made keeps its
// column's type; Null() has KindNull.
func (v Value) Type() Type { return v.typ }

// Text returns a string literal's value: text, the type every dialect
// gives an unadorned string literal.
func Text(s string) Value {
	return Value{typ: Type{Kind: KindText, Name: "TEXT"}, s: s, constant: true}
}

// Bool returns the TRUE or FALSE literal. MySQL and SQLite compute with it
// as the integer 1 or 0, as they do.
func Bool(b bool) Value {
	v := Value{typ: boolType, constant: true}
	if b {
		v.i = 1
	}
	return v
}

func nullOf(t Type) Value { return Value{typ: t, null: true} }

func intValue(t Type, i int64) Value { return Value{typ: t, i: i} }

func floatValue(t Type, f float64) Value { return Value{typ: t, f: f} }

func decValue(t Type, d decimal) Value { return Value{typ: t, d: d} }

// uint returns an Unsigned Int's value.
func (v Value) uint() uint64 { return uint64(v.i) }

// isNumber reports whether v is an Int, Decimal or Float (or a Bool that
// the dialect computes with as an integer).
func isNumber(env Env, v Value) bool {
	switch v.typ.Kind {
	case KindInt, KindDecimal, KindFloat:
		return true
	case KindBool:
		return env.Dialect == MySQL || env.Dialect == SQLite
	}
	return false
}

// asInt returns v as an Int of the dialect when v is a Bool that the
// dialect computes with as an integer.
func asInt(env Env, v Value) Value {
	if v.typ.Kind != KindBool || env.Dialect == Postgres {
		return v
	}
	t := mysqlBigint
	if env.Dialect == SQLite {
		t = sqliteInt
	}
	w := intValue(t, v.i)
	w.null, w.constant = v.null, v.constant
	return w
}

// float returns a numeric v as a float64 as the server converts it to
// double precision; ok is false when the value is out of range.
func (v Value) float() (float64, bool) {
	switch v.typ.Kind {
	case KindFloat:
		return v.f, true
	case KindInt, KindBool:
		if v.typ.Unsigned {
			return float64(v.uint()), true
		}
		return float64(v.i), true
	case KindDecimal:
		switch v.d.special {
		case nan:
			return math.NaN(), true
		case posInf:
			return math.Inf(1), true
		case negInf:
			return math.Inf(-1), true
		}
		return v.d.float64()
	}
	return 0, false
}

// dec returns an Int or Decimal v as a decimal.
func (v Value) dec() decimal {
	if v.typ.Kind == KindDecimal {
		return v.d
	}
	if v.typ.Unsigned {
		return decBigUint(v.uint())
	}
	return decInt(v.i, 0)
}

// String describes v for messages and logs: its type's name and its value,
// e.g. "INT8 42", "NUMERIC 1.50", "NULL"; a MySQL decimal that holds more
// digits than it shows adds them in parentheses: "DECIMAL 0.6667
// (0.666666666)".
func (v Value) String() string {
	name := v.typ.Name
	if name == "" {
		name = v.typ.Kind.String()
	}
	if v.IsNull() {
		return "NULL"
	}
	switch v.typ.Kind {
	case KindInt:
		return name + " " + v.intString()
	case KindDecimal:
		shown := v.shown()
		if shown.String() != v.d.String() {
			// A MySQL decimal with digits beyond its scale: "0.6667
			// (0.666666666)".
			return name + " " + shown.String() + " (" + v.d.String() + ")"
		}
		return name + " " + v.d.String()
	case KindFloat:
		return name + " " + strconv.FormatFloat(v.f, 'g', -1, 64)
	case KindText, KindBytes:
		return name + " " + strconv.Quote(v.s)
	case KindBool:
		return name + " " + strconv.FormatBool(v.i != 0)
	case KindTime:
		if v.rawTime {
			return name + " " + v.s
		}
		return name + " " + v.t.String()
	}
	return name + " " + fmt.Sprint(v.raw)
}
