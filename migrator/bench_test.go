package migrator

import (
	"context"
	"fmt"
	"testing"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/testdb"
)

// BenchmarkMigrateShards applies one migration that sleeps 0.2s on the
// server to 1 and to 8 shards. Shards migrate in parallel, so 8 shards
// should cost about what 1 does, far below 8×. Each iteration applies the
// migration for real on every shard (lock, version table, transaction,
// record); the rollback that readies the next iteration is not timed.
func BenchmarkMigrateShards(b *testing.B) {
	be := testdb.Postgres(b) // skips without a server, fails with GRANT_REQUIRE_SERVERS=1
	primary := be.CreateDatabase(b, "bench_primary")
	dbs := shards(b, be, "bench_shard", 8)
	dir := migrations(b, map[string]string{"00001_sleep.sql": sqlMigration("SELECT pg_sleep(0.2);", "SELECT 1;")})
	ctx := context.Background()
	for _, n := range []int{1, 8} {
		b.Run(fmt.Sprintf("shards=%d", n), func(b *testing.B) {
			db := handle(b, primary, grant.Config{Clusters: map[string]grant.ClusterConfig{"orders": cluster(dir, dbs[:n])}})
			m := newMigrator(b, db)
			up := func() {
				report, err := m.Up(ctx, "orders")
				if err != nil {
					b.Fatal(err)
				}
				for _, r := range report.Results {
					if len(r.Applied) != 1 {
						b.Fatalf("%s applied %v, want [1]", r.Target, r.Applied)
					}
				}
			}
			down := func() {
				if _, err := m.Down(ctx, "orders", 1); err != nil {
					b.Fatal(err)
				}
			}
			up() // warm up: pools opened, version tables created
			down()
			b.ResetTimer()
			for range b.N {
				up()
				b.StopTimer()
				down()
				b.StartTimer()
			}
		})
	}
}
