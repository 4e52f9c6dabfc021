package callbacks

import (
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"gorm.io/gorm"
)

// Span attributes. When a statement runs under a recording OpenTelemetry
// span — the one gorm.io/plugin/opentelemetry (or otelgorm) starts for it,
// or any span in the context — grant adds its route to that span (see
// registerSpanHooks for how it finds the statement's own span). Without a
// recording span it costs one context lookup per statement.

// Attribute keys grant sets on spans.
const (
	AttrPoolName = attribute.Key("db.client.connection.pool.name") // "primary/reading/1"
	AttrDatabase = attribute.Key("grant.database")
	AttrShard    = attribute.Key("grant.shard") // "" for unsharded databases, "*" for every shard
	AttrRole     = attribute.Key("grant.role")
	AttrNode     = attribute.Key("grant.node") // "primary/reading#1"
)

// registerSpanHooks decorates the statement's span with one callback per
// kind of statement. gorm.io/plugin/opentelemetry starts its span in a
// Before("gorm:<op>") callback named "otel:before:<op>" and ends it in an
// After one; GORM runs callbacks with the same anchor in registration
// order. So when that plugin is already installed, grant decorates just
// before the statement (after the span started); otherwise just after it
// (before a plugin installed later ends its span — or, without one, on the
// span the context carries). For writes "just after" is before GORM's
// commit, which hands the statement back the handle's pool. Queries, rows
// and creates are decorated the same way by grant's wrappers of gorm:query,
// gorm:row and gorm:create (wrapStatement), which saves a callback
// on the hottest paths.
func (r *Router) registerSpanHooks(db *gorm.DB) error {
	cb := db.Callback()
	hooks := []struct {
		processor interface {
			Get(string) func(*gorm.DB)
		}
		before, after  func(string, func(*gorm.DB)) error
		otelName, name string
	}{
		{cb.Update(), cb.Update().Before("gorm:update").Register, cb.Update().Before("gorm:commit_or_rollback_transaction").Register, "otel:before:update", "update"},
		{cb.Delete(), cb.Delete().Before("gorm:delete").Register, cb.Delete().Before("gorm:commit_or_rollback_transaction").Register, "otel:before:delete", "delete"},
		{cb.Raw(), cb.Raw().Before("gorm:raw").Register, cb.Raw().After("gorm:raw").Register, "otel:before:raw", "raw"},
	}
	for _, h := range hooks {
		register := h.after
		if h.processor.Get(h.otelName) != nil {
			register = h.before
		}
		if err := register("grant:span", r.decorateSpan); err != nil {
			return fmt.Errorf("grant: registering grant:span for %s: %w", h.name, err)
		}
	}
	return nil
}

// wrapStatement wraps next, GORM's query, row or create callback, in run,
// grant's work around it (query, create). It also decorates the
// statement's span: before run when spanBefore (an OpenTelemetry plugin
// installed before grant started the span in a callback before this one),
// else after it (see registerSpanHooks) — for a create, still before GORM's
// commit hands the statement back the handle's pool.
func (r *Router) wrapStatement(next func(*gorm.DB), run func(*Router, *gorm.DB, func(*gorm.DB)), spanBefore bool) func(*gorm.DB) {
	return func(db *gorm.DB) {
		if spanBefore {
			r.decorateSpan(db)
		}
		run(r, db, next)
		if !spanBefore {
			r.decorateSpan(db)
		}
	}
}

// decorateSpan adds the statement's route to the recording span in its
// context.
func (r *Router) decorateSpan(db *gorm.DB) {
	span := trace.SpanFromContext(db.Statement.Context)
	if !span.IsRecording() {
		return
	}
	if c, ok := db.Statement.Clauses[scatterKey].Expression.(scatterClause); ok {
		span.SetAttributes( // every shard of a cluster
			AttrDatabase.String(c.route.Database),
			AttrShard.String(c.route.Shard),
			AttrRole.String(c.route.Role),
		)
		return
	}
	n := r.nodeOf(db.Statement.ConnPool)
	if n == nil {
		return
	}
	span.SetAttributes(
		AttrPoolName.String(n.Key()),
		AttrDatabase.String(n.Owner().Name()),
		AttrShard.String(n.Owner().Shard()),
		AttrRole.String(n.Role()),
		AttrNode.String(n.Label()),
	)
}
