package scatter

import (
	"strings"

	"github.com/grant-go/grant/sharding"
)

// Reason is the category of a Refusal: a short, stable phrase that tests
// and metrics may count by, e.g. ReasonWindow.
type Reason string

// The reasons a query that spans shards is refused. Each names what the
// planner cannot merge exactly; the Refusal's Hint names the way out.
const (
	// ReasonWindow: a window function (… OVER (…)) needs every shard's rows.
	ReasonWindow Reason = "window function"
	// ReasonSubquery: a subquery reads rows of other shards (it is not
	// co-located by the shard key), or the planner cannot prove it is.
	ReasonSubquery Reason = "subquery"
	// ReasonRawSQL: raw SQL (db.Raw, db.Exec) cannot be planned.
	ReasonRawSQL Reason = "raw SQL"
	// ReasonAggregate: an aggregate function whose result cannot be
	// computed from per-shard results (STRING_AGG, STDDEV, …).
	ReasonAggregate Reason = "aggregate"
	// ReasonFunction: a function the planner does not know; it could be a
	// user-defined aggregate, so it is not sent to each shard.
	ReasonFunction Reason = "unknown function"
	// ReasonSyntax: a fragment the planner's grammar does not cover.
	ReasonSyntax Reason = "syntax"
	// ReasonAmbiguous: a name that could mean two things (an output alias
	// and a column), or an ORDER BY position outside the select list.
	ReasonAmbiguous Reason = "ambiguous name"
	// ReasonCollation: text whose collation grant cannot reproduce or rank.
	ReasonCollation Reason = "collation"
	// ReasonParameter: a bound value the merge would have to compute with,
	// of a type it cannot type as the server does.
	ReasonParameter Reason = "parameter"
	// ReasonClause: a clause or option scatter-gather does not merge
	// (locking, FROM a subquery, named arguments, …).
	ReasonClause Reason = "clause"
	// ReasonMemory: the merge would hold more values than its bound (for
	// example COUNT(DISTINCT …) over too many values).
	ReasonMemory Reason = "memory bound"
)

// Refusal is why a query that spans shards was refused. Refusals found by
// the planner happen before any shard is contacted; a ReasonMemory refusal
// can also end a query while shards' rows are being merged (nothing is
// written either way: scatter-gather reads). grant wraps it in a
// *grant.RouteError matching grant.ErrSpansShards; errors.As reaches it.
type Refusal struct {
	Reason Reason
	// Fragment is the SQL the refusal is about, as the user wrote it.
	Fragment string
	// Detail says what exactly cannot be merged, when Reason alone does not.
	Detail string
	// Hint names the way out: a rewrite, or running on one shard.
	Hint string
}

// Unwrap makes a Refusal match sharding.ErrSpansShards (grant's
// ErrSpansShards), also when it ends a query while rows are merged.
func (r *Refusal) Unwrap() error { return sharding.ErrSpansShards }

// Error reads "cannot merge <fragment> across shards: <reason>: <detail>;
// <hint>".
func (r *Refusal) Error() string {
	var b strings.Builder
	b.WriteString("cannot merge ")
	if r.Fragment != "" {
		b.WriteString(quoteFragment(r.Fragment))
		b.WriteByte(' ')
	}
	b.WriteString("across shards: ")
	b.WriteString(string(r.Reason))
	if r.Detail != "" {
		b.WriteString(": ")
		b.WriteString(r.Detail)
	}
	if r.Hint != "" {
		b.WriteString("; ")
		b.WriteString(r.Hint)
	}
	return b.String()
}

// quoteFragment shows a fragment in backquotes, shortened past 120 bytes so
// that an error line stays readable.
func quoteFragment(s string) string {
	const most = 120
	if len(s) > most {
		cut := most
		for cut > 0 && s[cut]&0xC0 == 0x80 { // do not split a UTF-8 sequence
			cut--
		}
		s = s[:cut] + "…"
	}
	return "`" + s + "`"
}
