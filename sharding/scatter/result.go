package scatter

import (
	"errors"
	"maps"
	"sync"
)

// ShardError names the shard that made a scatter-gather statement fail. It
// wraps the shard's own error (errors.Is and errors.As see through it), so
// callers can both find which shard failed and test for the driver's error.
//
// Without Plan.AllowPartial a query fails with the *ShardError of the first
// shard that failed, and the other shards' statements are cancelled. An Exec
// is never cancelled on a sibling's failure (see Open); it fails with the
// *ShardError of the failing shard, or with errors.Join of several when more
// than one failed, in shard order.
type ShardError struct {
	Shard string // Target.Name of the failing shard
	Err   error  // the shard's error
}

// Error reports the shard's name and its error.
func (e *ShardError) Error() string {
	return "scatter: shard " + e.Shard + ": " + e.Err.Error()
}

// Unwrap returns the shard's error.
func (e *ShardError) Unwrap() error { return e.Err }

var (
	// ErrNoTransaction is returned by BeginTx on a pool from Open: a
	// statement over several shards cannot run in one transaction.
	ErrNoTransaction = errors.New("scatter: scatter-gather has no transactions")
	// ErrNoLastInsertID is returned by LastInsertId of an Exec's result:
	// several shards cannot yield one insert id.
	ErrNoLastInsertID = errors.New("scatter: LastInsertId is not supported over several shards")
	// ErrNoTargets is returned by every statement on a pool opened with no
	// targets.
	ErrNoTargets = errors.New("scatter: no targets")
)

// Result reports how one scatter-gather statement went, per shard. Point
// Plan.Result at a Result to receive it. Each statement on the pool replaces
// the whole content when it finishes (successfully or not), so a Result is
// meant for one statement; share one between statements only if you read
// it between them.
//
// The methods are safe for concurrent use. The exported fields may be read
// directly once the statement has returned and no other statement on the
// same pool is running; they are nil before the first statement.
type Result struct {
	mu sync.Mutex
	// Failed maps the name of every shard that failed to its error (a
	// *ShardError). With Plan.AllowPartial the statement still succeeds
	// when some but not all shards fail; Failed is how you know. Shards
	// that were cancelled because another one failed appear here too.
	Failed map[string]error
	// Rows maps the name of every shard that answered to how many rows it
	// returned before the merge (a query), or how many rows it affected
	// (an Exec).
	Rows map[string]int
}

// Partial reports whether any shard failed, i.e. whether the statement's
// result (when it succeeded under Plan.AllowPartial) lacks some shards' rows.
func (r *Result) Partial() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.Failed) > 0
}

// Failures returns a copy of Failed.
func (r *Result) Failures() map[string]error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.Failed)
}

// RowCounts returns a copy of Rows.
func (r *Result) RowCounts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.Rows)
}

// TotalRows returns the sum of Rows: all rows the shards returned (before
// the merge cut or folded them), or all rows an Exec affected.
func (r *Result) TotalRows() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.Rows {
		n += c
	}
	return n
}

// set replaces the content; nil-safe.
func (r *Result) set(failed map[string]error, rows map[string]int) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Failed, r.Rows = failed, rows
}
