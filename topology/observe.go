package topology

import (
	"context"
	"database/sql"
	"log/slog"
	"time"

	"gorm.io/gorm"
)

// Observation is one statement as observers see it once it has run: where
// grant sent it and how it went. Observers must not keep it after Observe
// returns (grant reuses nothing today, but may).
type Observation struct {
	Route     Route  // Database, Shard ("*" for every shard), Role, Node label, PreventWrites, InTransaction
	Operation string // "create", "query", "update", "delete", "row" or "raw"
	Table     string // the statement's table, "" when unknown
	Start     time.Time
	Duration  time.Duration
	Rows      int64 // RowsAffected
	Err       error // nil on success
	// Refused: grant refused the statement before sending it (Err says why).
	Refused bool
	// Shards is how many shards a scatter-gather statement ran on; 0 otherwise.
	Shards int
	// Statement gives observers that need them the SQL and its variables.
	Statement *gorm.Statement
}

// Observer receives every statement's Observation once the statement has
// run (after GORM's commit for writes), on the goroutine that ran it:
// implementations must be safe for concurrent use and quick, since they
// run on the statement's path. Install observers with Config.Observers;
// the routing log (Config.Log) is one, and packages
// github.com/grant-go/grant/observe/prometheus and
// github.com/grant-go/grant/observe/otel provide others.
//
// With no observer wanting observations, observing costs nothing; with
// any, one allocation per statement (the Observation, shared by all).
//
// An Observer may also implement TopologyObserver, PoolObserver,
// PlacementObserver and Selective; grant checks for them once, when the
// plugin initializes.
type Observer interface {
	Observe(ctx context.Context, o *Observation)
}

// TopologyObserver is an Observer that is given the plugin's topology when
// the plugin initializes, before any statement is routed: collectors read
// node health (Node.Health) and pools (Topology.Nodes, Node.SQLDB,
// Topology.PoolCounts) from it at scrape time. An error fails the plugin's
// Initialize (and so db.Use) with that error, e.g. an observer that serves
// one topology only and is already attached to another. Attach is called
// in Config.Observers order, after the topology is built and the models
// are checked.
type TopologyObserver interface {
	Observer
	Attach(t *Topology) error
}

// PoolObserver is an Observer told when a node's database/sql pool opens:
// once for the handle's own pool while the plugin initializes (before
// Attach), then for each node as grant opens its pool, lazily, on the
// goroutine of the statement that needed it — and again for a pool
// reopened after Config.MaxOpenPools evicted it.
type PoolObserver interface {
	Observer
	PoolOpened(n *Node, db *sql.DB)
}

// Placement is where a statement runs, as PlacementObserver sees it.
type Placement struct {
	// Pool is the node's pool key, "primary/reading/1" or
	// "orders/shard2/writing/writer" (the key of Plugin.Stats); "" for a
	// scatter-gather statement.
	Pool string
	// Database is the database or, for a shard, its cluster.
	Database string
	// Shard is the shard's name, "" for unsharded databases and AllShards
	// ("*") for a scatter-gather statement.
	Shard string
	// Role is the role the statement runs under.
	Role string
	// Node is the node's label, "primary/reading#1"; "" for a
	// scatter-gather statement.
	Node string
}

// PlacementObserver is an Observer told where each statement runs while it
// runs: with the statement's context, right before GORM executes the
// statement when a gorm.io/plugin/opentelemetry-style plugin ("otel:before:*"
// callbacks) was installed before grant, otherwise right after (before
// GORM's commit for writes, and before the after-callbacks of a tracing
// plugin installed later). Either way the span such a plugin started for
// the statement is still open, which is what package observe/otel needs to
// decorate it. Statements grant refused, and statements that did not reach
// a node grant knows, are not placed. Placed runs on the statement's
// path: it must be quick and must not allocate needlessly. Without a
// PlacementObserver, grant registers none of this.
type PlacementObserver interface {
	Observer
	Placed(ctx context.Context, p Placement)
}

// Selective is an Observer that may want no Observations at all — one that
// only decorates spans or reports pools, or one switched off by its
// configuration. When WantsObservations returns false (asked once, when the
// plugin initializes) grant never calls its Observe, so that it costs
// statements nothing.
type Selective interface {
	Observer
	WantsObservations() bool
}

// LogConfig turns on grant's routing log: one structured record per
// statement (database, shard, role, node, operation, table, duration, rows,
// error) through the user's *slog.Logger. SQL text and bound values are
// never logged unless asked for.
type LogConfig struct {
	// Logger receives the records; nil turns the routing log off.
	Logger *slog.Logger
	// Level of records for statements that succeeded; failures log at
	// slog.LevelError and slow statements at slog.LevelWarn. Default Info.
	Level slog.Level
	// SQL adds the statement's SQL text (with placeholders, no values).
	SQL bool
	// Values adds the bound values too (only with SQL). They may hold
	// personal data or secrets: off by default.
	Values bool
	// SlowThreshold, when positive, logs only statements that took at least
	// that long, and failures.
	SlowThreshold time.Duration
	// SampleRate, between 0 and 1 exclusive, logs that fraction of the
	// successful statements; 0 (and 1) log all. Failures are always logged.
	SampleRate float64
}

// MetricsConfig configures the metrics observers of packages
// github.com/grant-go/grant/observe/prometheus (prometheus.New) and
// github.com/grant-go/grant/observe/otel (otel.New). The plugin itself
// reads none of it: metrics exist only when the application installs one
// of those observers in Config.Observers.
type MetricsConfig struct {
	// Enabled counts and times every statement by route (the route
	// metrics of observe/prometheus). Without it that observer collects
	// replica health and pool statistics only, and costs statements nothing.
	Enabled bool
	// Namespace prefixes every metric name; default "grant".
	Namespace string
	// TableLabel adds a "table" label to the route metrics. Off by default:
	// it multiplies the series by the number of tables.
	TableLabel bool
	// OpenTelemetryPools has the observer of observe/otel report each
	// pool's database/sql statistics through OpenTelemetry's global
	// MeterProvider as the pool opens (gorm.io/plugin/opentelemetry's
	// metrics.ReportDBStatsMetrics), with the pool's name
	// (db.client.connection.pool.name, "primary/reading/1") and
	// grant.database, grant.shard and grant.role as attributes — where
	// GORM's own OpenTelemetry plugin reports the handle's pool only.
	OpenTelemetryPools bool
}
