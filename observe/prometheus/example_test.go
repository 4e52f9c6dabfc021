package prometheus_test

import (
	"fmt"
	"log"
	"strings"

	"github.com/glebarez/sqlite"
	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/grant-go/grant"
	grantprom "github.com/grant-go/grant/observe/prometheus"
)

type Note struct {
	ID   uint
	Text string
}

// Install the metrics as an observer, then register their collectors on
// a registry of your own.
func Example() {
	db, err := gorm.Open(sqlite.Open("file::memory:"), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		log.Fatal(err)
	}
	if err := db.AutoMigrate(&Note{}); err != nil { // before grant: not counted
		log.Fatal(err)
	}

	cfg := grant.Config{Metrics: grant.MetricsConfig{Enabled: true}}
	metrics := grantprom.New(cfg.Metrics)
	cfg.Observers = append(cfg.Observers, metrics)
	if err := db.Use(grant.New(cfg)); err != nil {
		log.Fatal(err)
	}
	registry := prom.NewRegistry()
	registry.MustRegister(metrics.Collectors()...)

	db.Create(&Note{Text: "hello"})
	var notes []Note
	db.Find(&notes)
	db.Find(&notes)

	fmt.Println(metrics.RouteCounts())
	err = testutil.GatherAndCompare(registry, strings.NewReader(`
# HELP grant_statements_total Statements grant routed, by route, operation and outcome (ok, error, refused).
# TYPE grant_statements_total counter
grant_statements_total{database="primary",operation="create",outcome="error",role="writing",shard=""} 0
grant_statements_total{database="primary",operation="create",outcome="ok",role="writing",shard=""} 1
grant_statements_total{database="primary",operation="create",outcome="refused",role="writing",shard=""} 0
grant_statements_total{database="primary",operation="query",outcome="error",role="reading",shard=""} 0
grant_statements_total{database="primary",operation="query",outcome="ok",role="reading",shard=""} 2
grant_statements_total{database="primary",operation="query",outcome="refused",role="reading",shard=""} 0
`), "grant_statements_total")
	fmt.Println(err)
	// Output:
	// map[primary//reading/query/ok:2 primary//writing/create/ok:1]
	// <nil>
}
