package prometheus_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gorm.io/gorm"

	grantprom "github.com/grant-go/grant/observe/prometheus"
	"github.com/grant-go/grant/topology"
)

func pointObservation() *topology.Observation {
	return &topology.Observation{
		Route:     topology.Route{Database: "primary", Role: "reading", Node: "primary/reading#1"},
		Operation: "query", Table: "users", Duration: 2 * time.Millisecond, Rows: 1,
	}
}

func scatterObservation() *topology.Observation {
	stmt := &gorm.Statement{Vars: []any{int64(7)}}
	stmt.SQL.WriteString("SELECT * FROM orders WHERE customer_id = ?")
	return &topology.Observation{
		Route:     topology.Route{Database: "orders", Shard: "*", Role: "reading", Node: "orders/shard1/reading#1"},
		Operation: "query", Table: "orders", Duration: 3 * time.Millisecond, Rows: 5, Shards: 4,
		Statement: stmt,
	}
}

func TestMetricsObserveDoesNotAllocate(t *testing.T) {
	for _, table := range []bool{false, true} {
		m := grantprom.New(topology.MetricsConfig{Enabled: true, TableLabel: table})
		ctx := context.Background()
		point, scatter := pointObservation(), scatterObservation()
		m.Observe(ctx, point) // first sight of a route resolves its series
		m.Observe(ctx, scatter)
		allocs := testing.AllocsPerRun(1000, func() {
			m.Observe(ctx, point)
			m.Observe(ctx, scatter)
		})
		assert.Zero(t, allocs, "table label %v", table)
	}
}

func TestMetricsCounts(t *testing.T) {
	m := grantprom.New(topology.MetricsConfig{Enabled: true, Namespace: "app"})
	ctx := context.Background()
	for range 3 {
		m.Observe(ctx, pointObservation())
	}
	failed := pointObservation()
	failed.Err = errors.New("boom")
	m.Observe(ctx, failed)
	refused := pointObservation()
	refused.Route = topology.Route{Database: "primary", Role: "writing"}
	refused.Operation, refused.Err, refused.Refused = "create", topology.ErrReadOnly, true
	m.Observe(ctx, refused)
	m.Observe(ctx, scatterObservation())

	assert.Equal(t, map[string]uint64{
		"primary//reading/query/ok":       3,
		"primary//reading/query/error":    1,
		"primary//writing/create/refused": 1,
		"orders/*/reading/query/ok":       1,
	}, m.RouteCounts())

	reg := prom.NewPedanticRegistry()
	reg.MustRegister(m.Collectors()...)
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP app_scatter_fanout Shards each scatter-gather statement ran on, by cluster.
# TYPE app_scatter_fanout histogram
app_scatter_fanout_bucket{database="orders",le="1"} 0
app_scatter_fanout_bucket{database="orders",le="2"} 0
app_scatter_fanout_bucket{database="orders",le="4"} 1
app_scatter_fanout_bucket{database="orders",le="8"} 1
app_scatter_fanout_bucket{database="orders",le="16"} 1
app_scatter_fanout_bucket{database="orders",le="32"} 1
app_scatter_fanout_bucket{database="orders",le="64"} 1
app_scatter_fanout_bucket{database="orders",le="128"} 1
app_scatter_fanout_bucket{database="orders",le="256"} 1
app_scatter_fanout_bucket{database="orders",le="+Inf"} 1
app_scatter_fanout_sum{database="orders"} 4
app_scatter_fanout_count{database="orders"} 1
`), "app_scatter_fanout"))
	// Refused statements are counted but not timed: 3 ok + 1 error on the read route.
	assert.Equal(t, 3, testutil.CollectAndCount(m.Collectors()[3], "app_statement_duration_seconds"))
}

func TestMetricsTableLabelAndDisabled(t *testing.T) {
	m := grantprom.New(topology.MetricsConfig{Enabled: true, TableLabel: true})
	m.Observe(context.Background(), pointObservation())
	reg := prom.NewPedanticRegistry()
	reg.MustRegister(m.Collectors()...)
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP grant_statements_total Statements grant routed, by route, operation and outcome (ok, error, refused).
# TYPE grant_statements_total counter
grant_statements_total{database="primary",operation="query",outcome="error",role="reading",shard="",table="users"} 0
grant_statements_total{database="primary",operation="query",outcome="ok",role="reading",shard="",table="users"} 1
grant_statements_total{database="primary",operation="query",outcome="refused",role="reading",shard="",table="users"} 0
`), "grant_statements_total"))

	off := grantprom.New(topology.MetricsConfig{})
	off.Observe(context.Background(), pointObservation())
	assert.Len(t, off.Collectors(), 2, "health and pools only")
	assert.Empty(t, off.RouteCounts())
}
