package otel_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	grantotel "github.com/grant-go/grant/observe/otel"
	_ "github.com/grant-go/grant/sharding/scatter/engine" // the scatter test
	"github.com/grant-go/grant/topology"
)

var (
	_ topology.PlacementObserver = (*grantotel.Observer)(nil)
	_ topology.PoolObserver      = (*grantotel.Observer)(nil)
	_ topology.Selective         = (*grantotel.Observer)(nil)
)

// placedOn runs Placed under a recording span and returns the span's
// attributes.
func placedOn(t *testing.T, p topology.Placement) map[attribute.Key]string {
	t.Helper()
	exporter := tracetest.NewInMemoryExporter()
	tracer := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter)).Tracer("test")
	ctx, span := tracer.Start(context.Background(), "gorm.Query")
	grantotel.New(topology.MetricsConfig{}).Placed(ctx, p)
	span.End()
	spans := exporter.GetSpans()
	require.Len(t, spans, 1)
	attrs := map[attribute.Key]string{}
	for _, kv := range spans[0].Attributes {
		attrs[kv.Key] = kv.Value.String()
	}
	return attrs
}

func TestPlacedDecoratesTheSpan(t *testing.T) {
	assert.Equal(t, map[attribute.Key]string{
		grantotel.AttrPoolName: "orders/shard2/reading/1",
		grantotel.AttrDatabase: "orders",
		grantotel.AttrShard:    "shard2",
		grantotel.AttrRole:     "reading",
		grantotel.AttrNode:     "orders/shard2/reading#1",
	}, placedOn(t, topology.Placement{Pool: "orders/shard2/reading/1", Database: "orders", Shard: "shard2", Role: "reading", Node: "orders/shard2/reading#1"}))

	assert.Equal(t, map[attribute.Key]string{
		grantotel.AttrDatabase: "orders",
		grantotel.AttrShard:    "*",
		grantotel.AttrRole:     "reading",
	}, placedOn(t, topology.Placement{Database: "orders", Shard: topology.AllShards, Role: "reading"}), "scatter-gather: no pool, no node")
}

func TestNoSpanNoWork(t *testing.T) {
	o := grantotel.New(topology.MetricsConfig{})
	assert.False(t, o.WantsObservations())
	p := topology.Placement{Pool: "primary/reading/1", Database: "primary", Role: "reading", Node: "primary/reading#1"}
	ctx := context.Background()
	assert.Zero(t, testing.AllocsPerRun(100, func() { o.Placed(ctx, p) }))
}
