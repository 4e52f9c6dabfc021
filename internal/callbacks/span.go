package callbacks

import (
	"fmt"

	"gorm.io/gorm"

	"github.com/grant-go/grant/topology"
)

// Placement observers (topology.PlacementObserver) learn where each
// statement runs while it runs, which is when package observe/otel adds
// the route to the statement's OpenTelemetry span. Without one nothing
// below is registered or called.

// registerPlacementHooks places the statement with one callback per kind
// of statement. gorm.io/plugin/opentelemetry starts its span in a
// Before("gorm:<op>") callback named "otel:before:<op>" and ends it in an
// After one; GORM runs callbacks with the same anchor in registration
// order. So when that plugin is already installed, grant places just
// before the statement (after the span started); otherwise just after it
// (before a plugin installed later ends its span — or, without one, while
// the span the context carries is still open). For writes "just after" is
// before GORM's commit, which hands the statement back the handle's pool.
// Queries, rows and creates are placed the same way by grant's wrappers of
// gorm:query, gorm:row and gorm:create (wrapStatement), which saves a
// callback on the hottest paths.
func (r *Router) registerPlacementHooks(db *gorm.DB) error {
	if len(r.placements) == 0 {
		return nil
	}
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
		if err := register("grant:span", r.place); err != nil {
			return fmt.Errorf("grant: registering grant:span for %s: %w", h.name, err)
		}
	}
	return nil
}

// wrapStatement wraps next, GORM's query, row or create callback, in run,
// grant's work around it (query, create). With placement observers it also
// places the statement: before run when placeBefore (an OpenTelemetry
// plugin installed before grant started the span in a callback before this
// one), else after it (see registerPlacementHooks) — for a create, still
// before GORM's commit hands the statement back the handle's pool.
func (r *Router) wrapStatement(next func(*gorm.DB), run func(*Router, *gorm.DB, func(*gorm.DB)), placeBefore bool) func(*gorm.DB) {
	switch {
	case len(r.placements) == 0:
		return func(db *gorm.DB) { run(r, db, next) }
	case placeBefore:
		return func(db *gorm.DB) {
			r.place(db)
			run(r, db, next)
		}
	default:
		return func(db *gorm.DB) {
			run(r, db, next)
			r.place(db)
		}
	}
}

// place tells the placement observers where the statement runs: every
// shard of a cluster for a scatter-gather statement, else the node whose
// pool (or transaction) the statement holds. A statement on no node grant
// knows (refused, or on a pool of the user's) is not placed.
func (r *Router) place(db *gorm.DB) {
	var p topology.Placement
	if c, ok := db.Statement.Clauses[scatterKey].Expression.(scatterClause); ok {
		p = topology.Placement{Database: c.route.Database, Shard: c.route.Shard, Role: c.route.Role}
	} else {
		n := r.nodeOf(db.Statement.ConnPool)
		if n == nil {
			return
		}
		p = topology.Placement{Pool: n.Key(), Database: n.Owner().Name(), Shard: n.Owner().Shard(), Role: n.Role(), Node: n.Label()}
	}
	for _, o := range r.placements {
		o.Placed(db.Statement.Context, p)
	}
}
