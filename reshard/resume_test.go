package reshard_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/testdb"
	"github.com/grant-go/grant/reshard"
)

// TestSwitchResumesAfterCrashWhileFrozen: a switch that died after
// freezing leaves the frozen placement published, and writes to moving
// keys failing. Running switch-writes again finishes the switch and lifts
// the freeze; no row is lost or misplaced.
func TestSwitchResumesAfterCrashWhileFrozen(t *testing.T) {
	b := testdb.Postgres(t)
	requireLogical(t, b)
	ctx := context.Background()
	h, dbs := newCluster(t, b, "jump", "rsm", 2, 3)
	app, appPlugin, err := h.open(true, 0)
	require.NoError(t, err)
	want := map[int64]int64{}
	for id := int64(1); id <= 200; id++ {
		require.NoError(t, app.Create(&Account{ID: id, Balance: id}).Error)
		want[id] = id
	}
	_, plugin, err := h.open(false, 0)
	require.NoError(t, err)
	w, err := reshard.Start(ctx, plugin.Topology(), h.options())
	require.NoError(t, err)
	runWorker(t, w)

	// What a switch leaves behind when it dies right after freezing.
	store, err := plugin.Topology().PlacementStore()
	require.NoError(t, err)
	rec, ok, err := store.Load(ctx, "accounts")
	require.NoError(t, err)
	require.True(t, ok)
	rec.Frozen, rec.FrozenFrom, rec.FrozenTo = true, h.To[:2], h.To
	version, err := store.Publish(ctx, rec)
	require.NoError(t, err)
	moving := movingID(t, h, 2, 3)
	waitFor(t, "the instance to install the freeze", func() bool {
		return appPlugin.Topology().PlacementStatus()[0].Acked >= version
	})
	err = app.Model(&Account{ID: moving}).Update("balance", 1).Error
	require.True(t, errors.Is(err, grant.ErrWritesFrozen), "a moving key is frozen: %v", err)

	sw, err := w.SwitchWrites(ctx)
	require.NoError(t, err, "switch-writes run again finishes the switch")
	assert.Greater(t, sw.Version, version)
	st, err := w.Status(ctx)
	require.NoError(t, err)
	assert.False(t, st.Placement.Frozen)
	assert.Equal(t, h.To, st.Placement.Write)
	waitFor(t, "the instance to install the switch", func() bool {
		return appPlugin.Topology().PlacementStatus()[0].Acked >= sw.Version
	})
	require.NoError(t, app.Model(&Account{ID: moving}).Update("balance", 5000).Error)
	want[moving] = 5000
	require.NoError(t, w.Complete(ctx))
	assertPlaced(t, h, dbs, h.To, want)
}

// movingID is an id whose shard changes from the first from shards to the
// first to.
func movingID(t *testing.T, h *harness, from, to int) int64 {
	for id := int64(1); id <= 200; id++ {
		if home(t, h, id, from) != home(t, h, id, to) {
			return id
		}
	}
	t.Fatal("no id moves")
	return 0
}
