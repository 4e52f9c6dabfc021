package observe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/grant-go/grant/observe"
	"github.com/grant-go/grant/topology"
)

func records(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var r map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &r))
		out = append(out, r)
	}
	return out
}

func jsonLogger(buf *bytes.Buffer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: level}))
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

func TestLoggerScatterAndSQL(t *testing.T) {
	var buf bytes.Buffer
	l := observe.NewLogger(topology.LogConfig{Logger: jsonLogger(&buf, slog.LevelDebug), Level: slog.LevelDebug, SQL: true, Values: true})
	l.Observe(context.Background(), scatterObservation())
	r := records(t, &buf)[0]
	assert.Equal(t, "DEBUG", r["level"])
	assert.Equal(t, "*", r["shard"])
	assert.EqualValues(t, 4, r["shards"])
	assert.EqualValues(t, 5, r["rows"])
	assert.EqualValues(t, 3*time.Millisecond, r["duration"])
	assert.Equal(t, "SELECT * FROM orders WHERE customer_id = ?", r["sql"])
	assert.Equal(t, []any{float64(7)}, r["vars"])
}

func TestLoggerLevelDisabled(t *testing.T) {
	var buf bytes.Buffer
	l := observe.NewLogger(topology.LogConfig{Logger: jsonLogger(&buf, slog.LevelWarn)}) // successes at Info: filtered
	l.Observe(context.Background(), scatterObservation())
	assert.Empty(t, buf.String())
	o := scatterObservation()
	o.Err = errors.New("boom")
	l.Observe(context.Background(), o)
	r := records(t, &buf)
	require.Len(t, r, 1)
	assert.Equal(t, "ERROR", r[0]["level"])
	assert.Equal(t, "boom", r[0]["error"])
}

func TestLoggerSampling(t *testing.T) {
	var buf bytes.Buffer
	l := observe.NewLogger(topology.LogConfig{Logger: jsonLogger(&buf, slog.LevelInfo), SampleRate: 0.1})
	const n = 2000
	for range n {
		l.Observe(context.Background(), scatterObservation())
	}
	got := len(records(t, &buf))
	assert.Greater(t, got, n/20, "about 10%% sampled")
	assert.Less(t, got, n/5, "about 10%% sampled")

	buf.Reset()
	o := scatterObservation()
	o.Err = errors.New("boom")
	for range 50 {
		l.Observe(context.Background(), o)
	}
	assert.Len(t, records(t, &buf), 50, "failures are never sampled out")
}
