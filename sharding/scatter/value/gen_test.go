package value_test

import (
	"fmt"
	"math"
	"math/rand"
	"os"
	"strconv"
	"strings"

	"github.com/grant-go/grant/sharding/scatter/value"
)

// seedEnv names a variable that shifts every differential test's random
// seed, to explore other operands than the fixed ones CI runs.
const seedEnv = "GRANT_VALUE_SEED"

// newRand is the test's random source for stream n.
func newRand(n int64) *rand.Rand {
	shift, _ := strconv.ParseInt(os.Getenv(seedEnv), 10, 64)
	return rand.New(rand.NewSource(n + shift*1000))
}

// sqlType is a type the generators make operands of.
type sqlType struct {
	name string // for tallies: "int4", "dec(20,4)"
	// cast is the CAST target ("int4", "DECIMAL(20,4)"); empty: the
	// value is written as a literal (MySQL and SQLite literal typing).
	cast string
	gen  func(r *rand.Rand) string
	// arg converts generated text to the Go value bound in placeholder
	// mode; nil binds the text.
	arg func(s string) any
	// inline and bound restrict how values are written: only inline
	// (literals whose typing is the point), only bound (SQLite reals,
	// which SQLite would read as integers when they look like one).
	inline, bound bool
}

// operand returns SQL for the value s of type ty, inline or bound.
func (ty sqlType) operand(s string, bind bool) expr {
	bind = (bind || ty.bound) && !ty.inline
	switch {
	case s == "NULL" && ty.cast == "":
		return lit("NULL")
	case s == "NULL":
		return lit("CAST(NULL AS " + ty.cast + ")")
	case ty.cast == "" && bind:
		return expr{sql: "{}", args: []any{ty.bindArg(s)}}
	case ty.cast == "":
		return lit(s)
	case bind:
		return expr{sql: "CAST({} AS " + ty.cast + ")", args: []any{ty.bindArg(s)}}
	}
	return lit("CAST('" + s + "' AS " + ty.cast + ")")
}

func (ty sqlType) bindArg(s string) any {
	if ty.arg == nil {
		return s
	}
	return ty.arg(s)
}

// value returns a random value of ty, NULL now and then.
func (ty sqlType) value(r *rand.Rand) string {
	if r.Intn(40) == 0 {
		return "NULL"
	}
	return ty.gen(r)
}

func argInt(s string) any {
	i, _ := strconv.ParseInt(s, 10, 64)
	return i
}

func argFloat(s string) any {
	f, _ := strconv.ParseFloat(s, 64)
	return f
}

// genInt returns integers of a signed width, crowding the edges where
// arithmetic overflows.
func genInt(bits int) func(r *rand.Rand) string {
	hi := int64(math.MaxInt64)
	if bits < 64 {
		hi = 1<<(bits-1) - 1
	}
	lo := -hi - 1
	root := int64(math.Sqrt(float64(hi)))
	return func(r *rand.Rand) string {
		neg := r.Intn(2) == 0
		var v int64
		switch r.Intn(10) {
		case 0:
			edges := []int64{lo, lo + 1, hi, hi - 1, 0, 1, -1, 2, -2}
			return strconv.FormatInt(edges[r.Intn(len(edges))], 10)
		case 1:
			v = root + r.Int63n(5) - 2
		case 2:
			v = hi/2 + r.Int63n(5) - 2
		case 3, 4:
			v = r.Int63n(201) - 100
		case 5:
			v = r.Int63n(min(hi, 50000))
		default:
			v = r.Int63n(hi)
		}
		if neg {
			v = -v
		}
		return strconv.FormatInt(v, 10)
	}
}

// genDecimal returns decimals with up to intDigits digits before the point
// and exactly scale after it.
func genDecimal(intDigits, scale int) func(r *rand.Rand) string {
	return func(r *rand.Rand) string {
		return randDecimal(r, intDigits, scale)
	}
}

func randDecimal(r *rand.Rand, intDigits, scale int) string {
	var b strings.Builder
	if r.Intn(2) == 0 {
		b.WriteByte('-')
	}
	n := 0
	switch r.Intn(4) {
	case 0:
		n = intDigits
	case 1:
		n = r.Intn(intDigits + 1)
	default:
		n = r.Intn(min(intDigits, 4) + 1)
	}
	if n == 0 {
		b.WriteByte('0')
	}
	for i := range n {
		d := r.Intn(10)
		if i == 0 && d == 0 {
			d = 1 + r.Intn(9)
		}
		if r.Intn(8) == 0 {
			d = 9
		}
		b.WriteByte(byte('0' + d))
	}
	if scale > 0 {
		b.WriteByte('.')
		zeros := r.Intn(4) == 0
		for range scale {
			d := r.Intn(10)
			if zeros {
				d = 0
			} else if r.Intn(6) == 0 {
				d = 5
			}
			b.WriteByte(byte('0' + d))
		}
	}
	s := b.String()
	if strings.Trim(s, "-0.") == "" && r.Intn(2) == 0 {
		s = strings.TrimPrefix(s, "-")
	}
	return s
}

// genNumeric returns PostgreSQL numerics of assorted scales.
func genNumeric(r *rand.Rand) string {
	scales := []int{0, 0, 1, 2, 3, 4, 5, 8, 12, 20}
	digits := []int{0, 1, 2, 4, 6, 10, 20}
	return randDecimal(r, digits[r.Intn(len(digits))], scales[r.Intn(len(scales))])
}

// genFloat returns doubles: small integers, dyadic fractions, decimal
// fractions, random bit patterns, extremes, and (special) NaN and
// infinities.
func genFloat(special bool) func(r *rand.Rand) string {
	return func(r *rand.Rand) string {
		var f float64
		switch r.Intn(12) {
		case 0:
			f = float64(r.Intn(201) - 100)
		case 1:
			f = float64(r.Int63n(1<<40)-1<<39) / float64(int64(1)<<r.Intn(30))
		case 2, 3:
			f, _ = strconv.ParseFloat(randDecimal(r, 6, r.Intn(6)), 64)
		case 4:
			f = math.Float64frombits(r.Uint64())
			if math.IsNaN(f) || math.IsInf(f, 0) {
				f = 1.5
			}
		case 5:
			extremes := []float64{0, math.Copysign(0, -1), math.MaxFloat64, -math.MaxFloat64, 1e308, 1e-308, 5e-324, 1.7e308 / 3, 2.2250738585072014e-308}
			f = extremes[r.Intn(len(extremes))]
		case 6:
			if special {
				return []string{"NaN", "Infinity", "-Infinity"}[r.Intn(3)]
			}
			f = float64(r.Int63())
		default:
			f = (r.Float64() - 0.5) * math.Pow(10, float64(r.Intn(40)-20))
		}
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
}

func genFloat32(r *rand.Rand) string {
	f, _ := strconv.ParseFloat(genFloat(false)(r), 64)
	if r.Intn(3) == 0 || math.Abs(f) > math.MaxFloat32 {
		f = float64(r.Intn(2001)-1000) / 8
	}
	return strconv.FormatFloat(float64(float32(f)), 'g', -1, 32)
}

// typesOf lists the operand types each dialect is tested with.
func typesOf(d value.Dialect) []sqlType {
	switch d {
	case value.Postgres:
		return []sqlType{
			{name: "int2", cast: "int2", gen: genInt(16), arg: argInt},
			{name: "int4", cast: "int4", gen: genInt(32), arg: argInt},
			{name: "int8", cast: "int8", gen: genInt(64), arg: argInt},
			{name: "numeric", cast: "numeric", gen: genNumeric},
			{name: "float8", cast: "float8", gen: genFloat(true), arg: argFloat},
			{name: "float4", cast: "float4", gen: genFloat32},
		}
	case value.MySQL:
		return []sqlType{
			{name: "bigint", cast: "SIGNED", gen: genInt(64)},
			{name: "int-literal", gen: genInt(32), inline: true},
			{name: "dec(10,0)", cast: "DECIMAL(10,0)", gen: genDecimal(10, 0)},
			{name: "dec(12,5)", cast: "DECIMAL(12,5)", gen: genDecimal(7, 5)},
			{name: "dec(20,4)", cast: "DECIMAL(20,4)", gen: genDecimal(16, 4)},
			{name: "dec(30,10)", cast: "DECIMAL(30,10)", gen: genDecimal(20, 10)},
			{name: "dec(38,20)", cast: "DECIMAL(38,20)", gen: genDecimal(18, 20)},
			{name: "dec(65,30)", cast: "DECIMAL(65,30)", gen: genDecimal(35, 30)},
			{name: "dec-literal", gen: func(r *rand.Rand) string { return randDecimal(r, 6, 1+r.Intn(6)) }, inline: true},
			{name: "double", cast: "DOUBLE", gen: genFloat(false)},
		}
	}
	return []sqlType{
		{name: "integer", cast: "INTEGER", gen: genInt(64), arg: argInt},
		{name: "real", gen: genFloat(false), arg: argFloat, bound: true},
		{name: "int-literal", gen: genInt(64), inline: true},
	}
}

// opsOf lists the operators each dialect is tested with.
func opsOf(d value.Dialect) []value.Op {
	switch d {
	case value.MySQL:
		return []value.Op{value.Add, value.Sub, value.Mul, value.Div, value.Mod, value.IntDiv}
	}
	return []value.Op{value.Add, value.Sub, value.Mul, value.Div, value.Mod}
}

// opSQL writes a op b.
func opSQL(a expr, op value.Op, b expr) expr {
	return expr{sql: "(" + a.sql + ") " + op.String() + " (" + b.sql + ")", args: append(append([]any(nil), a.args...), b.args...)}
}

// genTime returns timestamps from 1900 to 2100 with microseconds (dates
// when date is set).
func genTime(date bool) func(r *rand.Rand) string {
	return func(r *rand.Rand) string {
		y, mo, d := 1900+r.Intn(200), 1+r.Intn(12), 1+r.Intn(28)
		if date {
			return fmt.Sprintf("%04d-%02d-%02d", y, mo, d)
		}
		return fmt.Sprintf("%04d-%02d-%02d %02d:%02d:%02d.%06d", y, mo, d, r.Intn(24), r.Intn(60), r.Intn(60), r.Intn(1000000))
	}
}

func genUint(r *rand.Rand) string {
	if r.Intn(3) == 0 {
		return strconv.Itoa(r.Intn(10))
	}
	return strconv.FormatUint(r.Uint64()>>r.Intn(40), 10)
}

// extraTypesOf lists types that the comparison tests order and key, each
// only against itself (or, for unsigned integers, against the integers).
func extraTypesOf(d value.Dialect) []sqlType {
	switch d {
	case value.Postgres:
		return []sqlType{
			{name: "timestamp", cast: "timestamp", gen: genTime(false)},
			{name: "timestamptz", cast: "timestamptz", gen: genTime(false)},
			{name: "date", cast: "date", gen: genTime(true)},
			{name: "bool", cast: "bool", gen: func(r *rand.Rand) string { return []string{"true", "false"}[r.Intn(2)] }},
		}
	case value.MySQL:
		return []sqlType{
			{name: "datetime", cast: "DATETIME(6)", gen: genTime(false)},
			{name: "date", cast: "DATE", gen: genTime(true)},
			{name: "ubigint", cast: "UNSIGNED", gen: genUint},
		}
	}
	return nil
}
