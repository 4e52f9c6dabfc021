package value

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"time"
)

// Key tags: one per class of values that '=' can find equal.
const (
	keyNull   = 'z'
	keyNumber = 'n'
	keyText   = 't'
	keyBytes  = 'b'
	keyTime   = 'T'
	keyRaw    = 'r'
	keyOther  = 'o'
)

// AppendKey appends to dst a canonical encoding of v such that two values
// get equal keys exactly when the dialect's '=' finds them equal, for
// grouping and DISTINCT: numbers of every kind by exact value (1, 1.0 and
// numeric 1.00 are one key; a float that is not an integer by the shortest
// decimal that reads back as it, so that a float column's distinct values
// keep distinct keys; a MySQL decimal by the value it shows, rounded to
// its declared scale, as '=', GROUP BY and DISTINCT take it), times by
// instant, text through textKey (the collation's equality key, appended
// to its dst; nil means the bytes themselves), and NULL by a key of its
// own, since GROUP BY puts all NULLs in one group. On MySQL a decimal
// zero that kept a negative sign ("-0.00"), which '=' finds below 0, has
// the key of 0, as GROUP BY takes it; and a decimal for which
// MayExceedPrecision reports true is keyed by its value, as '=' takes it,
// while GROUP BY clips it. Values of KindOther are keyed by the driver's
// representation, which matches '=' only for types whose text is
// canonical, and SQLite times by wall clock and offset (SQLite compares
// the text they are stored as, which the driver parsed). Keys are
// self-delimiting, so the keys of several columns may be appended one
// after another.
func (v Value) AppendKey(dst []byte, textKey func(dst []byte, s string) []byte) []byte {
	start := len(dst)
	tag := byte(keyNull)
	switch {
	case v.IsNull():
	case v.typ.Kind == KindInt || v.typ.Kind == KindBool || v.typ.Kind == KindDecimal || v.typ.Kind == KindFloat:
		tag = keyNumber
		dst = v.appendNumberKey(append(dst, tag))
	case v.typ.Kind == KindText:
		tag = keyText
		dst = append(dst, tag)
		if textKey == nil {
			dst = append(dst, v.s...)
		} else {
			dst = textKey(dst, v.s)
		}
	case v.typ.Kind == KindBytes:
		tag = keyBytes
		dst = append(append(dst, tag), v.s...)
	case v.typ.Kind == KindTime && v.rawTime:
		tag = keyRaw
		dst = append(append(dst, tag), v.s...)
	case v.typ.Kind == KindTime && v.typ.Dialect == SQLite:
		// SQLite's '=' compares the stored text, which the driver parsed:
		// key by wall clock and offset, not by instant.
		tag = keyRaw
		dst = v.t.AppendFormat(append(dst, tag), time.RFC3339Nano)
	case v.typ.Kind == KindTime:
		tag = keyTime
		dst = append(dst, tag)
		dst = binary.BigEndian.AppendUint64(dst, uint64(v.t.Unix()))
		dst = binary.BigEndian.AppendUint32(dst, uint32(v.t.Nanosecond()))
	default:
		tag = keyOther
		dst = append(dst, tag)
		switch r := v.raw.(type) {
		case []byte:
			dst = append(dst, r...)
		case string:
			dst = append(dst, r...)
		default:
			dst = fmt.Appendf(dst, "%T:%v", r, r)
		}
	}
	if tag == keyNull {
		dst = append(dst, tag)
	}
	// The payload's length closes the key, so that concatenated keys
	// parse back from the right and never run into each other.
	return binary.BigEndian.AppendUint32(dst, uint32(len(dst)-start))
}

// appendNumberKey appends the exact value of a number as sign, digits
// without trailing zeros and exponent ("-15e-1"); non-finite values as
// "NaN", "+Inf", "-Inf".
func (v Value) appendNumberKey(dst []byte) []byte {
	var d decimal
	switch v.typ.Kind {
	case KindInt, KindBool:
		if v.typ.Unsigned {
			d = decBigUint(v.uint())
		} else {
			d = decInt(v.i, 0)
		}
	case KindDecimal:
		d = v.shown()
	case KindFloat:
		d = floatKeyDecimal(v.f, v.typ.Bits)
	}
	switch d.special {
	case nan:
		return append(dst, "NaN"...)
	case posInf:
		return append(dst, "+Inf"...)
	case negInf:
		return append(dst, "-Inf"...)
	}
	c, e := d.trimmed()
	dst = c.Append(dst, 10)
	return strconv.AppendInt(append(dst, 'e'), int64(e), 10)
}

// floatKeyDecimal is the decimal a float is keyed by: its exact value when
// it is an integer (so that it meets equal integers), else the shortest
// decimal that reads back as it.
func floatKeyDecimal(f float64, bits int) decimal {
	switch {
	case math.IsNaN(f):
		return decimal{special: nan}
	case math.IsInf(f, 1):
		return decimal{special: posInf}
	case math.IsInf(f, -1):
		return decimal{special: negInf}
	case f == math.Trunc(f):
		i, _ := new(big.Float).SetFloat64(f).Int(nil)
		return decimal{coef: i}
	}
	if bits != 32 {
		bits = 64
	}
	d, _ := parseDecimal(strconv.FormatFloat(f, 'e', -1, bits))
	return d
}
