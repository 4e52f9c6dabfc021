package scatter_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/grant-go/grant/sharding/scatter"
)

// oracleCase is one random query of the oracle.
type oracleCase struct {
	q           query
	kind        string
	unordered   bool // no total order: compare as multisets
	concurrency int
}

func oracleSeed(t *testing.T) uint64 {
	if s := os.Getenv("SCATTER_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err)
		return v
	}
	return 20261127
}

// TestOracle plans 300 random queries with PlanQuery, runs them on 4
// shards and on one database holding all rows, and requires identical
// columns, values, Go types and order. It counts every mismatch (a refusal
// or failure of a query one database answers counts too) and fails on any.
// Reproduce a run with SCATTER_SEED=<seed>.
func TestOracle(t *testing.T) {
	seed := oracleSeed(t)
	c := newCluster(t, seed, 4, 1200)
	r := rand.New(rand.NewPCG(seed, 7))
	cases := make([]oracleCase, 300)
	kinds := map[string]int{}
	for i := range cases {
		cases[i] = randomQuery(r)
		kinds[cases[i].kind]++
	}
	// Two workers: the cases are independent, and SQLite under -race is slow.
	problems := make([]string, len(cases))
	var g errgroup.Group
	for w := range 2 {
		g.Go(func() error {
			for i := w; i < len(cases); i += 2 {
				problems[i] = c.check(cases[i])
			}
			return nil
		})
	}
	require.NoError(t, g.Wait())
	t.Logf("seed %d: %v", seed, kinds)
	failed := map[string]int{}
	var reports []string
	n := 0
	for i, problem := range problems {
		if problem == "" {
			continue
		}
		n++
		failed[cases[i].kind]++
		if len(reports) < 12 {
			reports = append(reports, fmt.Sprintf("query %d (%s): %s\n  %s", i, cases[i].kind, cases[i].q, problem))
		}
	}
	if n > 0 {
		t.Fatalf("seed %d: %d of %d queries differ from one database's answer, by kind %v; the first:\n%s",
			seed, n, len(cases), failed, strings.Join(reports, "\n"))
	}
}

// check runs one case both ways and describes how they differ ("" when
// they agree).
func (c *cluster) check(oc oracleCase) string {
	u, uargs := oc.q.unionSQL()
	wantCols, want, err := tryReadAll(context.Background(), c.union, u, uargs...)
	if err != nil {
		return "the union database fails: " + err.Error()
	}
	cat, err := c.catalog("orders")
	if err != nil {
		return err.Error()
	}
	p, err := planQuery(oc.q, cat)
	if err != nil {
		return "refused: " + err.Error()
	}
	db := scatter.Open(&scatter.Statement{Targets: c.targets(), Program: p.Program, Concurrency: oc.concurrency})
	defer db.Close()
	gotCols, got, err := tryReadAll(context.Background(), db, p.sql, p.args...)
	switch {
	case err != nil:
		return fmt.Sprintf("failed: %v\n  shard SQL: %s", err, p.sql)
	case !reflect.DeepEqual(wantCols, gotCols):
		return fmt.Sprintf("columns %q, want %q", gotCols, wantCols)
	}
	if oc.unordered {
		want, got = sortedRows(want), sortedRows(got)
	}
	if reflect.DeepEqual(want, got) {
		return ""
	}
	for i := range min(len(want), len(got)) {
		if !reflect.DeepEqual(want[i], got[i]) {
			return fmt.Sprintf("%d rows, want %d; row %d is %#v, want %#v\n  shard SQL: %s", len(got), len(want), i, got[i], want[i], p.sql)
		}
	}
	return fmt.Sprintf("%d rows, want %d\n  shard SQL: %s", len(got), len(want), p.sql)
}

// filter returns a random WHERE condition (or none) and its arguments.
func filter(r *rand.Rand) (string, []any) {
	var terms []string
	var args []any
	for _, term := range r.Perm(8)[:r.IntN(3)] { // distinct terms: @amt is bound once
		switch term {
		case 0:
			terms, args = append(terms, "amount > ?"), append(args, r.IntN(5000)-500)
		case 1:
			terms, args = append(terms, "customer_id IN (?, ?, ?, ?)"), append(args, r.IntN(60)+1, r.IntN(60)+1, r.IntN(60)+1, r.IntN(60)+1)
		case 2:
			lo := float64(r.IntN(6000)) / 8
			terms, args = append(terms, "price BETWEEN ? AND ?"), append(args, lo, lo+float64(r.IntN(4000))/8)
		case 3:
			terms, args = append(terms, "name LIKE ?"), append(args, string(rune('a'+r.IntN(8)))+"%")
		case 4:
			terms = append(terms, "name IS NULL")
		case 5:
			terms, args = append(terms, "created_at >= ?"), append(args, fmt.Sprintf("2026-01-%02d 00:00:00", r.IntN(17)+1))
		case 6:
			terms, args = append(terms, "(amount < @amt OR price IS NULL)"), append(args, sql.Named("amt", r.IntN(3000)))
		case 7:
			terms, args = append(terms, "amount % 7 = ?"), append(args, r.IntN(7))
		}
	}
	return strings.Join(terms, " AND "), args
}

// page sets a random LIMIT and OFFSET (or none).
func page(r *rand.Rand, q *query) {
	if r.IntN(3) > 0 {
		q.Limit = new([]int{1, 3, 10, 25, 200}[r.IntN(5)])
	}
	if r.IntN(2) == 0 {
		q.Offset = r.IntN(60)
	}
}

func dir(r *rand.Rand) string {
	if r.IntN(2) == 0 {
		return " DESC"
	}
	return ""
}

// orderColumns are the columns of orders, in table order, and the aliases
// the "aliases" form selects them as.
var (
	orderColumns = []string{"id", "customer_id", "amount", "price", "name", "created_at"}
	orderAliases = []string{"id", "c", "a", "p", "n", "t"}
)

func randomQuery(r *rand.Rand) oracleCase {
	where, args := filter(r)
	oc := oracleCase{q: query{Where: where, WhereArgs: args}, concurrency: r.IntN(5)}
	q := &oc.q
	switch k := r.IntN(14); {
	case k < 5: // rows, ordered by one or two columns and id
		cols := orderColumns[1:]
		perm := r.Perm(len(cols))
		var terms []string
		form := []string{"rows", "rows-hidden-sort", "rows-positions", "rows-aliases"}[r.IntN(4)]
		for _, i := range append(perm[:r.IntN(3)], -1) {
			col, pos, alias := "id", 1, "id"
			if i >= 0 {
				col, pos, alias = cols[i], i+2, orderAliases[i+1]
			}
			switch form {
			case "rows-positions":
				col = strconv.Itoa(pos)
			case "rows-aliases":
				col = alias
			}
			terms = append(terms, col+dir(r))
		}
		q.Select = strings.Join(orderColumns, ", ")
		switch form {
		case "rows-hidden-sort": // the sort columns are not selected
			q.Select = []string{"name", "id, price", "amount % 10 AS m"}[r.IntN(3)]
		case "rows-aliases":
			var items []string
			for i, col := range orderColumns {
				items = append(items, col+" AS "+orderAliases[i])
			}
			q.Select = strings.Join(items, ", ")
		}
		q.OrderBy = strings.Join(terms, ", ")
		page(r, q)
		oc.kind = form
	case k == 5: // rows in no order: concatenated
		q.Select, oc.unordered, oc.kind = "id, amount, name", true, "unordered"
	case k == 6: // aggregates over everything
		q.Select = "COUNT(*) AS n, SUM(amount) AS s, SUM(price) AS sp, COUNT(price) AS cp, MIN(price) AS mnp," +
			" MAX(price) AS mxp, MIN(name) AS mnn, MAX(name) AS mxn, MIN(created_at) AS mnc, MAX(created_at) AS mxc," +
			" MIN(amount) AS mna, AVG(amount) AS aa, AVG(price) AS ap, COUNT(DISTINCT name) AS dn, COUNT(DISTINCT customer_id) AS dc"
		oc.kind = "aggregate"
	case k == 7: // GORM's Count
		q.Select, oc.kind = "count(*)", "count"
	case k == 8 || k == 9: // GROUP BY expressions, ordered by the keys
		q.Select = "customer_id % 3 AS g, amount % 2 AS h, COUNT(*) AS n, SUM(amount) AS s, SUM(price) AS sp," +
			" MIN(price) AS mnp, MAX(name) AS mxn, MAX(created_at) AS mxc, AVG(amount) AS aa"
		switch r.IntN(3) {
		case 0:
			q.Select = strings.Replace(q.Select, "amount % 2 AS h, ", "", 1)
			q.GroupBy, q.OrderBy = "g", "g"+dir(r)
		case 1:
			q.GroupBy, q.OrderBy = "g, h", "h"+dir(r)+", g"+dir(r)
		default:
			q.GroupBy, q.OrderBy = "1, 2", "2"+dir(r)+", 1"+dir(r)
		}
		if r.IntN(2) == 0 {
			q.Having, q.HavingArgs = "COUNT(*) > ?", []any{r.IntN(300)}
		}
		page(r, q)
		oc.kind = "group"
	case k == 10: // GROUP BY ordered by an aggregate
		q.Select, q.GroupBy = "customer_id % 5 AS g, COUNT(*) AS n, SUM(amount) AS s, AVG(price) AS ap", "g"
		q.OrderBy = []string{"s", "SUM(amount)", "3", "AVG(price)", "COUNT(*)"}[r.IntN(5)] + dir(r) + ", g"
		switch r.IntN(3) {
		case 0:
			q.Having, q.HavingArgs = "SUM(amount) > ?", []any{r.IntN(200000)}
		case 1:
			q.Having, q.HavingArgs = "AVG(amount) > ? AND COUNT(*) >= ?", []any{r.IntN(3000), r.IntN(80)}
		}
		page(r, q)
		oc.kind = "group-by-aggregate"
	case k == 11: // COUNT(DISTINCT …) per group
		q.Select = "customer_id % 4 AS g, COUNT(DISTINCT name) AS dn, COUNT(DISTINCT amount % 10) AS dm, COUNT(*) AS n"
		q.GroupBy, q.OrderBy = "g", "g"+dir(r)
		if r.IntN(2) == 0 {
			q.Having, q.HavingArgs = "COUNT(DISTINCT name) > ?", []any{r.IntN(12)}
		}
		oc.kind = "count-distinct"
	case k == 12: // DISTINCT
		switch r.IntN(3) {
		case 0:
			q.Select, q.OrderBy = "DISTINCT customer_id % 7 AS d", "d"+dir(r)
		case 1:
			q.Select, q.OrderBy = "DISTINCT name, customer_id % 2 AS p", "name"+dir(r)+", p"+dir(r)
		default:
			q.Select, q.OrderBy = "DISTINCT amount % 4 AS m, price > 500 AS big", "1"+dir(r)+", 2"+dir(r)
		}
		page(r, q)
		oc.kind = "distinct"
	default: // groups in no order
		q.Select, q.GroupBy = "customer_id % 6 AS g, SUM(amount) AS s, MIN(name) AS mn", "g"
		oc.unordered, oc.kind = true, "group-unordered"
	}
	return oc
}
