package reshard

import (
	"errors"
	"fmt"
	"strings"
)

// Errors a workflow returns; test with errors.Is.
var (
	// ErrUnsupported: the cluster, a table or a server cannot be resharded
	// by this package (no change stream, IDs that encode their shard, a
	// strategy change).
	ErrUnsupported = errors.New("grant/reshard: not supported")
	// ErrSchema: a table is missing, has no primary key, or differs between
	// shards.
	ErrSchema = errors.New("grant/reshard: schema")
	// ErrState: the step does not apply to the workflow's current state
	// (switch-writes before the copy finished, complete before a switch…).
	ErrState = errors.New("grant/reshard: wrong state")
	// ErrUnknownWorkflow: no workflow of that name in the default database.
	ErrUnknownWorkflow = errors.New("grant/reshard: unknown workflow")
	// ErrDiverged: verification found rows that differ between the source
	// and the target placement; a switch refuses to proceed.
	ErrDiverged = errors.New("grant/reshard: placements differ")
	// ErrNoAck: an application instance did not acknowledge a freeze in
	// time; the switch was aborted and the placement left as it was.
	ErrNoAck = errors.New("grant/reshard: instance did not acknowledge")
	// ErrBusy: open transactions on a source shard did not finish, or the
	// change stream did not drain, within the switch's bounds; the switch
	// was aborted and the placement left as it was.
	ErrBusy = errors.New("grant/reshard: did not settle in time")
)

// DivergedError lists the keys verification found different. It matches
// ErrDiverged.
type DivergedError struct {
	Workflow string
	Diffs    []Diff // at most a few hundred, in table, shard and key order
	Total    int    // every differing key found
}

// Error names the first differing keys and how to find them all.
func (e *DivergedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "grant/reshard: workflow %q: %d row(s) differ between the source and target placement", e.Workflow, e.Total)
	for i, d := range e.Diffs {
		if i == 5 {
			fmt.Fprintf(&b, "; … (grant reshard verify lists them all)")
			break
		}
		fmt.Fprintf(&b, "; %s", d)
	}
	return b.String()
}

// Is makes errors.Is(err, ErrDiverged) true.
func (e *DivergedError) Is(target error) bool { return target == ErrDiverged }

// Diff is one row that differs between placements.
type Diff struct {
	Table string
	Shard string   // the shard of the placement being checked
	PK    []string // the row's primary key
	Kind  string   // "missing" (absent on Shard), "extra" (on Shard but not at its source), "different"
}

// String reads "accounts different (42) on shard s4".
func (d Diff) String() string {
	return fmt.Sprintf("%s %s (%s) on shard %s", d.Table, d.Kind, strings.Join(d.PK, ", "), d.Shard)
}
