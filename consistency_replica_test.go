package grant_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/testdb"
	"github.com/grant-go/grant/topology"
)

const readYourWritesTrials = 1000

// TestReadYourWritesOnARealReplica writes and immediately reads back, 1,000
// times per mode, while the replica's replay is paused (so it lags without
// bound): plain replica reads go stale every time, timed and causal reads
// never do. Then, with replay running, causal reads are still never stale.
func TestReadYourWritesOnARealReplica(t *testing.T) {
	for _, kind := range []struct {
		name string
		open func(testing.TB) *testdb.ReplicaSet
	}{{"postgres", testdb.PostgresReplica}, {"mariadb", testdb.MariaDBReplica}} {
		t.Run(kind.name, func(t *testing.T) { readYourWrites(t, kind.open(t)) })
	}
}

func readYourWrites(t *testing.T, rs *testdb.ReplicaSet) {
	require.NoError(t, rs.Primary.Open(t).AutoMigrate(&Memo{}))
	rs.WaitCaughtUp(t, 10*time.Second)

	open := func(consistency grant.ConsistencyConfig) *gorm.DB { return openReplicated(t, rs, consistency) }
	// servedByReplica counts the reads db's replica serves: the
	// statement's pool is then one of the replica node's.
	servedByReplica := func(db *gorm.DB) *int {
		var n int
		require.NoError(t, db.Callback().Query().After("gorm:query").Register("test:count_replica", func(tx *gorm.DB) {
			if node, ok := topology.NodeOf(tx.Statement.ConnPool); ok && node.Role() == grant.Reading {
				n++
			}
		}))
		return &n
	}
	trials := func(db *gorm.DB) (stale int) {
		for i := range readYourWritesTrials {
			ctx := grant.WithSession(context.Background(), grant.NewSession())
			note := Memo{Text: "trial"}
			require.NoError(t, db.WithContext(ctx).Create(&note).Error, "trial %d", i)
			err := db.WithContext(ctx).First(&Memo{}, note.ID).Error
			if errors.Is(err, gorm.ErrRecordNotFound) {
				stale++
				continue
			}
			require.NoError(t, err, "trial %d", i)
		}
		return stale
	}

	modes := []struct {
		name        string
		consistency grant.ConsistencyConfig
	}{
		{"eventual", grant.ConsistencyConfig{}},
		{"timed", grant.ConsistencyConfig{Mode: grant.Timed, Delay: 5 * time.Second}},
		{"causal", grant.ConsistencyConfig{Mode: grant.Causal}},
	}
	rs.Pause(t)
	for _, m := range modes {
		start := time.Now()
		db := open(m.consistency)
		onReplica := servedByReplica(db)
		stale := trials(db)
		t.Logf("replay paused, %s: %d stale reads in %d trials, %d served by the replica (%v)", m.name, stale, readYourWritesTrials, *onReplica, time.Since(start).Round(time.Millisecond))
		if m.consistency.Mode == grant.Eventual {
			// Not a share of the trials: a health check timing out on a
			// loaded machine sends reads to the writer meanwhile.
			assert.Positive(t, *onReplica, "the test can fail: plain reads go to the replica")
			assert.Equal(t, *onReplica, stale, "and every read the paused replica serves misses its write")
		} else {
			assert.Zero(t, stale, m.name)
		}
	}
	rs.Resume(t)

	causal := open(grant.ConsistencyConfig{Mode: grant.Causal, CausalWait: 20 * time.Millisecond})
	onReplica := servedByReplica(causal)
	start := time.Now()
	stale := trials(causal)
	t.Logf("replay running, causal with 20ms wait: %d stale reads in %d trials, %d served by the replica (%v)",
		stale, readYourWritesTrials, *onReplica, time.Since(start).Round(time.Millisecond))
	assert.Zero(t, stale)
	assert.Positive(t, *onReplica, "caught-up replicas serve causal reads")
}

// openReplicated is a grant handle on rs: its primary as the writer, its
// replica as the one replica, health checks every 100ms.
func openReplicated(t testing.TB, rs *testdb.ReplicaSet, consistency grant.ConsistencyConfig) *gorm.DB {
	db, err := gorm.Open(rs.Primary.Dialector(), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err)
	require.NoError(t, db.Use(grant.New(grant.Config{
		Databases: map[string]grant.DatabaseConfig{"primary": {
			Replicas: []grant.NodeConfig{{Dialector: rs.Replica.Dialector()}},
		}},
		Health:      grant.HealthConfig{Interval: 100 * time.Millisecond, Timeout: 100 * time.Millisecond},
		Consistency: consistency,
	})))
	t.Cleanup(func() { exClose(db) })
	return db
}

// BenchmarkReadYourWrites: a point read by a session that wrote to the
// database earlier, on the real PostgreSQL replica. eventual: any replica;
// timed: within Delay, so the writer; causal: the replica has replayed the
// write and the health checks have seen it, so the replica, chosen by
// comparing positions in memory (no extra query).
func BenchmarkReadYourWrites(b *testing.B) {
	rs := testdb.PostgresReplica(b)
	require.NoError(b, rs.Primary.Open(b).AutoMigrate(&Memo{}))
	for _, m := range []struct {
		name        string
		consistency grant.ConsistencyConfig
	}{
		{"eventual", grant.ConsistencyConfig{}},
		{"timed", grant.ConsistencyConfig{Mode: grant.Timed, Delay: time.Hour}},
		{"causal", grant.ConsistencyConfig{Mode: grant.Causal}},
	} {
		b.Run(m.name, func(b *testing.B) {
			db := openReplicated(b, rs, m.consistency)
			ctx := grant.WithSession(context.Background(), grant.NewSession())
			memo := Memo{Text: "bench"}
			require.NoError(b, db.WithContext(ctx).Create(&memo).Error)
			rs.WaitCaughtUp(b, 10*time.Second)
			time.Sleep(250 * time.Millisecond) // two health checks: the replay position is known
			read := db.WithContext(ctx)
			b.ReportAllocs()
			for b.Loop() {
				if err := read.First(&Memo{}, memo.ID).Error; err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkWriteInASession: causal mode's cost on the write side, one query
// for the writer's position after each committed write.
func BenchmarkWriteInASession(b *testing.B) {
	rs := testdb.PostgresReplica(b)
	require.NoError(b, rs.Primary.Open(b).AutoMigrate(&Memo{}))
	for _, m := range []struct {
		name        string
		consistency grant.ConsistencyConfig
	}{
		{"eventual", grant.ConsistencyConfig{}},
		{"timed", grant.ConsistencyConfig{Mode: grant.Timed}},
		{"causal", grant.ConsistencyConfig{Mode: grant.Causal}},
	} {
		b.Run(m.name, func(b *testing.B) {
			write := openReplicated(b, rs, m.consistency).WithContext(grant.WithSession(context.Background(), grant.NewSession()))
			b.ReportAllocs()
			for b.Loop() {
				if err := write.Create(&Memo{Text: "bench"}).Error; err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Write prevention on a real read-only MariaDB replica, as a user without
// SUPER (root could write to a --read-only server): grant refuses the write
// before sending it, and the server itself would have refused it too.
func TestWritePreventionOnARealMariaDBReplica(t *testing.T) {
	rs := testdb.MariaDBReplica(t)
	require.NoError(t, rs.Primary.Open(t).AutoMigrate(&Memo{}))
	rs.WaitCaughtUp(t, 10*time.Second)
	db, err := gorm.Open(rs.AppPrimary.Dialector(), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err)
	require.NoError(t, db.Use(grant.New(grant.Config{Databases: map[string]grant.DatabaseConfig{"primary": {
		Replicas: []grant.NodeConfig{{Dialector: rs.AppReplica.Dialector()}},
	}}})))

	err = db.Scopes(grant.Role(grant.Reading)).Create(&Memo{Text: "to the replica"}).Error
	require.ErrorIs(t, err, grant.ErrReadOnly)
	err = db.Scopes(grant.Role(grant.Reading)).Exec("INSERT INTO memos (text) VALUES ('raw')").Error
	require.ErrorIs(t, err, grant.ErrReadOnly)
	direct := rs.AppReplica.Open(t).Exec("INSERT INTO memos (text) VALUES ('direct')").Error
	require.Error(t, direct, "the replica is read-only for the application's user")
	assert.Contains(t, direct.Error(), "read-only")

	require.NoError(t, db.Create(&Memo{Text: "to the writer"}).Error)
	rs.WaitCaughtUp(t, 10*time.Second)
	assert.EqualValues(t, 1, rs.Replica.Count(t, "memos"), "only the writer's row, replicated")
}
