package scatter

import (
	"errors"

	"github.com/grant-go/grant/sharding/scatter/collate"
	"github.com/grant-go/grant/sharding/scatter/value"
)

// Program is how the merge turns the shards' rows into the one answer a
// single database would give. The planner writes it together with the SQL
// each shard runs; the two describe the same columns.
//
// An ungrouped query passes the shards' rows through: the shards return the
// user's columns followed by Hidden columns the merge orders by, which are
// dropped. A grouped query (aggregates, GROUP BY, or DISTINCT over them)
// returns only columns the planner chose, folds them per group, then
// computes each output column.
type Program struct {
	Env value.Env

	// Grouped: fold rows into groups (see Keys, Folds, Outputs).
	Grouped bool
	// Overall: an aggregate without GROUP BY, which answers one row even
	// when no shard has a row (COUNT 0, SUM NULL).
	Overall bool
	// Keys are the shard columns that form the group key.
	Keys []Key
	// Folds say how every shard column merges within a group; columns not
	// listed keep the first value seen (any one of equal values).
	Folds []Fold
	// Sets are the columns whose distinct values per group the merge keeps,
	// for COUNT(DISTINCT x): the shards group by x too.
	Sets []Key
	// Outputs are the answer's columns in order: each takes its name and
	// type from a shard column and its value from Expr (nil: that column's
	// folded value).
	Outputs []Output
	// Having filters groups after the merge.
	Having *Expr
	// Distinct removes duplicate answer rows, comparing each column under
	// DistinctOn[i]'s collation (nil for non-text).
	Distinct   bool
	DistinctOn []*Collation

	// Hidden is, for an ungrouped query, how many trailing shard columns
	// exist only for the merge (ORDER BY terms) and are dropped.
	Hidden int
	// Order sorts the answer.
	Order []OrderKey
	// Limit and Offset cut the answer after ordering; Limit < 0 means none.
	Limit, Offset int
	// Streamable: every order key compares natively, so an ungrouped query
	// is merged as the rows arrive (a k-way merge of the shards' sorted
	// streams), holding one row per shard.
	Streamable bool
	// Texts lists constants (string literals and parameters) compared under
	// a collation that must be ranked through the database, with it.
	Texts []RankedText
	// MaxDistinct bounds how many distinct values COUNT(DISTINCT …) may
	// hold in memory across all groups; 0 means DefaultMaxDistinct.
	MaxDistinct int

	// Items are the collations of an ungrouped query's select items (nil
	// for * and for non-text), and StarItem the index of its one * (-1:
	// none, -2: several). With a *, the merge matches columns to items once
	// the shards answer: the items before and after the * by position, the
	// columns of the * by name through Lookup.
	Items    []*Collation
	StarItem int
	Lookup   func(name string) *Collation

	refusal error // set by Refused: every statement fails with it
}

// DefaultMaxDistinct is the default bound on the values COUNT(DISTINCT)
// holds while merging: past it the query fails with a ReasonMemory Refusal.
const DefaultMaxDistinct = 1_000_000

// Collation is a text column's collation as the plan knows it: a native
// comparator, or one ranked through the database at merge time. Nil means
// the planner could not tell; the merge refuses such values if they turn
// out to be text.
type Collation struct {
	collate.Collation
	// Fragment is the SQL whose collation this is, for errors.
	Fragment string
}

// Key is a shard column compared under a collation.
type Key struct {
	Col  int
	Coll *Collation
}

// FoldKind is how one shard column merges across the rows of a group.
type FoldKind uint8

// Fold kinds.
const (
	FoldAny   FoldKind = iota // keep one of the values (group keys, and what depends only on them)
	FoldSum                   // SUM: NULL when no row
	FoldCount                 // COUNT: adds up like SUM, 0 when no row
	FoldMin
	FoldMax
)

// Fold says how shard column Col merges.
type Fold struct {
	Col  int
	Kind FoldKind
	Coll *Collation // MIN and MAX of text
}

// Output is one answer column of a grouped query.
type Output struct {
	Col  int   // the shard column whose name and type the answer column takes
	Expr *Expr // nil: the folded value of Col
	// Check: the value is computed after the merge, so it must fit Col's
	// type exactly (the shard typed it; grant computed it).
	Check bool
}

// OrderKey is one ORDER BY term of the answer.
type OrderKey struct {
	// Exactly one of these locates the value.
	Hidden   int   // ungrouped: index among the Hidden columns; -1 when unused
	Position int   // ungrouped: 1-based position among the visible columns; 0 when unused
	Output   int   // grouped: answer column; -1 when unused
	Expr     *Expr // grouped: computed per group
	Desc     bool
	// NullsFirst puts NULL before every value (in ascending order terms:
	// it already accounts for Desc).
	NullsFirst bool
	Coll       *Collation
}

// RankedText is a constant that is compared with text under a collation
// ranked through the database.
type RankedText struct {
	Coll *Collation
	Text string
}

// ExprOp is the operation of an Expr node.
type ExprOp uint8

// Expr operations.
const (
	ExprConst    ExprOp = iota + 1 // Value
	ExprCol                        // the folded value of shard column Col
	ExprAvg                        // AVG from the folded SUM (Col) and COUNT (Col2)
	ExprCount                      // COUNT(DISTINCT): values in Set Col
	ExprArith                      // Args[0] Arith Args[1]
	ExprNeg                        // -Args[0]
	ExprCompare                    // Args[0] Cmp Args[1], under Coll for text
	ExprAnd                        // three-valued
	ExprOr                         // three-valued
	ExprNot                        // three-valued
	ExprIsNull                     // Args[0] IS NULL (Not: IS NOT NULL)
	ExprIsTrue                     // Args[0] IS TRUE/FALSE (Truth), Not inverts
	ExprCase                       // Args: [operand?] cond, result, cond, result, …, [else]
	ExprIn                         // Args[0] IN (Args[1:]); Not: NOT IN
	ExprBetween                    // Args[0] BETWEEN Args[1] AND Args[2]; Not
	ExprCoalesce                   // first non-NULL of Args
	ExprNullIf                     // NULLIF(Args[0], Args[1])
)

// Expr is a scalar expression the merge computes per group, over folded
// columns, distinct sets and constants, with the dialect's semantics.
type Expr struct {
	Op    ExprOp
	Args  []*Expr
	Value value.Value // ExprConst
	Col   int         // ExprCol, ExprAvg (the SUM), ExprCount (the set)
	Col2  int         // ExprAvg: the COUNT
	Arith value.Op    // ExprArith
	Cmp   string      // ExprCompare: "=", "<>", "<", "<=", ">", ">=", "<=>"
	Not   bool
	// Truth: ExprIsTrue tests IS TRUE when set, IS FALSE otherwise.
	Truth bool
	// HasOperand: ExprCase is a simple CASE (Args[0] is the operand).
	HasOperand, HasElse bool
	Coll                *Collation // ExprCompare, ExprIn, ExprBetween on text
}

var errInternalExpr = errors.New("scatter: internal: unknown expression")
