package value_test

import (
	"errors"
	"fmt"
	"math/big"
	"math/rand"
	"strconv"
	"strings"

	"github.com/grant-go/grant/sharding/scatter/value"
)

// nestGroup is one group of the nested tests' table as the merge holds it:
// each column's SUM and COUNT folded from the partitions' partial ones.
type nestGroup struct {
	id         int64
	sum, count map[string]value.Value
	err        map[string]error // a column's SUM that did not fold
}

// nestNode is an expression of the nested tests: its SQL over the table's
// aggregates, and how the merge computes it for a group.
type nestNode struct {
	sql  string
	eval func(g *nestGroup) (value.Value, error)
	// agg reports whether the expression reads an aggregate (those of
	// literals alone the servers fold while planning).
	agg bool
	// float reports whether it reads a float column (PostgreSQL has no
	// '%' for double precision and fails the statement while planning;
	// Arith does not compute MySQL's DIV of a DOUBLE).
	float bool
}

// nestGen makes random expressions over a dialect's aggregates.
type nestGen struct {
	r      *rand.Rand
	env    value.Env
	cols   []string
	floats map[string]bool // the float columns
	ops    []value.Op
	lits   []string
	nsEq   string // the null-safe '='
	truth  bool   // whether numbers stand as conditions
}

func newNestGen(r *rand.Rand, env value.Env, cols []string, floats map[string]bool) *nestGen {
	g := &nestGen{r: r, env: env, cols: cols, floats: floats, truth: env.Dialect != value.Postgres}
	// '/' and '*' come up most: they are where digits beyond the scale
	// arise and spread.
	g.ops = []value.Op{value.Div, value.Div, value.Div, value.Mul, value.Mul, value.Add, value.Sub}
	g.lits = []string{"2", "3", "7", "10", "100", "-3", "0.5", "1.25", "0.001", "12.3333", "0.333", "-0.75", "1.000000001", "3.00", "100000000"}
	switch env.Dialect {
	case value.MySQL:
		g.ops = append(g.ops, value.Mod, value.IntDiv)
		g.lits = append(g.lits, "1e0", "2.5e0")
		g.nsEq = "<=>"
	case value.Postgres:
		g.ops = append(g.ops, value.Mod)
		g.nsEq = "IS NOT DISTINCT FROM"
	default:
		g.nsEq = "IS"
	}
	return g
}

// literal is the node of a numeric literal, written in parentheses.
func (n *nestGen) literal(text string) nestNode {
	v, err := value.Literal(n.env, text)
	float := n.env.Dialect == value.MySQL && strings.ContainsAny(text, "eE") // a DOUBLE
	return nestNode{sql: "(" + text + ")", float: float, eval: func(*nestGroup) (value.Value, error) { return v, err }}
}

func (n *nestGen) leaf() nestNode {
	c := n.cols[n.r.Intn(len(n.cols))]
	float := n.floats[c]
	switch k := n.r.Intn(10); {
	case k < 4:
		return nestNode{sql: "AVG(" + c + ")", agg: true, float: float, eval: func(g *nestGroup) (value.Value, error) {
			if err := g.err[c]; err != nil {
				return value.Value{}, err
			}
			return value.Avg(n.env, g.sum[c], g.count[c])
		}}
	case k < 6:
		return nestNode{sql: "SUM(" + c + ")", agg: true, float: float, eval: func(g *nestGroup) (value.Value, error) {
			return g.sum[c], g.err[c]
		}}
	case k < 7:
		return nestNode{sql: "COUNT(" + c + ")", agg: true, eval: func(g *nestGroup) (value.Value, error) {
			return g.count[c], nil
		}}
	}
	return n.literal(n.lits[n.r.Intn(len(n.lits))])
}

// tree returns a random arithmetic expression depth operators deep (on
// its longest branch) that reads at least one aggregate.
func (n *nestGen) tree(depth int) nestNode {
	if depth == 0 {
		return n.leaf()
	}
	if n.r.Intn(8) == 0 {
		return n.neg(n.tree(depth - 1))
	}
	op := n.ops[n.r.Intn(len(n.ops))]
	a, b := n.tree(depth-1), n.tree(n.r.Intn(depth))
	if !a.agg && !b.agg {
		b = n.leaf()
		for !b.agg {
			b = n.leaf()
		}
	}
	if n.r.Intn(2) == 0 {
		a, b = b, a
	}
	if (op == value.Mod && n.env.Dialect == value.Postgres || op == value.IntDiv) && (a.float || b.float) {
		op = value.Div // not computed with doubles
	}
	return n.binary(op, a, b)
}

// binary is a op b, as the merge computes it.
func (n *nestGen) binary(op value.Op, a, b nestNode) nestNode {
	return nestNode{sql: "(" + a.sql + ") " + op.String() + " (" + b.sql + ")", agg: a.agg || b.agg, float: a.float || b.float, eval: func(g *nestGroup) (value.Value, error) {
		x, err := a.eval(g)
		if err != nil {
			return x, err
		}
		y, err := b.eval(g)
		if err != nil {
			return y, n.after(x, err)
		}
		return value.Arith(n.env, op, x, y)
	}}
}

// after is the error of a right operand whose left one is x: MariaDB does
// not compute the right operand of a DECIMAL operation or a comparison
// whose left one is NULL, so an error there is no error, where the merge
// (which computes both) fails. The tests count those as unsupported.
func (n *nestGen) after(x value.Value, err error) error {
	if x.IsNull() && n.env.Dialect == value.MySQL && errors.Is(err, value.ErrArithmetic) {
		return fmt.Errorf("%w: %v after NULL", value.ErrUnsupported, err)
	}
	return err
}

// neg is -a, as the merge computes it.
func (n *nestGen) neg(a nestNode) nestNode {
	return nestNode{sql: "-(" + a.sql + ")", agg: a.agg, float: a.float, eval: func(g *nestGroup) (value.Value, error) {
		x, err := a.eval(g)
		if err != nil {
			return x, err
		}
		return value.Negate(n.env, x)
	}}
}

// near returns the text of a literal close to what e gives for group g:
// the value as the server shows it, with digits more or fewer, or one
// unit off in its last digit; a literal of the pool when e gives none.
func (n *nestGen) near(e nestNode, g *nestGroup) string {
	pool := n.lits[n.r.Intn(len(n.lits))]
	v, err := e.eval(g)
	if err != nil || v.IsNull() {
		return pool
	}
	out, err := v.Driver(v.Type())
	if err != nil {
		return pool
	}
	var s string
	switch x := out.(type) {
	case []byte:
		s = string(x)
	case string:
		s = x
	case int64:
		s = strconv.FormatInt(x, 10)
	case float64:
		s = strconv.FormatFloat(x, 'f', -1, 64)
		if len(s) > 40 {
			return pool
		}
	default:
		return pool
	}
	coef, scale, ok := splitDecimal(s)
	if !ok {
		return pool
	}
	switch n.r.Intn(6) {
	case 0, 1:
		return s
	case 2: // more digits: between the shown value and the digits behind it
		extra := []string{"3", "5", "49", "333333", "666667", "0000001"}[n.r.Intn(6)]
		coef.Mul(coef, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(len(extra))), nil))
		e, _ := new(big.Int).SetString(extra, 10)
		if coef.Sign() < 0 {
			e.Neg(e)
		}
		return joinDecimal(coef.Add(coef, e), scale+len(extra))
	case 3: // one unit off in the last digit
		return joinDecimal(coef.Add(coef, big.NewInt(int64(n.r.Intn(3)-1))), scale)
	case 4: // fewer digits
		k := n.r.Intn(scale + 1)
		return joinDecimal(coef.Quo(coef, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale-k)), nil)), k)
	}
	return pool
}

// splitDecimal reads [-]digits[.digits] as a coefficient and a scale.
func splitDecimal(s string) (*big.Int, int, bool) {
	whole, frac, _ := strings.Cut(s, ".")
	c, ok := new(big.Int).SetString(whole+frac, 10)
	return c, len(frac), ok
}

// joinDecimal writes coef × 10^-scale with scale fractional digits.
func joinDecimal(coef *big.Int, scale int) string {
	digits := new(big.Int).Abs(coef).String()
	if len(digits) <= scale {
		digits = strings.Repeat("0", scale-len(digits)+1) + digits
	}
	sign := ""
	if coef.Sign() < 0 {
		sign = "-"
	}
	if scale == 0 {
		return sign + digits
	}
	return sign + digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
}
