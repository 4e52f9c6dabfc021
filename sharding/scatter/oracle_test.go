package scatter_test

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant/sharding/scatter"
)

// query is one oracle case: the SQL for the union database, the SQL the
// glue would send each shard (LIMIT l+o, no OFFSET), and the Plan.
type query struct {
	union, shard string
	args         []any
	plan         scatter.Plan
	unordered    bool // no total order: compare as multisets
}

func oracleSeed(t *testing.T) uint64 {
	if s := os.Getenv("SCATTER_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err)
		return v
	}
	return 20261127
}

// TestOracle runs 300 random queries on 4 shards through scatter and on one
// database holding all rows, and requires identical columns, values, Go
// types and order. Reproduce a failure with SCATTER_SEED=<seed>.
func TestOracle(t *testing.T) {
	seed := oracleSeed(t)
	c := newCluster(t, seed, 4, 2000)
	r := rand.New(rand.NewPCG(seed, 7))
	kinds := map[string]int{}
	for i := range 300 {
		q, kind := randomQuery(r)
		kinds[kind]++
		msg := fmt.Sprintf("seed %d, query %d (%s)\nunion: %s\nshard: %s\nargs: %v", seed, i, kind, q.union, q.shard, q.args)
		wantCols, want := readAll(t, c.union, q.union, q.args...)
		db := scatter.Open(c.targets(), q.plan)
		gotCols, got := readAll(t, db, q.shard, q.args...)
		require.NoError(t, db.Close())
		require.Equal(t, wantCols, gotCols, msg)
		if q.unordered {
			sortRows(want)
			sortRows(got)
		}
		require.Equal(t, want, got, msg)
	}
	t.Logf("seed %d: %v", seed, kinds)
}

func sortRows(rows [][]any) {
	slices.SortFunc(rows, func(a, b []any) int { return strings.Compare(fmt.Sprint(a...), fmt.Sprint(b...)) })
}

// filter returns a random WHERE clause (or none) and its arguments.
func filter(r *rand.Rand) (string, []any) {
	var terms []string
	var args []any
	for range r.IntN(3) {
		switch r.IntN(8) {
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
	if len(terms) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(terms, " AND "), args
}

// limits returns the union's and the shards' LIMIT/OFFSET clauses.
func limits(r *rand.Rand, plan *scatter.Plan, push bool) (union, shard string) {
	l, o := 0, 0
	if r.IntN(3) > 0 {
		l = []int{1, 3, 10, 25, 200}[r.IntN(5)]
	}
	if r.IntN(2) == 0 {
		o = r.IntN(60)
	}
	plan.Limit, plan.Offset = l, o
	switch {
	case l > 0:
		union = fmt.Sprintf(" LIMIT %d OFFSET %d", l, o)
		if push {
			shard = fmt.Sprintf(" LIMIT %d", l+o)
		}
	case o > 0:
		union = fmt.Sprintf(" LIMIT -1 OFFSET %d", o)
	}
	return union, shard
}

func dir(r *rand.Rand) (string, bool) {
	if r.IntN(2) == 0 {
		return " DESC", true
	}
	return "", false
}

func randomQuery(r *rand.Rand) (query, string) {
	where, args := filter(r)
	q := query{args: args, plan: scatter.Plan{NullsFirst: true, Concurrency: r.IntN(5)}} // SQLite: NULLs sort low
	switch k := r.IntN(10); {
	case k < 5: // rows, ordered by one or two columns and id
		cols := []string{"customer_id", "amount", "price", "name", "created_at"}
		r.Shuffle(len(cols), func(i, j int) { cols[i], cols[j] = cols[j], cols[i] })
		var terms []string
		sel := "SELECT id, customer_id, amount, price, name, created_at"
		narrow, extra := r.IntN(3) == 0, "" // select name only; sort columns are appended and dropped
		if narrow {
			sel = "SELECT name"
		}
		for _, col := range append(cols[:r.IntN(3)], "id") {
			d, desc := dir(r)
			terms = append(terms, col+d)
			q.plan.OrderBy = append(q.plan.OrderBy, scatter.OrderColumn{Name: strings.ToUpper(col[:1]) + col[1:], Desc: desc})
			if narrow && col != "name" {
				extra += ", " + col
				q.plan.Drop = append(q.plan.Drop, col)
			}
		}
		rest := " FROM orders" + where + " ORDER BY " + strings.Join(terms, ", ")
		u, s := limits(r, &q.plan, true)
		q.union, q.shard = sel+rest+u, sel+extra+rest+s
		if narrow {
			return q, "rows-dropped-sort-columns"
		}
		return q, "rows"
	case k == 5: // rows in no order: concatenated
		q.union = "SELECT id, amount, name FROM orders" + where
		q.shard, q.unordered = q.union, true
		return q, "unordered"
	case k == 6: // aggregates over everything
		q.plan.Aggregates = map[string]scatter.Aggregate{"n": scatter.Sum, "s": scatter.Sum, "sp": scatter.Sum,
			"cp": scatter.Sum, "mnp": scatter.Min, "mxp": scatter.Max, "mnn": scatter.Min, "mxn": scatter.Max,
			"mnc": scatter.Min, "mxc": scatter.Max, "mna": scatter.Min}
		q.union = "SELECT COUNT(*) AS n, SUM(amount) AS s, SUM(price) AS sp, COUNT(price) AS cp, MIN(price) AS mnp," +
			" MAX(price) AS mxp, MIN(name) AS mnn, MAX(name) AS mxn, MIN(created_at) AS mnc, MAX(created_at) AS mxc," +
			" MIN(amount) AS mna FROM orders" + where
		q.shard = q.union
		return q, "aggregate"
	case k == 7: // GORM's Count
		q.plan.Aggregates = map[string]scatter.Aggregate{"COUNT(*)": scatter.Sum}
		q.union = "SELECT count(*) FROM orders" + where
		q.shard = q.union
		return q, "count"
	case k == 8: // GROUP BY, ordered by the group key: LIMIT pushed down
		q.plan.Aggregates = map[string]scatter.Aggregate{"n": scatter.Sum, "s": scatter.Sum, "sp": scatter.Sum,
			"mnp": scatter.Min, "mxn": scatter.Max, "mxc": scatter.Max}
		sel := "SELECT customer_id % 3 AS g, amount % 2 AS h, COUNT(*) AS n, SUM(amount) AS s, SUM(price) AS sp," +
			" MIN(price) AS mnp, MAX(name) AS mxn, MAX(created_at) AS mxc FROM orders" + where
		d1, desc1 := dir(r)
		d2, desc2 := dir(r)
		if r.IntN(2) == 0 {
			sel += " GROUP BY g ORDER BY g" + d1
			sel = strings.Replace(sel, "amount % 2 AS h, ", "", 1)
			q.plan.GroupBy = []string{"g"}
			q.plan.OrderBy = []scatter.OrderColumn{{Name: "g", Desc: desc1}}
		} else {
			sel += " GROUP BY g, h ORDER BY h" + d2 + ", g" + d1
			q.plan.GroupBy = []string{"g", "h"}
			q.plan.OrderBy = []scatter.OrderColumn{{Name: "h", Desc: desc2}, {Name: "g", Desc: desc1}}
		}
		u, s := limits(r, &q.plan, true)
		q.union, q.shard = sel+u, sel+s
		return q, "group"
	default: // GROUP BY ordered by an aggregate (no pushdown), or DISTINCT
		if r.IntN(2) == 0 {
			q.plan.GroupBy = []string{"d"}
			q.plan.OrderBy = []scatter.OrderColumn{{Name: "d"}}
			sel := "SELECT DISTINCT customer_id % 7 AS d FROM orders" + where + " ORDER BY d"
			u, s := limits(r, &q.plan, true)
			q.union, q.shard = sel+u, sel+s
			return q, "distinct"
		}
		q.plan.Aggregates = map[string]scatter.Aggregate{"n": scatter.Sum, "s": scatter.Sum}
		q.plan.GroupBy = []string{"g"}
		d, desc := dir(r)
		q.plan.OrderBy = []scatter.OrderColumn{{Name: "s", Desc: desc}, {Name: "g"}}
		sel := "SELECT customer_id % 5 AS g, COUNT(*) AS n, SUM(amount) AS s FROM orders" + where +
			" GROUP BY g ORDER BY s" + d + ", g"
		u, s := limits(r, &q.plan, false)
		q.union, q.shard = sel+u, sel+s
		return q, "group-by-aggregate"
	}
}
