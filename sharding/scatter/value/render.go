package value

import (
	"math"
	"strconv"
)

// Driver renders v the way t's dialect's driver hands over a value of
// type t, so that GORM scans the merged value exactly as it would scan one
// database's. PostgreSQL (pgx): int2/int4/int8 as int64, numeric as the
// server's text ("-1.2345", "0.00", "NaN"), float4/float8 as float64, text
// as string, bool as bool. MySQL (go-sql-driver, text and binary protocol
// alike): integers as int64, an UNSIGNED BIGINT beyond int64 as uint64 (the
// text protocol; []byte digits when FromDriver saw those, as the binary
// protocol hands them over), DECIMAL as []byte with exactly the column's
// scale (a decimal holding more digits than its declared scale rounded
// half up to it, as the server sends it), DOUBLE as float64, FLOAT as float32, text as []byte. SQLite: by
// the value's storage class (int64, float64, string, []byte). NULL is nil.
//
// It fails with an error wrapping ErrTypeMismatch when v cannot be a value
// of type t (another kind, an integer beyond t's range, a MySQL decimal
// whose scale is not t's), because that means the merge computed
// something the server would not have; and with ErrUnsupported for a
// computed double in a MySQL DOUBLE(m,d) column, which the text protocol
// would round to d decimals and the binary protocol would not.
func (v Value) Driver(t Type) (any, error) {
	if v.IsNull() {
		return nil, nil
	}
	if t.Dialect == SQLite {
		return v.sqliteDriver()
	}
	w := v
	if t.Dialect == MySQL {
		w = asInt(Env{Dialect: MySQL}, v)
	}
	if w.typ.Kind != t.Kind {
		return nil, mismatch("a %s value for a %s column %s", w.typ.Kind, t.Kind, t.Name)
	}
	switch t.Kind {
	case KindInt:
		return w.intDriver(t)
	case KindDecimal:
		return w.decDriver(t)
	case KindFloat:
		if t.Dialect == MySQL && t.Scale >= 0 && w.typ.Scale != t.Scale {
			return nil, unsupported("a computed double in %s(m,%d)", t.Name, t.Scale)
		}
		if t.Bits == 32 {
			if !isFloat32(w.f) {
				return nil, mismatch("%v is not a 32-bit float (%s)", w.f, t.Name)
			}
			if t.Dialect == MySQL {
				return float32(w.f), nil
			}
		}
		return w.f, nil
	case KindText:
		if t.Dialect == MySQL {
			return []byte(w.s), nil
		}
		return w.s, nil
	case KindBytes:
		return []byte(w.s), nil
	case KindBool:
		return w.i != 0, nil
	case KindTime:
		if w.rawTime {
			return w.textForm(), nil
		}
		return w.t, nil
	case KindOther:
		if b, ok := w.raw.([]byte); ok {
			return append([]byte(nil), b...), nil
		}
		return w.raw, nil
	}
	return nil, mismatch("a %s value for %s", w.typ.Kind, t.Name)
}

func (v Value) textForm() any {
	if v.bytesForm {
		return []byte(v.s)
	}
	return v.s
}

func (v Value) intDriver(t Type) (any, error) {
	neg := !v.typ.Unsigned && v.i < 0
	if !intFits(t, v.i, neg) || (!t.Unsigned && v.typ.Unsigned && v.uint() > math.MaxInt64) {
		return nil, mismatch("%s is out of range for %s", v.intString(), t.Name)
	}
	if t.Unsigned && v.uint() > math.MaxInt64 {
		if v.bytesForm {
			return []byte(strconv.FormatUint(v.uint(), 10)), nil
		}
		return v.uint(), nil
	}
	return v.i, nil
}

func (v Value) intString() string {
	if v.typ.Unsigned {
		return strconv.FormatUint(v.uint(), 10)
	}
	return strconv.FormatInt(v.i, 10)
}

func (v Value) decDriver(t Type) (any, error) {
	d := v.d
	if t.Dialect == Postgres {
		if t.Scale >= 0 && d.special == finite && d.scale != t.Scale {
			return nil, mismatch("%s does not have the scale of %s(%d,%d)", d, t.Name, t.Precision, t.Scale)
		}
		return d.String(), nil
	}
	if d.special != finite {
		return nil, mismatch("%s is not a %s", d, t.Name)
	}
	d = v.shown()
	if d.scale != t.Scale {
		return nil, mismatch("%s does not have the scale of %s(%d,%d)", d, t.Name, t.Precision, t.Scale)
	}
	return []byte(d.String()), nil
}

func (v Value) sqliteDriver() (any, error) {
	switch v.typ.Kind {
	case KindInt, KindBool:
		return v.i, nil
	case KindFloat:
		return v.f, nil
	case KindText:
		return v.s, nil
	case KindBytes:
		return []byte(v.s), nil
	case KindTime:
		if v.rawTime {
			return v.textForm(), nil
		}
		return v.t, nil
	}
	return nil, mismatch("a %s value cannot come from SQLite", v.typ.Kind)
}
