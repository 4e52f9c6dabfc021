package scatter_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant/sharding/scatter"
)

const shardDelay = 20 * time.Millisecond

// slowTargets is n SQLite shards whose every query first waits shardDelay.
func slowTargets(tb testing.TB, n int) []scatter.Target {
	c := newCluster(tb, 99, n, 50*n)
	ts := c.targets()
	for i := range ts {
		ts[i].Pool = slowPool{ConnPool: ts[i].Pool, d: shardDelay}
	}
	return ts
}

var latencyPlan = scatter.Plan{
	OrderBy: []scatter.OrderColumn{{Name: "amount", Desc: true}, {Name: "id"}},
	Limit:   10,
}

const latencyQuery = "SELECT id, amount, name FROM orders ORDER BY amount DESC, id LIMIT 10"

func scatterOnce(tb testing.TB, ts []scatter.Target) time.Duration {
	start := time.Now()
	db := scatter.Open(ts, latencyPlan)
	_, rows, err := tryReadAll(context.Background(), db, latencyQuery)
	db.Close()
	require.NoError(tb, err)
	require.Len(tb, rows, 10)
	return time.Since(start)
}

// TestScatter8Shards20ms: 8 shards that each take 20ms answer together in
// about 20ms, not 160ms (asserted < 100ms, generous for loaded CI).
func TestScatter8Shards20ms(t *testing.T) {
	ts := slowTargets(t, 8)
	var runs []time.Duration
	for range 5 {
		runs = append(runs, scatterOnce(t, ts))
	}
	slices.Sort(runs)
	t.Logf("8 shards × %v: runs %v", shardDelay, runs)
	require.Less(t, runs[len(runs)/2], 100*time.Millisecond, fmt.Sprint(runs))
}

// BenchmarkScatter8Shards20ms measures a merged ORDER BY … LIMIT over 8
// shards whose queries each take 20ms; x20ms is the time over one shard's.
func BenchmarkScatter8Shards20ms(b *testing.B) {
	ts := slowTargets(b, 8)
	b.ResetTimer()
	for b.Loop() {
		scatterOnce(b, ts)
	}
	b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(shardDelay), "x20ms")
}

// BenchmarkOneShard20ms is the baseline: the same query on one such shard.
func BenchmarkOneShard20ms(b *testing.B) {
	ts := slowTargets(b, 1)
	b.ResetTimer()
	for b.Loop() {
		scatterOnce(b, ts)
	}
	b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(shardDelay), "x20ms")
}

// BenchmarkOpenClose is what the glue pays per statement for its pool.
func BenchmarkOpenClose(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		db := scatter.Open(nil, scatter.Plan{})
		db.Close()
	}
}
