package callbacks

import (
	"context"
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/grant-go/grant/internal/noopdriver"
	"github.com/grant-go/grant/topology"
)

// spanLike is a PlacementObserver that, like observe/otel's, looks a value
// up in the statement's context and finds nothing to decorate.
type spanLike struct{ found int }

type spanLikeKey struct{}

func (*spanLike) Observe(context.Context, *topology.Observation) {}
func (*spanLike) WantsObservations() bool                        { return false }
func (s *spanLike) Placed(ctx context.Context, p topology.Placement) {
	if ctx.Value(spanLikeKey{}) != nil && p.Pool != "" {
		s.found++
	}
}

// BenchmarkWrapStatement is grant's wrapper of gorm:query around a no-op
// query, on a statement holding the default writer's pool: what placement
// adds to every query, create and row, with no placement observer and
// with one that finds no span.
func BenchmarkWrapStatement(b *testing.B) {
	sqlDB := noopdriver.Open(noopdriver.Options{})
	db, err := gorm.Open(noopdriver.Dialector(sqlDB), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		b.Fatal(err)
	}
	top, err := topology.Build(topology.Config{}, topology.Handle{Dialect: db.Dialector.Name(), Dialector: db.Dialector, Pool: sqlDB, SQLDB: sqlDB})
	if err != nil {
		b.Fatal(err)
	}
	noop := func(*gorm.DB) {}
	run := func(_ *Router, db *gorm.DB, next func(*gorm.DB)) { next(db) }
	for _, c := range []struct {
		name      string
		observers []topology.Observer
	}{
		{"none", nil},
		{"placement", []topology.Observer{&spanLike{}}},
	} {
		r := NewRouter(top, Options{Observers: c.observers})
		wrapped := r.wrapStatement(noop, run, false)
		tx := db.WithContext(context.Background())
		tx.Statement.ConnPool = sqlDB
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				wrapped(tx)
			}
		})
	}
}
