package callbacks

import (
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/grant-go/grant/topology"
)

// observeKey holds a statement's observation between grant's routing
// callback and its observing callback.
const observeKey = "grant:observe"

type observeClause struct{ o *topology.Observation }

func (observeClause) Build(clause.Builder) {}

// startObserving is called before routing when observers are installed:
// the one allocation observation costs per statement.
func (r *Router) startObserving(db *gorm.DB) {
	o := &topology.Observation{Start: time.Now()}
	db.Statement.Clauses[observeKey] = clause.Clause{Expression: observeClause{o: o}}
}

// noteRoute records where a statement goes, for trace mode and observers.
func (r *Router) noteRoute(db *gorm.DB, route topology.Route) {
	if r.trace {
		r.traceRoute(db, route)
	}
	if len(r.observers) > 0 {
		if c, ok := db.Statement.Clauses[observeKey].Expression.(observeClause); ok {
			c.o.Route = route
		}
	}
}

// noteScatter records how many shards a scatter-gather statement runs on.
func (r *Router) noteScatter(db *gorm.DB, shards int) {
	if len(r.observers) > 0 {
		if c, ok := db.Statement.Clauses[observeKey].Expression.(observeClause); ok {
			c.o.Shards = shards
		}
	}
}

// observer returns the After("*") callback of a processor.
func (r *Router) observer(operation string) func(*gorm.DB) {
	return func(db *gorm.DB) {
		c, ok := db.Statement.Clauses[observeKey].Expression.(observeClause)
		if !ok {
			return
		}
		delete(db.Statement.Clauses, observeKey)
		o := c.o
		o.Operation = operation
		o.Duration = time.Since(o.Start)
		o.Table = tableOf(db.Statement)
		o.Rows = db.Statement.RowsAffected
		o.Err = db.Error
		o.Statement = db.Statement
		if _, refused := db.Statement.ConnPool.(refusedPool); refused {
			o.Refused = true
			if re, ok := db.Error.(*topology.RouteError); ok && o.Route.Database == "" {
				o.Route = re.Route
			}
		}
		for _, obs := range r.observers {
			obs.Observe(db.Statement.Context, o)
		}
	}
}
