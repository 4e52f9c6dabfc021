package topology

import (
	"log/slog"
	"time"
)

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

// MetricsConfig turns on grant's Prometheus metrics, which Plugin.Collectors
// returns for the user to register (grant never uses a global registry).
type MetricsConfig struct {
	// Enabled counts and times every statement by route; pool statistics
	// and replica health are collected whether or not it is set.
	Enabled bool
	// Namespace prefixes every metric name; default "grant".
	Namespace string
	// TableLabel adds a "table" label to the route metrics. Off by default:
	// it multiplies the series by the number of tables.
	TableLabel bool
	// OpenTelemetryPools reports each pool's database/sql statistics through
	// OpenTelemetry's global MeterProvider as the pool opens
	// (gorm.io/plugin/opentelemetry's metrics.ReportDBStatsMetrics), with the
	// pool's name (db.client.connection.pool.name, "primary/reading/1") and
	// grant.database, grant.shard and grant.role as attributes — where
	// GORM's own OpenTelemetry plugin reports the handle's pool only.
	OpenTelemetryPools bool
}
