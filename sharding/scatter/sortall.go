package scatter

import (
	"database/sql/driver"
	"slices"

	"github.com/grant-go/grant/sharding/scatter/value"
)

// sortAll merges an ungrouped query whose order needs the database's help
// (text under a collation grant ranks through the database) or whose
// columns are only known by name: it reads every shard's rows (each shard
// sent at most LIMIT+OFFSET), ranks the text, sorts, deduplicates and cuts.
func (m *merge) sortAll() (driver.Rows, error) {
	rows, err := m.readAll()
	if err != nil {
		return nil, err
	}
	visible := len(m.cols) - m.prog.Hidden
	order := m.orderCols(visible)
	type keyed struct {
		row  []any
		keys []value.Value
	}
	all := make([]keyed, len(rows))
	for i, row := range rows {
		all[i] = keyed{row: row, keys: m.keys(row, order)}
	}
	slices.SortStableFunc(all, func(a, b keyed) int { return m.compareKeys(a.keys, b.keys, order) })
	if m.err != nil {
		return nil, m.err
	}
	out := make([][]any, 0, len(all))
	var seen map[string]struct{}
	var colls []*Collation
	if m.prog.Distinct {
		seen, colls = map[string]struct{}{}, m.distinctColls(visible)
	}
	var key []byte
	for _, k := range all {
		if seen != nil {
			key = m.rowKey(key[:0], k.row[:visible], colls)
			if _, dup := seen[string(key)]; dup {
				continue
			}
			seen[string(key)] = struct{}{}
		}
		out = append(out, k.row[:visible])
	}
	if m.err != nil {
		return nil, m.err
	}
	return newRows(m, &bufferedRows{data: cut(out, m.prog.Offset, m.prog.Limit)}, m.cols[:visible], m.types[:visible]), nil
}

// cut applies OFFSET and LIMIT (limit < 0: none).
func cut[T any](rows []T, offset, limit int) []T {
	rows = rows[min(max(offset, 0), len(rows)):]
	if limit >= 0 && limit < len(rows) {
		rows = rows[:limit]
	}
	return rows
}
