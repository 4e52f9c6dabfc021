package sharding

import (
	"database/sql/driver"
	"encoding/hex"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Kind is the kind of a normalized shard key.
type Kind uint8

// Key kinds. The zero Key has KindInvalid and is treated as NULL.
const (
	KindInvalid Kind = iota
	KindInt          // int64: every Go integer type that fits
	KindString       // string: strings, []byte, UUIDs in canonical text form
	KindTime         // instant in UTC, nanosecond precision
)

// String returns "int", "string", "time" or "invalid".
func (k Kind) String() string {
	if k > KindTime {
		k = KindInvalid
	}
	return [...]string{"invalid", "int", "string", "time"}[k]
}

// Key is a normalized shard-key value: an int64, a string or a UTC instant.
// Keys are small immutable values, safe to copy and share between goroutines.
// Keys are comparable with ==, and two keys are == exactly when they are the
// same kind and value (times compare as instants, whatever their location).
type Key struct {
	kind Kind
	nsec int32  // KindTime: nanoseconds within the second
	i    int64  // KindInt: the value; KindTime: Unix seconds
	s    string // KindString: the value
}

// IntKey returns the Int key v.
func IntKey(v int64) Key { return Key{kind: KindInt, i: v} }

// StringKey returns the String key s.
func StringKey(s string) Key { return Key{kind: KindString, s: s} }

// TimeKey returns the Time key for the instant t (its location and monotonic
// reading are dropped).
func TimeKey(t time.Time) Key {
	return Key{kind: KindTime, i: t.Unix(), nsec: int32(t.Nanosecond())}
}

// Kind returns the key's kind.
func (k Key) Kind() Kind { return k.kind }

// Int returns the value of an Int key (0 for other kinds).
func (k Key) Int() int64 {
	if k.kind != KindInt {
		return 0
	}
	return k.i
}

// Time returns the instant of a Time key in UTC (the zero time for other kinds).
func (k Key) Time() time.Time {
	if k.kind != KindTime {
		return time.Time{}
	}
	return time.Unix(k.i, int64(k.nsec)).UTC()
}

// String returns the key as text: an Int in decimal, a String as itself
// (unquoted), a Time as RFC 3339 with nanoseconds in UTC, "NULL" for the zero
// Key. Lookup sources key their answers by this form.
func (k Key) String() string {
	switch k.kind {
	case KindInt:
		return strconv.FormatInt(k.i, 10)
	case KindString:
		return k.s
	case KindTime:
		return k.Time().Format(time.RFC3339Nano)
	}
	return "NULL"
}

// display is the form used in error messages: strings quoted (and cut).
func (k Key) display() string {
	if k.kind == KindString {
		return quote(k.s)
	}
	return k.String()
}

// Compare orders keys: -1 if k < o, 0 if equal, +1 if k > o. Ints compare
// numerically, Strings bytewise (UTF-8 byte order), Times chronologically.
// Keys of different kinds order by kind (invalid < int < string < time); no
// strategy compares keys of different kinds.
func (k Key) Compare(o Key) int {
	if k.kind != o.kind {
		return cmp3(int64(k.kind), int64(o.kind))
	}
	switch k.kind {
	case KindInt:
		return cmp3(k.i, o.i)
	case KindString:
		return strings.Compare(k.s, o.s)
	case KindTime:
		if c := cmp3(k.i, o.i); c != 0 {
			return c
		}
		return cmp3(int64(k.nsec), int64(o.nsec))
	}
	return 0
}

func cmp3(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Bytes returns the canonical encoding hashed by Hash and JumpHash:
//   - Int: the int64 as 8 bytes big-endian (two's complement);
//   - String: its bytes (UTF-8 for text);
//   - Time: UnixNano as 8 bytes big-endian, computed as
//     uint64(Unix seconds)*1e9 + nanoseconds with wrap-around (equal to
//     t.UnixNano() for years 1678 to 2262);
//   - the zero Key: no bytes.
//
// The encoding is part of the package's compatibility promise. For Int and
// Time keys Bytes does not allocate when the result does not escape.
func (k Key) Bytes() []byte {
	return k.AppendBytes(make([]byte, 0, 8))
}

// AppendBytes appends Bytes() to dst and returns the extended slice.
func (k Key) AppendBytes(dst []byte) []byte {
	switch k.kind {
	case KindInt, KindTime:
		v := k.word()
		return append(dst, byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32),
			byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	case KindString:
		return append(dst, k.s...)
	}
	return dst
}

// word is the 8-byte encoding of an Int or Time key as an integer.
func (k Key) word() uint64 {
	if k.kind == KindTime {
		return uint64(k.i)*1e9 + uint64(k.nsec)
	}
	return uint64(k.i)
}

// maxDepth bounds Valuer and pointer indirections in Normalize.
const maxDepth = 8

var (
	valuerType = reflect.TypeFor[driver.Valuer]()
	timeType   = reflect.TypeFor[time.Time]()
)

// Normalize turns a Go value into a Key:
//   - every signed and unsigned integer type (and named types over them);
//     unsigned values above math.MaxInt64 fail with ErrKeyType;
//   - string and []byte (and named types over them) become String keys;
//   - time.Time (and types convertible to it) becomes a Time key in UTC;
//   - [16]byte and named [16]byte types (UUIDs) become the String key of their
//     canonical lowercase 8-4-4-4-12 hex form, so a uuid.UUID and its text
//     hash alike;
//   - pointers are dereferenced, driver.Valuer values (sql.Null*, uuid.UUID...)
//     are asked for Value() and that is normalized;
//   - a Key is returned as is.
//
// nil, nil pointers, nil []byte and Valuers returning nil fail with
// ErrNullKey; floats, bools and every other type fail with ErrKeyType naming
// the Go type. Errors are *KeyError with an empty Strategy. Normalize does not
// allocate for integers and times.
func Normalize(v any) (Key, error) {
	return normalize(v, 0)
}

func normalize(v any, depth int) (Key, error) {
	switch x := v.(type) {
	case nil:
		return Key{}, nullKey()
	case Key:
		if x.kind == KindInvalid {
			return Key{}, nullKey()
		}
		return x, nil
	case int64:
		return IntKey(x), nil
	case int:
		return IntKey(int64(x)), nil
	case int32:
		return IntKey(int64(x)), nil
	case int16:
		return IntKey(int64(x)), nil
	case int8:
		return IntKey(int64(x)), nil
	case uint64:
		return uintKey(x)
	case uint:
		return uintKey(uint64(x))
	case uint32:
		return IntKey(int64(x)), nil
	case uint16:
		return IntKey(int64(x)), nil
	case uint8:
		return IntKey(int64(x)), nil
	case string:
		return StringKey(x), nil
	case []byte:
		if x == nil {
			return Key{}, nullKey()
		}
		return StringKey(string(x)), nil
	case time.Time:
		return TimeKey(x), nil
	case [16]byte:
		return StringKey(uuidString(x)), nil
	}
	if depth >= maxDepth {
		return Key{}, typeError(v, "too many Valuer or pointer indirections")
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return Key{}, nullKey()
		}
		if !rv.Type().Implements(valuerType) {
			return normalize(rv.Elem().Interface(), depth+1)
		}
	}
	if vr, ok := v.(driver.Valuer); ok {
		dv, err := vr.Value()
		if err != nil {
			return Key{}, &KeyError{Key: fmt.Sprintf("of type %T", v), Err: fmt.Errorf("Value(): %w", err)}
		}
		return normalize(dv, depth+1)
	}
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return IntKey(rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return uintKey(rv.Uint())
	case reflect.String:
		return StringKey(rv.String()), nil
	case reflect.Slice:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			if rv.IsNil() {
				return Key{}, nullKey()
			}
			return StringKey(string(rv.Bytes())), nil
		}
	case reflect.Array:
		if rv.Len() == 16 && rv.Type().Elem().Kind() == reflect.Uint8 {
			var u [16]byte
			reflect.Copy(reflect.ValueOf(&u).Elem(), rv)
			return StringKey(uuidString(u)), nil
		}
	case reflect.Struct:
		if rv.Type().ConvertibleTo(timeType) {
			return TimeKey(rv.Convert(timeType).Interface().(time.Time)), nil
		}
	}
	return Key{}, typeError(v, "")
}

func uintKey(u uint64) (Key, error) {
	if u > math.MaxInt64 {
		return Key{}, &KeyError{Key: strconv.FormatUint(u, 10),
			Err: fmt.Errorf("%w: unsigned value above the int64 range", ErrKeyType)}
	}
	return IntKey(int64(u)), nil
}

func nullKey() error { return &KeyError{Key: "NULL", Err: ErrNullKey} }

func typeError(v any, why string) error {
	if why == "" {
		why = "shard keys are integers, strings, []byte, time.Time or UUIDs"
	}
	shown := fmt.Sprint(v)
	if len(shown) > 64 {
		shown = shown[:64] + "..."
	}
	return &KeyError{Key: fmt.Sprintf("%s (Go type %T)", shown, v), Err: fmt.Errorf("%w: %s", ErrKeyType, why)}
}

// uuidString formats u as lowercase 8-4-4-4-12 hex.
func uuidString(u [16]byte) string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}
