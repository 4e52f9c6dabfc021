package value_test

import (
	"cmp"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"math/rand"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant/sharding/scatter/value"
)

// nestGroups is how many groups the nested tests' table has, and
// nestTrees how many random expressions they ask about each group.
const (
	nestGroups = 50
	nestTrees  = 400
)

// nestColumnsOf lists the columns the nested tests aggregate: small
// numbers, so that averages repeat and results meet literals.
func nestColumnsOf(d value.Dialect) []aggColumn {
	small := func(r *rand.Rand) string {
		if r.Intn(8) == 0 {
			return strconv.Itoa(r.Intn(200001) - 100000)
		}
		return strconv.Itoa(r.Intn(41) - 10)
	}
	switch d {
	case value.MySQL:
		return []aggColumn{
			{"q", "INT", small},
			{"b", "BIGINT", small},
			{"d3", "DECIMAL(12,3)", func(r *rand.Rand) string { return randDecimal(r, 4, 3) }},
			{"d5", "DECIMAL(10,5)", func(r *rand.Rand) string { return randDecimal(r, 3, 5) }},
			{"d10", "DECIMAL(30,10)", func(r *rand.Rand) string { return randDecimal(r, 6, 10) }},
			{"dbl", "DOUBLE", dyadic(20, 4)},
			// Wide values, whose products and quotients fill the server's
			// nine words.
			{"w", "DECIMAL(65,30)", func(r *rand.Rand) string { return randDecimal(r, 1+r.Intn(25), 30) }},
		}
	case value.Postgres:
		return []aggColumn{
			{"i4", "int4", small},
			{"i8", "int8", small},
			{"n", "numeric", func(r *rand.Rand) string { return randDecimal(r, 1+r.Intn(4), r.Intn(5)) }},
			{"n3", "numeric(12,3)", func(r *rand.Rand) string { return randDecimal(r, 4, 3) }},
			{"f8", "float8", dyadic(20, 4)},
		}
	}
	return []aggColumn{{"i", "INTEGER", small}, {"r", "REAL", dyadic(20, 4)}}
}

// testNested computes random expressions of depth 2 and 3 over the
// aggregates of a table split into partitions (the shards): it folds the
// partitions' SUM and COUNT with Sum, derives AVG with Avg, computes the
// expression with Arith, Negate, Compare, CompareExact, Truth and
// AppendKey, and compares what Driver makes of it with what the server
// returns for the whole group; and it orders the groups by expressions
// with CompareOrder as ORDER BY does. MariaDB runs it with
// div_precision_increment 4, 0 and 9.
func (b *backend) testNested(t *testing.T) {
	r := newRand(8)
	cols := nestColumnsOf(b.env.Dialect)
	names := make([]string, len(cols))
	defs := make([]string, len(cols))
	floats := map[string]bool{}
	for i, c := range cols {
		names[i], defs[i] = c.name, c.name+" "+c.ddl
		floats[c.name] = strings.Contains("DOUBLE float8 REAL", c.ddl)
	}
	_, err := b.db.Exec("CREATE TABLE nest (g INT, p INT, " + strings.Join(defs, ", ") + ")")
	require.NoError(t, err)
	var rows []string
	for g := range nestGroups {
		parts := 2 + r.Intn(3)
		for range 1 + r.Intn(8) {
			vals := []string{strconv.Itoa(g), strconv.Itoa(r.Intn(parts))}
			for _, c := range cols {
				x := c.gen(r)
				switch {
				case r.Intn(10) == 0:
					x = "NULL"
				case g%9 == 0 && r.Intn(3) > 0:
					x = "0"
				}
				vals = append(vals, x)
			}
			rows = append(rows, "("+strings.Join(vals, ", ")+")")
		}
	}
	_, err = b.db.Exec("INSERT INTO nest VALUES " + strings.Join(rows, ", "))
	require.NoError(t, err)
	groups := b.foldNest(t, names)

	sessions := []*backend{b}
	if b.env.Dialect == value.MySQL {
		// Other div_precision_increment settings: 0 rounds AVG(q) to an
		// integer that holds nine more digits; 9 fills whole words.
		for _, incr := range []int{0, 9} {
			db, err := sql.Open("mysql", b.data.DSN+"&div_precision_increment="+strconv.Itoa(incr))
			require.NoError(t, err)
			defer db.Close()
			sessions = append(sessions, &backend{name: b.name + " increment " + strconv.Itoa(incr), env: value.Env{Dialect: value.MySQL, DivPrecisionIncrement: incr}, db: db})
		}
	}
	for i, s := range sessions {
		trees := nestTrees
		if i > 0 {
			trees /= 4
		}
		gen := newNestGen(r, s.env, names, floats)
		var probes []nestProbe
		for range trees {
			tree := gen.tree(2 + r.Intn(2))
			probes = append(probes, gen.forms(tree, groups[r.Int63n(nestGroups)])...)
		}
		tl := newTally()
		s.runNestAll(probes, groups, tl)
		if i == 0 {
			for range nestTrees / 8 {
				if e := gen.tree(2 + r.Intn(2)); e.agg { // ORDER BY 7 is by column 7
					s.checkOrder(e, groups, tl)
				}
			}
		}
		tl.report(t, s.name+": nested expressions")
	}
}

// checkOrder compares the order ORDER BY e puts the groups in with the
// order CompareOrder gives their values (NULLs first, on PostgreSQL
// last; ties by group).
func (b *backend) checkOrder(e nestNode, groups map[int64]*nestGroup, tl *tally) {
	ids := make([]int64, 0, len(groups))
	vals := map[int64]value.Value{}
	for id, g := range groups {
		v, err := e.eval(g)
		if err != nil {
			// Errors fail the query; unsupported values cannot be ordered.
			tl.count(tl.unsupported, "order")
			return
		}
		ids, vals[id] = append(ids, id), v
	}
	var cmpErr error
	nullsFirst := b.env.Dialect != value.Postgres
	slices.Sort(ids)
	slices.SortStableFunc(ids, func(x, y int64) int {
		vx, vy := vals[x], vals[y]
		switch {
		case vx.IsNull() || vy.IsNull():
			if vx.IsNull() == vy.IsNull() {
				return 0
			}
			if vx.IsNull() == nullsFirst {
				return -1
			}
			return 1
		}
		c, err := value.CompareOrder(b.env, vx, vy, nil)
		cmpErr = cmp.Or(cmpErr, err)
		return c
	})
	if cmpErr != nil {
		tl.count(tl.unsupported, "order")
		return
	}
	rows, err := b.query("SELECT MIN(g) FROM nest GROUP BY g ORDER BY " + e.sql + ", MIN(g)")
	if err != nil {
		tl.fail("%s: ORDER BY %s: %v", b.name, e.sql, err)
		return
	}
	got := make([]int64, len(rows))
	for i, row := range rows {
		got[i] = row[0].v.(int64)
	}
	if !slices.Equal(got, ids) {
		tl.fail("%s: ORDER BY %s: server %v, model %v", b.name, e.sql, got, ids)
		return
	}
	tl.count(tl.ok, "order")
}

// runNestAll asks for probes over every group, and over group 1 alone
// without GROUP BY, where MariaDB reads the aggregates directly rather
// than from a temporary table.
func (b *backend) runNestAll(probes []nestProbe, groups map[int64]*nestGroup, tl *tally) {
	ids := slices.Sorted(maps.Keys(groups))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 3)
	const batch = 30
	for start := 0; start < len(probes); start += batch {
		part := probes[start:min(start+batch, len(probes))]
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			b.runNest(part, ids, groups, true, tl)
			b.runNest(part, []int64{1}, groups, false, tl)
		}()
	}
	wg.Wait()
}

// foldNest folds each group's partial SUM and COUNT of every column.
func (b *backend) foldNest(t *testing.T, names []string) map[int64]*nestGroup {
	var sel []string
	for _, c := range names {
		sel = append(sel, "SUM("+c+")", "COUNT("+c+")")
	}
	parts, err := b.query("SELECT g, " + strings.Join(sel, ", ") + " FROM nest GROUP BY g, p")
	require.NoError(t, err)
	groups := map[int64]*nestGroup{}
	for _, row := range parts {
		id := row[0].v.(int64)
		g := groups[id]
		if g == nil {
			g = &nestGroup{id: id, sum: map[string]value.Value{}, count: map[string]value.Value{}, err: map[string]error{}}
			for _, c := range names {
				g.sum[c], g.count[c] = value.Null(), value.Null()
			}
			groups[id] = g
		}
		for i, c := range names {
			sv, err := value.FromDriver(row[1+2*i].typ, row[1+2*i].v)
			require.NoError(t, err)
			cv, err := value.FromDriver(row[2+2*i].typ, row[2+2*i].v)
			require.NoError(t, err)
			if g.err[c] == nil {
				g.sum[c], g.err[c] = value.Sum(b.env, g.sum[c], sv)
			}
			g.count[c], err = value.Sum(b.env, g.count[c], cv)
			require.NoError(t, err)
		}
	}
	require.Len(t, groups, nestGroups)
	return groups
}

// runNest asks for probes over the groups ids, with GROUP BY g when
// grouped (else ids is one group, whose aggregates MariaDB then reads
// directly rather than from a temporary table), and checks every answer.
// A query that fails (PostgreSQL fails a whole query when one group
// divides by zero) is asked again for each probe alone, then for halves
// of the groups, down to the group that fails.
func (b *backend) runNest(probes []nestProbe, ids []int64, groups map[int64]*nestGroup, grouped bool, tl *tally) {
	sql := make([]string, len(probes))
	for i, p := range probes {
		sql[i] = p.node.sql
	}
	in := make([]string, len(ids))
	for i, id := range ids {
		in[i] = strconv.FormatInt(id, 10)
	}
	q := "SELECT MIN(g), " + strings.Join(sql, ", ") + " FROM nest WHERE g IN (" + strings.Join(in, ", ") + ")"
	if grouped {
		q += " GROUP BY g"
	}
	rows, err := b.query(q)
	switch {
	case err == nil && len(rows) == len(ids):
		for _, row := range rows {
			for i, p := range probes {
				b.checkNest(p, groups[row[0].v.(int64)], row[1+i], tl)
			}
		}
	case len(probes) > 1:
		for _, p := range probes {
			b.runNest([]nestProbe{p}, ids, groups, grouped, tl)
		}
	case len(ids) > 1:
		b.runNest(probes, ids[:len(ids)/2], groups, grouped, tl)
		b.runNest(probes, ids[len(ids)/2:], groups, grouped, tl)
	default:
		if err == nil {
			err = fmt.Errorf("%d rows", len(rows))
		}
		b.checkNest(probes[0], groups[ids[0]], cell{err: err}, tl)
	}
}

func (b *backend) checkNest(p nestProbe, g *nestGroup, got cell, tl *tally) {
	want, wantErr := p.node.eval(g)
	if errors.Is(wantErr, value.ErrUnsupported) {
		tl.count(tl.unsupported, p.form)
		return
	}
	b.check(&probe{group: p.form, expr: lit(fmt.Sprintf("%s FROM nest WHERE g = %d", p.node.sql, g.id)), want: want, wantErr: wantErr, got: got}, tl)
}
