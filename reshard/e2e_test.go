package reshard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant/internal/testdb"
	"github.com/grant-go/grant/reshard"
	"github.com/grant-go/grant/sharding"
)

// TestReshardPostgresJump grows a 4-shard jump-hash cluster to 6 on
// PostgreSQL while 8 writers in two processes insert, update, delete and
// read, killing the reshard worker once during the copy and once during
// the catch-up.
func TestReshardPostgresJump(t *testing.T) {
	b := testdb.Postgres(t)
	requireLogical(t, b)
	runReshard(t, b, "jump", 4, 6)
}

// TestReshardMariaDBModulo grows a 2-shard modulo cluster to 4 on MariaDB
// the same way.
func TestReshardMariaDBModulo(t *testing.T) {
	runReshard(t, testdb.MariaDB(t), "modulo", 2, 4)
}

// TestReshardRangeSplit splits two ranges of a 2-shard range cluster onto
// two new shards on PostgreSQL, the same way.
func TestReshardRangeSplit(t *testing.T) {
	b := testdb.Postgres(t)
	requireLogical(t, b)
	runReshard(t, b, "range", 2, 4)
}

func requireLogical(t *testing.T, b *testdb.Backend) {
	db := b.CreateDatabase(t, "wal").Open(t)
	var level string
	require.NoError(t, db.Raw("SHOW wal_level").Scan(&level).Error)
	if level != "logical" {
		msg := "PostgreSQL runs with wal_level=" + level + ": resharding needs logical; run scripts/pg-logical.sh"
		if testdb.RequireServers() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

func runReshard(t *testing.T, b *testdb.Backend, strategy string, from, to int) {
	ctx := context.Background()
	h, dbs := newCluster(t, b, strategy, "rs", from, to)
	h.Writers, h.Seed, h.Batch, h.Rate = 8, 150, 25, 400
	oldShards, newShards := h.To[:from], h.To

	// The application: instance A here, instance B in another process.
	app, _, err := h.open(true, 300*time.Millisecond)
	require.NoError(t, err)
	for w := range h.Writers {
		for k := range h.Seed {
			require.NoError(t, app.Create(&Account{ID: h.ownedID(w, k), Balance: int64(k), Note: "seed"}).Error)
		}
	}
	// Cold rows no writer touches, for the planted divergence.
	for id := int64(900_000); id < 900_040; id++ {
		require.NoError(t, app.Create(&Account{ID: id, Balance: 7, Note: "cold"}).Error)
	}
	assertPlaced(t, h, dbs, oldShards, nil)

	_, plugin, err := h.open(false, 0)
	require.NoError(t, err)
	topo := plugin.Topology()

	plan, err := reshard.Plan(ctx, topo, h.options())
	require.NoError(t, err)
	var moving int64
	for _, tp := range plan.Tables {
		for _, n := range tp.Moves {
			moving += n
		}
	}
	t.Logf("plan: %d rows move", moving)
	require.Positive(t, moving)

	stop := make(chan struct{})
	var localOps atomic.Int64
	localDone := make(chan []*writerResult, 1)
	go func() { localDone <- h.runWriters(app, 0, h.Writers/2, stop, &localOps) }()
	other := h.child(t, "writer")

	w, err := reshard.Start(ctx, topo, h.options())
	require.NoError(t, err)

	// Kill the worker during the copy, then during the catch-up.
	worker := h.child(t, "worker")
	waitFor(t, "the copy to start", func() bool {
		st, err := w.Status(ctx)
		require.NoError(t, err)
		for _, c := range st.Copy {
			if c.Copied > 0 {
				return true
			}
		}
		return false
	})
	kill(t, worker)
	st, err := w.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, reshard.StateCopying, st.State, "the worker was to be killed during the copy")
	worker = h.child(t, "worker")
	waitState(t, w, reshard.StateRunning)
	waitOps(t, &localOps, 200)
	kill(t, worker)
	h.child(t, "worker")

	report, err := w.Verify(ctx)
	require.NoError(t, err)
	if !report.OK() {
		for _, d := range report.Diffs {
			for name, db := range dbs {
				var rows []map[string]any
				db.Open(t).Raw("SELECT * FROM accounts WHERE id = ?", d.PK[0]).Scan(&rows)
				t.Logf("%s on %s: %v", d, name, rows)
			}
		}
	}
	require.True(t, report.OK(), "verify: %v", report.Err())
	t.Logf("verify: %d table checks in %s", len(report.Tables), report.Took)

	// A divergence planted on a target shard: verify names it and
	// switch-writes refuses, changing nothing.
	cold, target := movingColdRow(t, h, from)
	planted := dbs[target].Open(t)
	require.NoError(t, planted.Exec("UPDATE accounts SET balance = 8 WHERE id = ?", cold).Error)
	report, err = w.Verify(ctx)
	require.NoError(t, err)
	require.Len(t, report.Diffs, 1)
	assert.Equal(t, []string{fmt.Sprint(cold)}, report.Diffs[0].PK)
	assert.Equal(t, target, report.Diffs[0].Shard)
	before, err := w.Status(ctx)
	require.NoError(t, err)
	_, err = w.SwitchWrites(ctx)
	require.ErrorIs(t, err, reshard.ErrDiverged)
	after, err := w.Status(ctx)
	require.NoError(t, err)
	assert.Equal(t, before.Placement.Version, after.Placement.Version, "a refused switch publishes nothing")
	require.NoError(t, planted.Exec("UPDATE accounts SET balance = 7 WHERE id = ?", cold).Error)

	_, err = w.SwitchReads(ctx)
	require.NoError(t, err)
	waitOps(t, &localOps, 200)
	sw, err := w.SwitchWrites(ctx)
	require.NoError(t, err)
	t.Logf("switch-writes: freeze window %s (acks %s, transactions %s, lock %s, drain %s, verify %s), %d instances acknowledged", sw.FreezeWindow, sw.Acks, sw.Transactions, sw.Lock, sw.Drain, sw.Verify, len(sw.Instances))
	require.Len(t, sw.Instances, 2, "both application instances acknowledged")
	writeResult(t, "freeze_"+strategy, sw.FreezeWindow)
	waitOps(t, &localOps, 300)

	// Reverse: the old placement serves again, nothing lost.
	rv, err := w.Reverse(ctx)
	require.NoError(t, err)
	t.Logf("reverse: freeze window %s (acks %s, transactions %s, lock %s, drain %s, verify %s)", rv.FreezeWindow, rv.Acks, rv.Transactions, rv.Lock, rv.Drain, rv.Verify)
	waitOps(t, &localOps, 300)
	// The old placement serves again, and the new one is kept current
	// from it: every moved row agrees, none is lost.
	st, err = w.Status(ctx)
	require.NoError(t, err)
	assert.Equal(t, oldShards, st.Placement.Write)
	assert.Equal(t, oldShards, st.Placement.Read)
	assert.Equal(t, reshard.StateRunning, st.State)
	report, err = w.Verify(ctx)
	require.NoError(t, err)
	require.True(t, report.OK(), "after reverse: %v", report.Err())
	sw, err = w.SwitchWrites(ctx)
	require.NoError(t, err)
	t.Logf("switch-writes again: freeze window %s (acks %s, transactions %s, lock %s, drain %s, verify %s)", sw.FreezeWindow, sw.Acks, sw.Transactions, sw.Lock, sw.Drain, sw.Verify)
	waitOps(t, &localOps, 300)
	require.NoError(t, w.Complete(ctx))
	assertNoCapture(t, h, dbs)
	waitOps(t, &localOps, 200)

	// Stop the writers and gather what they acknowledged.
	close(stop)
	results := <-localDone
	require.NoError(t, os.WriteFile(filepath.Join(h.Dir, "stop"), nil, 0o644))
	require.NoError(t, other.Wait())
	var remote []*writerResult
	body, err := os.ReadFile(filepath.Join(h.Dir, "writer.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(body, &remote))
	results = append(results, remote...)
	want := map[int64]int64{}
	var ops, retried, reads int64
	for _, r := range results {
		assert.Empty(t, r.Failed, "writer %d", r.Writer)
		for id, bal := range r.Rows {
			want[id] = bal
		}
		ops, retried, reads = ops+r.Ops, retried+r.Retried, reads+r.Reads
	}
	for id := int64(900_000); id < 900_040; id++ {
		want[id] = 7
	}
	t.Logf("%d operations (%d keyed reads) by %d writers in 2 processes; %d statements refused during freezes and retried", ops, reads, len(results), retried)
	assertPlaced(t, h, dbs, newShards, want)

	// Reads through a fresh instance find every row.
	fresh, _, err := h.open(true, 300*time.Millisecond)
	require.NoError(t, err)
	var found int
	for id, bal := range want {
		var a Account
		require.NoError(t, fresh.Where("id = ?", id).Take(&a).Error, "id %d", id)
		assert.Equal(t, bal, a.Balance, "id %d", id)
		found++
	}
	assert.Equal(t, len(want), found)
}

type reshardAccount struct {
	ID      int64
	Balance int64
}

// assertPlaced reads every shard directly: each row must be on exactly
// the shard the placement names, once, with the balance want says (when
// want is given, every row of want and no other).
func assertPlaced(t *testing.T, h *harness, dbs map[string]*testdb.Database, placement []string, want map[int64]int64) {
	t.Helper()
	seen := map[int64]string{}
	misplaced, duplicated, wrong := 0, 0, 0
	for name, d := range dbs {
		var rows []reshardAccount
		require.NoError(t, d.Open(t).Table("accounts").Find(&rows).Error)
		for _, r := range rows {
			home, err := sharding.MapOne(context.Background(), h.strategy(), placement, sharding.IntKey(r.ID))
			require.NoError(t, err)
			if home != name {
				misplaced++
				continue
			}
			if prev, dup := seen[r.ID]; dup {
				duplicated++
				t.Errorf("id %d on %s and %s", r.ID, prev, name)
			}
			seen[r.ID] = name
			if want != nil {
				if bal, ok := want[r.ID]; !ok || bal != r.Balance {
					wrong++
				}
			}
		}
	}
	lost := 0
	for id := range want {
		if _, ok := seen[id]; !ok {
			lost++
		}
	}
	assert.Zero(t, misplaced, "rows on a shard their key does not map to")
	assert.Zero(t, duplicated, "rows on two shards")
	assert.Zero(t, lost, "acknowledged rows missing")
	assert.Zero(t, wrong, "rows whose balance is not the last acknowledged one (or that no writer kept)")
	t.Logf("placement %v: %d rows, %d misplaced, %d duplicated, %d lost, %d wrong", placement, len(seen), misplaced, duplicated, lost, wrong)
}

// movingColdRow is a cold row whose shard changes, and its target shard.
func movingColdRow(t *testing.T, h *harness, from int) (int64, string) {
	for id := int64(900_000); id < 900_040; id++ {
		a, _ := sharding.MapOne(context.Background(), h.strategy(), h.To[:from], sharding.IntKey(id))
		b, _ := sharding.MapOne(context.Background(), h.strategy(), h.To, sharding.IntKey(id))
		if a != b {
			return id, b
		}
	}
	t.Fatal("no cold row moves")
	return 0, ""
}

func kill(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
}

// runWorker runs w's worker until the test ends, and waits for the copy to
// finish.
func runWorker(t *testing.T, w *reshard.Workflow) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() { stop(); <-done })
	waitState(t, w, reshard.StateRunning)
}

// waitState waits until w's workflow is in state.
func waitState(t *testing.T, w *reshard.Workflow, state string) {
	t.Helper()
	waitFor(t, "state "+state, func() bool {
		st, err := w.Status(context.Background())
		require.NoError(t, err)
		return st.State == state
	})
}

// waitFor polls cond (state, not time) for up to a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitOps waits until the local writers have done n more operations.
func waitOps(t *testing.T, ops *atomic.Int64, n int64) {
	t.Helper()
	target := ops.Load() + n
	waitFor(t, fmt.Sprintf("%d more writes", n), func() bool { return ops.Load() >= target })
}

// writeResult records a measurement for docs/resharding.md when
// GRANT_RESHARD_RESULTS names a directory.
func writeResult(t *testing.T, name string, d time.Duration) {
	if dir := os.Getenv("GRANT_RESHARD_RESULTS"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, name), []byte(d.String()+"\n"), 0o644)
	}
}

// dropSlots removes what a failed run left on the shards: a replication
// slot keeps WAL and its database alive.
func dropSlots(t testing.TB, h *harness, dbs map[string]*testdb.Database) {
	if h.Dialect != "postgres" {
		return
	}
	for _, d := range dbs {
		_ = d.Open(t).Exec("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database() AND NOT active").Error
	}
}

// assertNoCapture checks that complete left nothing behind on any shard:
// no slot or publication, no trigger or changelog.
func assertNoCapture(t *testing.T, h *harness, dbs map[string]*testdb.Database) {
	t.Helper()
	for name, d := range dbs {
		var left []string
		db := d.Open(t)
		if h.Dialect == "postgres" {
			require.NoError(t, db.Raw(`SELECT slot_name FROM pg_replication_slots WHERE database = current_database()
UNION ALL SELECT pubname FROM pg_publication`).Scan(&left).Error)
		} else {
			require.NoError(t, db.Raw(`SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()
UNION ALL SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE 'grant%'`).Scan(&left).Error)
		}
		assert.Empty(t, left, "shard %s after complete", name)
	}
}
