package grant_test

import (
	"context"
	"fmt"
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

// rsOrder lives in cluster "orders", placed by customer_id modulo the
// placement's shards.
type rsOrder struct {
	ID         uint   `gorm:"primaryKey"`
	CustomerID int64  `gorm:"index"`
	Note       string `gorm:"size:100"`
}

func (rsOrder) TableName() string            { return "rs_orders" }
func (rsOrder) ConnectsTo() grant.Connection { return grant.Cluster("orders") }
func (rsOrder) ShardKey() grant.ShardKey {
	return grant.ShardKey{Column: "customer_id", Strategy: grant.Modulo()}
}

// reshardFixture: a primary (the default database, holding the placement
// tables) and cluster "orders" of shards s1, s2 and s3, s3 pending.
type reshardFixture struct {
	db      *gorm.DB
	plugin  *grant.Plugin
	primary *testdb.Database
	shards  map[string]*testdb.Database
	store   *topology.PlacementStore
}

func newReshardFixture(t *testing.T, b *testdb.Backend, reshard *grant.ReshardConfig) *reshardFixture {
	t.Helper()
	f := &reshardFixture{primary: b.CreateDatabase(t, "primary"), shards: map[string]*testdb.Database{}}
	var shards []grant.ShardConfig
	for _, name := range []string{"s1", "s2", "s3"} {
		f.shards[name] = b.CreateDatabase(t, name)
		shards = append(shards, grant.ShardConfig{Name: name, Pending: name == "s3",
			DatabaseConfig: grant.DatabaseConfig{Writer: &grant.NodeConfig{Dialector: f.shards[name].Dialector()}}})
	}
	primary := f.primary.Open(t)
	sqlDB, err := primary.DB()
	require.NoError(t, err)
	f.store = topology.NewPlacementStore(sqlDB, primary.Dialector.Name())
	if reshard != nil {
		require.NoError(t, f.store.Ensure(context.Background()))
	}
	db, err := gorm.Open(f.primary.Dialector(), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err)
	f.plugin = grant.New(grant.Config{Reshard: reshard, Clusters: map[string]grant.ClusterConfig{"orders": {Shards: shards}}})
	require.NoError(t, db.Use(f.plugin))
	t.Cleanup(func() { exClose(db) })
	f.db = db
	require.NoError(t, grant.AutoMigrate(db, &rsOrder{}))
	return f
}

// counts is how many rows each shard physically holds.
func (f *reshardFixture) counts(t *testing.T) map[string]int64 {
	out := map[string]int64{}
	for name, d := range f.shards {
		out[name] = d.Count(t, "rs_orders")
	}
	return out
}

func (f *reshardFixture) cluster(t *testing.T) *topology.Cluster {
	c, ok := f.plugin.Topology().Cluster("orders")
	require.True(t, ok)
	return c
}

// publish publishes rec and waits until this instance has acknowledged it.
func (f *reshardFixture) publish(t *testing.T, rec grant.PlacementRecord) int64 {
	t.Helper()
	rec.Cluster = "orders"
	v, err := f.store.Publish(context.Background(), rec)
	require.NoError(t, err)
	f.waitAck(t, v)
	return v
}

func (f *reshardFixture) instance(t *testing.T) string {
	st := f.plugin.PlacementStatus()
	require.NotEmpty(t, st)
	return st[0].Instance
}

func (f *reshardFixture) acked(t *testing.T) int64 {
	acks, err := f.store.Instances(context.Background(), "orders", time.Minute)
	require.NoError(t, err)
	for _, a := range acks {
		if a.Instance == f.instance(t) {
			return a.Acked
		}
	}
	return -1
}

func (f *reshardFixture) waitAck(t *testing.T, v int64) {
	t.Helper()
	require.Eventually(t, func() bool { return f.acked(t) >= v }, 10*time.Second, 5*time.Millisecond, "instance never acknowledged version %d", v)
	assert.Equal(t, v, f.cluster(t).Placement().Version())
}

func createKeys(t *testing.T, db *gorm.DB, keys ...int64) {
	t.Helper()
	for _, k := range keys {
		require.NoError(t, db.Create(&rsOrder{CustomerID: k, Note: fmt.Sprint(k)}).Error)
	}
}

// A pending shard is configured but holds no rows: keys map over the
// others, migrations still reach it, and naming it works.
func TestPendingShard(t *testing.T) {
	t.Parallel()
	f := newReshardFixture(t, testdb.SQLite(t), nil)
	createKeys(t, f.db, 0, 1, 2, 3, 4, 5)
	assert.Equal(t, map[string]int64{"s1": 3, "s2": 3, "s3": 0}, f.counts(t), "keys map modulo the two shards that are not pending")
	assert.True(t, f.shards["s3"].Open(t).Migrator().HasTable("rs_orders"), "AutoMigrate reached the pending shard")
	assert.Equal(t, []string{"s1", "s2"}, f.cluster(t).Placement().WriteNames())
	assert.Len(t, f.cluster(t).Shards(), 3, "Shards (what the migrator uses) lists every configured shard")

	require.NoError(t, f.db.Scopes(grant.Connect(grant.Connection{Database: "orders", Shard: "s3"})).Exec("INSERT INTO rs_orders (customer_id, note) VALUES (?, ?)", 99, "named").Error)
	assert.EqualValues(t, 1, f.shards["s3"].Count(t, "rs_orders"), "a named pending shard is physical")
	var got []rsOrder
	require.NoError(t, f.db.Scopes(grant.Shard("s3")).Find(&got).Error)
	assert.Len(t, got, 1)
	err := f.db.Scopes(grant.Shard("s3")).Create(&rsOrder{CustomerID: 2}).Error
	assert.ErrorIs(t, err, grant.ErrShardMismatch, "a key that maps elsewhere than the named shard still fails")
}

// A placement published in the default database is installed by the
// watcher, acknowledged, and routes keyed writes by Write and keyed reads
// by Read; versions never go back, and a record naming a shard this
// instance does not know is neither installed nor acknowledged.
func TestPublishedPlacement(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		f := newReshardFixture(t, b, &grant.ReshardConfig{PollInterval: 50 * time.Millisecond, Lease: 2 * time.Second})
		f.waitAck(t, 0)
		createKeys(t, f.db, 0, 1, 2, 3)
		assert.Equal(t, map[string]int64{"s1": 2, "s2": 2, "s3": 0}, f.counts(t))

		// Writes over three shards, reads still over two.
		f.publish(t, grant.PlacementRecord{Active: true, Workflow: "wf1", Read: []string{"s1", "s2"}, Write: []string{"s1", "s2", "s3"}})
		createKeys(t, f.db, 5) // 5 % 3 = 2
		assert.Equal(t, map[string]int64{"s1": 2, "s2": 2, "s3": 1}, f.counts(t), "the keyed write went by the new Write list")
		var o rsOrder
		require.NoError(t, f.db.Where("customer_id = ?", 3).First(&o).Error, "3 %% 2 = 1: read from s2, where it is")
		err := f.db.Where("customer_id = ?", 5).First(&o).Error
		assert.ErrorIs(t, err, gorm.ErrRecordNotFound, "5 %% 2 = 1: the read went to s2 by the Read list, not to s3")

		// Reads follow.
		v := f.publish(t, grant.PlacementRecord{Active: true, Workflow: "wf1", Read: []string{"s1", "s2", "s3"}, Write: []string{"s1", "s2", "s3"}})
		o = rsOrder{}
		require.NoError(t, f.db.Where("customer_id = ?", 5).First(&o).Error, "5 %% 3 = 2: read from s3")
		assert.Equal(t, "5", o.Note)
		var all []rsOrder
		require.NoError(t, f.db.Scopes(grant.AllShards()).Order("customer_id").Find(&all).Error)
		assert.Len(t, all, 5, "AllShards reads the Read shards, s3 included")

		// Never backwards.
		require.NoError(t, f.cluster(t).SetPlacement(grant.PlacementRecord{Version: v - 1, Read: []string{"s1"}, Write: []string{"s1"}}))
		assert.Equal(t, v, f.cluster(t).Placement().Version(), "an older version is ignored")

		// A shard this instance does not know: not installed, not acked.
		bad, err := f.store.Publish(context.Background(), grant.PlacementRecord{Cluster: "orders", Active: true, Read: []string{"s1", "s4"}, Write: []string{"s1", "s4"}})
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			st := f.plugin.PlacementStatus()
			return st[0].Rejected != nil
		}, 10*time.Second, 5*time.Millisecond)
		st := f.plugin.PlacementStatus()[0]
		assert.ErrorIs(t, st.Rejected, grant.ErrUnknownShard)
		assert.Contains(t, st.Rejected.Error(), `"s4"`)
		assert.Equal(t, v, f.cluster(t).Placement().Version(), "version %d was not installed", bad)
		assert.Equal(t, v, f.acked(t), "nor acknowledged")
	})
}

// Frozen writes whose rows are moving wait for the switch, then fail
// with a retryable error having sent nothing; others pass.
func TestFrozenWrites(t *testing.T) {
	t.Parallel()
	f := newReshardFixture(t, testdb.SQLite(t), &grant.ReshardConfig{PollInterval: 50 * time.Millisecond, Lease: 2 * time.Second, FreezeWait: time.Second})
	createKeys(t, f.db, 0, 1)
	two, three := []string{"s1", "s2"}, []string{"s1", "s2", "s3"}
	f.publish(t, grant.PlacementRecord{Active: true, Workflow: "wf", Read: two, Write: two, Frozen: true, FrozenFrom: two, FrozenTo: three})
	before := f.counts(t)

	createKeys(t, f.db, 6, 7) // 6 → s1 over both lists, 7 → s2 over both: not moving
	assert.Equal(t, before["s1"]+1, f.counts(t)["s1"])
	assert.Equal(t, before["s2"]+1, f.counts(t)["s2"])
	before = f.counts(t)

	start := time.Now()
	err := f.db.Create(&rsOrder{CustomerID: 2}).Error // s1 over two shards, s3 over three: moving
	var frozen *grant.FrozenError
	require.ErrorAs(t, err, &frozen)
	assert.ErrorIs(t, err, grant.ErrWritesFrozen)
	assert.True(t, frozen.Temporary())
	assert.Equal(t, "orders", frozen.Cluster)
	assert.GreaterOrEqual(t, time.Since(start), time.Second, "it waited FreezeWait")
	assert.GreaterOrEqual(t, frozen.Waited, time.Second)
	assert.Contains(t, err.Error(), "not sent")
	assert.Contains(t, err.Error(), "retry")

	err = f.db.Scopes(grant.AllShards()).Model(&rsOrder{}).Where("note = ?", "x").Update("note", "y").Error
	assert.ErrorIs(t, err, grant.ErrWritesFrozen, "a write on every shard is frozen")
	err = f.db.Scopes(grant.Connect(grant.Connection{Database: "orders", Shard: "s1"})).Exec("DELETE FROM rs_orders").Error
	assert.ErrorIs(t, err, grant.ErrWritesFrozen, "a keyless write is frozen")

	start = time.Now()
	err = f.db.Transaction(func(tx *gorm.DB) error { return tx.Create(&rsOrder{CustomerID: 3}).Error })
	require.ErrorAs(t, err, &frozen)
	assert.Zero(t, frozen.Waited, "inside a transaction it does not wait")
	assert.Less(t, time.Since(start), time.Second, "well under FreezeWait")
	assert.Equal(t, before, f.counts(t), "nothing was written while frozen")

	var o rsOrder
	require.NoError(t, f.db.Where("customer_id = ?", 0).First(&o).Error, "reads are never frozen")

	// A waiting write goes on under the placement that ends the freeze.
	done := make(chan error, 1)
	go func() { done <- f.db.Create(&rsOrder{CustomerID: 2, Note: "moved"}).Error }()
	_, err = f.store.Publish(context.Background(), grant.PlacementRecord{Cluster: "orders", Active: true, Workflow: "wf", Read: three, Write: three})
	require.NoError(t, err)
	require.NoError(t, <-done)
	assert.EqualValues(t, 1, f.shards["s3"].Count(t, "rs_orders"), "2 %% 3 = 2: the write landed on s3 under the new placement")
}

// Statements spanning shards left unclean are refused; keyed ones run.
func TestUncleanShardsRefuseSpanningStatements(t *testing.T) {
	t.Parallel()
	f := newReshardFixture(t, testdb.SQLite(t), &grant.ReshardConfig{PollInterval: 50 * time.Millisecond, Lease: 2 * time.Second})
	createKeys(t, f.db, 0, 1)
	two := []string{"s1", "s2"}
	f.publish(t, grant.PlacementRecord{Active: true, Workflow: "wf9", Read: two, Write: two, Unclean: []string{"s2"}})
	before := f.counts(t)

	var all []rsOrder
	err := f.db.Scopes(grant.AllShards()).Find(&all).Error
	var rip *grant.ReshardInProgressError
	require.ErrorAs(t, err, &rip)
	assert.ErrorIs(t, err, grant.ErrReshardInProgress)
	assert.Equal(t, []string{"s2"}, rip.Shards)
	assert.Contains(t, err.Error(), `"wf9"`)
	assert.Contains(t, err.Error(), "grant reshard complete")
	err = f.db.Scopes(grant.AllShards()).Model(&rsOrder{}).Where("note <> ?", "").Update("note", "z").Error
	assert.ErrorIs(t, err, grant.ErrReshardInProgress)
	err = f.db.Where("customer_id IN ?", []int64{0, 1}).Find(&all).Error
	assert.ErrorIs(t, err, grant.ErrReshardInProgress, "keys mapping to several shards span them")
	assert.Equal(t, before, f.counts(t))

	var o rsOrder
	require.NoError(t, f.db.Where("customer_id = ?", 1).First(&o).Error, "a keyed read of the unclean shard is fine")
	require.NoError(t, f.db.Scopes(grant.Shard("s2")).Find(&all).Error, "a named shard is fine")
}

// An instance that cannot read the placement of a cluster with an active
// reshard for half the lease refuses writes to it, and recovers.
func TestFencedWhenPlacementUnreadable(t *testing.T) {
	t.Parallel()
	f := newReshardFixture(t, testdb.SQLite(t), &grant.ReshardConfig{PollInterval: 20 * time.Millisecond, Lease: 400 * time.Millisecond})
	two := []string{"s1", "s2"}
	f.publish(t, grant.PlacementRecord{Active: true, Read: two, Write: two})
	createKeys(t, f.db, 0)

	admin := f.primary.Open(t)
	require.NoError(t, admin.Exec("ALTER TABLE grant_placement RENAME TO grant_placement_away").Error)
	require.Eventually(t, func() bool { return f.plugin.PlacementStatus()[0].Fenced }, 10*time.Second, 5*time.Millisecond)
	// Measured from the last successful read, which is what the fence
	// counts from: the rename may land a whole poll after it.
	assert.GreaterOrEqual(t, time.Since(f.plugin.PlacementStatus()[0].LastRead), 200*time.Millisecond, "not fenced before half the lease")
	before := f.counts(t)
	err := f.db.Create(&rsOrder{CustomerID: 1}).Error
	var stale *grant.PlacementStaleError
	require.ErrorAs(t, err, &stale)
	assert.ErrorIs(t, err, grant.ErrPlacementStale)
	assert.True(t, stale.Temporary())
	assert.Equal(t, "orders", stale.Cluster)
	assert.Equal(t, before, f.counts(t), "nothing was written")
	var o rsOrder
	require.NoError(t, f.db.Where("customer_id = ?", 0).First(&o).Error, "reads go on")

	require.NoError(t, admin.Exec("ALTER TABLE grant_placement_away RENAME TO grant_placement").Error)
	require.Eventually(t, func() bool { return !f.plugin.PlacementStatus()[0].Fenced }, 10*time.Second, 5*time.Millisecond)
	createKeys(t, f.db, 1)
}

// A store that cannot be read at start fences every cluster: the
// instance never routes writes by a placement it could not confirm.
func TestFencedAtStartWhenStoreUnreadable(t *testing.T) {
	t.Parallel()
	f := newReshardFixture(t, testdb.SQLite(t), nil)
	// A placement that cannot be read: its record is not JSON.
	require.NoError(t, f.store.Ensure(context.Background()))
	require.NoError(t, f.primary.Open(t).Exec("INSERT INTO grant_placement (cluster, version, record) VALUES ('orders', 3, 'not json')").Error)

	db, err := gorm.Open(f.primary.Dialector(), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err)
	shards := []grant.ShardConfig{{Name: "s1", DatabaseConfig: grant.DatabaseConfig{Writer: &grant.NodeConfig{Dialector: f.shards["s1"].Dialector()}}}}
	p := grant.New(grant.Config{Reshard: &grant.ReshardConfig{PollInterval: 50 * time.Millisecond}, Clusters: map[string]grant.ClusterConfig{"orders": {Shards: shards}}})
	require.NoError(t, db.Use(p))
	t.Cleanup(func() { exClose(db) })
	err = db.Create(&rsOrder{CustomerID: 1}).Error
	assert.ErrorIs(t, err, grant.ErrPlacementStale)
	assert.EqualValues(t, 0, f.shards["s1"].Count(t, "rs_orders"))
	assert.Error(t, p.PlacementStatus()[0].Err)
}

// A write running when a new placement is installed delays that
// placement's acknowledgement until it has finished.
func TestInFlightWriteDelaysAck(t *testing.T) {
	t.Parallel()
	f := newReshardFixture(t, testdb.Postgres(t), &grant.ReshardConfig{PollInterval: 20 * time.Millisecond, Lease: 2 * time.Second})
	createKeys(t, f.db, 0)
	two := []string{"s1", "s2"}
	v1 := f.publish(t, grant.PlacementRecord{Active: true, Read: two, Write: two})

	// Another transaction holds the row's lock: the grant write blocks in
	// the driver.
	lock := f.shards["s1"].Open(t).Begin()
	require.NoError(t, lock.Exec("SELECT * FROM rs_orders WHERE customer_id = 0 FOR UPDATE").Error)
	finished := make(chan time.Time, 1)
	go func() {
		err := f.db.Model(&rsOrder{}).Where("customer_id = ?", 0).Update("note", "late").Error
		assert.NoError(t, err)
		finished <- time.Now()
	}()
	p1 := f.cluster(t).Placement()
	require.Eventually(t, func() bool { return p1.InFlight() == 1 }, 10*time.Second, time.Millisecond, "the write is in flight")

	v2, err := f.store.Publish(context.Background(), grant.PlacementRecord{Cluster: "orders", Active: true, Read: two, Write: two})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return f.cluster(t).Placement().Version() == v2 }, 10*time.Second, time.Millisecond, "installed")
	for range 10 { // several polls and heartbeats go by; the ack stays
		time.Sleep(20 * time.Millisecond)
		assert.Equal(t, v1, f.acked(t), "not acknowledged while a write under version %d runs", v1)
	}
	require.NoError(t, lock.Rollback().Error)
	done := <-finished
	f.waitAck(t, v2)
	acked := time.Now()
	assert.True(t, !acked.Before(done))
	assert.Zero(t, p1.InFlight())
	var o rsOrder
	require.NoError(t, f.db.Where("customer_id = ?", 0).First(&o).Error)
	assert.Equal(t, "late", o.Note)
}
