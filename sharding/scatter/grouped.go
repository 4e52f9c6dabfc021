package scatter

import (
	"database/sql"
	"database/sql/driver"
	"fmt"
	"slices"

	"github.com/grant-go/grant/sharding/scatter/value"
)

// group is one group of a grouped query while the shards' rows fold.
type group struct {
	raw  []any         // the first row seen (nil for the empty overall group)
	vals []value.Value // folded values of the columns that fold
	sets []map[string]struct{}
}

// group merges an aggregate query: every shard's groups fold into one
// group per key, then the outputs, HAVING, DISTINCT, ORDER BY and LIMIT
// are computed as the database computes them.
func (m *merge) group() (driver.Rows, error) {
	rows, err := m.readAll()
	if err != nil {
		return nil, err
	}
	p := m.prog
	kinds := make([]FoldKind, len(m.cols))
	colls := make([]*Collation, len(m.cols))
	for _, f := range p.Folds {
		kinds[f.Col], colls[f.Col] = f.Kind, f.Coll
	}
	limit := p.MaxDistinct
	if limit <= 0 {
		limit = DefaultMaxDistinct
	}
	held := 0
	index := map[string]*group{}
	var groups []*group
	var key []byte
	for _, row := range rows {
		key = key[:0]
		for _, k := range p.Keys {
			key = m.convert(k.Col, row[k.Col]).AppendKey(key, m.textKey(k.Coll))
		}
		g, ok := index[string(key)]
		if !ok {
			g = &group{raw: row, vals: make([]value.Value, len(m.cols)), sets: make([]map[string]struct{}, len(p.Sets))}
			for c, kind := range kinds {
				if kind != FoldAny {
					g.vals[c] = m.convert(c, row[c])
				}
			}
			for i := range g.sets {
				g.sets[i] = map[string]struct{}{}
			}
			index[string(key)] = g
			groups = append(groups, g)
		} else {
			for c, kind := range kinds {
				if kind != FoldAny {
					g.vals[c] = m.fold(kind, colls[c], g.vals[c], m.convert(c, row[c]))
				}
			}
		}
		for i, s := range p.Sets {
			v := m.convert(s.Col, row[s.Col])
			if v.IsNull() {
				continue
			}
			k := string(v.AppendKey(nil, m.textKey(s.Coll)))
			if _, dup := g.sets[i][k]; !dup {
				if held++; held > limit {
					return nil, &Refusal{Reason: ReasonMemory, Fragment: m.cols[s.Col],
						Detail: fmt.Sprintf("COUNT(DISTINCT …) would hold more than %d values", limit),
						Hint:   "raise the bound (grant.Config.MaxDistinctValues), or count on one shard at a time"}
				}
				g.sets[i][k] = struct{}{}
			}
		}
		if m.err != nil {
			return nil, m.err
		}
	}
	if p.Overall && len(groups) == 0 {
		groups = append(groups, m.emptyGroup(kinds))
	}
	return m.finishGroups(groups, kinds)
}

// emptyGroup is the one group an aggregate without GROUP BY answers when
// no shard has a row: COUNT is 0, everything else NULL.
func (m *merge) emptyGroup(kinds []FoldKind) *group {
	g := &group{vals: make([]value.Value, len(m.cols)), sets: make([]map[string]struct{}, len(m.prog.Sets))}
	for c, kind := range kinds {
		g.vals[c] = value.Null()
		if kind == FoldCount {
			g.vals[c] = m.convert(c, int64(0))
		}
	}
	for i := range g.sets {
		g.sets[i] = map[string]struct{}{}
	}
	return g
}

// fold merges one more shard's value into a group's.
func (m *merge) fold(kind FoldKind, coll *Collation, acc, v value.Value) value.Value {
	switch kind {
	case FoldSum, FoldCount:
		out, err := value.Sum(m.prog.Env, acc, v)
		if err != nil {
			m.fail(err)
		}
		return out
	case FoldMin, FoldMax:
		if v.IsNull() {
			return acc
		}
		if acc.IsNull() {
			return v
		}
		c := m.extremeCompare(v, acc, coll)
		if kind == FoldMin && c < 0 || kind == FoldMax && c > 0 {
			return v
		}
	}
	return acc
}

// answer is one output row of a grouped query.
type answer struct {
	g    *group
	outs []value.Value
	keys []value.Value
}

func (m *merge) finishGroups(groups []*group, kinds []FoldKind) (driver.Rows, error) {
	p := m.prog
	var answers []answer
	for _, g := range groups {
		if p.Having != nil {
			if ok, known := value.Truth(m.eval(p.Having, g, kinds)); !ok || !known {
				continue
			}
		}
		a := answer{g: g, outs: make([]value.Value, len(p.Outputs))}
		for i, o := range p.Outputs {
			if o.Expr != nil {
				a.outs[i] = m.eval(o.Expr, g, kinds)
			} else {
				a.outs[i] = m.column(g, o.Col, kinds)
			}
		}
		answers = append(answers, a)
	}
	if m.err != nil {
		return nil, m.err
	}
	if p.Distinct {
		seen := map[string]struct{}{}
		kept := answers[:0]
		var key []byte
		for _, a := range answers {
			key = key[:0]
			for i, v := range a.outs {
				if v.MayExceedPrecision() {
					return nil, beyondPrecision(m.cols[p.Outputs[i].Col])
				}
				key = v.AppendKey(key, m.textKey(p.DistinctOn[i]))
			}
			if _, dup := seen[string(key)]; !dup {
				seen[string(key)] = struct{}{}
				kept = append(kept, a)
			}
		}
		answers = kept
	}
	if len(p.Order) > 0 {
		oc := make([]orderCol, len(p.Order))
		for i, o := range p.Order {
			oc[i] = orderCol{desc: o.Desc, nullsFirst: o.NullsFirst, coll: o.Coll}
		}
		for i := range answers {
			a := &answers[i]
			a.keys = make([]value.Value, len(p.Order))
			for j, o := range p.Order {
				if o.Expr != nil {
					a.keys[j] = m.eval(o.Expr, a.g, kinds)
				} else {
					a.keys[j] = a.outs[o.Output]
				}
			}
		}
		slices.SortStableFunc(answers, func(a, b answer) int { return m.compareKeys(a.keys, b.keys, oc) })
	}
	if m.err != nil {
		return nil, m.err
	}
	answers = cut(answers, p.Offset, p.Limit)
	data := make([][]any, len(answers))
	for r, a := range answers {
		row := make([]any, len(p.Outputs))
		for i, o := range p.Outputs {
			switch {
			case o.Expr == nil && kinds[o.Col] == FoldAny && a.g.raw != nil:
				row[i] = a.g.raw[o.Col] // as the shard sent it
			case a.outs[i].IsNull():
				row[i] = nil
			default:
				v, err := a.outs[i].Driver(m.vtypes[o.Col])
				if err != nil {
					return nil, fmt.Errorf("scatter: column %q: the merge computed a value the server would type otherwise: %w", m.cols[o.Col], err)
				}
				row[i] = v
			}
		}
		data[r] = row
	}
	cols := make([]string, len(p.Outputs))
	types := make([]*sql.ColumnType, len(p.Outputs))
	for i, o := range p.Outputs {
		cols[i], types[i] = m.cols[o.Col], m.types[o.Col]
	}
	return newRows(m, &bufferedRows{data: data}, cols, types), nil
}

// column is a group's value of shard column col.
func (m *merge) column(g *group, col int, kinds []FoldKind) value.Value {
	if kinds[col] != FoldAny {
		return g.vals[col]
	}
	if g.raw == nil {
		return value.Null()
	}
	return m.convert(col, g.raw[col])
}

// beyondPrecision refuses DISTINCT over a MySQL decimal that holds more
// integer digits than its type: MariaDB clips such values where it groups,
// which the merge does not reproduce.
func beyondPrecision(column string) error {
	return &Refusal{Reason: ReasonClause, Fragment: column,
		Detail: "a quotient exceeds its type's precision, and MariaDB groups such values clipped"}
}
