package grant_test

import (
	"database/sql"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm/schema"
)

// The comparison. Rows, columns, values and their Go types must be the
// same, with only these relaxations:
//
//  1. Row order is unspecified without ORDER BY and among rows that tie on
//     every ORDER BY key (SQL leaves it to the plan): rows compare as
//     multisets within each run of equal keys, after the sequence of keys
//     compared equal row by row. Keys the query does not select would make
//     runs invisible, so the grammar then orders totally (by id, or by
//     every GROUP BY term) and rows compare position by position.
//  2. When LIMIT or OFFSET cuts through a run of ties, which members of the
//     run make it into the page is unspecified too: there only the keys
//     compare, and each row grant returned must be one of the union's
//     rows with that key (from the same query without LIMIT and OFFSET).
//  3. Under a collation where different strings are equal (MariaDB's
//     general_ci/unicode_ci/bin with PAD SPACE, SQLite's NOCASE/RTRIM,
//     PostgreSQL's non-deterministic ICU), a GROUP BY key, a DISTINCT
//     value or a MIN/MAX may be any member of its class: such values
//     compare by class, and ORDER BY keys by the collation they order by.
//     Classes are the server's own equality (oracleClasses), never Go's.
//     Likewise decimals that PostgreSQL returns as text with the scale it
//     computed (-3.6 and -3.60 are equal numerics): where any member of
//     the class may come back, and as ORDER BY keys, they compare as
//     numbers, exactly.
//  4. float64 values compare with a relative tolerance of 1e-9 (and an
//     absolute one of 1e-9, for sums that cancel to about zero): floating
//     point addition is not associative and one database and the shards
//     add in different orders, which SQL leaves unspecified. The data has
//     cents and integers, far coarser than 1e-9. For the same reason an
//     ORDER BY on such an aggregate ties within the tolerance, and what
//     follows it in the ORDER BY is not compared (the grammar puts no key
//     the query does not select after it). Decimals (text), integers,
//     strings and times compare exactly.

// oTable is a result: column names and rows.
type oTable struct {
	cols []string
	rows [][]any
}

func mapsTable(ms []map[string]any) oTable {
	var t oTable
	if len(ms) > 0 {
		for k := range ms[0] {
			t.cols = append(t.cols, k)
		}
		slices.Sort(t.cols) // a map has no column order; Rows checks it
	}
	for _, m := range ms {
		row := make([]any, len(t.cols))
		for i, c := range t.cols {
			row[i] = m[c]
		}
		t.rows = append(t.rows, row)
	}
	return t
}

// structTable reads a slice of structs (or one struct): every field, by
// its GORM column name, pointers dereferenced.
func structTable(v any) oTable {
	rv := reflect.Indirect(reflect.ValueOf(v))
	if rv.Kind() == reflect.Struct {
		s := reflect.MakeSlice(reflect.SliceOf(rv.Type()), 0, 1)
		rv = reflect.Append(s, rv)
	}
	var t oTable
	et := rv.Type().Elem()
	for i := range et.NumField() {
		t.cols = append(t.cols, schema.NamingStrategy{}.ColumnName("", et.Field(i).Name))
	}
	for i := range rv.Len() {
		row := make([]any, et.NumField())
		for j := range row {
			f := rv.Index(i).Field(j)
			if f.Kind() == reflect.Pointer {
				if f.IsNil() {
					continue
				}
				f = f.Elem()
			}
			row[j] = f.Interface()
		}
		t.rows = append(t.rows, row)
	}
	return t
}

func rowsTable(rows *sql.Rows) (oTable, error) {
	defer rows.Close()
	var t oTable
	var err error
	if t.cols, err = rows.Columns(); err != nil {
		return t, err
	}
	for rows.Next() {
		row := make([]any, len(t.cols))
		ptrs := make([]any, len(row))
		for i := range row {
			ptrs[i] = &row[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return t, err
		}
		t.rows = append(t.rows, row)
	}
	return t, rows.Err()
}

// oCmp compares two results of one query.
type oCmp struct {
	q       *oQuery
	classes *oracleClasses
	eq      []string // per column: compare by class in this collation
	keyIdx  []int
	keyColl []string
}

func (c *oCmp) valEq(a, b any, coll string) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if reflect.TypeOf(a) != reflect.TypeOf(b) {
		return false
	}
	a, b = deref(a), deref(b)
	switch x := a.(type) {
	case float64:
		return floatEq(x, b.(float64))
	case float32:
		return floatEq(float64(x), float64(b.(float32)))
	case time.Time:
		y := b.(time.Time)
		return x.Equal(y) && x.Location().String() == y.Location().String()
	case string:
		return x == b.(string) || c.textEq(x, b.(string), coll)
	case []byte:
		return string(x) == string(b.([]byte)) || c.textEq(string(x), string(b.([]byte)), coll)
	}
	return reflect.DeepEqual(a, b)
}

// textEq: equal under the collation, or for "numeric" (decimals as text,
// PostgreSQL's numeric keeps the scale it computed with: -3.6 = -3.60, and
// DISTINCT or a tie keeps either) equal as numbers, exactly.
func (c *oCmp) textEq(a, b, coll string) bool {
	switch coll {
	case "":
		return false
	case "numeric":
		x, okX := new(big.Rat).SetString(a)
		y, okY := new(big.Rat).SetString(b)
		return okX && okY && x.Cmp(y) == 0
	}
	return c.classes.same(coll, a, b)
}

func floatEq(a, b float64) bool {
	if a == b || math.IsNaN(a) && math.IsNaN(b) {
		return true
	}
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

func (c *oCmp) rowEq(a, b []any) bool {
	for i := range a {
		if !c.valEq(a[i], b[i], c.eq[i]) {
			return false
		}
	}
	return true
}

func (c *oCmp) keyEq(a, b []any) bool {
	for k, i := range c.keyIdx {
		if !c.valEq(a[i], b[i], c.keyColl[k]) {
			return false
		}
	}
	return true
}

// bucket is a row's identity without its floats (which compare with a
// tolerance), class members replaced by their class: rows in different
// buckets are never equal.
func (c *oCmp) bucket(row []any) string {
	var b strings.Builder
	for i, v := range row {
		switch x := deref(v).(type) {
		case float64, float32:
			b.WriteString("~")
		case string:
			c.writeText(&b, x, c.eq[i])
		case []byte:
			c.writeText(&b, string(x), c.eq[i])
		case time.Time:
			fmt.Fprintf(&b, "%d", x.UnixNano())
		default:
			fmt.Fprintf(&b, "%T:%v", v, x)
		}
		b.WriteByte(0)
	}
	return b.String()
}

func (c *oCmp) writeText(b *strings.Builder, s, coll string) {
	if coll == "numeric" {
		if x, ok := new(big.Rat).SetString(s); ok {
			s = x.RatString()
		}
	}
	if coll == "" || coll == "numeric" {
		b.WriteString(s)
		return
	}
	fmt.Fprintf(b, "class%d", c.classes.of(coll, s))
}

// contained reports the first row of sub that has no distinct partner in
// super, or -1.
func (c *oCmp) contained(sub, super [][]any) int {
	pool := map[string][]int{}
	for i, r := range super {
		k := c.bucket(r)
		pool[k] = append(pool[k], i)
	}
	for i, r := range sub {
		k := c.bucket(r)
		j := slices.IndexFunc(pool[k], func(j int) bool { return c.rowEq(r, super[j]) })
		if j < 0 {
			return i
		}
		pool[k] = slices.Delete(pool[k], j, j+1)
	}
	return -1
}

// compare returns "" when grant's result g is the union's u, else why not.
// superset runs the union query without LIMIT and OFFSET.
func (c *oCmp) compare(u, g oTable, positional bool, superset func() (oTable, error)) string {
	if len(u.cols) > 0 && len(g.cols) > 0 && !slices.Equal(u.cols, g.cols) { // maps without rows have no columns
		return fmt.Sprintf("columns differ: union %q, grant %q", u.cols, g.cols)
	}
	if len(u.rows) != len(g.rows) {
		return fmt.Sprintf("row count differs: union %d, grant %d", len(u.rows), len(g.rows))
	}
	if len(u.rows) == 0 {
		return ""
	}
	c.eq = make([]string, len(u.cols))
	for i, name := range u.cols {
		if positional && len(u.cols) == len(c.q.cols) {
			c.eq[i] = c.q.cols[i].eq
			continue
		}
		for _, it := range c.q.cols {
			if it.name() != "" && strings.EqualFold(it.name(), name) {
				c.eq[i] = it.eq
				break
			}
		}
	}
	if c.q.total {
		for i := range u.rows {
			if !c.rowEq(u.rows[i], g.rows[i]) {
				return c.rowDiff(i, u, g)
			}
		}
		return ""
	}
	c.keyIdx, c.keyColl = nil, nil
	for _, k := range c.q.keys {
		i := slices.IndexFunc(u.cols, func(n string) bool { return strings.EqualFold(n, k.name) })
		if i < 0 {
			return fmt.Sprintf("harness: ORDER BY key %q is not among the columns %q", k.name, u.cols)
		}
		c.keyIdx, c.keyColl = append(c.keyIdx, i), append(c.keyColl, k.coll)
	}
	for i := range u.rows {
		if !c.keyEq(u.rows[i], g.rows[i]) {
			return "order differs: ORDER BY keys of " + c.showRow(i, u, g)
		}
	}
	limitCut := c.q.limit >= 0 && len(u.rows) == c.q.limit
	for a := 0; a < len(u.rows); {
		b := a + 1
		for b < len(u.rows) && c.keyEq(u.rows[a], u.rows[b]) {
			b++
		}
		if a == 0 && c.q.offset > 0 || b == len(u.rows) && limitCut {
			super, err := superset()
			if err != nil {
				return "harness: the union query without LIMIT failed: " + err.Error()
			}
			var same [][]any
			for _, r := range super.rows {
				if c.keyEq(r, u.rows[a]) {
					same = append(same, r)
				}
			}
			if i := c.contained(g.rows[a:b], same); i >= 0 {
				return fmt.Sprintf("rows differ: grant row %d is not one of the union's rows with its ORDER BY key (a run cut by LIMIT/OFFSET): %s",
					a+i, showRow(g.cols, g.rows[a+i]))
			}
		} else if i := c.contained(g.rows[a:b], u.rows[a:b]); i >= 0 {
			return fmt.Sprintf("rows differ: grant row %d is not in the union's rows %d..%d (tied on the ORDER BY keys, if any): %s; union row %d: %s",
				a+i, a, b-1, showRow(g.cols, g.rows[a+i]), a+i, showRow(u.cols, u.rows[a+i]))
		}
		a = b
	}
	return ""
}

// rowDiff names the first column of row i that differs, and whether only
// its Go type does.
func (c *oCmp) rowDiff(i int, u, g oTable) string {
	for j := range u.rows[i] {
		a, b := u.rows[i][j], g.rows[i][j]
		if c.valEq(a, b, c.eq[j]) {
			continue
		}
		what := "row differs"
		if a != nil && b != nil && reflect.TypeOf(a) != reflect.TypeOf(b) {
			what = "types differ"
		}
		return fmt.Sprintf("%s: row %d, column %s: union %s, grant %s; %s", what, i, u.cols[j], showValue(a), showValue(b), c.showRow(i, u, g))
	}
	return "row differs: " + c.showRow(i, u, g)
}

func (c *oCmp) showRow(i int, u, g oTable) string {
	return fmt.Sprintf("row %d: union %s; grant %s", i, showRow(u.cols, u.rows[i]), showRow(g.cols, g.rows[i]))
}
