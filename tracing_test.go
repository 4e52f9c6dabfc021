package grant_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/testdb"
	grantotel "github.com/grant-go/grant/observe/otel"
)

// tracedStandIn is standIn (a writer and a replica on SQLite, table memos)
// with observe/otel's observer installed.
func tracedStandIn(t *testing.T) *gorm.DB {
	t.Helper()
	b := testdb.SQLite(t)
	primary, replica := b.CreateDatabase(t, "primary"), b.CreateDatabase(t, "replica")
	require.NoError(t, replica.Open(t).AutoMigrate(&Memo{}))
	db, err := gorm.Open(primary.Dialector(), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err)
	require.NoError(t, db.Use(grant.New(grant.Config{
		Databases: map[string]grant.DatabaseConfig{"primary": {Replicas: []grant.NodeConfig{{Dialector: replica.Dialector()}}}},
		Observers: []grant.Observer{grantotel.New(grant.MetricsConfig{})},
	})))
	require.NoError(t, db.Scopes(grant.Role(grant.Writing)).AutoMigrate(&Memo{}))
	t.Cleanup(func() { exClose(db) })
	return db
}

func spanAttrs(s tracetest.SpanStub) map[attribute.Key]string {
	out := map[attribute.Key]string{}
	for _, kv := range s.Attributes {
		out[kv.Key] = kv.Value.String()
	}
	return out
}

// A statement's OpenTelemetry span carries its route. Installed after grant,
// a plugin in the style of gorm.io/plugin/opentelemetry (same callback
// names) starts the statement's span; grant decorates that span, not the
// request's.
func TestSpansCarryTheRoute(t *testing.T) {
	db := tracedStandIn(t)
	exporter := tracetest.NewInMemoryExporter()
	provider := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	tracer := provider.Tracer("test")
	require.NoError(t, db.Callback().Query().Before("gorm:query").Register("otel:before:select", func(tx *gorm.DB) {
		tx.Statement.Context, _ = tracer.Start(tx.Statement.Context, "gorm.Query")
	}))
	require.NoError(t, db.Callback().Query().After("gorm:query").Register("otel:after:select", func(tx *gorm.DB) {
		trace.SpanFromContext(tx.Statement.Context).End()
	}))

	ctx, request := tracer.Start(context.Background(), "request")
	require.NoError(t, db.WithContext(ctx).Find(&[]Memo{}).Error)
	require.NoError(t, db.WithContext(ctx).Create(&Memo{Text: "x"}).Error)
	request.End()

	spans := exporter.GetSpans()
	byName := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		byName[s.Name] = s
	}
	query := spanAttrs(byName["gorm.Query"])
	assert.Equal(t, "primary/reading/1", query["db.client.connection.pool.name"])
	assert.Equal(t, "primary", query["grant.database"])
	assert.Equal(t, "reading", query["grant.role"])
	assert.Equal(t, "primary/reading#1", query["grant.node"])
	request_ := spanAttrs(byName["request"])
	assert.Equal(t, "writing", request_["grant.role"], "with no statement span (the create), the span in the context gets the route")
	assert.Equal(t, "primary/writing/writer", request_["db.client.connection.pool.name"])

	// Inside a transaction the statement's span names the writer it runs on.
	exporter.Reset()
	ctx, request = tracer.Start(context.Background(), "request in a transaction")
	require.NoError(t, db.WithContext(ctx).Transaction(func(tx *gorm.DB) error { return tx.Find(&[]Memo{}).Error }))
	request.End()
	var inTx map[attribute.Key]string
	for _, s := range exporter.GetSpans() {
		if s.Name == "gorm.Query" {
			inTx = spanAttrs(s)
		}
	}
	assert.Equal(t, "primary/writing/writer", inTx["db.client.connection.pool.name"])

	// Without a recording span nothing is set, and nothing fails.
	require.NoError(t, db.Find(&[]Memo{}).Error)
}

// The same when the OpenTelemetry plugin was installed before grant: its
// span starts before grant's first decoration, and grant decorates it.
func TestSpansCarryTheRouteWhateverTheInstallOrder(t *testing.T) {
	exporter := tracetest.NewInMemoryExporter()
	tracer := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter)).Tracer("test")
	b := testdb.SQLite(t)
	primary := b.CreateDatabase(t, "primary")
	db, err := gorm.Open(primary.Dialector(), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err)
	require.NoError(t, db.Callback().Query().Before("gorm:query").Register("otel:before:select", func(tx *gorm.DB) {
		tx.Statement.Context, _ = tracer.Start(tx.Statement.Context, "gorm.Query")
	}))
	require.NoError(t, db.Callback().Query().After("gorm:query").Register("otel:after:select", func(tx *gorm.DB) {
		trace.SpanFromContext(tx.Statement.Context).End()
	}))
	require.NoError(t, db.Callback().Create().Before("gorm:create").Register("otel:before:create", func(tx *gorm.DB) {
		tx.Statement.Context, _ = tracer.Start(tx.Statement.Context, "gorm.Create")
	}))
	require.NoError(t, db.Callback().Create().After("gorm:create").Register("otel:after:create", func(tx *gorm.DB) {
		trace.SpanFromContext(tx.Statement.Context).End()
	}))
	require.NoError(t, db.Use(grant.New(grant.Config{Observers: []grant.Observer{grantotel.New(grant.MetricsConfig{})}})))
	require.NoError(t, db.AutoMigrate(&Memo{}))
	require.NoError(t, db.Find(&[]Memo{}).Error)
	require.NoError(t, db.Create(&Memo{Text: "x"}).Error)
	found := map[string]string{}
	for _, s := range exporter.GetSpans() {
		found[s.Name] = spanAttrs(s)["grant.database"]
	}
	assert.Equal(t, map[string]string{"gorm.Query": "primary", "gorm.Create": "primary"}, found, "each statement's span carries its route")
}

// Without observe/otel's observer grant touches no span: tracing is opt-in.
func TestSpansUntouchedWithoutTheObserver(t *testing.T) {
	db, _ := standIn(t, grant.ConsistencyConfig{})
	exporter := tracetest.NewInMemoryExporter()
	tracer := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter)).Tracer("test")
	require.NoError(t, db.Callback().Query().Before("gorm:query").Register("otel:before:select", func(tx *gorm.DB) {
		tx.Statement.Context, _ = tracer.Start(tx.Statement.Context, "gorm.Query")
	}))
	require.NoError(t, db.Callback().Query().After("gorm:query").Register("otel:after:select", func(tx *gorm.DB) {
		trace.SpanFromContext(tx.Statement.Context).End()
	}))
	require.NoError(t, db.Find(&[]Memo{}).Error)
	require.NoError(t, db.Create(&Memo{Text: "x"}).Error)
	spans := exporter.GetSpans()
	require.Len(t, spans, 1)
	assert.Empty(t, spans[0].Attributes)
}

// MetricsConfig.OpenTelemetryPools: every pool's statistics reach the global
// MeterProvider as the pool opens, each with its name.
func TestOpenTelemetryPoolMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	previous := otel.GetMeterProvider()
	otel.SetMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))
	t.Cleanup(func() { otel.SetMeterProvider(previous) })

	b := testdb.SQLite(t)
	primary, replica := b.CreateDatabase(t, "primary"), b.CreateDatabase(t, "replica")
	db, err := gorm.Open(primary.Dialector(), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err)
	require.NoError(t, db.Use(grant.New(grant.Config{
		Databases: map[string]grant.DatabaseConfig{"primary": {Replicas: []grant.NodeConfig{{Dialector: replica.Dialector()}}}},
		Observers: []grant.Observer{grantotel.New(grant.MetricsConfig{OpenTelemetryPools: true})},
	})))
	pools := func() map[string]bool {
		var rm metricdata.ResourceMetrics
		require.NoError(t, reader.Collect(context.Background(), &rm))
		seen := map[string]bool{}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				if m.Name != "go.sql.connections_open" {
					continue
				}
				for _, dp := range m.Data.(metricdata.Gauge[int64]).DataPoints {
					if v, ok := dp.Attributes.Value("db.client.connection.pool.name"); ok {
						seen[v.AsString()] = true
					}
				}
			}
		}
		return seen
	}
	assert.Equal(t, map[string]bool{"primary/writing/writer": true}, pools(), "the handle's pool; the replica's is not open yet")
	require.NoError(t, db.Scopes(grant.Role(grant.Writing)).AutoMigrate(&Memo{}))
	_ = db.Find(&[]Memo{}).Error // opens the replica's pool (its table is missing: no matter)
	assert.Equal(t, map[string]bool{"primary/writing/writer": true, "primary/reading/1": true}, pools())
}
