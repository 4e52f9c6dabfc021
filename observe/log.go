// Package observe holds grant's routing log: NewLogger turns each
// statement's topology.Observation into one log/slog record saying where
// the statement went (database, shard, role, node), what it was, how long
// it took and how it ended. The plugin installs it from Config.Log, so most
// applications never import this package; build it directly to put it in
// Config.Observers yourself (another position in the list, a logger of
// its own).
//
// This package adds no dependency to grant's own. Metrics and
// tracing, which bring heavier dependencies, are opt-in subpackages:
// github.com/grant-go/grant/observe/prometheus (Prometheus collectors) and
// github.com/grant-go/grant/observe/otel (OpenTelemetry span attributes and
// pool metrics). Any other destination is an observer of your own
// (topology.Observer, aliased as grant.Observer). See docs/observability.md.
package observe

import (
	"context"
	"log/slog"
	"math/rand/v2"

	"github.com/grant-go/grant/topology"
)

// LogMessage is the message of every routing log record.
const LogMessage = "grant: statement"

// NewLogger returns an observer writing one record per statement to
// cfg.Logger (which must not be nil) with the attributes database, shard
// (when sharded), role, node, operation, table, duration, rows, and when
// relevant error, refused, shards (scatter-gather), sql (cfg.SQL) and vars
// (cfg.SQL and cfg.Values).
//
// Successes log at cfg.Level, failures (refused statements included) at
// slog.LevelError and statements slower than cfg.SlowThreshold at
// slog.LevelWarn. With SlowThreshold > 0 only slow statements and failures
// are logged; SampleRate in (0, 1) logs that fraction of the successes.
//
// The record never holds a DSN or password: routes carry node labels only,
// and node errors are redacted by the topology.
func NewLogger(cfg topology.LogConfig) topology.Observer {
	return &logger{cfg: cfg}
}

type logger struct {
	cfg topology.LogConfig
}

func (l *logger) Observe(ctx context.Context, o *topology.Observation) {
	cfg := &l.cfg
	level := cfg.Level
	switch {
	case o.Err != nil:
		level = slog.LevelError
	case cfg.SlowThreshold > 0 && o.Duration >= cfg.SlowThreshold:
		level = slog.LevelWarn
	case cfg.SlowThreshold > 0:
		return // fast and successful: slow-only mode skips it
	case cfg.SampleRate > 0 && cfg.SampleRate < 1 && rand.Float64() >= cfg.SampleRate:
		return
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if !cfg.Logger.Enabled(ctx, level) {
		return
	}
	var buf [14]slog.Attr
	attrs := buf[:0]
	attrs = append(attrs, slog.String("database", o.Route.Database))
	if o.Route.Shard != "" {
		attrs = append(attrs, slog.String("shard", o.Route.Shard))
	}
	attrs = append(attrs,
		slog.String("role", o.Route.Role),
		slog.String("node", o.Route.Node),
		slog.String("operation", o.Operation),
		slog.String("table", o.Table),
		slog.Duration("duration", o.Duration),
		slog.Int64("rows", o.Rows),
	)
	if o.Err != nil {
		attrs = append(attrs, slog.String("error", o.Err.Error()))
	}
	if o.Refused {
		attrs = append(attrs, slog.Bool("refused", true))
	}
	if o.Shards > 0 {
		attrs = append(attrs, slog.Int("shards", o.Shards))
	}
	if cfg.SQL && o.Statement != nil {
		attrs = append(attrs, slog.String("sql", o.Statement.SQL.String()))
		if cfg.Values {
			attrs = append(attrs, slog.Any("vars", o.Statement.Vars))
		}
	}
	cfg.Logger.LogAttrs(ctx, level, LogMessage, attrs...)
}
