package topology

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/grant-go/grant/sharding"
)

// Sentinel errors. Every error grant returns for a statement wraps exactly one of
// these, so callers test them with errors.Is; the wrapping error names the
// database, role, node or table it is about.
var (
	// ErrReadOnly: a write was refused because the route prevents writes
	// (PreventWrites or the reading role). Nothing was sent to any database.
	ErrReadOnly = errors.New("grant: write refused on a connection that prevents writes")
	// ErrCrossDatabaseTransaction: inside a transaction, a statement routed to a
	// database other than the transaction's. Nothing was sent.
	ErrCrossDatabaseTransaction = errors.New("grant: statement for another database inside a transaction")
	// ErrUnknownDatabase: a scope, context or model named a database the
	// configuration does not have.
	ErrUnknownDatabase = errors.New("grant: unknown database")
	// ErrUnknownRole: a scope or context named a role the database does not have.
	ErrUnknownRole = errors.New("grant: unknown role")
	// ErrInvalidConfig: New or Initialize found the configuration unusable.
	ErrInvalidConfig = errors.New("grant: invalid configuration")
	// ErrUnknownShard: a scope or context named a shard the cluster does not have.
	ErrUnknownShard = errors.New("grant: unknown shard")
	// ErrShardKeyMissing: a statement for a sharded cluster named no shard
	// and carried no shard key grant could use. Nothing was sent.
	ErrShardKeyMissing = errors.New("grant: no shard key and no shard for a sharded model")
	// ErrCrossShardTransaction: inside a transaction on one shard, a
	// statement routed to another shard of the same cluster. Nothing was sent.
	ErrCrossShardTransaction = errors.New("grant: statement for another shard inside a transaction")
	// ErrSpansShards: a statement's shard keys belong to several shards, and
	// the statement cannot be split or scattered. Nothing was sent.
	ErrSpansShards = sharding.ErrSpansShards
	// ErrNoScatterEngine: a statement would run on every shard of a cluster
	// (grant.AllShards, or an update or delete for all of them), but the
	// program does not link the scatter-gather engine. Import
	// github.com/grant-go/grant/sharding/scatter/engine. Nothing was sent.
	ErrNoScatterEngine = errors.New("grant: the scatter-gather engine is not linked")
	// ErrShardMismatch: a statement names a shard (grant.Shard, a context,
	// a transaction pinned to it) but its shard key values map to another:
	// the row would be stored where its own key cannot find it, or a read
	// would miss rows. The error names both shards; nothing was sent. A
	// statement without a key may name any shard.
	ErrShardMismatch = errors.New("grant: the shard key maps to another shard than the one named")
	// ErrShardKeyChange: an update would change a row's shard key so that
	// the row belongs on another shard. Rows never move between shards by
	// update; nothing was sent.
	ErrShardKeyChange = errors.New("grant: update would move the row to another shard")
	// ErrNodeUnavailable: a node's pool could not be opened; also the
	// sentinel of NodeHealth.Err, why a node failed its health check.
	ErrNodeUnavailable = errors.New("grant: node unavailable")
	// ErrNoHealthyReplica: a read found no replica in rotation (health
	// checks took them all out) and HealthConfig.FailWithoutReplica forbids
	// sending it to the writer. Nothing was sent; the *RouteError names the
	// database.
	ErrNoHealthyReplica = errors.New("grant: no healthy replica")
	// ErrReadTimeout: a read on a replica or custom-role node returned no
	// first row within HealthConfig.ReadTimeout (or ReadTimeouts), and
	// running it once more elsewhere did not answer it either. The error
	// is a *ReadTimeoutError naming the node (or wraps one); it matches
	// context.DeadlineExceeded too.
	ErrReadTimeout = errors.New("grant: read timed out")
)

// ReadTimeoutError reports a read that returned no first row within its
// role's read timeout (HealthConfig.ReadTimeout): it was cancelled on
// Node. errors.Is matches it with ErrReadTimeout and
// context.DeadlineExceeded.
type ReadTimeoutError struct {
	Node    string // "database/role/node"
	Timeout time.Duration
}

// Error names the node and the timeout it exceeded.
func (e *ReadTimeoutError) Error() string {
	return fmt.Sprintf("%s: %s returned no first row within %s (health.read_timeout); the read was cancelled", ErrReadTimeout.Error(), e.Node, e.Timeout)
}

// Unwrap exposes ErrReadTimeout and context.DeadlineExceeded.
func (e *ReadTimeoutError) Unwrap() []error {
	return []error{ErrReadTimeout, context.DeadlineExceeded}
}

// PartialWriteError reports a create whose rows were split over several
// shards, each part in its own transaction, when some parts failed: the
// shards in Committed hold their rows, the shards in Failed hold none of
// theirs. Nothing was lost silently; retry the failed parts.
type PartialWriteError struct {
	Cluster   string
	Committed []string         // shards whose part committed
	Failed    map[string]error // shard → why its part rolled back
}

// Error names the shards that committed and those that rolled back, with why.
func (e *PartialWriteError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "grant: create split over cluster %q partly failed: committed on [%s]; rolled back on", e.Cluster, strings.Join(e.Committed, ", "))
	for _, shard := range slices.Sorted(maps.Keys(e.Failed)) {
		fmt.Fprintf(&b, " %s (%v)", shard, e.Failed[shard])
	}
	return b.String()
}

// Unwrap exposes the failed parts' errors.
func (e *PartialWriteError) Unwrap() []error {
	errs := make([]error, 0, len(e.Failed))
	for _, shard := range slices.Sorted(maps.Keys(e.Failed)) {
		errs = append(errs, e.Failed[shard])
	}
	return errs
}

// ConfigError reports one problem in a Config. Path locates it
// ("databases.analytics.replicas[1].pool.max_open"); it never holds a password.
type ConfigError struct {
	Path    string
	Problem string
}

// Error reads "grant: invalid configuration: <key path>: <problem>".
func (e *ConfigError) Error() string {
	return fmt.Sprintf("grant: invalid configuration: %s: %s", e.Path, e.Problem)
}

// Unwrap makes errors.Is(err, ErrInvalidConfig) true.
func (e *ConfigError) Unwrap() error { return ErrInvalidConfig }

// RouteError reports a statement grant refused to send, or could not send,
// together with where it was going. Err is one of the sentinel errors above.
type RouteError struct {
	Err   error
	Table string // the statement's table, "" when unknown (raw SQL)
	Route Route
	// Detail says what exactly was wrong, e.g. the valid names.
	Detail string
	// Cause, when set, is the typed error behind Detail (for example a
	// *scatter.Refusal naming the fragment that cannot be merged); errors.As
	// reaches it. Its text is already in Detail.
	Cause error
}

// Error is the wrapped error followed by the table and the route.
func (e *RouteError) Error() string {
	var b strings.Builder
	b.WriteString(e.Err.Error())
	if e.Table != "" {
		fmt.Fprintf(&b, ": table %q", e.Table)
	}
	if r := e.Route.String(); r != "" {
		fmt.Fprintf(&b, " on route %s", r)
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	return b.String()
}

// Unwrap returns the sentinel error, and Cause when set.
func (e *RouteError) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Err, e.Cause}
	}
	return []error{e.Err}
}

// NodeError reports a node whose pool could not be opened. Its message carries
// the node's redacted DSN, never the password; Cause is scrubbed of it too.
type NodeError struct {
	Node    string // "database/role/node"
	DSN     string // redacted
	message string // cause text with any password removed
	cause   error
}

// Error names the node, its redacted DSN when known, and the cause.
func (e *NodeError) Error() string {
	s := fmt.Sprintf("%s: %s", ErrNodeUnavailable.Error(), e.Node)
	if e.DSN != "" {
		s += fmt.Sprintf(" (%s)", e.DSN)
	}
	return s + ": " + e.message
}

// Unwrap exposes ErrNodeUnavailable and the driver's error for errors.Is/As.
func (e *NodeError) Unwrap() []error { return []error{ErrNodeUnavailable, e.cause} }

// Errors of a cluster whose placement is changing (online resharding).
// Each comes wrapped in a typed error naming the cluster; nothing was sent
// to any database.
var (
	// ErrWritesFrozen: a write whose rows are moving between shards came
	// while the cluster switches placement, and the switch did not end
	// within ReshardConfig.FreezeWait (or the write was inside a
	// transaction, which never waits). Retry it. See *FrozenError.
	ErrWritesFrozen = errors.New("grant: writes are frozen while the cluster switches placement")
	// ErrReshardInProgress: a statement spanning several shards includes
	// a shard that, mid-reshard, holds rows that are not its own, so its
	// answer (or its effect) would be wrong. A keyed statement, or one on
	// a named shard, works. See *ReshardInProgressError.
	ErrReshardInProgress = errors.New("grant: a reshard is in progress on the cluster")
	// ErrPlacementStale: while a reshard is active this instance could not
	// read the cluster's placement for half the lease, so it refuses
	// writes to the cluster (reads go on) until it reads it again. Retry
	// it. See *PlacementStaleError.
	ErrPlacementStale = errors.New("grant: this instance's placement of the cluster may be stale")
)

// FrozenError is a write refused because its rows are moving between
// shards while the cluster switches placement. It is temporary: retry the
// statement (or the transaction).
type FrozenError struct {
	Cluster string
	Version int64         // the placement that froze the write
	Waited  time.Duration // how long the write waited for the freeze to end
}

// Error says the statement was not sent and is worth retrying.
func (e *FrozenError) Error() string {
	how := "inside a transaction, so it did not wait"
	if e.Waited > 0 {
		how = fmt.Sprintf("waited %s for the switch to end", e.Waited.Round(time.Millisecond))
	}
	return fmt.Sprintf("%s: cluster %q is switching placement (version %d) and this write's rows are moving; it was not sent (%s): retry it",
		ErrWritesFrozen.Error(), e.Cluster, e.Version, how)
}

// Is makes errors.Is(err, ErrWritesFrozen) true.
func (e *FrozenError) Is(target error) bool { return target == ErrWritesFrozen }

// Temporary reports that retrying may succeed: it always does.
func (e *FrozenError) Temporary() bool { return true }

// ReshardInProgressError is a statement spanning several shards refused
// because some of them hold rows that are not theirs mid-reshard.
type ReshardInProgressError struct {
	Cluster  string
	Workflow string   // the reshard workflow, "" when unnamed
	Shards   []string // the unclean shards the statement would span
}

// Error names the cluster, shards and workflow, and the ways out.
func (e *ReshardInProgressError) Error() string {
	wf := "a reshard"
	if e.Workflow != "" {
		wf = fmt.Sprintf("reshard workflow %q", e.Workflow)
	}
	return fmt.Sprintf("%s: %s of cluster %q left shards %s holding rows that are not theirs; a statement spanning several shards would see or change them, so it was not sent. Use a keyed statement (or name one shard), or wait for `grant reshard complete` (or `grant reshard reverse`)",
		ErrReshardInProgress.Error(), wf, e.Cluster, strings.Join(e.Shards, ", "))
}

// Is makes errors.Is(err, ErrReshardInProgress) true.
func (e *ReshardInProgressError) Is(target error) bool { return target == ErrReshardInProgress }

// PlacementStaleError is a write refused because this instance has not
// read its cluster's placement for too long while a reshard is active.
type PlacementStaleError struct {
	Cluster string
	Since   time.Duration // since the placement was last read; 0 when never
	Cause   error         // the last failure reading it, if known
}

// Error names the cluster and how long since the placement was read.
func (e *PlacementStaleError) Error() string {
	since := "never read since start"
	if e.Since > 0 {
		since = fmt.Sprintf("last read %s ago", e.Since.Round(time.Millisecond))
	}
	s := fmt.Sprintf("%s: cluster %q's placement was %s, so writes to it are refused until it is read again; it was not sent: retry it", ErrPlacementStale.Error(), e.Cluster, since)
	if e.Cause != nil {
		s += fmt.Sprintf(" (last error: %v)", e.Cause)
	}
	return s
}

// Is makes errors.Is(err, ErrPlacementStale) true.
func (e *PlacementStaleError) Is(target error) bool { return target == ErrPlacementStale }

// Unwrap returns the read failure, if known.
func (e *PlacementStaleError) Unwrap() error { return e.Cause }

// Temporary reports that retrying may succeed: it always does.
func (e *PlacementStaleError) Temporary() bool { return true }
