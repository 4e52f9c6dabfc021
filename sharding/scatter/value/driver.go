package value

import (
	"bytes"
	"math"
	"strconv"
	"time"
)

// FromDriver converts a value a shard's driver returned, as database/sql
// hands it to a *any destination (int64, uint64, float64, float32, bool,
// []byte, string, time.Time or nil), for a column of type t. It fails with
// an error wrapping ErrTypeMismatch when the Go value cannot be one of
// type t as that dialect's driver hands it over (a string for an INT8, an
// int8 value beyond an INT4's range, a MySQL DECIMAL whose digits do not
// match the column's scale). SQLite values are typed by their Go type,
// whatever the column's declared type.
func FromDriver(t Type, v any) (Value, error) {
	if v == nil && t.Dialect == SQLite {
		return nullOf(Type{Kind: KindNull, Name: t.Name, Dialect: SQLite}), nil
	}
	if v == nil {
		return nullOf(t), nil
	}
	if t.Dialect == SQLite {
		return sqliteFromDriver(t, v)
	}
	switch t.Kind {
	case KindInt:
		return intFromDriver(t, v)
	case KindDecimal:
		return decFromDriver(t, v)
	case KindFloat:
		switch x := v.(type) {
		case float64:
			if t.Bits == 32 && !isFloat32(x) {
				return Value{}, mismatch("%v is not a 32-bit float (%s)", x, t.Name)
			}
			return floatValue(t, x), nil
		case float32:
			return floatValue(t, float64(x)), nil
		}
	case KindText, KindBytes:
		switch x := v.(type) {
		case string:
			return Value{typ: t, s: x}, nil
		case []byte:
			return Value{typ: t, s: string(x)}, nil
		}
	case KindBool:
		if b, ok := v.(bool); ok {
			w := Value{typ: t}
			if b {
				w.i = 1
			}
			return w, nil
		}
	case KindTime:
		switch x := v.(type) {
		case time.Time:
			return Value{typ: t, t: x}, nil
		case string:
			return Value{typ: t, s: x, rawTime: true}, nil
		case []byte:
			return Value{typ: t, s: string(x), rawTime: true, bytesForm: true}, nil
		}
	case KindOther:
		if b, ok := v.([]byte); ok {
			v = bytes.Clone(b)
		}
		return Value{typ: t, raw: v}, nil
	}
	return Value{}, mismatch("%T value for a %s column %s", v, t.Kind, t.Name)
}

func isFloat32(f float64) bool { return math.IsNaN(f) || float64(float32(f)) == f }

func intFromDriver(t Type, v any) (Value, error) {
	switch x := v.(type) {
	case int64:
		if !intFits(t, x, x < 0) {
			return Value{}, mismatch("%d is out of range for %s", x, t.Name)
		}
		return intValue(t, x), nil
	case uint64:
		if !t.Unsigned && x > math.MaxInt64 {
			return Value{}, mismatch("%d is out of range for %s", x, t.Name)
		}
		return intValue(t, int64(x)), nil
	case []byte, string:
		// go-sql-driver's binary protocol hands an UNSIGNED BIGINT beyond
		// int64 over as its digits.
		s := asString(x)
		u, err := strconv.ParseUint(s, 10, 64)
		if err != nil || !t.Unsigned {
			return Value{}, mismatch("%q for %s", s, t.Name)
		}
		w := intValue(t, int64(u))
		_, w.bytesForm = x.([]byte)
		return w, nil
	}
	return Value{}, mismatch("%T value for %s", v, t.Name)
}

// intFits reports whether the integer with bits i (negative when neg, for
// a signed reading) is in t's range.
func intFits(t Type, i int64, neg bool) bool {
	bits := t.Bits
	if bits <= 0 || bits > 64 {
		bits = 64
	}
	if t.Unsigned {
		return !neg && (bits == 64 || uint64(i) < 1<<bits)
	}
	if bits == 64 {
		return true
	}
	lim := int64(1) << (bits - 1)
	return i >= -lim && i < lim
}

func asString(v any) string {
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	s, _ := v.(string)
	return s
}

func decFromDriver(t Type, v any) (Value, error) {
	var s string
	switch x := v.(type) {
	case string, []byte:
		s = asString(x)
	default:
		return Value{}, mismatch("%T value for %s", v, t.Name)
	}
	if t.Dialect == Postgres {
		switch s {
		case "NaN":
			return decValue(t, decimal{special: nan}), nil
		case "Infinity":
			return decValue(t, decimal{special: posInf}), nil
		case "-Infinity":
			return decValue(t, decimal{special: negInf}), nil
		}
	}
	d, ok := parseDecimal(s)
	if !ok || containsExp(s) {
		return Value{}, mismatch("%q is not a %s", s, t.Name)
	}
	if t.Scale >= 0 && d.scale != t.Scale {
		return Value{}, mismatch("%q does not have the %d fractional digits of %s", s, t.Scale, t.Name)
	}
	return decValue(t, d), nil
}

func containsExp(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == 'e' || s[i] == 'E' {
			return true
		}
	}
	return false
}

func sqliteFromDriver(t Type, v any) (Value, error) {
	switch x := v.(type) {
	case int64:
		return intValue(sqliteInt, x), nil
	case float64:
		return floatValue(sqliteReal, x), nil
	case string:
		return Value{typ: sqliteText, s: x}, nil
	case []byte:
		return Value{typ: sqliteBlob, s: string(x)}, nil
	case time.Time:
		return Value{typ: Type{Kind: KindTime, Name: t.Name, Dialect: SQLite}, t: x}, nil
	case bool:
		return Bool(x), nil
	}
	return Value{}, mismatch("%T value from SQLite", v)
}
