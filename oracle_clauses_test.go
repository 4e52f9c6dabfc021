package grant_test

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm/clause"
)

// oTerm is one generated ORDER BY term.
type oTerm struct {
	sql    string // as written
	col    string // a bare column (clause.OrderByColumn may name it)
	desc   bool
	key    oKey
	floaty bool   // a computed float: its rounding depends on the order rows were added in
	covers string // what it makes unique: "id", "g<i>" (GROUP BY term i), "c<i>" (output column i)
}

// order writes ORDER BY: columns, aliases, positions, expressions and
// aggregates, DESC, NULLS FIRST/LAST, COLLATE. When a key is not selected,
// a tiebreaker (id; every GROUP BY term) makes the order total, so the
// comparison can still be exact.
func (g *oGen) order(groups []oGroup) {
	q := g.q
	g.label("order")
	var terms []oTerm
	for range 1 + g.w(55, 35, 10) {
		for range 5 { // a few tries to find a term that is not a hidden float
			t, ok := g.term(groups)
			if ok && !(t.key.name == "" && t.floaty) {
				terms = append(terms, t)
				break
			}
		}
	}
	covered := func() bool {
		switch q.mode {
		case "plain":
			return slices.ContainsFunc(terms, func(t oTerm) bool { return t.covers == "id" })
		case "grouped":
			for i := range groups {
				if !slices.ContainsFunc(terms, func(t oTerm) bool { return t.covers == "g"+strconv.Itoa(i) }) {
					return false
				}
			}
			return true
		case "distinct":
			for i := range q.cols {
				if !slices.ContainsFunc(terms, func(t oTerm) bool { return t.covers == "c"+strconv.Itoa(i) }) {
					return false
				}
			}
			return true
		}
		return true
	}
	hidden := func(t oTerm) bool { return t.key.name == "" }
	if slices.ContainsFunc(terms, hidden) || (!covered() && g.chance(25)) {
		switch q.mode {
		case "plain":
			t := oTerm{sql: oneOf(g.r, "id", "oracle_items.id", "id DESC"), covers: "id"}
			_, t.key.name = q.visibleAs("id")
			terms = append(terms, t)
		case "grouped":
			for i, gt := range groups {
				t := oTerm{sql: gt.by + oneOf(g.r, "", " DESC"), key: oKey{coll: gt.item.coll}, covers: "g" + strconv.Itoa(i)}
				if gt.selected {
					t.key.name = gt.item.name()
				}
				terms = append(terms, t)
			}
		case "distinct":
			for i, c := range q.cols {
				terms = append(terms, oTerm{sql: strconv.Itoa(i + 1), key: oKey{name: c.name(), coll: c.coll}, covers: "c" + strconv.Itoa(i)})
			}
		}
	}
	// An aggregate of floats has no defined place among equal ones: one
	// database and the shards round 13.45 differently (13.450000000000001).
	// Before hidden keys it goes; otherwise rows compare by runs of it and
	// the keys before it, where such values tie.
	floaty := func(t oTerm) bool { return t.floaty && q.mode == "grouped" }
	if slices.ContainsFunc(terms, hidden) {
		terms = slices.DeleteFunc(terms, floaty)
	}
	q.total = covered() && !slices.ContainsFunc(terms, floaty) || q.mode == "global"
	if !q.total {
		for _, t := range terms {
			q.keys = append(q.keys, t.key)
			if floaty(t) { // what follows orders rows within ties of 13.45 and 13.450000000000001: undefined
				break
			}
		}
	}
	if len(terms) == 0 {
		return
	}
	var sqls []string
	for _, t := range terms {
		sqls = append(sqls, t.sql)
	}
	switch g.w(40, 45, 15) {
	case 0:
		q.steps = append(q.steps, oStep{"Order", []any{strings.Join(sqls, ", ")}})
	case 1:
		for _, s := range sqls {
			q.steps = append(q.steps, oStep{"Order", []any{s}})
		}
	default:
		for _, t := range terms {
			if t.col != "" {
				q.steps = append(q.steps, oStep{"Order", []any{clause.OrderByColumn{Column: clause.Column{Name: t.col}, Desc: t.desc}}})
			} else {
				q.steps = append(q.steps, oStep{"Order", []any{t.sql}})
			}
		}
	}
}

// visibleAs finds the selected column showing sql's value.
func (q *oQuery) visibleAs(sql string) (int, string) {
	for i, c := range q.cols {
		if c.name() != "" && (c.sql == sql || c.col == sql || c.alias == sql) {
			return i, c.name()
		}
	}
	return -1, ""
}

// term is one ORDER BY term for the query's mode, with its direction.
func (g *oGen) term(groups []oGroup) (oTerm, bool) {
	q := g.q
	var t oTerm
	switch {
	case q.mode == "plain" && g.w(45, 15, 12, 18) == 0 || q.mode == "grouped" && len(groups) > 0 && g.chance(50):
		if q.mode == "grouped" { // a GROUP BY term, as grouped
			i := g.r.IntN(len(groups))
			gt := groups[i]
			t = oTerm{sql: gt.by, key: oKey{coll: gt.item.coll}, covers: "g" + strconv.Itoa(i)}
			if gt.selected {
				t.key.name = gt.item.name()
			}
			if gt.item.col != "" && !strings.Contains(gt.by, ".") && gt.by == gt.item.col {
				t.col = gt.by
			}
			g.collate(&t, gt.item, q.mode)
			break
		}
		c := oneOf(g.r, oracleColumns...)
		t = oTerm{sql: c.name, col: c.name, key: oKey{coll: g.d.colls[c.name]}}
		if c.name == "id" {
			t.covers = "id"
		}
		if g.chance(20) {
			t.sql, t.col = "oracle_items."+c.name, ""
		}
		for _, o := range q.cols {
			if o.col == c.name || o.alias == c.name && o.col == "" { // the column, or a monotone expression under its name
				t.key.name = o.name()
				break
			}
		}
		g.collate(&t, g.colItem(c), q.mode)
	case q.mode != "grouped" && q.mode != "global" && g.chance(40) || q.mode == "distinct":
		// an output column, by alias or position (DISTINCT orders by nothing else)
		i := g.r.IntN(len(q.cols))
		c := q.cols[i]
		t = oTerm{key: oKey{name: c.name(), coll: c.coll}, covers: "c" + strconv.Itoa(i), floaty: c.kind == kNum && c.col != "price"}
		if c.col == "id" {
			t.covers = "id"
		}
		if c.alias != "" && g.chance(60) {
			t.sql = c.alias
			g.label("order-alias")
		} else {
			t.sql = strconv.Itoa(i + 1)
			g.label("order-position")
		}
	case q.mode == "plain":
		e := oneOf(g.r, oExpr{"score * -1", kInt, "", ""}, oExpr{"qty + score", kInt, "", ""}, oExpr{"LOWER(name)", kText, "name", ""},
			oExpr{"COALESCE(score, 0)", kInt, "", ""}, oExpr{"LENGTH(name)", kInt, "", ""},
			oExpr{"CASE WHEN score IS NULL THEN 1 ELSE 0 END", kInt, "", ""}, oExpr{"price * qty", kNum, "", ""})
		t = oTerm{sql: e.sql, key: oKey{coll: g.d.colls[e.coll]}, floaty: e.kind == kNum}
		_, t.key.name = q.visibleAs(e.sql)
		g.label("order-expression")
	default: // grouped or global: an aggregate, selected or not
		if g.chance(40) {
			if i := slices.IndexFunc(q.cols, func(c oItem) bool { return c.agg }); i >= 0 {
				c := q.cols[i]
				t = oTerm{sql: strconv.Itoa(i + 1), key: oKey{name: c.name(), coll: c.coll}, floaty: c.kind == kNum}
				if c.alias != "" && g.chance(60) {
					t.sql = c.alias
				}
				g.label("order-aggregate")
				break
			}
		}
		a := g.aggExpr(true)
		t = oTerm{sql: a.sql, key: oKey{coll: a.coll}, floaty: a.kind == kNum}
		_, t.key.name = q.visibleAs(a.sql)
		g.label("order-aggregate")
	}
	if g.chance(40) {
		t.desc = true
		t.sql += oneOf(g.r, " DESC", " desc")
	} else if g.chance(10) {
		t.sql += " ASC"
	}
	if g.d.name != "mysql" && g.chance(8) || g.chance(1) { // a syntax error on MariaDB: a little goes a long way
		t.sql += oneOf(g.r, " NULLS FIRST", " NULLS LAST")
		t.col = ""
		g.label("order-nulls")
	}
	return t, t.sql != ""
}

// collate sometimes orders a text term under another collation. The term
// then makes its column unique only if that collation tells apart at least
// what the column's does. A group key that is any member of its class
// ('Alice' or 'alice') has no defined place under a finer collation, so
// that is never written.
func (g *oGen) collate(t *oTerm, it oItem, mode string) {
	if it.kind != kText || !g.chance(10) || mode == "distinct" || strings.Trim(t.sql, "0123456789") == "" {
		return
	}
	c := oneOf(g.r, g.d.collates...)
	if mode != "plain" && it.coll != "" && c.key != it.coll {
		return
	}
	t.sql += " COLLATE " + c.sql
	t.col = ""
	if c.key != "" && c.key != it.coll {
		t.covers = ""
	}
	t.key.coll = c.key
	g.label("order-collate")
}

var (
	oracleNames = []string{"Alice", "alice", "ALICE", "Élodie", "elodie", "Elodie", "Zoë", "zoe", "Zoe", "bob", "Bob", "bob ",
		"bob  ", "", "O'Brien", "o'brien", "x-y", "x_y", "straße", "STRASSE", "strasse", "李雷", "😀", "🎉", "Ångström",
		"angstrom", "Dž", "DŽ", "dž"}
	oracleTags  = []string{"red", "Red", "RED", "blue", "Blue ", "green", ""}
	oracleEpoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
)

// where adds up to three conditions: comparisons, IN lists, IS NULL, LIKE,
// BETWEEN, AND/OR/NOT, map conditions, and subqueries, co-located ones
// (correct on each shard) and ones that need every shard's rows.
func (g *oGen) where() {
	q := g.q
	for range g.w(35, 35, 20, 10) {
		var s oStep
		w := func(sql string, args ...any) { s = oStep{"Where", append([]any{sql}, args...)} }
		switch g.w(20, 8, 6, 5, 3, 8, 3, 3, 6, 6) {
		case 0:
			switch g.r.IntN(9) {
			case 0:
				w("score > ?", g.r.IntN(60)-30)
			case 1:
				w("qty <= ?", g.r.IntN(21))
			case 2:
				w("price < ?", float64(g.r.IntN(4000)-500)/100)
			case 3:
				w(oneOf(g.r, "grp = ?", "grp <> ?"), g.r.IntN(5))
			case 4:
				w("created_at < ?", oracleEpoch.Add(time.Duration(g.r.IntN(150*37))*time.Minute))
			case 5:
				w(oneOf(g.r, "name", "name_x", "name_y")+" = ?", oneOf(g.r, oracleNames...))
			case 6:
				w("tag = ?", oneOf(g.r, oracleTags...))
			case 7:
				w("customer_id = ?", 1+g.r.IntN(oracleCustomers))
			default:
				w("oracle_items.qty > ?", g.r.IntN(21))
			}
		case 1:
			g.label("where-in")
			switch g.r.IntN(4) {
			case 0:
				w("grp IN ?", []int64{int64(g.r.IntN(5)), int64(g.r.IntN(5))})
			case 1:
				w("tag IN ?", []string{oneOf(g.r, oracleTags...), oneOf(g.r, oracleTags...)})
			case 2:
				w("customer_id IN ?", []int64{int64(1 + g.r.IntN(oracleCustomers)), int64(1 + g.r.IntN(oracleCustomers)), int64(1 + g.r.IntN(oracleCustomers))})
			default:
				w("name_y IN ?", []string{oneOf(g.r, oracleNames...), oneOf(g.r, oracleNames...)})
			}
		case 2:
			w(oneOf(g.r, "score IS NULL", "score IS NOT NULL", "name IS NULL", "created_at IS NOT NULL", "tag IS NULL"))
		case 3:
			g.label("where-like")
			col := oneOf(g.r, "name LIKE ?", "name_x LIKE ?", "tag NOT LIKE ?")
			if g.d.name == "postgres" && g.chance(25) || g.chance(3) {
				col = "name ILIKE ?" // PostgreSQL's; an error elsewhere
			}
			w(col, oneOf(g.r, "a%", "%e", "Z%", "_o%", "%ë%", "É%", "% ", "r%"))
		case 4:
			lo := g.r.IntN(15)
			w("qty BETWEEN ? AND ?", lo, lo+g.r.IntN(8))
		case 5:
			g.label("where-or-not")
			switch g.r.IntN(4) {
			case 0:
				w("score > ? OR tag = ?", g.r.IntN(40), oneOf(g.r, oracleTags...))
			case 1:
				w("(grp = ? OR grp = ?) AND qty > ?", g.r.IntN(5), g.r.IntN(5), g.r.IntN(15))
			case 2:
				w("NOT (qty > ?)", g.r.IntN(21))
			default:
				w("score < ? AND NOT (name IS NULL)", g.r.IntN(40)-20)
			}
		case 6:
			g.label("where-or-not")
			q.steps = append(q.steps, oStep{"Where", []any{"grp = ?", g.r.IntN(5)}})
			s = oStep{oneOf(g.r, "Or", "Not"), []any{"qty > ?", g.r.IntN(21)}}
		case 7:
			g.label("where-map")
			s = oStep{"Where", []any{map[string]any{"grp": g.r.IntN(5)}}}
		case 8:
			g.label("subquery-colocated")
			switch g.r.IntN(3) {
			case 0:
				w("customer_id IN (SELECT customer_id FROM oracle_payments WHERE amount > ?)", g.r.IntN(500))
			case 1:
				w("EXISTS (SELECT 1 FROM oracle_payments p WHERE p.customer_id = oracle_items.customer_id AND p.status = ?)", oneOf(g.r, "paid", "open", "void"))
			default:
				g.label("gorm-subquery")
				w("customer_id IN (?)", oSub{payments: true, steps: []oStep{{"Select", []any{"customer_id"}}, {"Where", []any{"amount > ?", g.r.IntN(500)}}}})
			}
		default:
			g.label("subquery-global")
			switch g.r.IntN(6) {
			case 0:
				w("score > (SELECT AVG(score) FROM oracle_items)")
			case 1:
				w("id IN (SELECT MAX(id) FROM oracle_items GROUP BY grp)")
			case 2:
				w("qty IN (SELECT amount % 20 FROM oracle_payments)")
			case 3:
				w("price > (SELECT AVG(price) FROM oracle_items WHERE grp = ?)", g.r.IntN(5))
			case 4:
				w("EXISTS (SELECT 1 FROM oracle_payments p WHERE p.amount = oracle_items.qty)")
			default:
				g.label("gorm-subquery")
				w("id IN (?)", oSub{steps: []oStep{{"Select", []any{"MAX(id)"}}, {"Group", []any{"grp"}}}})
			}
		}
		q.steps = append(q.steps, s)
	}
}
