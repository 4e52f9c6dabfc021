package scatter

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"fmt"
	"sync"

	"gorm.io/gorm"

	"github.com/grant-go/grant/sharding/scatter/collate"
	"github.com/grant-go/grant/sharding/scatter/value"
)

// merge is one query's merge in progress: the shards' open answers and
// what is needed to compare their values.
type merge struct {
	st      *Statement
	prog    *Program
	ctx     context.Context
	cancel  context.CancelFunc
	sources []*source // every target, failed ones with err set
	live    []*source // the ones that answered
	cols    []string
	types   []*sql.ColumnType
	vtypes  []value.Type
	ranks   map[*Collation]map[string]int64
	err     error // the first comparison or conversion error
	once    sync.Once
}

// start chooses how to merge: streaming, sorting everything, or grouping.
func (m *merge) start() (driver.Rows, error) {
	for _, s := range m.sources {
		if s.err == nil {
			m.live = append(m.live, s)
		}
	}
	head := m.live[0]
	m.cols, m.types = head.cols, head.types
	if m.types == nil {
		var err error
		if m.types, err = head.rows.ColumnTypes(); err != nil {
			return nil, wrapShard(&source{name: head.name, err: err})
		}
	}
	m.vtypes = make([]value.Type, len(m.types))
	for i, ct := range m.types {
		p, s, ok := ct.DecimalSize()
		m.vtypes[i] = value.TypeOf(m.prog.Env, ct.DatabaseTypeName(), p, s, ok)
	}
	if m.prog.Hidden > len(m.cols) {
		return nil, fmt.Errorf("scatter: the shards return %d columns, fewer than the %d the merge added", len(m.cols), m.prog.Hidden)
	}
	switch {
	case !m.prog.Grouped && m.prog.Streamable:
		return m.stream(), nil
	case !m.prog.Grouped:
		return m.sortAll()
	}
	return m.group()
}

// finish closes every shard's answer, stops what still runs and records
// the outcome in the Result; it runs once.
func (m *merge) finish() {
	m.once.Do(func() {
		for _, s := range m.sources {
			s.close()
		}
		m.cancel()
		failed, counts := map[string]error{}, map[string]int{}
		for _, s := range m.sources {
			if s.err != nil {
				failed[s.name] = wrapShard(s)
				continue
			}
			counts[s.name] = s.n
		}
		m.st.Result.set(failed, counts)
	})
}

func wrapShard(s *source) error {
	if _, ok := s.err.(*ShardError); ok {
		return s.err
	}
	return &ShardError{Shard: s.name, Err: s.err}
}

// fail records the first error met while comparing or converting.
func (m *merge) fail(err error) {
	if m.err == nil {
		m.err = err
	}
}

// convert reads shard column col's raw value.
func (m *merge) convert(col int, raw any) value.Value {
	v, err := value.FromDriver(m.vtypes[col], raw)
	if err != nil {
		m.fail(fmt.Errorf("scatter: column %q: %w", m.cols[col], err))
	}
	return v
}

// compareText returns the comparison of text under c.
func (m *merge) compareText(c *Collation) func(a, b string) int {
	return func(a, b string) int {
		switch {
		case c == nil || c.Collation == nil:
			m.fail(m.unknownCollation(c))
			return 0
		case c.Native():
			return c.Compare(a, b)
		}
		ra, okA := m.ranks[c][a]
		rb, okB := m.ranks[c][b]
		if !okA || !okB {
			m.fail(fmt.Errorf("scatter: internal: text %q was not ranked under %s", pick(okA, b, a), c.Name()))
			return 0
		}
		return cmp.Compare(ra, rb)
	}
}

// textKey returns the equality key of text under c.
func (m *merge) textKey(c *Collation) func(dst []byte, s string) []byte {
	return func(dst []byte, s string) []byte {
		switch {
		case c == nil || c.Collation == nil:
			m.fail(m.unknownCollation(c))
			return dst
		case c.Native():
			return c.Key(dst, s)
		}
		r, ok := m.ranks[c][s]
		if !ok {
			m.fail(fmt.Errorf("scatter: internal: text %q was not ranked under %s", s, c.Name()))
		}
		return binary.BigEndian.AppendUint64(dst, uint64(r))
	}
}

func (m *merge) unknownCollation(c *Collation) error {

	frag := ""
	if c != nil {
		frag = c.Fragment
	}
	return &Refusal{Reason: ReasonCollation, Fragment: frag,
		Detail: "the merge compares text here and cannot tell under which collation",
		Hint:   "add COLLATE to the term, or order and group by a column"}
}

// rank learns, for every collation the plan ranks through the database,
// the order of texts: the constants of the plan, and every text value in
// rows. One round trip per such collation.
func (m *merge) rank(rows [][]any) error {
	texts := map[*Collation]map[string]bool{}
	add := func(c *Collation, s string) {
		if c == nil || c.Collation == nil || c.Native() {
			return
		}
		if texts[c] == nil {
			texts[c] = map[string]bool{}
		}
		texts[c][s] = true
	}
	colls := m.rankedCollations()
	if len(colls) == 0 {
		return nil
	}
	for _, t := range m.prog.Texts {
		add(t.Coll, t.Text)
	}
	for _, row := range rows {
		for _, raw := range row {
			var s string
			switch x := raw.(type) {
			case string:
				s = x
			case []byte:
				s = string(x)
			default:
				continue
			}
			for _, c := range colls {
				add(c, s)
			}
		}
	}
	m.ranks = map[*Collation]map[string]int64{}
	for c, set := range texts {
		values := make([]string, 0, len(set))
		for s := range set {
			values = append(values, s)
		}
		ranks, err := collate.Rank(m.ctx, m.ranker(), c.Collation, values)
		if err != nil {
			return fmt.Errorf("scatter: ranking text under collation %s: %w", c.Name(), err)
		}
		byText := make(map[string]int64, len(values))
		for i, s := range values {
			byText[s] = ranks[i]
		}
		m.ranks[c] = byText
	}
	return nil
}

// rankedCollations lists the collations of the plan that are not native.
func (m *merge) rankedCollations() []*Collation {
	seen := map[*Collation]bool{}
	var out []*Collation
	add := func(c *Collation) {
		if c != nil && c.Collation != nil && !c.Native() && !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	p := m.prog
	for _, k := range p.Keys {
		add(k.Coll)
	}
	for _, k := range p.Sets {
		add(k.Coll)
	}
	for _, f := range p.Folds {
		add(f.Coll)
	}
	for _, c := range p.DistinctOn {
		add(c)
	}
	for _, o := range p.Order {
		add(o.Coll)
		walkExpr(o.Expr, func(e *Expr) { add(e.Coll) })
	}
	for _, o := range p.Outputs {
		walkExpr(o.Expr, func(e *Expr) { add(e.Coll) })
	}
	walkExpr(p.Having, func(e *Expr) { add(e.Coll) })
	for _, t := range p.Texts {
		add(t.Coll)
	}
	for _, c := range m.starCollations() {
		add(c)
	}
	return out
}

func walkExpr(e *Expr, fn func(*Expr)) {
	if e == nil {
		return
	}
	fn(e)
	for _, a := range e.Args {
		walkExpr(a, fn)
	}
}

// ranker is where ranking queries go: the Statement's Ranker, else the
// first shard that answered.
func (m *merge) ranker() gorm.ConnPool {
	if m.st.Ranker != nil {
		return m.st.Ranker
	}
	return m.st.Targets[m.live[0].index].Pool
}

// readAll reads every shard's rows, in shard order, and ranks their text
// where the plan needs the database to: the merges that cannot stream.
func (m *merge) readAll() ([][]any, error) {
	var rows [][]any
	for _, s := range m.live {
		s.keep = true
		for s.next() {
			rows = append(rows, s.cur)
		}
		if s.err != nil && !m.st.AllowPartial {
			return nil, wrapShard(s)
		}
	}
	return rows, m.rank(rows)
}

func pick[T any](cond bool, yes, no T) T {
	if cond {
		return yes
	}
	return no
}
