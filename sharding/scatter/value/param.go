package value

import (
	"database/sql/driver"
	"math"
	"reflect"
	"time"
)

// Param types a Go value bound to a placeholder as the dialect's server
// types it in a comparison or arithmetic context: Go integers are 64-bit
// integers (a uint64 beyond int64 is a MySQL BIGINT UNSIGNED), a string is
// text, a bool a boolean (MySQL and SQLite compute with it as 1 or 0), nil
// is NULL, a time.Time a timestamp. On PostgreSQL a parameter takes the
// type the server infers for it from the other operand, as the server
// does (an integer parameter added to an int4 is an int4), and operations
// whose operands are both parameters fail with ErrUnsupported.
//
// float32 and float64 are DOUBLE on MySQL and real on SQLite; on
// PostgreSQL they fail with ErrUnsupported, since the server infers a
// parameter's type from its context, which the merge cannot reproduce for
// floats. Any other Go type fails with ErrUnsupported.
func Param(env Env, v any) (Value, error) {
	if env.Dialect == 0 || env.Dialect > SQLite {
		return Value{}, unsupported("parameters of dialect %s", env.Dialect)
	}
	if v == nil {
		return Null(), nil
	}
	var w Value
	if _, ok := v.(driver.Valuer); ok {
		return Value{}, unsupported("a %T parameter (a driver.Valuer)", v)
	}
	if t, ok := v.(time.Time); ok {
		w = Value{typ: Type{Kind: KindTime, Name: "TIMESTAMPTZ", Dialect: env.Dialect}, t: t}
		w.param = env.Dialect == Postgres
		return w, nil
	}
	// Named types (type ID int64) bind as their kind, as database/sql's
	// default converter binds them.
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		w = intValue(paramInt(env), rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if u := rv.Uint(); u > math.MaxInt64 {
			return paramUint(env, u)
		}
		w = intValue(paramInt(env), int64(rv.Uint()))
	case reflect.String:
		w = Value{typ: Type{Kind: KindText, Name: "TEXT", Dialect: env.Dialect}, s: rv.String()}
	case reflect.Bool:
		w = Bool(rv.Bool())
		w.constant = false
	case reflect.Float32, reflect.Float64:
		switch env.Dialect {
		case MySQL:
			return floatValue(mysqlDouble, rv.Float()), nil
		case SQLite:
			return floatValue(sqliteReal, rv.Float()), nil
		}
		return Value{}, unsupported("a %T parameter: PostgreSQL types it from its context", v)
	default:
		return Value{}, unsupported("a %T parameter", v)
	}
	w.param = env.Dialect == Postgres
	return w, nil
}

func paramInt(env Env) Type {
	switch env.Dialect {
	case Postgres:
		return pgInt(64)
	case SQLite:
		return sqliteInt
	}
	return mysqlBigint
}

// paramUint types an unsigned integer beyond int64.
func paramUint(env Env, u uint64) (Value, error) {
	if env.Dialect != MySQL {
		return Value{}, unsupported("parameter %d is beyond int64", u)
	}
	t := mysqlBigint
	t.Unsigned, t.Name = true, "UNSIGNED BIGINT"
	return intValue(t, int64(u)), nil
}
