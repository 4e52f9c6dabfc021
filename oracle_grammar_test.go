package grant_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// The oracle's grammar. It is deliberately wider than what grant's
// scatter-gather planner supports: every production below appears in the
// query stream (see the weights in oracleQueryFor), so the oracle finds
// wrong answers instead of confirming known paths. Whatever it generates
// must have ONE right answer on a single database (up to the relaxations
// in oracle_compare_test.go): no column outside GROUP BY in a grouped
// select, HAVING or ORDER BY (MariaDB would answer with any row's value),
// no ROW_NUMBER over ties, GROUP_CONCAT/STRING_AGG ordered by id, no float
// computed value as a hidden ORDER BY key (its rounding depends on the
// order rows were added in).

type oKind uint8

const (
	kInt  oKind = iota
	kNum        // decimal or floating point, depending on the server
	kText       // text
	kTime       // timestamps
)

type oCol struct {
	name string
	kind oKind
}

// oracleColumns are oracle_items' columns, in table order (SELECT *).
var oracleColumns = []oCol{
	{"id", kInt}, {"customer_id", kInt}, {"grp", kInt}, {"score", kInt}, {"price", kNum}, {"qty", kInt},
	{"name", kText}, {"name_x", kText}, {"name_y", kText}, {"tag", kText}, {"created_at", kTime},
}

// oCollate is a COLLATE clause the grammar writes, and the key of the
// collation it compares with ("" when equal means byte-equal).
type oCollate struct{ sql, key string }

// oDialect is what the grammar needs to know about a server: the collation
// of each text column (a key into oracleClasses; "" for deterministic
// collations, where equal strings are equal bytes) and the COLLATE clauses
// it may write.
type oDialect struct {
	name     string // GORM dialector name: postgres, mysql, sqlite
	colls    map[string]string
	collates []oCollate
}

func oracleDialect(name string) *oDialect {
	switch name {
	case "postgres": // C.UTF-8 by default; en-x-icu is deterministic; oracle_ci is an ICU level-2 (case-insensitive) collation
		return &oDialect{name: name, colls: map[string]string{"name_y": "oracle_ci"},
			collates: []oCollate{{`"C"`, ""}, {`"en-x-icu"`, ""}, {"oracle_ci", "oracle_ci"}}}
	case "mysql": // every MariaDB collation here is PAD SPACE: 'bob' = 'bob  '
		return &oDialect{name: name,
			colls:    map[string]string{"name": "utf8mb4_general_ci", "name_x": "utf8mb4_unicode_ci", "name_y": "utf8mb4_bin", "tag": "utf8mb4_unicode_ci"},
			collates: []oCollate{{"utf8mb4_bin", "utf8mb4_bin"}, {"utf8mb4_general_ci", "utf8mb4_general_ci"}, {"utf8mb4_unicode_ci", "utf8mb4_unicode_ci"}}}
	default:
		return &oDialect{name: name, colls: map[string]string{"name_x": "NOCASE", "name_y": "RTRIM"},
			collates: []oCollate{{"NOCASE", "NOCASE"}, {"RTRIM", "RTRIM"}, {"BINARY", ""}}}
	}
}

// classCollations are the collation keys whose equality classes the
// comparison needs: the non-deterministic ones.
func (d *oDialect) classCollations() []string {
	seen := map[string]bool{}
	var keys []string
	for _, k := range d.colls {
		if k != "" && !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	for _, c := range d.collates {
		if c.key != "" && !seen[c.key] {
			seen[c.key] = true
			keys = append(keys, c.key)
		}
	}
	return keys
}

// oItem is one output column of a query.
type oItem struct {
	sql   string
	alias string
	kind  oKind
	coll  string // text: the collation of its value
	col   string // the item is this column (maybe qualified, maybe aliased)
	agg   bool   // contains an aggregate
	eq    string // set by finish: compare values by equality class in this collation
}

// name is the output column's name when the grammar knows it: its alias
// or its column. Server-named expressions ("?column?", "COUNT(*)") are "".
func (it oItem) name() string {
	if it.alias != "" {
		return it.alias
	}
	return it.col
}

func (it oItem) String() string {
	if it.alias != "" {
		return it.sql + " AS " + it.alias
	}
	return it.sql
}

// oGen generates one query.
type oGen struct {
	r       *rand.Rand
	d       *oDialect
	q       *oQuery
	aliases map[oKind]int
}

// w picks an index with the given weights.
func (g *oGen) w(weights ...int) int {
	total := 0
	for _, x := range weights {
		total += x
	}
	n := g.r.IntN(total)
	for i, x := range weights {
		if n < x {
			return i
		}
		n -= x
	}
	panic("unreachable")
}

func (g *oGen) chance(pct int) bool { return g.r.IntN(100) < pct }

func (g *oGen) label(l string) { g.q.labels = append(g.q.labels, l) }

func oneOf[T any](r *rand.Rand, xs ...T) T { return xs[r.IntN(len(xs))] }

// alias returns the next free alias for a kind, from a fixed vocabulary
// that oracleOut has fields for, or "" when none is left.
func (g *oGen) alias(k oKind) string {
	prefix, most := map[oKind]string{kInt: "i", kNum: "f", kText: "s", kTime: "t"}[k], map[oKind]int{kInt: 6, kNum: 4, kText: 4, kTime: 2}[k]
	if g.aliases[k] >= most {
		return ""
	}
	g.aliases[k]++
	return fmt.Sprintf("%s%d", prefix, g.aliases[k])
}

func (g *oGen) colItem(c oCol) oItem {
	return oItem{sql: c.name, kind: c.kind, coll: g.d.colls[c.name], col: c.name}
}

func oracleColumn(name string) oCol {
	for _, c := range oracleColumns {
		if c.name == name {
			return c
		}
	}
	panic("no column " + name)
}

type oExpr struct {
	sql   string
	kind  oKind
	coll  string // column whose collation a text value has
	label string
}

func (g *oGen) exprItem(e oExpr, aliasPct int) oItem {
	it := oItem{sql: e.sql, kind: e.kind}
	if e.coll != "" {
		it.coll = g.d.colls[e.coll]
	}
	if e.label != "" {
		g.label(e.label)
	}
	if g.chance(aliasPct) {
		it.alias = g.alias(e.kind)
	}
	return it
}

// plainItem is an item of a select without aggregates.
func (g *oGen) plainItem() oItem {
	switch g.w(40, 12, 4, 8, 5, 8, 3, 2) {
	case 0:
		it := g.colItem(oneOf(g.r, oracleColumns...))
		if g.chance(20) {
			it.sql = "oracle_items." + it.sql
			g.label("qualified")
		}
		if g.chance(12) {
			it.alias = g.alias(it.kind)
			g.label("column-alias")
		}
		return it
	case 1:
		return g.exprItem(oneOf(g.r,
			oExpr{"score + qty", kInt, "", ""}, oExpr{"qty * 2", kInt, "", ""}, oExpr{"score - 1", kInt, "", ""},
			oExpr{"-score", kInt, "", ""}, oExpr{"score % 3", kInt, "", ""}, oExpr{"COALESCE(score, 0)", kInt, "", ""},
			oExpr{"ABS(score)", kInt, "", ""}, oExpr{"price * qty", kNum, "", ""}, oExpr{"price + 1", kNum, "", ""},
			oExpr{"qty / 2", kNum, "", ""}, oExpr{"qty * 2 + grp", kInt, "", ""}), 70)
	case 2:
		return g.exprItem(oneOf(g.r, oExpr{"1", kInt, "", ""}, oExpr{"'k'", kText, "", ""}, oExpr{"2.5", kNum, "", ""}), 80)
	case 3:
		e := oneOf(g.r,
			oExpr{"CASE WHEN score > 0 THEN 'pos' WHEN score < 0 THEN 'neg' ELSE 'none' END", kText, "", "case"},
			oExpr{"CASE WHEN qty >= 10 THEN 1 ELSE 0 END", kInt, "", "case"},
			oExpr{"CASE WHEN name IS NULL THEN 'none' ELSE 'some' END", kText, "", "case"})
		it := g.exprItem(e, 70)
		if e.kind == kText && g.chance(50) {
			it.alias = "bucket"
		}
		return it
	case 4:
		return g.exprItem(oneOf(g.r, oExpr{"LOWER(name)", kText, "name", "text-function"},
			oExpr{"UPPER(tag)", kText, "tag", "text-function"}, oExpr{"LENGTH(name_x)", kInt, "", "text-function"}), 60)
	case 5:
		return g.exprItem(oneOf(g.r,
			oExpr{"COUNT(*) OVER ()", kInt, "", "window"}, oExpr{"ROW_NUMBER() OVER (ORDER BY id)", kInt, "", "window"},
			oExpr{"SUM(qty) OVER (PARTITION BY grp)", kInt, "", "window"}, oExpr{"RANK() OVER (ORDER BY score)", kInt, "", "window"},
			oExpr{"MAX(price) OVER (PARTITION BY customer_id)", kNum, "", "window"},
			oExpr{"DENSE_RANK() OVER (ORDER BY name_x)", kInt, "", "window"}), 70)
	case 6:
		return g.exprItem(oneOf(g.r,
			oExpr{"(SELECT COUNT(*) FROM oracle_payments p WHERE p.customer_id = oracle_items.customer_id)", kInt, "", "subquery-colocated"},
			oExpr{"(SELECT MAX(score) FROM oracle_items)", kInt, "", "subquery-global"}), 80)
	default: // an expression under a column's name; monotone, so ORDER BY qty means the same either way
		g.label("alias-shadows-column")
		return oneOf(g.r, oItem{sql: "qty * 2", alias: "qty", kind: kInt}, oItem{sql: "score + 100", alias: "score", kind: kInt})
	}
}

// aggItem is an aggregate, or an expression over aggregates.
func (g *oGen) aggItem(grouped bool) oItem {
	it := g.aggExpr(grouped)
	it.agg = true
	if it.kind == kText || g.chance(75) { // text values compare by class: they need a name
		it.alias = g.alias(it.kind)
	}
	if it.kind == kText && it.alias == "" {
		return oItem{sql: "COUNT(*)", kind: kInt, agg: true}
	}
	return it
}

func (g *oGen) aggExpr(grouped bool) oItem {
	e := func(sql string, kind oKind, label string) oItem {
		g.label(label)
		return oItem{sql: sql, kind: kind}
	}
	switch g.w(14, 5, 8, 12, 5, 15, 8, 10, 5, 7, 2) {
	case 0:
		return e("COUNT(*)", kInt, "count")
	case 1:
		return e(fmt.Sprintf("COUNT(%s)", oneOf(g.r, "score", "name", "created_at", "tag")), kInt, "count")
	case 2:
		return e(fmt.Sprintf("COUNT(DISTINCT %s)", oneOf(g.r, "tag", "name_x", "name", "grp", "score", "name_y")), kInt, "count-distinct")
	case 3:
		return e(fmt.Sprintf("SUM(%s)", oneOf(g.r, "score", "qty", "grp")), kInt, "sum")
	case 4:
		return e("SUM(price)", kNum, "sum")
	case 5:
		c := oracleColumn(oneOf(g.r, "score", "qty", "price", "name", "name_x", "name_y", "tag", "created_at"))
		if c.kind == kText {
			g.label("min-max-text")
		}
		it := e(fmt.Sprintf("%s(%s)", oneOf(g.r, "MIN", "MAX"), c.name), c.kind, "min-max")
		it.coll = g.d.colls[c.name]
		return it
	case 6:
		return e(fmt.Sprintf("AVG(%s)", oneOf(g.r, "score", "qty", "price")), kNum, "avg")
	case 7:
		x := oneOf(g.r, oExpr{"SUM(score) / COUNT(score)", kNum, "", ""}, oExpr{"MAX(score) - MIN(score)", kInt, "", ""},
			oExpr{"SUM(qty) * 2 + 1", kInt, "", ""}, oExpr{"COUNT(*) + 1", kInt, "", ""}, oExpr{"SUM(price) / COUNT(*)", kNum, "", ""},
			oExpr{"AVG(qty) * 2", kNum, "", ""}, oExpr{"(SUM(qty) + MAX(qty)) / 2", kNum, "", ""},
			oExpr{"COUNT(DISTINCT tag) * 10", kInt, "", ""}, oExpr{"SUM(qty) - SUM(score)", kInt, "", ""})
		return e(x.sql, x.kind, "agg-arithmetic")
	case 8:
		x := oneOf(g.r, oExpr{"CASE WHEN COUNT(*) > 30 THEN 'big' ELSE 'small' END", kText, "", ""},
			oExpr{"CASE WHEN SUM(score) > 0 THEN 1 ELSE 0 END", kInt, "", ""},
			oExpr{"CASE WHEN MAX(qty) - MIN(qty) > 15 THEN 2 WHEN COUNT(*) > 5 THEN 1 ELSE 0 END", kInt, "", ""})
		return e(x.sql, x.kind, "agg-case")
	case 9:
		concat := map[string]string{"postgres": "STRING_AGG(tag, ',' ORDER BY id)", "mysql": "GROUP_CONCAT(tag ORDER BY id SEPARATOR ',')"}[g.d.name]
		if concat == "" {
			concat = "GROUP_CONCAT(tag, ',' ORDER BY id)"
		}
		x := oneOf(g.r, oExpr{concat, kText, "", ""}, oExpr{"STDDEV(score)", kNum, "", ""}, oExpr{"VARIANCE(qty)", kNum, "", ""},
			oExpr{"BIT_OR(qty)", kInt, "", ""}, oExpr{"COUNT(*) FILTER (WHERE score > 0)", kInt, "", ""},
			oExpr{"SUM(DISTINCT qty)", kInt, "", ""}, oExpr{"AVG(DISTINCT score)", kNum, "", ""})
		return e(x.sql, x.kind, "agg-other")
	default:
		// MariaDB 10.11 ignores ORDER BY in a grouped select with a window
		// over an aggregate (GROUP BY customer_id ORDER BY customer_id DESC
		// comes back in another order): no oracle there.
		if !grouped || g.d.name == "mysql" {
			return e("COUNT(*)", kInt, "count")
		}
		x := oneOf(g.r, "RANK() OVER (ORDER BY COUNT(*))", "SUM(COUNT(*)) OVER ()")
		return e(x, kInt, "window-over-aggregate")
	}
}

// oGroup is a GROUP BY term, with the item that selects it.
type oGroup struct {
	item     oItem
	selected bool
	by       string // how Group names it: its SQL, its alias or its position
}

func (g *oGen) groupTerm() oGroup {
	switch g.w(78, 5, 8, 4) {
	case 0:
		c := oracleColumn(oneOf(g.r, "grp", "grp", "grp", "tag", "tag", "name", "name_x", "name_y", "customer_id", "customer_id", "score", "created_at"))
		it := g.colItem(c)
		if g.chance(15) {
			it.sql = "oracle_items." + c.name
		}
		return oGroup{item: it}
	case 1:
		g.label("group-expression")
		return oGroup{item: oItem{sql: "score % 3", alias: g.alias(kInt), kind: kInt}}
	case 2:
		g.label("group-case")
		return oGroup{item: oItem{sql: "CASE WHEN score > 0 THEN 'pos' WHEN score < 0 THEN 'neg' ELSE 'none' END", alias: "bucket", kind: kText}}
	default:
		if a := g.alias(kText); a != "" { // text values compare by class: they need a name
			g.label("group-expression")
			return oGroup{item: oItem{sql: "LOWER(name_x)", alias: a, kind: kText, coll: g.d.colls["name_x"]}}
		}
		return oGroup{item: g.colItem(oracleColumn("grp"))}
	}
}

// dedupe drops items whose output name repeats an earlier one: the
// comparison finds columns by name.
func dedupe(items []oItem) []oItem {
	var out []oItem
	seen := map[string]bool{}
	for _, it := range items {
		n := strings.ToLower(it.name())
		if n != "" && seen[n] {
			continue
		}
		seen[n] = n != ""
		out = append(out, it)
	}
	return out
}
