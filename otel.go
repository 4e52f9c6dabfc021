package grant

import (
	"database/sql"

	"go.opentelemetry.io/otel/metric"
	"gorm.io/plugin/opentelemetry/metrics"

	"github.com/grant-go/grant/internal/callbacks"
	"github.com/grant-go/grant/topology"
)

// reportPoolToOpenTelemetry is topology.Handle.OnOpen under
// MetricsConfig.OpenTelemetryPools: each pool's statistics, named.
func reportPoolToOpenTelemetry(n *topology.Node, db *sql.DB) {
	metrics.ReportDBStatsMetrics(db, metric.WithAttributes(
		callbacks.AttrPoolName.String(n.Key()),
		callbacks.AttrDatabase.String(n.Owner().Name()),
		callbacks.AttrShard.String(n.Owner().Shard()),
		callbacks.AttrRole.String(n.Role()),
	))
}
