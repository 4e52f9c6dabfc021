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
// recording span it costs two context lookups per statement.

// Attribute keys grant sets on spans.
const (
	AttrPoolName = attribute.Key("db.client.connection.pool.name") // "primary/reading/1"
	AttrDatabase = attribute.Key("grant.database")
	AttrShard    = attribute.Key("grant.shard") // "" for unsharded databases, "*" for every shard
	AttrRole     = attribute.Key("grant.role")
	AttrNode     = attribute.Key("grant.node") // "primary/reading#1"
)

// registerSpanHooks decorates the statement's span both just before and
// just after GORM runs it. gorm.io/plugin/opentelemetry starts its span in
// a Before("gorm:<op>") callback and ends it in an After one; GORM runs
// callbacks with the same anchor in registration order, so whichever plugin
// was installed first, one of the two decorations lands on the open span of
// the statement (the other finds the parent's or an ended span, where
// setting the same attributes is harmless or ignored).
func (r *Router) registerSpanHooks(db *gorm.DB) error {
	cb := db.Callback()
	hooks := []struct {
		before, after func(string, func(*gorm.DB)) error
		name          string
	}{
		{cb.Create().Before("gorm:create").Register, cb.Create().After("gorm:create").Register, "create"},
		{cb.Query().Before("gorm:query").Register, cb.Query().After("gorm:query").Register, "query"},
		{cb.Update().Before("gorm:update").Register, cb.Update().After("gorm:update").Register, "update"},
		{cb.Delete().Before("gorm:delete").Register, cb.Delete().After("gorm:delete").Register, "delete"},
		{cb.Row().Before("gorm:row").Register, cb.Row().After("gorm:row").Register, "row"},
		{cb.Raw().Before("gorm:raw").Register, cb.Raw().After("gorm:raw").Register, "raw"},
	}
	for _, h := range hooks {
		if err := h.before("grant:span_before", r.decorateSpan); err != nil {
			return fmt.Errorf("grant: registering grant:span_before for %s: %w", h.name, err)
		}
		if err := h.after("grant:span_after", r.decorateSpan); err != nil {
			return fmt.Errorf("grant: registering grant:span_after for %s: %w", h.name, err)
		}
	}
	return nil
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
