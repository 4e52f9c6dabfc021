package value_test

import (
	"errors"
	"fmt"
	"math/rand"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant/sharding/scatter/value"
)

// aggColumn is a column type whose SUM, AVG and COUNT are folded from
// random partitions (the shards) and compared with the server's over all
// rows.
type aggColumn struct {
	name string
	ddl  string
	gen  func(r *rand.Rand) string
}

// dyadic returns numbers k/2^shift with |k| < 2^bits, whose sums are exact
// in binary floating point, so that the order of additions cannot matter.
func dyadic(bits, shift int) func(r *rand.Rand) string {
	return func(r *rand.Rand) string {
		k := r.Int63n(1<<bits) - 1<<(bits-1)
		return strconv.FormatFloat(float64(k)/float64(int64(1)<<shift), 'g', -1, 64)
	}
}

func smallInts(bits int) func(r *rand.Rand) string {
	g := genInt(bits)
	return func(r *rand.Rand) string {
		if r.Intn(3) == 0 {
			return strconv.Itoa(r.Intn(21) - 10)
		}
		return g(r)
	}
}

func aggColumnsOf(d value.Dialect) []aggColumn {
	switch d {
	case value.Postgres:
		return []aggColumn{
			{"int2", "int2", smallInts(16)},
			{"int4", "int4", smallInts(32)},
			{"int8", "int8", smallInts(64)},
			{"numeric", "numeric", func(r *rand.Rand) string { return randDecimal(r, 1+r.Intn(8), r.Intn(7)) }},
			{"numeric_12_3", "numeric(12,3)", genDecimal(9, 3)},
			{"float8", "float8", dyadic(40, 10)},
			{"float4", "float4", dyadic(12, 2)},
		}
	case value.MySQL:
		return []aggColumn{
			{"int", "INT", smallInts(32)},
			{"bigint", "BIGINT", smallInts(64)},
			{"dec_12_3", "DECIMAL(12,3)", genDecimal(9, 3)},
			{"dec_30_10", "DECIMAL(30,10)", genDecimal(20, 10)},
			{"dec_10_5", "DECIMAL(10,5)", genDecimal(5, 5)},
			{"dbl", "DOUBLE", dyadic(40, 10)},
			{"flt", "FLOAT", dyadic(12, 2)},
		}
	}
	return []aggColumn{
		{"integer", "INTEGER", smallInts(58)},
		{"real", "REAL", dyadic(40, 10)},
		{"mixed", "", func(r *rand.Rand) string {
			if r.Intn(2) == 0 {
				return strconv.Itoa(r.Intn(2001) - 1000)
			}
			f, _ := strconv.ParseFloat(dyadic(30, 4)(r), 64)
			return strconv.FormatFloat(f, 'e', -1, 64)
		}},
	}
}

const aggGroups = 150

func (b *backend) testAggregate(t *testing.T) {
	r := newRand(6)
	tl := newTally()
	for _, col := range aggColumnsOf(b.env.Dialect) {
		table := "agg_" + col.name
		_, err := b.db.Exec("CREATE TABLE " + table + " (g INT, p INT, x " + col.ddl + ")")
		require.NoError(t, err)
		var rows []string
		for g := range aggGroups {
			parts, n := 2+r.Intn(3), r.Intn(25)
			zeros := g%7 == 0 // sums of zeros still have a scale
			for range n {
				x := col.gen(r)
				switch {
				case r.Intn(10) == 0 || g%13 == 0:
					x = "NULL"
				case zeros && r.Intn(4) > 0:
					x = "0"
				}
				rows = append(rows, fmt.Sprintf("(%d, %d, %s)", g, r.Intn(parts), x))
			}
		}
		if b.env.Dialect == value.SQLite && col.name == "integer" {
			// Each shard's sum fits; the total overflows.
			rows = append(rows, fmt.Sprintf("(%d, 0, %d)", aggGroups, int64(1)<<62), fmt.Sprintf("(%d, 1, %d)", aggGroups, int64(1)<<62))
		}
		_, err = b.db.Exec("INSERT INTO " + table + " (g, p, x) VALUES " + strings.Join(rows, ", "))
		require.NoError(t, err)
		b.checkAggregates(t, table, col.name, tl)
		b.checkGroups(t, table, col.name, tl)
	}
	tl.report(t, "aggregates")
}

// checkAggregates folds the per-partition SUM and COUNT of every group
// with Sum, derives AVG with Avg, and compares them with the server's
// SUM, AVG and COUNT of the whole group.
func (b *backend) checkAggregates(t *testing.T, table, name string, tl *tally) {
	type fold struct {
		sum, count value.Value
		err        error
	}
	folds := map[int64]*fold{}
	parts, err := b.query("SELECT g, SUM(x), COUNT(x) FROM " + table + " GROUP BY g, p")
	require.NoError(t, err)
	for _, row := range parts {
		g := row[0].v.(int64)
		f := folds[g]
		if f == nil {
			f = &fold{sum: value.Null(), count: value.Null()}
			folds[g] = f
		}
		sv, err := value.FromDriver(row[1].typ, row[1].v)
		require.NoError(t, err, "FromDriver(%+v, %#v)", row[1].typ, row[1].v)
		cv, err := value.FromDriver(row[2].typ, row[2].v)
		require.NoError(t, err)
		if f.err == nil {
			f.sum, f.err = value.Sum(b.env, f.sum, sv)
		}
		f.count, err = value.Sum(b.env, f.count, cv)
		require.NoError(t, err)
	}
	// Groups from aggGroups on are made for the server to fail on: ask for
	// them one by one.
	totals := map[int64][]cell{}
	all, err := b.query(fmt.Sprintf("SELECT g, SUM(x), AVG(x), COUNT(x) FROM %s WHERE g < %d GROUP BY g", table, aggGroups))
	for _, row := range all {
		totals[row[0].v.(int64)] = row[1:]
	}
	for g, f := range folds {
		q := fmt.Sprintf("SELECT SUM(x), AVG(x), COUNT(x) FROM %s WHERE g = %d", table, g)
		cells, gErr := totals[g], error(nil)
		if err != nil || g >= aggGroups {
			// A group the server fails on fails the whole query: ask
			// for each group alone.
			var rows [][]cell
			if rows, gErr = b.query(q); gErr == nil {
				cells = rows[0]
			}
		}
		if gErr != nil {
			p := &probe{group: "sum " + name, expr: lit(q), wantErr: f.err, got: cell{err: gErr}}
			if f.err == nil {
				p.want = f.sum
			}
			b.check(p, tl)
			continue
		}
		avg, avgErr := f.sum, f.err
		if f.err == nil {
			avg, avgErr = value.Avg(b.env, f.sum, f.count)
		}
		for i, m := range []struct {
			what string
			v    value.Value
			err  error
		}{{"sum", f.sum, f.err}, {"avg", avg, avgErr}, {"count", f.count, nil}} {
			p := &probe{group: m.what + " " + name, expr: lit(q), want: m.v, wantErr: m.err, got: cells[i]}
			if errors.Is(m.err, value.ErrUnsupported) {
				tl.count(tl.unsupported, p.group)
				continue
			}
			b.check(p, tl)
		}
	}
}

// checkGroups compares the number of groups GROUP BY x makes with the
// number of distinct keys AppendKey gives x's values.
func (b *backend) checkGroups(t *testing.T, table, name string, tl *tally) {
	rows, err := b.query("SELECT x FROM " + table)
	require.NoError(t, err)
	keys := map[string]bool{}
	for _, row := range rows {
		v, err := value.FromDriver(row[0].typ, row[0].v)
		require.NoError(t, err)
		keys[string(v.AppendKey(nil, nil))] = true
	}
	groups, err := b.query("SELECT COUNT(*) FROM (SELECT x FROM " + table + " GROUP BY x) s")
	require.NoError(t, err)
	if n := groups[0][0].v.(int64); n != int64(len(keys)) {
		tl.fail("%s: GROUP BY x of %s makes %d groups, AppendKey %d keys", b.name, table, n, len(keys))
		return
	}
	tl.count(tl.ok, "groups "+name)
}
