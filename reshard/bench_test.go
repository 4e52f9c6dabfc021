package reshard_test

import (
	"context"
	"testing"
	"time"

	"github.com/grant-go/grant/internal/testdb"
	"github.com/grant-go/grant/reshard"
)

// BenchmarkCopy measures the copy: 20,000 rows on each of 2 source shards
// of a modulo cluster grown to 4, half of which move. rows/s/shard is rows
// read per second per source shard.
func BenchmarkCopy(b *testing.B) {
	for _, backend := range []struct {
		name string
		open func(testing.TB) *testdb.Backend
	}{{"postgres", testdb.Postgres}, {"mariadb", testdb.MariaDB}} {
		b.Run(backend.name, func(b *testing.B) {
			const perShard = 20000
			var elapsed time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				w := copyFixture(b, backend.open(b), perShard)
				b.StartTimer()
				start := time.Now()
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() { done <- w.Run(ctx) }()
				for {
					st, err := w.Status(context.Background())
					if err != nil {
						b.Fatal(err)
					}
					if st.State == reshard.StateRunning {
						break
					}
					time.Sleep(time.Millisecond)
				}
				elapsed += time.Since(start)
				cancel()
				<-done
			}
			b.ReportMetric(float64(perShard)*float64(b.N)/elapsed.Seconds(), "rows/s/shard")
		})
	}
}

func copyFixture(b *testing.B, backend *testdb.Backend, perShard int) *reshard.Workflow {
	h, _ := newCluster(b, backend, "modulo", "cp", 2, 4)
	app, plugin, err := h.open(false, 0)
	if err != nil {
		b.Fatal(err)
	}
	rows := make([]Account, 0, 1000)
	for id := int64(0); id < int64(2*perShard); id++ {
		rows = append(rows, Account{ID: id, Balance: id, Note: "bench"})
		if len(rows) == cap(rows) {
			if err := app.CreateInBatches(rows, 1000).Error; err != nil {
				b.Fatal(err)
			}
			rows = rows[:0]
		}
	}
	w, err := reshard.Start(context.Background(), plugin.Topology(), h.options())
	if err != nil {
		b.Fatal(err)
	}
	return w
}
