// Package otel connects grant to OpenTelemetry: it adds each statement's
// route to the statement's span, and can report every node pool's
// database/sql statistics as OpenTelemetry metrics.
//
// It is opt-in: grant itself does not import it, so an application that
// does not use OpenTelemetry does not link it. Install its observer:
//
//	import grantotel "github.com/grant-go/grant/observe/otel"
//
//	cfg.Observers = append(cfg.Observers, grantotel.New(cfg.Metrics))
//	db.Use(tracing.NewPlugin()) // gorm.io/plugin/opentelemetry, before or after grant
//	db.Use(grant.New(cfg))
//
// Spans: when a statement runs under a recording span — the one
// gorm.io/plugin/opentelemetry/tracing starts for each statement, or any
// span in the statement's context — the observer sets AttrPoolName,
// AttrDatabase, AttrShard, AttrRole and AttrNode on it (a scatter-gather
// statement gets AttrDatabase, AttrShard "*" and AttrRole). grant places
// the call while GORM's plugin's span is open, whichever of the two
// plugins was installed first. Without a recording span the cost is one
// context lookup per statement and no allocation. The package needs only
// the OpenTelemetry API; the application chooses the SDK and exporter.
//
// Pool metrics: with MetricsConfig.OpenTelemetryPools, each pool is
// reported through the global MeterProvider as it opens
// (gorm.io/plugin/opentelemetry/metrics.ReportDBStatsMetrics:
// go.sql.connections_open, go.sql.connections_in_use, ...), with the
// attributes AttrPoolName, AttrDatabase, AttrShard and AttrRole — where
// GORM's plugin reports the handle's own pool only, unnamed.
//
// See docs/observability.md.
package otel

import (
	"context"
	"database/sql"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"gorm.io/plugin/opentelemetry/metrics"

	"github.com/grant-go/grant/topology"
)

// Attribute keys the observer sets on spans and pool metrics.
const (
	AttrPoolName = attribute.Key("db.client.connection.pool.name") // "primary/reading/1", "orders/shard2/writing/writer"
	AttrDatabase = attribute.Key("grant.database")                 // database, or the cluster of a shard
	AttrShard    = attribute.Key("grant.shard")                    // "" for unsharded databases, "*" for every shard
	AttrRole     = attribute.Key("grant.role")                     // "writing", "reading" or a custom role
	AttrNode     = attribute.Key("grant.node")                     // "primary/reading#1"
)

// Observer decorates statement spans with their route and, when asked,
// reports pools to OpenTelemetry. It implements topology.Observer and its
// optional PlacementObserver, PoolObserver and Selective (it wants no
// Observations, so it adds no allocation per statement). It is safe for
// concurrent use, and may serve several plugins.
type Observer struct {
	pools bool
}

// New returns the observer to put in Config.Observers. It always decorates
// spans; it reports pool metrics when cfg.OpenTelemetryPools (the other
// fields of cfg are package observe/prometheus's).
func New(cfg topology.MetricsConfig) *Observer {
	return &Observer{pools: cfg.OpenTelemetryPools}
}

// Observe implements topology.Observer; grant never calls it (see
// WantsObservations).
func (*Observer) Observe(context.Context, *topology.Observation) {}

// WantsObservations implements topology.Selective: false.
func (*Observer) WantsObservations() bool { return false }

// Placed implements topology.PlacementObserver: it adds the statement's
// route to the recording span in ctx, if there is one.
func (*Observer) Placed(ctx context.Context, p topology.Placement) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	if p.Node == "" { // scatter-gather: every shard of a cluster
		span.SetAttributes(
			AttrDatabase.String(p.Database),
			AttrShard.String(p.Shard),
			AttrRole.String(p.Role),
		)
		return
	}
	span.SetAttributes(
		AttrPoolName.String(p.Pool),
		AttrDatabase.String(p.Database),
		AttrShard.String(p.Shard),
		AttrRole.String(p.Role),
		AttrNode.String(p.Node),
	)
}

// PoolOpened implements topology.PoolObserver: under
// MetricsConfig.OpenTelemetryPools it reports the pool's statistics,
// named, through the global MeterProvider.
func (o *Observer) PoolOpened(n *topology.Node, db *sql.DB) {
	if !o.pools {
		return
	}
	metrics.ReportDBStatsMetrics(db, metric.WithAttributes(
		AttrPoolName.String(n.Key()),
		AttrDatabase.String(n.Owner().Name()),
		AttrShard.String(n.Owner().Shard()),
		AttrRole.String(n.Role()),
	))
}
