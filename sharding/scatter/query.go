package scatter

import (
	"strconv"
	"strings"

	"github.com/grant-go/grant/sharding/scatter/collate"
	"github.com/grant-go/grant/sharding/scatter/value"
)

// SQL is SQL text with its bound values. In a Query, each parameter is
// written the way gorm wrote it for the dialect ($n on PostgreSQL, ?
// elsewhere); in a ShardQuery the planner writes each parameter as a NUL
// byte, to be bound again in order when the statement is built.
type SQL struct {
	Text string
	Vars []any
}

// Catalog is what the planner knows of the queried table.
type Catalog interface {
	// Column reports whether name is a column of the table and, when it
	// holds text, its collation (nil otherwise).
	Column(name string, quoted bool) (ok bool, coll collate.Collation)
	// Literal is the collation of string literals and string parameters.
	Literal() collate.Collation
	// Collation resolves the name in an explicit COLLATE clause.
	Collation(name string) (collate.Collation, error)
}

// Query is a SELECT that spans shards, clause by clause, as gorm built it.
type Query struct {
	Env value.Env
	// Select is the select list ("*", columns, expressions), with DISTINCT
	// in front when the query has it.
	Select  SQL
	GroupBy SQL // the GROUP BY terms, "" when none
	Having  SQL // the HAVING condition, "" when none
	OrderBy SQL // the ORDER BY terms, "" when none
	// Limit < 0 means none.
	Limit, Offset int
	Catalog       Catalog
	// StarColumns are the columns * stands for, in order, when the caller
	// knows them (one table, no join); nil otherwise.
	StarColumns []string
	// MaxDistinct bounds COUNT(DISTINCT) (0: DefaultMaxDistinct).
	MaxDistinct int
}

// ShardQuery is what every shard runs in place of the query's clauses
// (FROM and WHERE stay as they are).
type ShardQuery struct {
	Select  SQL // with DISTINCT in front when the shards deduplicate
	GroupBy SQL // "" when none
	OrderBy SQL // "" when none
	Limit   int // < 0: none; the shards never get an OFFSET
}

// Planned is a query's plan: the shards' statement and the merge.
type Planned struct {
	Shard   ShardQuery
	Program *Program
}

// Statement joins the shards' clauses around tail (the FROM and WHERE
// clauses, written with NUL bytes for parameters like the planner's) into
// one statement: SELECT … tail [GROUP BY …] [ORDER BY …] [LIMIT n].
func (q ShardQuery) Statement(tail SQL) SQL {
	var b strings.Builder
	var vars []any
	add := func(s SQL) {
		b.WriteString(s.Text)
		vars = append(vars, s.Vars...)
	}
	b.WriteString("SELECT ")
	add(q.Select)
	if tail.Text != "" {
		b.WriteByte(' ')
		add(tail)
	}
	if q.GroupBy.Text != "" {
		b.WriteString(" GROUP BY ")
		add(q.GroupBy)
	}
	if q.OrderBy.Text != "" {
		b.WriteString(" ORDER BY ")
		add(q.OrderBy)
	}
	if q.Limit >= 0 {
		b.WriteString(" LIMIT " + strconv.Itoa(q.Limit))
	}
	return SQL{Text: b.String(), Vars: vars}
}

// Bind writes s with each parameter (a NUL byte) replaced by mark(i), the
// dialect's i-th placeholder counting from 0 ("?" or "$1", "$2", …).
func (s SQL) Bind(mark func(i int) string) string {
	parts := strings.Split(s.Text, "\x00")
	var b strings.Builder
	for i, part := range parts {
		b.WriteString(part)
		if i < len(parts)-1 {
			b.WriteString(mark(i))
		}
	}
	return b.String()
}
