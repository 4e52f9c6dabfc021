package scatter

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// OrderColumn is one ORDER BY term of the merged result. Name is a result
// column name, matched case-insensitively against the column names the
// shards return (so order by an alias or by the column's name as selected,
// e.g. "created_at", not "orders.created_at" unless that is what the shards
// name it). A name that matches no column, or two, fails the query.
type OrderColumn struct {
	Name string
	Desc bool
}

// Aggregate says how to merge one result column across shards.
type Aggregate int

const (
	// Keep is not an aggregate: a group key or a plain column. When rows
	// are grouped, a Keep column that is not a group key keeps the value of
	// the first row seen for the group (shard order, then row order).
	Keep Aggregate = iota
	// Sum adds the shards' values; use it for SUM and for COUNT columns.
	// int64s stay int64 (overflow fails the query); any float64 makes the
	// sum a float64; decimal text ([]byte or string, as MySQL DECIMAL and
	// PostgreSQL numeric arrive) is added exactly and returned in the same
	// Go type, with as many fractional digits as the widest input. NULLs
	// are skipped; all NULL gives NULL (as SQL's SUM does).
	Sum
	// Min keeps the smallest non-NULL value (see Plan for how values
	// compare).
	Min
	// Max keeps the largest non-NULL value.
	Max
)

// Plan says how to merge the shards' rows. The zero Plan concatenates rows
// in shard order (Target order), each shard's rows in the order it returned
// them. A Plan must not be changed after it is passed to Open.
//
// Values of one column compare as: NULL (see NullsFirst); numbers (int64,
// float64, bool as 0/1, and text or bytes that parse as numbers when the
// column's database type name is numeric, e.g. INT, BIGINT, DECIMAL,
// NUMERIC, FLOAT) numerically and exactly, NaN above all numbers; times
// chronologically; text and bytes lexicographically by byte (BINARY / "C"
// collation). Should one column mix classes, numbers < times < text <
// bytes.
type Plan struct {
	// OrderBy is the ORDER BY of the original query. The merged rows are
	// sorted by it with a stable sort, so rows that tie keep shard order
	// and then each shard's row order.
	OrderBy []OrderColumn
	// NullsFirst false (the default) sorts NULL above every value, as
	// PostgreSQL and Oracle do: NULLs last for ascending terms and first
	// for descending ones. True sorts NULL below every value, as MySQL,
	// MariaDB, SQLite and SQL Server do: first ascending, last descending.
	// Set it from the dialect. Per-term NULLS FIRST/LAST is not supported.
	NullsFirst bool
	// Limit and Offset of the original query. Limit <= 0 means no limit
	// (so the zero Plan has none; for LIMIT 0 the shards are sent LIMIT 0
	// and return nothing); Offset <= 0 means no offset. The caller
	// sends each shard LIMIT Limit+Offset and no OFFSET (see the package
	// documentation for when it must send no LIMIT); scatter drops Offset
	// merged rows and keeps at most Limit after the merge.
	Limit, Offset int
	// Aggregates maps result column names (case-insensitive) to how they
	// merge; missing columns are Keep. When any column is Sum, Min or Max,
	// or GroupBy is not empty, the rows of all shards are merged into one
	// row per group: per distinct GroupBy values, or one row overall when
	// GroupBy is empty (no row at all when the shards return none). AVG
	// cannot be merged: select SUM(x) and COUNT(x) instead and divide.
	Aggregates map[string]Aggregate
	// GroupBy are the result columns that form the group key. Values that
	// compare equal (1, 1.0 and "1.00" in a numeric column; equal instants)
	// are one group. Groups come out in first-seen order unless OrderBy
	// sorts them. With GroupBy set to every column, the merge is DISTINCT.
	GroupBy []string
	// Drop names result columns that are removed from the merged rows after
	// sorting and grouping: columns the caller appended to the SELECT only
	// so that an ORDER BY term not otherwise selected (e.g. Pluck("name")
	// ordered by id) can be merged. Unknown names fail the query.
	Drop []string
	// Concurrency bounds how many shards run at once (<= 0: all at once).
	Concurrency int
	// AllowPartial lets a query or Exec succeed when some shards fail: the
	// failing shards' errors are recorded in Result.Failed instead. It
	// still fails when every shard fails, when the context is done, or
	// when shards disagree on the result's columns. Set Result too, or
	// partial results cannot be told from complete ones.
	AllowPartial bool
	// Result, when not nil, is filled when each statement finishes: which
	// shards failed and how many rows each returned or affected.
	Result *Result
}

var errNoColumn = errors.New("no such column")

// column returns the index of the column named name (case-insensitive).
func column(cols []string, name string) (int, error) {
	at := -1
	for i, c := range cols {
		if strings.EqualFold(c, name) {
			if at >= 0 {
				return 0, fmt.Errorf("scatter: column %q is ambiguous in %q", name, cols)
			}
			at = i
		}
	}
	if at < 0 {
		return 0, fmt.Errorf("scatter: %w %q in the shards' result %q", errNoColumn, name, cols)
	}
	return at, nil
}

// merge combines the rows of every shard (in shard order) by plan. numeric
// says which columns have a numeric database type.
func merge(plan *Plan, cols []string, numeric []bool, shards [][][]any) ([][]any, error) {
	grouping := len(plan.GroupBy) > 0
	aggs := make([]Aggregate, len(cols))
	for name, a := range plan.Aggregates {
		if a < Keep || a > Max {
			return nil, fmt.Errorf("scatter: unknown Aggregate %d for column %q", a, name)
		}
		i, err := column(cols, name)
		if err != nil {
			return nil, err
		}
		aggs[i] = a
		grouping = grouping || a != Keep
	}
	var rows [][]any
	if grouping {
		var err error
		if rows, err = group(plan, cols, numeric, aggs, shards); err != nil {
			return nil, err
		}
	} else {
		n := 0
		for _, s := range shards {
			n += len(s)
		}
		rows = make([][]any, 0, n)
		for _, s := range shards {
			rows = append(rows, s...)
		}
	}
	if err := order(plan, cols, numeric, rows); err != nil {
		return nil, err
	}
	if plan.Offset > 0 {
		rows = rows[min(plan.Offset, len(rows)):]
	}
	if plan.Limit > 0 && plan.Limit < len(rows) {
		rows = rows[:plan.Limit]
	}
	return rows, nil
}

// group folds all rows into one row per group key, in first-seen order.
func group(plan *Plan, cols []string, numeric []bool, aggs []Aggregate, shards [][][]any) ([][]any, error) {
	keyCols := make([]int, len(plan.GroupBy))
	for j, name := range plan.GroupBy {
		i, err := column(cols, name)
		if err != nil {
			return nil, err
		}
		keyCols[j] = i
	}
	index := map[string]int{}
	var out [][]any
	var b strings.Builder
	for _, s := range shards {
		for _, row := range s {
			b.Reset()
			for _, i := range keyCols {
				keyOf(row[i], numeric[i]).canonical(&b)
			}
			at, seen := index[b.String()]
			if !seen {
				index[b.String()] = len(out)
				out = append(out, slices.Clone(row))
				continue
			}
			acc := out[at]
			for i, a := range aggs {
				v, err := fold(a, acc[i], row[i], numeric[i])
				if err != nil {
					return nil, fmt.Errorf("scatter: column %q: %w", cols[i], err)
				}
				acc[i] = v
			}
		}
	}
	return out, nil
}

// fold merges one more value v into the accumulated acc.
func fold(a Aggregate, acc, v any, numeric bool) (any, error) {
	if a == Keep || v == nil {
		return acc, nil
	}
	if acc == nil {
		return v, nil
	}
	switch a {
	case Sum:
		return add(acc, v)
	case Min:
		if compareValues(v, acc, numeric) < 0 {
			return v, nil
		}
	case Max:
		if compareValues(v, acc, numeric) > 0 {
			return v, nil
		}
	}
	return acc, nil
}

func compareValues(a, b any, numeric bool) int {
	ka, kb := keyOf(a, numeric), keyOf(b, numeric)
	return compareKeys(&ka, &kb)
}

// order sorts rows stably by plan.OrderBy.
func order(plan *Plan, cols []string, numeric []bool, rows [][]any) error {
	idx := make([]int, len(plan.OrderBy))
	for j, o := range plan.OrderBy {
		i, err := column(cols, o.Name)
		if err != nil {
			return err
		}
		idx[j] = i
	}
	if len(idx) == 0 || len(rows) < 2 {
		return nil
	}
	// Normalize every sort value once, then sort row numbers; equal rows
	// keep their position (shard order, then row order): a stable result
	// from the faster unstable sort.
	w := len(idx)
	keys := make([]key, len(rows)*w)
	perm := make([]int, len(rows))
	for r, row := range rows {
		for j, i := range idx {
			keys[r*w+j] = keyOf(row[i], numeric[i])
		}
		perm[r] = r
	}
	nullSide := 1 // NULL above everything (PostgreSQL)
	if plan.NullsFirst {
		nullSide = -1
	}
	slices.SortFunc(perm, func(x, y int) int {
		for j, o := range plan.OrderBy {
			a, b := &keys[x*w+j], &keys[y*w+j]
			var c int
			switch {
			case a.k == kNull && b.k == kNull:
				c = 0
			case a.k == kNull:
				c = nullSide
			case b.k == kNull:
				c = -nullSide
			default:
				c = compareKeys(a, b)
			}
			if o.Desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return cmp.Compare(x, y)
	})
	sorted := make([][]any, len(rows))
	for r, p := range perm {
		sorted[r] = rows[p]
	}
	copy(rows, sorted)
	return nil
}
