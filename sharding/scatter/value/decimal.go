package value

import (
	"math/big"
	"strconv"
	"strings"
	"sync"
)

// special marks the non-finite numeric values PostgreSQL's numeric has.
type special uint8

const (
	finite special = iota
	nan
	posInf
	negInf
)

// decimal is an exact decimal number, coef × 10^-scale, with the display
// scale the servers keep with it (PostgreSQL's dscale, MySQL's column
// scale). A decimal is immutable: operations return new ones and never
// modify coef.
type decimal struct {
	coef  *big.Int // nil means zero
	scale int
	// negZero marks a MySQL zero that prints with a sign ("-0.0"): MOD of a
	// negative dividend keeps the dividend's sign even when it is zero.
	negZero bool
	special special
}

// rounding is how a decimal loses digits.
type rounding uint8

const (
	halfAway rounding = iota // round half away from zero (PostgreSQL, MySQL)
	truncate                 // toward zero
)

var (
	pow10Mu    sync.Mutex
	pow10Cache []*big.Int
	bigOne     = big.NewInt(1)
	bigTen     = big.NewInt(10)
)

// pow10 returns 10^n (n >= 0); the result must not be modified.
func pow10(n int) *big.Int {
	if n > 4096 {
		return new(big.Int).Exp(bigTen, big.NewInt(int64(n)), nil)
	}
	pow10Mu.Lock()
	defer pow10Mu.Unlock()
	for len(pow10Cache) <= n {
		if len(pow10Cache) == 0 {
			pow10Cache = append(pow10Cache, bigOne)
			continue
		}
		pow10Cache = append(pow10Cache, new(big.Int).Mul(pow10Cache[len(pow10Cache)-1], bigTen))
	}
	return pow10Cache[n]
}

func decInt(i int64, scale int) decimal {
	return decimal{coef: new(big.Int).Mul(big.NewInt(i), pow10(scale)), scale: scale}
}

func (d decimal) sign() int {
	switch d.special {
	case posInf:
		return 1
	case negInf:
		return -1
	case nan:
		return 0
	}
	if d.coef == nil {
		return 0
	}
	return d.coef.Sign()
}

func (d decimal) isZero() bool { return d.special == finite && d.sign() == 0 }

func (d decimal) big() *big.Int {
	if d.coef == nil {
		return new(big.Int)
	}
	return d.coef
}

// parseDecimal reads [+-]digits[.digits][e[+-]digits] (at least one digit
// before or after the point). The scale is the number of fractional
// digits minus the exponent, at least 0, as PostgreSQL's numeric input
// sets it: "1.50e1" is 15.0.
func parseDecimal(s string) (decimal, bool) {
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil || e > 100000 || e < -100000 {
			return decimal{}, false
		}
		mant, exp = s[:i], e
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := intPart + frac
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return decimal{}, false
	}
	coef, ok := new(big.Int).SetString(digits, 10)
	if !ok {
		return decimal{}, false
	}
	scale := len(frac) - exp
	if scale < 0 {
		coef.Mul(coef, pow10(-scale))
		scale = 0
	}
	d := decimal{coef: coef, scale: scale}
	if neg {
		if coef.Sign() == 0 {
			d.negZero = true
		} else {
			coef.Neg(coef)
		}
	}
	return d, true
}

// String formats d with exactly d.scale fractional digits, as PostgreSQL
// and MySQL print decimals.
func (d decimal) String() string {
	switch d.special {
	case nan:
		return "NaN"
	case posInf:
		return "Infinity"
	case negInf:
		return "-Infinity"
	}
	c := d.big()
	digits := new(big.Int).Abs(c).String()
	var b strings.Builder
	if c.Sign() < 0 || d.negZero {
		b.WriteByte('-')
	}
	if d.scale == 0 {
		b.WriteString(digits)
		return b.String()
	}
	if len(digits) <= d.scale {
		digits = strings.Repeat("0", d.scale-len(digits)+1) + digits
	}
	b.WriteString(digits[:len(digits)-d.scale])
	b.WriteByte('.')
	b.WriteString(digits[len(digits)-d.scale:])
	return b.String()
}

// rescale returns d with scale s, losing digits by mode.
func (d decimal) rescale(s int, mode rounding) decimal {
	if s >= d.scale {
		return decimal{coef: new(big.Int).Mul(d.big(), pow10(s-d.scale)), scale: s}
	}
	return decimal{coef: divRound(d.big(), pow10(d.scale-s), mode), scale: s}
}

// divRound returns n/m rounded by mode (m > 0 or m < 0).
func divRound(n, m *big.Int, mode rounding) *big.Int {
	q, r := new(big.Int).QuoRem(n, m, new(big.Int))
	if mode == halfAway && r.Sign() != 0 {
		r2 := new(big.Int).Abs(r)
		r2.Lsh(r2, 1)
		if r2.CmpAbs(m) >= 0 {
			if (n.Sign() < 0) != (m.Sign() < 0) {
				q.Sub(q, bigOne)
			} else {
				q.Add(q, bigOne)
			}
		}
	}
	return q
}

// align returns the coefficients of a and b at their common (larger) scale.
func align(a, b decimal) (*big.Int, *big.Int, int) {
	s := max(a.scale, b.scale)
	return a.rescale(s, truncate).big(), b.rescale(s, truncate).big(), s
}

// decOp is the exact a op b for + - * and % (the remainder, which takes
// the dividend's sign): sums and remainders have the larger scale, a
// product the sum of the scales.
func decOp(op Op, a, b decimal) decimal {
	switch op {
	case Add:
		return decAdd(a, b)
	case Sub:
		return decSub(a, b)
	case Mul:
		return decMul(a, b)
	}
	return decRem(a, b)
}

func decAdd(a, b decimal) decimal {
	x, y, s := align(a, b)
	return decimal{coef: new(big.Int).Add(x, y), scale: s}
}

func decSub(a, b decimal) decimal {
	x, y, s := align(a, b)
	return decimal{coef: new(big.Int).Sub(x, y), scale: s}
}

func decMul(a, b decimal) decimal {
	return decimal{coef: new(big.Int).Mul(a.big(), b.big()), scale: a.scale + b.scale}
}

func decNeg(a decimal) decimal {
	return decimal{coef: new(big.Int).Neg(a.big()), scale: a.scale}
}

// decCmp compares the values of two finite decimals.
func decCmp(a, b decimal) int {
	x, y, _ := align(a, b)
	return x.Cmp(y)
}

// decQuo returns a/b with scale s, losing digits by mode; b must not be 0.
func decQuo(a, b decimal, s int, mode rounding) decimal {
	n, m := new(big.Int).Set(a.big()), new(big.Int).Set(b.big())
	if e := s + b.scale - a.scale; e >= 0 {
		n.Mul(n, pow10(e))
	} else {
		m.Mul(m, pow10(-e))
	}
	return decimal{coef: divRound(n, m, mode), scale: s}
}

// decRem returns a - trunc(a/b)*b with scale max(a.scale, b.scale); b must
// not be 0.
func decRem(a, b decimal) decimal {
	x, y, s := align(a, b)
	return decimal{coef: new(big.Int).Rem(x, y), scale: s}
}

// digits returns the number of decimal digits of |coef| (0 for zero).
func (d decimal) digits() int {
	if d.sign() == 0 {
		return 0
	}
	return len(new(big.Int).Abs(d.coef).String())
}

// intDigits returns the number of digits before the decimal point (0 when
// |d| < 1).
func (d decimal) intDigits() int { return max(0, d.digits()-d.scale) }

// float64 converts d to the nearest float64, as strtod would read its
// text; ok is false when it is out of float64's range.
func (d decimal) float64() (float64, bool) {
	f, err := strconv.ParseFloat(d.String(), 64)
	return f, err == nil
}

// trimmed returns coef and exponent with trailing zeros removed, so that
// equal values give equal results whatever their scale: value = c × 10^e.
func (d decimal) trimmed() (*big.Int, int) {
	c := new(big.Int).Set(d.big())
	if c.Sign() == 0 {
		return c, 0
	}
	e := -d.scale
	r := new(big.Int)
	for {
		q, rem := new(big.Int).QuoRem(c, bigTen, r)
		if rem.Sign() != 0 {
			return c, e
		}
		c, e = q, e+1
	}
}

func decBigUint(u uint64) decimal { return decimal{coef: new(big.Int).SetUint64(u)} }

// leading returns the weight and the first non-zero digit of d written in
// base 10^k with digits aligned on the decimal point (PostgreSQL stores
// base 10000, MySQL base 10^9): d's first digit is worth (10^k)^weight.
// Zero has weight 0 and first digit 0.
func (d decimal) leading(k int) (int, int64) {
	if d.sign() == 0 {
		return 0, 0
	}
	p := d.digits() - 1 - d.scale // the power of ten of d's first digit
	w := floorDiv(p, k)
	abs := new(big.Int).Abs(d.big())
	return w, decimal{coef: abs, scale: d.scale + k*w}.rescale(0, truncate).big().Int64()
}

func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
