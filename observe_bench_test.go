package grant_test

import (
	"io"
	"log/slog"
	"testing"

	"gorm.io/gorm"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/noopdriver"
)

// benchObservedHandles: grant as in benchHandles (one writer, one replica,
// no-op driver) without observers, with metrics on, and with the routing
// log on (slog JSON handler writing to io.Discard).
func benchObservedHandles(b *testing.B) map[string]*gorm.DB {
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
		"grant+metrics": open(grant.Config{Metrics: grant.MetricsConfig{Enabled: true}}),
		"grant+log": open(grant.Config{Log: grant.LogConfig{
			Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		}}),
	}
}

var benchObservedVariants = []string{"grant", "grant+metrics", "grant+log"}

// BenchmarkFirstObserved is BenchmarkFirst's read with observability off,
// with metrics, and with the routing log.
func BenchmarkFirstObserved(b *testing.B) {
	benchVariantsOf(b, benchObservedHandles(b), benchObservedVariants, func(db *gorm.DB) error {
		var u benchUser
		return db.First(&u, 1).Error
	})
}
