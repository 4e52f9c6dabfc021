package value

import (
	"strings"
)

// Kind is the class of a SQL type as the merge computes with it.
type Kind uint8

// The kinds. (They are named Kind... because Null, Text and Bool name the
// functions that make such values.)
const (
	// KindNull is the type of a bare NULL literal (and of Null()).
	KindNull Kind = iota
	// KindInt is an integer type (PostgreSQL int2/int4/int8, MySQL's integer
	// types, SQLite's INTEGER storage class).
	KindInt
	// KindDecimal is an exact decimal type (PostgreSQL numeric, MySQL DECIMAL).
	KindDecimal
	// KindFloat is a binary floating-point type (float4/float8, FLOAT/DOUBLE,
	// SQLite REAL).
	KindFloat
	// KindText is a character string type.
	KindText
	// KindBytes is a binary string type (bytea, BLOB, VARBINARY).
	KindBytes
	// KindBool is PostgreSQL's boolean, and the TRUE/FALSE literals.
	KindBool
	// KindTime is a date or timestamp type.
	KindTime
	// KindOther is any other type: values pass through unchanged but cannot be
	// computed with.
	KindOther
)

var kindNames = [...]string{"Null", "Int", "Decimal", "Float", "Text", "Bytes", "Bool", "Time", "Other"}

// String returns the kind's name without its prefix, e.g. "Decimal".
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + itoa(int64(k)) + ")"
}

// Type is a SQL type as the merge needs it.
type Type struct {
	Kind Kind
	// Bits is the width of an Int (16, 32 or 64 for PostgreSQL's
	// int2/int4/int8; 8, 16, 24, 32 or 64 for MySQL's) or of a Float (32
	// or 64).
	Bits int
	// Unsigned marks MySQL UNSIGNED integers.
	Unsigned bool
	// Scale is a Decimal's fixed scale (MySQL DECIMAL(p,s), PostgreSQL
	// numeric(p,s)), or -1 when each value has its own (PostgreSQL
	// numeric without a type modifier). For a MySQL Float it is the
	// column's fixed number of decimals (DOUBLE(m,d)), or -1 when it has
	// none; otherwise 0.
	Scale int
	// Precision is a Decimal's precision when known, else 0.
	Precision int
	// Name is the database type name, as the driver's
	// ColumnTypeDatabaseTypeName reports it ("INT8", "NUMERIC", "BIGINT",
	// "DECIMAL", "DOUBLE", "TEXT", ...); for SQLite, the declared type.
	Name string
	// Dialect is the dialect whose driver hands over values of this type.
	// A SQLite type is only the declared type: each SQLite value has its
	// own storage class, so FromDriver and Driver go by the Go value.
	Dialect Dialect
}

// TypeOf classifies a result column from its driver metadata:
// databaseTypeName is *sql.ColumnType.DatabaseTypeName(), and precision,
// scale and hasDecimalSize are *sql.ColumnType.DecimalSize(). Names it does
// not know give KindOther.
func TypeOf(env Env, databaseTypeName string, precision, scale int64, hasDecimalSize bool) Type {
	name := strings.ToUpper(strings.TrimSpace(databaseTypeName))
	t := Type{Kind: KindOther, Name: name, Dialect: env.Dialect}
	switch env.Dialect {
	case Postgres:
		pgTypeOf(&t, precision, scale, hasDecimalSize)
	case MySQL:
		mysqlTypeOf(&t, precision, scale, hasDecimalSize)
	}
	return t
}

func pgTypeOf(t *Type, precision, scale int64, hasDecimalSize bool) {
	switch t.Name {
	case "INT2":
		t.Kind, t.Bits = KindInt, 16
	case "INT4":
		t.Kind, t.Bits = KindInt, 32
	case "INT8":
		t.Kind, t.Bits = KindInt, 64
	case "FLOAT4":
		t.Kind, t.Bits = KindFloat, 32
	case "FLOAT8":
		t.Kind, t.Bits = KindFloat, 64
	case "NUMERIC":
		t.Kind, t.Scale = KindDecimal, -1
		// pgx decodes the type modifier: without one (-1), or with a
		// negative scale, the numbers come out of range.
		if hasDecimalSize && precision >= 1 && precision <= 1000 && scale >= 0 && scale <= precision {
			t.Scale, t.Precision = int(scale), int(precision)
		}
	case "TEXT", "VARCHAR", "BPCHAR", "NAME":
		t.Kind = KindText
	case "BYTEA":
		t.Kind = KindBytes
	case "BOOL":
		t.Kind = KindBool
	case "DATE", "TIMESTAMP", "TIMESTAMPTZ":
		t.Kind = KindTime
	}
}

var mysqlIntBits = map[string]int{"TINYINT": 8, "SMALLINT": 16, "YEAR": 16, "MEDIUMINT": 24, "INT": 32, "BIGINT": 64}

func mysqlTypeOf(t *Type, precision, scale int64, hasDecimalSize bool) {
	name := t.Name
	if rest, ok := strings.CutPrefix(name, "UNSIGNED "); ok {
		t.Unsigned, name = true, rest
	}
	switch name {
	case "TINYINT", "SMALLINT", "YEAR", "MEDIUMINT", "INT", "BIGINT":
		t.Kind, t.Bits = KindInt, mysqlIntBits[name]
	case "DECIMAL":
		t.Kind = KindDecimal
		if hasDecimalSize {
			t.Scale, t.Precision = int(scale), int(precision)
		}
	case "DOUBLE", "FLOAT":
		t.Kind, t.Bits, t.Scale = KindFloat, 64, -1
		if name == "FLOAT" {
			t.Bits = 32
		}
		// 31 (NOT_FIXED_DEC) is reported as MaxInt64 or 31: no fixed decimals.
		if hasDecimalSize && scale >= 0 && scale < 31 {
			t.Scale = int(scale)
		}
	case "CHAR", "VARCHAR", "TEXT", "TINYTEXT", "MEDIUMTEXT", "LONGTEXT", "ENUM", "SET":
		t.Kind = KindText
	case "BINARY", "VARBINARY", "BLOB", "TINYBLOB", "MEDIUMBLOB", "LONGBLOB":
		t.Kind = KindBytes
	case "DATE", "DATETIME", "TIMESTAMP":
		t.Kind = KindTime
	case "NULL":
		t.Kind = KindNull
	}
}

// pgInt, mysqlBigint, ... are the types of computed values.
func pgInt(bits int) Type {
	name := "INT8"
	switch bits {
	case 16:
		name = "INT2"
	case 32:
		name = "INT4"
	}
	return Type{Kind: KindInt, Bits: bits, Name: name, Dialect: Postgres}
}

func pgFloat(bits int) Type {
	if bits == 32 {
		return Type{Kind: KindFloat, Bits: 32, Name: "FLOAT4", Dialect: Postgres}
	}
	return Type{Kind: KindFloat, Bits: 64, Name: "FLOAT8", Dialect: Postgres}
}

var (
	pgNumeric   = Type{Kind: KindDecimal, Scale: -1, Name: "NUMERIC", Dialect: Postgres}
	mysqlBigint = Type{Kind: KindInt, Bits: 64, Name: "BIGINT", Dialect: MySQL}
	mysqlDouble = Type{Kind: KindFloat, Bits: 64, Scale: -1, Name: "DOUBLE", Dialect: MySQL}
	sqliteInt   = Type{Kind: KindInt, Bits: 64, Name: "INTEGER", Dialect: SQLite}
	sqliteReal  = Type{Kind: KindFloat, Bits: 64, Name: "REAL", Dialect: SQLite}
	sqliteText  = Type{Kind: KindText, Name: "TEXT", Dialect: SQLite}
	sqliteBlob  = Type{Kind: KindBytes, Name: "BLOB", Dialect: SQLite}
	boolType    = Type{Kind: KindBool, Name: "BOOL"}
)

func mysqlDecimal(scale, precision int) Type {
	return Type{Kind: KindDecimal, Scale: scale, Precision: precision, Name: "DECIMAL", Dialect: MySQL}
}
