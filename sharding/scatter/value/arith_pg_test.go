package value_test

import (
	"math"
	"testing"

	"github.com/grant-go/grant/sharding/scatter/value"
)

func TestArithPostgresIntegers(t *testing.T) {
	i2 := func(v int64) value.Value { return pg(t, "INT2", v) }
	i4 := func(v int64) value.Value { return pg(t, "INT4", v) }
	i8 := func(v int64) value.Value { return pg(t, "INT8", v) }
	runArith(t, pgEnv, []arithCase{
		{"int2 keeps its width", value.Add, i2(1), i2(2), "INT2 3", ""},
		{"int2 overflows", value.Add, i2(32767), i2(1), "", "smallint out of range"},
		{"int2 with int4 is int4", value.Add, i2(32767), i4(1), "INT4 32768", ""},
		{"int4 overflows", value.Mul, i4(65536), i4(32768), "", "integer out of range"},
		{"int4 with int8 is int8", value.Mul, i4(65536), i8(32768), "INT8 2147483648", ""},
		{"int8 overflows", value.Sub, i8(math.MinInt64), i8(1), "", "bigint out of range"},
		{"division truncates toward zero", value.Div, i4(-7), i4(2), "INT4 -3", ""},
		{"min / -1 overflows", value.Div, i2(-32768), i2(-1), "", "smallint out of range"},
		{"division by zero", value.Div, i8(1), i8(0), "", "division by zero"},
		{"modulo takes the dividend's sign", value.Mod, i4(-7), i4(3), "INT4 -1", ""},
		{"modulo of min by -1", value.Mod, i8(math.MinInt64), i8(-1), "INT8 0", ""},
		{"modulo by zero", value.Mod, i2(1), i2(0), "", "division by zero"},
		{"NULL gives NULL", value.Add, i4(1), value.Null(), "NULL", ""},
		{"no DIV operator", value.IntDiv, i4(1), i4(1), "", "unsupported"},
		{"text is no number", value.Add, i4(1), pg(t, "TEXT", "1"), "", "unsupported"},
	})
}

func TestArithPostgresNumeric(t *testing.T) {
	num := func(s string) value.Value { return pg(t, "NUMERIC", s) }
	i4 := func(v int64) value.Value { return pg(t, "INT4", v) }
	runArith(t, pgEnv, []arithCase{
		{"add keeps the larger scale", value.Add, num("1.50"), num("1.5"), "NUMERIC 3.00", ""},
		{"int and numeric is numeric", value.Add, i4(1), num("0.5"), "NUMERIC 1.5", ""},
		{"mul adds the scales", value.Mul, num("1.50"), num("1.5"), "NUMERIC 2.250", ""},
		{"zero keeps its scale", value.Mul, i4(0), num("-0.521"), "NUMERIC 0.000", ""},
		{"div gives 16 significant digits", value.Div, i4(1), num("3.0"), "NUMERIC 0.33333333333333333333", ""},
		{"div of integers", value.Div, num("10"), num("4"), "NUMERIC 2.5000000000000000", ""},
		{"div keeps the operands' scale", value.Div, num("1.00000000000000000000"), num("3"), "NUMERIC 0.33333333333333333333", ""},
		{"div of a small quotient", value.Div, num("0.00000000000000000001"), num("3"), "NUMERIC 0.0000000000000000000033333333333333333333", ""},
		{"div of a large quotient", value.Div, num("123456789012345678901234567890"), num("7"), "NUMERIC 17636684144620811271604938270", ""},
		{"div of a large divisor", value.Div, num("1"), num("12345678901234567890.1"), "NUMERIC 0.000000000000000000081000000729000007", ""},
		{"div rounds half away from zero", value.Div, num("-2"), num("3"), "NUMERIC -0.66666666666666666667", ""},
		{"div by zero", value.Div, num("1.0"), num("0.00"), "", "division by zero"},
		{"mod keeps the larger scale", value.Mod, num("7.5"), num("2.25"), "NUMERIC 0.75", ""},
		{"mod by zero", value.Mod, num("5"), num("0.0"), "", "division by zero"},
		{"NaN is not computed", value.Add, num("NaN"), num("1"), "", "unsupported"},
	})
}

func TestArithPostgresFloat(t *testing.T) {
	f8 := func(v float64) value.Value { return pg(t, "FLOAT8", v) }
	f4 := func(v float64) value.Value { return pg(t, "FLOAT4", float64(float32(v))) }
	runArith(t, pgEnv, []arithCase{
		{"numeric becomes float8", value.Add, pg(t, "NUMERIC", "0.1"), f8(0.2), "FLOAT8 0.30000000000000004", ""},
		{"int becomes float8", value.Div, pg(t, "INT8", int64(1)), f8(4), "FLOAT8 0.25", ""},
		{"overflow", value.Mul, f8(1e308), f8(10), "", "value out of range: overflow"},
		{"underflow", value.Mul, f8(1e-308), f8(1e-100), "", "value out of range: underflow"},
		{"division by zero", value.Div, f8(1), f8(0), "", "division by zero"},
		{"NaN divided by zero", value.Div, f8(math.NaN()), f8(0), "FLOAT8 NaN", ""},
		{"infinity minus infinity", value.Sub, f8(math.Inf(1)), f8(math.Inf(1)), "FLOAT8 NaN", ""},
		{"float4 stays float4", value.Add, f4(0.5), f4(0.25), "FLOAT4 0.75", ""},
		{"float4 rounds as float4", value.Div, f4(1), f4(3), "FLOAT4 " + formatFloat(float64(float32(1)/3)), ""},
		{"float4 overflows", value.Mul, f4(3e38), f4(10), "", "value out of range: overflow"},
		{"float4 with int is float8", value.Add, f4(0.5), pg(t, "INT4", int64(1)), "FLOAT8 1.5", ""},
		{"no float modulo", value.Mod, f8(5), f8(2), "", "unsupported"},
	})
}

func TestArithPostgresParams(t *testing.T) {
	param := func(v any) value.Value {
		p, err := value.Param(pgEnv, v)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	runArith(t, pgEnv, []arithCase{
		{"an integer parameter takes int2", value.Add, pg(t, "INT2", int64(32767)), param(1), "", "smallint out of range"},
		{"an integer parameter takes numeric", value.Div, param(1), pg(t, "NUMERIC", "3"), "NUMERIC 0.33333333333333333333", ""},
		{"an integer parameter takes float8", value.Add, param(int32(1)), pg(t, "FLOAT8", 0.5), "FLOAT8 1.5", ""},
		{"a parameter beyond int2", value.Add, pg(t, "INT2", int64(1)), param(40000), "", "unsupported"},
		{"two parameters", value.Add, param(1), param(2), "", "unsupported"},
		{"a text parameter in arithmetic", value.Add, pg(t, "INT4", int64(1)), param("1"), "", "unsupported"},
	})
	_, err := value.Param(pgEnv, 1.5)
	if err == nil {
		t.Fatal("a float parameter on PostgreSQL must be refused")
	}
}
