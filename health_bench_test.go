package grant_test

import (
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/noopdriver"
)

// pingOnlyDialector is the no-op driver under a dialect name grant's health
// checks do not know, so a check is a ping: the no-op driver cannot answer
// SHOW SLAVE STATUS the way MariaDB does.
type pingOnlyDialector struct{ gorm.Dialector }

func (pingOnlyDialector) Name() string { return "noop" }

func noopNode() grant.NodeConfig {
	return grant.NodeConfig{Dialector: pingOnlyDialector{noopdriver.Dialector(noopdriver.Open(noopdriver.Options{}))}}
}

// BenchmarkFirstWithHealthChecks is BenchmarkFirst with health checks on
// and two replicas: reads pick among the healthy replicas (one atomic load)
// and run through the replica's failover pool. The interval is an hour, so
// after the first checks (awaited before timing) none runs during the loop.
// The "grant" variant is BenchmarkFirst's, for comparison in the same run;
// "grant-health-read-timeout" bounds each read (HealthConfig.ReadTimeout,
// an hour: it never fires).
func BenchmarkFirstWithHealthChecks(b *testing.B) {
	handles := benchHandles(b)
	handles["grant-health"] = withHealthChecks(b, grant.HealthConfig{Interval: time.Hour})
	handles["grant-health-read-timeout"] = withHealthChecks(b, grant.HealthConfig{Interval: time.Hour, ReadTimeout: time.Hour})
	benchVariantsOf(b, handles, []string{"grant", "grant-health", "grant-health-read-timeout"}, func(db *gorm.DB) error {
		var u benchUser
		return db.First(&u, 1).Error
	})
}

// withHealthChecks is a handle on the no-op driver with two replicas
// checked under hc, once both have passed a check.
func withHealthChecks(b *testing.B, hc grant.HealthConfig) *gorm.DB {
	db, err := gorm.Open(pingOnlyDialector{noopdriver.Dialector(noopdriver.Open(noopdriver.Options{}))}, &gorm.Config{Logger: logger.Discard})
	if err != nil {
		b.Fatal(err)
	}
	plugin := grant.New(grant.Config{
		Health:    hc,
		Databases: map[string]grant.DatabaseConfig{"primary": {Replicas: []grant.NodeConfig{noopNode(), noopNode()}}},
	})
	if err := db.Use(plugin); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = plugin.Close() })
	for _, r := range plugin.Topology().Default().Replicas() {
		for r.Health().Checked.IsZero() {
			time.Sleep(time.Millisecond)
		}
		if !r.Health().Healthy {
			b.Fatalf("%s: %v", r.Key(), r.Health().Err)
		}
	}
	return db
}
