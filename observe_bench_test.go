package grant_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/otel/trace"
	"gorm.io/gorm"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/noopdriver"
	grantotel "github.com/grant-go/grant/observe/otel"
	grantprom "github.com/grant-go/grant/observe/prometheus"
)

// benchObservedHandles: grant as in benchHandles (one writer, one replica,
// no-op driver) without observers, with observe/prometheus's route metrics,
// with the routing log on (slog JSON handler writing to io.Discard), and
// with observe/otel's observer (span decoration; no span is recording, as
// in an application whose sampler drops the statement).
func benchObservedHandles(b testing.TB) map[string]*gorm.DB {
	b.Helper()
	open := func(cfg grant.Config) *gorm.DB {
		cfg.Databases = map[string]grant.DatabaseConfig{
			"primary": {Replicas: []grant.NodeConfig{{Dialector: noopdriver.Dialector(noopdriver.Open(noopdriver.Options{}))}}},
		}
		db := benchOpen(b)
		if err := db.Use(grant.New(cfg)); err != nil {
			b.Fatal(err)
		}
		return db
	}
	return map[string]*gorm.DB{
		"grant":         open(grant.Config{}),
		"grant+metrics": open(grant.Config{Observers: []grant.Observer{grantprom.New(grant.MetricsConfig{Enabled: true})}}),
		"grant+log": open(grant.Config{Log: grant.LogConfig{
			Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		}}),
		"grant+otel": open(grant.Config{Observers: []grant.Observer{grantotel.New(grant.MetricsConfig{})}}),
	}
}

var benchObservedVariants = []string{"grant", "grant+metrics", "grant+log", "grant+otel"}

// BenchmarkFirstObserved is BenchmarkFirst's read with observability off,
// with metrics, and with the routing log.
func BenchmarkFirstObserved(b *testing.B) {
	benchVariantsOf(b, benchObservedHandles(b), benchObservedVariants, func(db *gorm.DB) error {
		var u benchUser
		return db.First(&u, 1).Error
	})
}

// TestObserverAllocations: observe/otel's observer adds no allocation to a
// statement without a recording span (the common case under sampling), and
// observe/prometheus's adds the one Observation per statement. Counted as
// TestRoutingAddsNoAllocations counts.
func TestObserverAllocations(t *testing.T) {
	handles := benchObservedHandles(t)
	// A span context that is valid but not sampled: what a sampler that
	// drops the request leaves in the context.
	unsampled := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1},
	}))
	for name, op := range map[string]func(db *gorm.DB) error{
		"First":  func(db *gorm.DB) error { var u benchUser; return db.WithContext(unsampled).First(&u, 1).Error },
		"Create": func(db *gorm.DB) error { return direct(db).WithContext(unsampled).Create(&benchUser{Name: "n"}).Error },
		"Exec":   func(db *gorm.DB) error { return db.WithContext(unsampled).Exec("UPDATE users SET age = 1").Error },
	} {
		t.Run(name, func(t *testing.T) {
			count := func(db *gorm.DB) float64 {
				if err := op(db); err != nil {
					t.Fatal(err)
				}
				return testing.AllocsPerRun(200, func() {
					if err := op(db); err != nil {
						t.Fatal(err)
					}
				})
			}
			bare := count(handles["grant"])
			assert.LessOrEqual(t, count(handles["grant+otel"]), bare, "observe/otel without a recording span")
			observation := 1.0
			if name == "Exec" {
				observation++ // and the first entry of the statement's clause map, which an Exec has not made yet
			}
			assert.LessOrEqual(t, count(handles["grant+metrics"]), bare+observation, "observe/prometheus: the Observation")
		})
	}
}
