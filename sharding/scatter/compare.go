package scatter

import (
	"cmp"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// kind orders the classes of values a column may hold, as SQLite orders
// its storage classes: numbers, then times, then text, then blobs. Within
// one column of a real database all values share one class; the ranking
// only keeps comparisons total.
type kind uint8

const (
	kNull kind = iota
	kNum
	kTime
	kText
	kBlob
	kOther
)

// number is an exact numeric value: an int64, a float64, or a rational
// parsed from decimal text (MySQL DECIMAL, PostgreSQL numeric).
type number struct {
	form byte // 'i', 'f' or 'r'
	i    int64
	f    float64
	r    *big.Rat
}

// key is a column value normalized once for comparisons and grouping.
type key struct {
	k kind
	n number
	t time.Time
	s string // text, blob bytes, or fmt of an unknown type
}

// numericType reports whether a database type name (as a driver's
// ColumnTypeDatabaseTypeName reports it) holds numbers, so that values the
// driver hands over as text or bytes are compared as numbers.
func numericType(name string) bool {
	name = strings.ToUpper(strings.TrimSpace(name))
	if i := strings.IndexByte(name, '('); i >= 0 {
		name = strings.TrimSpace(name[:i])
	}
	name = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(name, "UNSIGNED "), " UNSIGNED"))
	switch name {
	case "INT", "INTEGER", "TINYINT", "SMALLINT", "MEDIUMINT", "BIGINT",
		"INT2", "INT4", "INT8", "SERIAL", "SMALLSERIAL", "BIGSERIAL",
		"DECIMAL", "DEC", "NUMERIC", "NUMBER", "FIXED",
		"REAL", "FLOAT", "FLOAT4", "FLOAT8", "DOUBLE", "DOUBLE PRECISION":
		return true
	}
	return false
}

// toNumber converts a numeric driver value. Text is parsed only when text
// is true (a numeric column, or an aggregate that must be a number).
func toNumber(v any, text bool) (number, bool) {
	switch x := v.(type) {
	case int64:
		return number{form: 'i', i: x}, true
	case float64:
		return number{form: 'f', f: x}, true
	case bool:
		if x {
			return number{form: 'i', i: 1}, true
		}
		return number{form: 'i'}, true
	case int:
		return number{form: 'i', i: int64(x)}, true
	case int32:
		return number{form: 'i', i: int64(x)}, true
	case uint32:
		return number{form: 'i', i: int64(x)}, true
	case float32:
		return number{form: 'f', f: float64(x)}, true
	case uint64:
		if x <= math.MaxInt64 {
			return number{form: 'i', i: int64(x)}, true
		}
		return number{form: 'r', r: new(big.Rat).SetFrac(new(big.Int).SetUint64(x), big.NewInt(1))}, true
	case string:
		if text {
			return parseNumber(x)
		}
	case []byte:
		if text {
			return parseNumber(string(x))
		}
	}
	return number{}, false
}

func parseNumber(s string) (number, bool) {
	s = strings.TrimSpace(s)
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return number{form: 'i', i: i}, true
	}
	if s != "" && strings.Trim(s, "0123456789.+-eE") == "" {
		if r, ok := new(big.Rat).SetString(s); ok {
			return number{form: 'r', r: r}, true
		}
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil { // NaN, Infinity
		return number{form: 'f', f: f}, true
	}
	return number{}, false
}

// special reports a float that no rational can stand for.
func (n number) special() bool {
	return n.form == 'f' && (math.IsNaN(n.f) || math.IsInf(n.f, 0))
}

func (n number) float() float64 {
	switch n.form {
	case 'i':
		return float64(n.i)
	case 'r':
		f, _ := n.r.Float64()
		return f
	}
	return n.f
}

func (n number) rat() *big.Rat {
	switch n.form {
	case 'i':
		return new(big.Rat).SetInt64(n.i)
	case 'f':
		return new(big.Rat).SetFloat64(n.f)
	}
	return n.r
}

// compareNumbers orders numbers exactly; NaN is above every number and
// equal to itself (PostgreSQL's rule).
func compareNumbers(a, b number) int {
	switch {
	case a.form == 'i' && b.form == 'i':
		return cmp.Compare(a.i, b.i)
	case a.form == 'f' && b.form == 'f', a.special() || b.special():
		an, bn := math.IsNaN(a.float()), math.IsNaN(b.float())
		if an || bn {
			return cmpBool(an, bn)
		}
		return cmp.Compare(a.float(), b.float())
	}
	return a.rat().Cmp(b.rat())
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// keyOf normalizes v, a value of a column whose database type is numeric
// when num is true.
func keyOf(v any, num bool) key {
	if v == nil {
		return key{k: kNull}
	}
	if n, ok := toNumber(v, num); ok {
		return key{k: kNum, n: n}
	}
	switch x := v.(type) {
	case time.Time:
		return key{k: kTime, t: x}
	case string:
		return key{k: kText, s: x}
	case []byte:
		return key{k: kBlob, s: string(x)}
	}
	return key{k: kOther, s: fmt.Sprintf("%T:%v", v, v)}
}

// compareKeys orders two non-NULL keys: numbers numerically, times
// chronologically, text and bytes lexicographically by bytes (the BINARY or
// "C" collation — case-insensitive collations are not reproduced).
func compareKeys(a, b *key) int {
	if a.k != b.k {
		return cmp.Compare(a.k, b.k)
	}
	switch a.k {
	case kNum:
		return compareNumbers(a.n, b.n)
	case kTime:
		return a.t.Compare(b.t)
	}
	return strings.Compare(a.s, b.s)
}

// canonical writes a string that is equal for two keys exactly when they
// compare equal, for grouping: 1, 1.0 and "1.00" in a numeric column are
// one group; times equal as instants are one group.
func (k key) canonical(b *strings.Builder) {
	var s string
	switch k.k {
	case kNull:
		s = "z"
	case kNum:
		switch {
		case k.n.form == 'i':
			s = "n" + strconv.FormatInt(k.n.i, 10)
		case k.n.special():
			s = "n" + strconv.FormatFloat(k.n.f, 'g', -1, 64)
		default:
			if r := k.n.rat(); r.IsInt() {
				s = "n" + r.Num().String()
			} else {
				s = "n" + r.String()
			}
		}
	case kTime:
		s = "t" + k.t.UTC().Format(time.RFC3339Nano)
	case kText:
		s = "s" + k.s
	case kBlob:
		s = "b" + k.s
	default:
		s = "o" + k.s
	}
	b.WriteString(strconv.Itoa(len(s)))
	b.WriteByte(':')
	b.WriteString(s)
}
