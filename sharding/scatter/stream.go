package scatter

import (
	"cmp"
	"container/heap"
	"database/sql/driver"
	"io"

	"github.com/grant-go/grant/sharding/scatter/value"
)

// orderCol is an ORDER BY term of an ungrouped query, located in the
// shards' columns.
type orderCol struct {
	col              int
	desc, nullsFirst bool
	coll             *Collation
}

// orderCols locates the plan's order terms among the shards' columns;
// visible is how many columns the user selected.
func (m *merge) orderCols(visible int) []orderCol {
	out := make([]orderCol, len(m.prog.Order))
	for i, o := range m.prog.Order {
		oc := orderCol{desc: o.Desc, nullsFirst: o.NullsFirst, coll: o.Coll}
		if o.Position > 0 {
			oc.col = o.Position - 1
			if oc.col >= visible {
				m.fail(&Refusal{Reason: ReasonAmbiguous, Detail: "ORDER BY position is not in the select list"})
				oc.col = 0
			}
			if m.prog.StarItem != -1 {
				oc.coll = m.columnColl(oc.col, visible)
			}
		} else {
			oc.col = visible + o.Hidden
		}
		out[i] = oc
	}
	return out
}

// keys converts the order terms' values of a row.
func (m *merge) keys(row []any, oc []orderCol) []value.Value {
	out := make([]value.Value, len(oc))
	for i, o := range oc {
		out[i] = m.convert(o.col, row[o.col])
	}
	return out
}

// compareKeys orders two rows by their order keys, NULLs placed as the
// dialect (or NULLS FIRST/LAST) says.
func (m *merge) compareKeys(a, b []value.Value, oc []orderCol) int {
	for i, o := range oc {
		va, vb := a[i], b[i]
		an, bn := va.IsNull(), vb.IsNull()
		var c int
		switch {
		case an && bn:
		case an:
			c = pick(o.nullsFirst, -1, 1)
		case bn:
			c = pick(o.nullsFirst, 1, -1)
		default:
			c = m.sortCompare(va, vb, o.coll)
			if o.desc {
				c = -c
			}
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

// streamRows merges the shards' sorted streams as they arrive: a k-way
// merge holding one row per shard (or concatenation without ORDER BY).
type streamRows struct {
	m       *merge
	visible int
	order   []orderCol
	heap    cursorHeap
	next    int // without ORDER BY: the source being read
	started bool
	emitted int
	skipped int
	seen    map[string]struct{}
	colls   []*Collation // DISTINCT: per visible column
	key     []byte
}

// cursor is a shard's current row in the merge.
type cursor struct {
	src  *source
	keys []value.Value
}

type cursorHeap struct {
	items []*cursor
	less  func(a, b *cursor) bool
}

func (h *cursorHeap) Len() int           { return len(h.items) }
func (h *cursorHeap) Less(i, j int) bool { return h.less(h.items[i], h.items[j]) }
func (h *cursorHeap) Swap(i, j int)      { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *cursorHeap) Push(x any)         { h.items = append(h.items, x.(*cursor)) }
func (h *cursorHeap) Pop() any {
	last := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return last
}

func (m *merge) stream() driver.Rows {
	visible := len(m.cols) - m.prog.Hidden
	r := &streamRows{m: m, visible: visible, order: m.orderCols(visible)}
	r.heap.less = func(a, b *cursor) bool {
		if c := m.compareKeys(a.keys, b.keys, r.order); c != 0 {
			return c < 0
		}
		return a.src.index < b.src.index // ties: shard order, as the k-way merge met them
	}
	if m.prog.Distinct {
		r.seen = map[string]struct{}{}
		r.colls = m.distinctColls(visible)
	}
	return newRows(m, r, m.cols[:visible], m.types[:visible])
}

// advance reads c's shard's next row and its order keys into c; false at
// the shard's end. The keys are overwritten in place: the row they belonged
// to has left the heap.
func (r *streamRows) advance(c *cursor) (bool, error) {
	src := c.src
	if !src.next() {
		if src.err != nil && !r.m.st.AllowPartial {
			return false, wrapShard(src)
		}
		return false, nil
	}
	for i, o := range r.order {
		c.keys[i] = r.m.convert(o.col, src.cur[o.col])
	}
	return true, nil
}

// pull returns the next row of the merge, or nil at the end.
func (r *streamRows) pull() ([]any, error) {
	if len(r.order) == 0 {
		for r.next < len(r.m.live) {
			src := r.m.live[r.next]
			if src.next() {
				return src.cur, nil
			}
			if src.err != nil && !r.m.st.AllowPartial {
				return nil, wrapShard(src)
			}
			r.next++
		}
		return nil, nil
	}
	if !r.started {
		r.started = true
		for _, src := range r.m.live {
			c := &cursor{src: src, keys: make([]value.Value, len(r.order))}
			ok, err := r.advance(c)
			if err != nil {
				return nil, err
			}
			if ok {
				r.heap.items = append(r.heap.items, c)
			}
		}
		heap.Init(&r.heap)
	}
	if r.heap.Len() == 0 {
		return nil, nil
	}
	top := r.heap.items[0]
	row := top.src.cur // stays valid while the shard reads its next row
	ok, err := r.advance(top)
	if err != nil {
		return nil, err
	}
	if ok {
		heap.Fix(&r.heap, 0)
	} else {
		heap.Pop(&r.heap)
	}
	return row, nil
}

func (r *streamRows) nextRow(dest []driver.Value) error {
	m := r.m
	for {
		if m.prog.Limit >= 0 && r.emitted >= m.prog.Limit {
			return io.EOF
		}
		row, err := r.pull()
		if err == nil {
			err = m.err
		}
		if err != nil {
			return err
		}
		if row == nil {
			return io.EOF
		}
		if r.seen != nil {
			r.key = m.rowKey(r.key[:0], row[:r.visible], r.colls)
			if m.err != nil {
				return m.err
			}
			if _, dup := r.seen[string(r.key)]; dup {
				continue
			}
			r.seen[string(r.key)] = struct{}{}
		}
		if r.skipped < m.prog.Offset {
			r.skipped++
			continue
		}
		for i := range dest {
			dest[i] = row[i]
		}
		r.emitted++
		return nil
	}
}

// rowKey is the equality key of a row's values, text compared under colls.
func (m *merge) rowKey(dst []byte, row []any, colls []*Collation) []byte {
	for i, raw := range row {
		dst = m.convert(i, raw).AppendKey(dst, m.textKey(colls[i]))
	}
	return dst
}

// distinctColls are the collations DISTINCT compares the visible columns
// under.
func (m *merge) distinctColls(visible int) []*Collation {
	if m.prog.StarItem == -1 {
		return m.prog.DistinctOn
	}
	out := make([]*Collation, visible)
	for i := range out {
		out[i] = m.columnColl(i, visible)
	}
	return out
}

// columnColl is the collation of visible column i of a query with a *: an
// item's before or after the *, a table column's inside it.
func (m *merge) columnColl(i, visible int) *Collation {
	items, star := m.prog.Items, m.prog.StarItem
	if star >= 0 {
		after := len(items) - 1 - star
		switch {
		case i < star:
			return items[i]
		case i >= visible-after:
			return items[len(items)-(visible-i)]
		}
	}
	return m.prog.Lookup(m.cols[i])
}

// starCollations are the collations of a star query's columns.
func (m *merge) starCollations() []*Collation {
	if m.prog.Grouped || m.prog.StarItem == -1 {
		return nil
	}
	visible := len(m.cols) - m.prog.Hidden
	out := make([]*Collation, 0, visible)
	for i := 0; i < visible; i++ {
		out = append(out, m.columnColl(i, visible))
	}
	return out
}

// sortCompare orders two non-NULL values as ORDER BY does (value's
// CompareOrder: MySQL sorts decimals rounded to their declared scale). On
// SQLite that is by storage class first — numbers, then text, then blobs —
// without the affinity conversions its comparison operators make.
func (m *merge) sortCompare(a, b value.Value, coll *Collation) int {
	return m.classCompare(a, b, coll, value.CompareOrder)
}

// extremeCompare orders two non-NULL values as MIN and MAX do: by the
// comparison operators, after SQLite's storage classes.
func (m *merge) extremeCompare(a, b value.Value, coll *Collation) int {
	return m.classCompare(a, b, coll, value.Compare)
}

func (m *merge) classCompare(a, b value.Value, coll *Collation, compare func(value.Env, value.Value, value.Value, func(a, b string) int) (int, error)) int {
	if m.prog.Env.Dialect == value.SQLite {
		if ca, cb := sqliteClass(a), sqliteClass(b); ca != cb {
			return cmp.Compare(ca, cb)
		}
	}
	c, err := compare(m.prog.Env, a, b, m.compareText(coll))
	if err != nil {
		m.fail(err)
	}
	return c
}

// sqliteClass ranks a value's SQLite storage class in sort order.
func sqliteClass(v value.Value) int {
	switch v.Type().Kind {
	case value.KindInt, value.KindFloat, value.KindBool, value.KindDecimal:
		return 1
	case value.KindText:
		return 2
	case value.KindBytes:
		return 3
	}
	return 4
}
