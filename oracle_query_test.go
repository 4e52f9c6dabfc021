package grant_test

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// oStep is one call of the GORM chain, applied on both sides alike.
type oStep struct {
	method string // Select, Distinct, Where, Or, Not, Group, GroupRaw, Having, Order, Limit, Offset
	args   []any
}

// oSub is a *gorm.DB argument: a subquery built on each side's own handle.
type oSub struct {
	payments bool // Model(&oraclePayment{}), else Model(&oracleItem{})
	steps    []oStep
}

// oKey is an ORDER BY term as the comparison sees it: the output column
// holding its value ("" when the query does not select it) and the
// collation it orders by.
type oKey struct {
	name string
	coll string
}

// oQuery is one generated query.
type oQuery struct {
	routed []int64 // set: no AllShards, routed by Where("customer_id IN ?", routed)
	steps  []oStep
	fin    string  // finisher
	pluck  string  // Pluck's column
	cols   []oItem // output columns in order (SELECT * expanded)
	mode   string  // plain, distinct, grouped, global
	keys   []oKey  // ORDER BY, when every key is selected
	total  bool    // the ORDER BY is a total order: rows compare position by position
	limit  int     // rows cut after (Limit, or 1 for First/Take/Last/Row); -1 for none
	offset int
	labels []string
}

var oracleFinishers = []string{"Find", "FindStruct", "Scan", "Rows", "Row", "Count", "Pluck", "First", "Take", "Last"}

// oracleQueryFor generates query number i from its own random stream, so
// that GRANT_ORACLE_ONLY=i replays it alone.
func oracleQueryFor(seed uint64, i int, d *oDialect) *oQuery {
	r := rand.New(rand.NewPCG(seed, uint64(i)+0x9e3779b9))
	g := &oGen{r: r, d: d, q: &oQuery{limit: -1}, aliases: map[oKind]int{}}
	q := g.q
	q.fin = oracleFinishers[g.w(33, 12, 8, 12, 5, 10, 8, 4, 4, 4)]
	if g.chance(10) { // routed by a customer_id IN list instead of AllShards
		for range 2 + g.r.IntN(6) {
			q.routed = append(q.routed, int64(g.r.IntN(oracleCustomers+2))+1)
		}
		q.steps = append(q.steps, oStep{"Where", []any{"customer_id IN ?", q.routed}})
		g.label("routed-by-in")
	}
	if q.fin == "Pluck" {
		g.pluckQuery()
	} else {
		g.selectQuery()
	}
	g.label("finisher-" + q.fin)
	g.label("mode-" + q.mode)
	for i := range q.cols {
		c := &q.cols[i]
		switch {
		case q.mode == "plain": // one row's values: exact
		case c.kind == kText && c.coll != "":
			c.eq = c.coll // a group key, DISTINCT value or MIN/MAX: any member of its class
		case c.kind == kNum:
			c.eq = "numeric"
		}
	}
	for i, k := range q.keys {
		if j, _ := q.visibleAs(k.name); j >= 0 && q.cols[j].kind == kNum {
			q.keys[i].coll = "numeric" // ties of equal decimals of different scales
		}
	}
	return q
}

func (g *oGen) selectQuery() {
	q := g.q
	q.mode = []string{"plain", "distinct", "grouped", "global"}[g.w(45, 12, 33, 10)]
	if (q.fin == "First" || q.fin == "Last") && (q.mode == "distinct" || q.mode == "grouped") {
		q.mode = "plain" // their ORDER BY id needs id in every row
	}
	var items []oItem
	var groups []oGroup
	star := false
	switch q.mode {
	case "plain", "distinct":
		if star = g.chance(10); star {
			g.label("star")
			for _, c := range oracleColumns {
				items = append(items, g.colItem(c))
			}
		}
		for range 1 + g.w(30, 35, 25, 10) {
			if star && g.chance(60) {
				break
			}
			items = append(items, g.plainItem())
		}
	case "grouped":
		for range 1 + g.w(70, 30) {
			t := g.groupTerm()
			if !slices.ContainsFunc(groups, func(o oGroup) bool { return o.item.sql == t.item.sql }) {
				t.selected = g.chance(85)
				groups = append(groups, t)
			}
		}
		for _, t := range groups {
			if t.selected {
				items = append(items, t.item)
			}
		}
		for range 1 + g.w(40, 40, 20) {
			items = append(items, g.aggItem(true))
		}
		if g.chance(25) {
			g.r.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
		}
	case "global":
		for range 1 + g.w(40, 40, 20) {
			items = append(items, g.aggItem(false))
		}
	}
	q.cols = dedupe(items)
	if q.mode != "plain" { // a DISTINCT value, group key or MIN/MAX compares by class: it needs a name
		var kept []oItem
		for _, c := range q.cols {
			if (c.kind == kText && c.coll != "" || c.kind == kNum) && c.name() == "" {
				if c.alias = g.alias(c.kind); c.alias == "" {
					continue
				}
			}
			kept = append(kept, c)
		}
		if q.cols = kept; len(kept) == 0 {
			q.cols = []oItem{g.colItem(oracleColumn("grp"))}
		}
	}
	if len(q.cols) == 1 && q.cols[0].name() == "" && q.fin != "Find" && q.fin != "Rows" && q.fin != "Row" {
		q.cols[0].alias = g.alias(q.cols[0].kind) // GORM scans one unknown column into the whole struct, and fails
	}
	g.selectSteps(star)
	g.where()
	if q.mode == "grouped" {
		g.groupSteps(groups)
	}
	if q.mode == "grouped" && g.chance(30) || q.mode == "global" && g.chance(5) {
		g.having(groups)
	}
	if q.fin != "Count" && (g.chance(65) || q.fin == "First" || q.fin == "Last") {
		g.order(groups)
	}
	if q.mode == "global" {
		q.total = true // at most one row
	}
	switch q.fin {
	case "First", "Last":
		q.total, q.limit = q.mode == "plain" || q.mode == "global", 1 // GORM orders by id
		g.offsetOnly()
	case "Take", "Row":
		q.limit = 1
		if q.fin == "Take" || g.d.name != "mysql" { // Row writes no LIMIT: a bare OFFSET, a syntax error on MariaDB
			g.offsetOnly()
		}
	case "Count":
		q.total = true // one number
		g.page()
	default:
		g.page()
	}
}

// selectSteps writes the select list: Select("a, b"), Select("a", "b"),
// Select("DISTINCT a, b"), Distinct("a", "b") or Distinct().Select(…); no
// Select at all for a plain SELECT *.
func (g *oGen) selectSteps(star bool) {
	q := g.q
	var parts []string
	if star {
		parts = append(parts, "*")
	}
	for _, c := range q.cols[min(len(q.cols), len(oracleColumns)*boolInt(star)):] {
		parts = append(parts, c.String())
	}
	if star && len(parts) == 1 && q.mode == "plain" && g.chance(50) {
		g.label("no-select")
		return
	}
	if q.mode == "distinct" {
		switch g.w(50, 30, 20) {
		case 0:
			g.label("distinct-select")
			q.steps = append(q.steps, oStep{"Select", []any{"DISTINCT " + strings.Join(parts, ", ")}})
		case 1:
			g.label("distinct-method")
			q.steps = append(q.steps, oStep{"Distinct", toAny(parts)})
		default:
			g.label("distinct-method")
			q.steps = append(q.steps, oStep{"Distinct", nil}, oStep{"Select", []any{strings.Join(parts, ", ")}})
		}
		return
	}
	if q.mode == "grouped" && g.chance(10) {
		// DISTINCT over groups: groups whose outputs are equal are one row.
		g.label("grouped-distinct")
		q.steps = append(q.steps, oStep{"Select", []any{"DISTINCT " + strings.Join(parts, ", ")}})
		return
	}
	if len(parts) > 1 && g.chance(20) {
		q.steps = append(q.steps, oStep{"Select", toAny(parts)})
		return
	}
	q.steps = append(q.steps, oStep{"Select", []any{strings.Join(parts, ", ")}})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// groupSteps names each GROUP BY term by its SQL, its alias or its
// position, chained or in one Group call.
func (g *oGen) groupSteps(groups []oGroup) {
	q := g.q
	var bys []string
	for i := range groups {
		t := &groups[i]
		t.by = t.item.sql
		pos := slices.IndexFunc(q.cols, func(c oItem) bool { return c.sql == t.item.sql })
		switch {
		case pos >= 0 && g.chance(10):
			t.by = strconv.Itoa(pos + 1)
			g.label("group-position")
			q.steps = append(q.steps, oStep{"GroupRaw", []any{t.by}})
			continue
		case t.item.alias != "" && pos >= 0 && g.chance(50):
			t.by = t.item.alias
			g.label("group-alias")
		}
		bys = append(bys, t.by)
	}
	if len(bys) > 1 && g.chance(30) {
		q.steps = append(q.steps, oStep{"Group", []any{strings.Join(bys, ", ")}})
		return
	}
	for _, b := range bys {
		q.steps = append(q.steps, oStep{"Group", []any{b}})
	}
}

func (g *oGen) having(groups []oGroup) {
	g.label("having")
	for range 1 + g.w(75, 25) {
		var cands []oStep
		add := func(sql string, args ...any) { cands = append(cands, oStep{"Having", append([]any{sql}, args...)}) }
		add("COUNT(*) > ?", oneOf(g.r, 0, 1, 5, 20, 50, 100))
		add("SUM(qty) >= ?", g.r.IntN(400))
		add("MIN(score) < ?", g.r.IntN(60)-30)
		add("MAX(price) > ?", float64(g.r.IntN(4000))/100)
		add("AVG(qty) > ?", 9.5)
		add("COUNT(*) * 2 > SUM(qty) / 10")
		add("NOT (MAX(score) > ?)", g.r.IntN(50))
		add("COUNT(*) > ? OR MIN(qty) = ?", g.r.IntN(40), 0)
		add("COUNT(*) > ? AND MAX(qty) >= ?", g.r.IntN(40), g.r.IntN(21))
		add("COUNT(DISTINCT tag) >= ?", 1+g.r.IntN(5))
		add("SUM(score) IS NULL")
		for _, t := range groups {
			switch t.item.col {
			case "grp", "score", "customer_id":
				add(t.item.col+" > ?", g.r.IntN(5))
			case "tag":
				add("tag <> ?", "red")
			}
		}
		for _, c := range g.q.cols {
			if c.agg && c.alias != "" && c.kind == kInt {
				add(c.alias+" > ?", g.r.IntN(20)) // an alias: PostgreSQL refuses it, MariaDB and SQLite take it
			}
		}
		g.q.steps = append(g.q.steps, oneOf(g.r, cands...))
	}
}

// page adds Limit and Offset. Offset alone is a syntax error on MariaDB
// (GORM writes a bare OFFSET), which is what a single database answers.
func (g *oGen) page() {
	if !g.chance(35) {
		return
	}
	q := g.q
	if g.d.name == "mysql" && q.mode == "distinct" && !slices.ContainsFunc(q.cols, func(c oItem) bool { return !constantItem(c) }) {
		// MariaDB 10.11 answers SELECT DISTINCT 1 … ORDER BY 1 LIMIT n
		// OFFSET 1 with a row (without ORDER BY, with none): a server bug
		// grant does not reproduce, so no oracle for it.
		return
	}
	lim := oneOf(g.r, 0, 1, 2, 3, 5, 10, 37, 100)
	off := oneOf(g.r, 1, 2, 5, 20, 100, 2000)
	switch g.w(45, 35, 15, 5) {
	case 0:
		q.limit = lim
	case 1:
		q.limit, q.offset = lim, off
	case 2:
		q.limit, q.offset = 1_000_000, off
	default:
		q.offset = off
	}
	if q.limit >= 0 {
		g.label("limit")
		q.steps = append(q.steps, oStep{"Limit", []any{q.limit}})
	}
	if q.offset > 0 {
		g.label("offset")
		q.steps = append(q.steps, oStep{"Offset", []any{q.offset}})
	}
}

func (g *oGen) offsetOnly() {
	if g.chance(20) {
		g.q.offset = oneOf(g.r, 1, 2, 5, 20)
		g.label("offset")
		g.q.steps = append(g.q.steps, oStep{"Offset", []any{g.q.offset}})
	}
}

// pluckQuery: Pluck of one column, plain, Distinct() or grouped by it.
func (g *oGen) pluckQuery() {
	q := g.q
	c := oneOf(g.r, oracleColumns...)
	q.pluck, q.cols = c.name, []oItem{g.colItem(c)}
	q.mode = []string{"plain", "distinct", "grouped"}[g.w(55, 25, 20)]
	if q.mode == "distinct" {
		g.label("distinct-method")
		q.steps = append(q.steps, oStep{"Distinct", nil})
	}
	g.where()
	if q.mode == "grouped" {
		q.steps = append(q.steps, oStep{"Group", []any{c.name}})
	}
	switch g.w(50, 20, 30) {
	case 0: // by the plucked column: its own key; with the tiebreaker, total
		t := c.name + oneOf(g.r, "", " DESC")
		q.keys = []oKey{{name: c.name, coll: g.d.colls[c.name]}}
		q.total = q.mode != "plain"
		if q.mode == "plain" && g.chance(40) {
			t, q.total = t+", id", true
		}
		q.steps = append(q.steps, oStep{"Order", []any{t}})
	case 1:
		if q.mode == "plain" { // by a column it does not pluck, then id
			other := oneOf(g.r, oracleColumns...).name
			q.steps = append(q.steps, oStep{"Order", []any{other + oneOf(g.r, "", " DESC") + ", id"}})
			q.total = true
			g.label("order-hidden")
		}
	}
	g.page()
}

// constantItem reports an item that is a literal: a number or a string.
func constantItem(c oItem) bool {
	return !c.agg && c.col == "" && (strings.Trim(c.sql, "0123456789.-") == "" || strings.HasPrefix(c.sql, "'"))
}
