package reshard_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/testdb"
	"github.com/grant-go/grant/reshard"
)

// TestSwitchAbortsWithoutAnAck: an instance whose configuration lacks a
// shard of the new placement never acknowledges the freeze; switch-writes
// gives up after AckTimeout naming it, republishes the old placement
// unfrozen, and writes go on as before.
func TestSwitchAbortsWithoutAnAck(t *testing.T) {
	b := testdb.Postgres(t)
	requireLogical(t, b)
	ctx := context.Background()
	h, dbs := newCluster(t, b, "jump", "na", 2, 3)

	app, _, err := h.open(true, 0)
	require.NoError(t, err)
	for id := int64(1); id <= 100; id++ {
		require.NoError(t, app.Create(&Account{ID: id, Balance: id}).Error)
	}
	// An instance deployed before s2 was added to the configuration.
	stale := *h
	stale.Shards = h.Shards[:2]
	old, oldPlugin, err := stale.open(true, 0)
	require.NoError(t, err)

	_, plugin, err := h.open(false, 0)
	require.NoError(t, err)
	opts := h.options()
	opts.AckTimeout = time.Second
	w, err := reshard.Start(ctx, plugin.Topology(), opts)
	require.NoError(t, err, "the old instance can follow the active placement: it names only shards it knows")
	runWorker(t, w)
	before, err := w.Status(ctx)
	require.NoError(t, err)

	_, err = w.SwitchWrites(ctx)
	require.ErrorIs(t, err, reshard.ErrNoAck)
	instance, werr := oldPlugin.Topology().WatchInstance()
	require.NoError(t, werr)
	assert.Contains(t, err.Error(), instance, "the error names the instance that did not acknowledge")

	after, err := w.Status(ctx)
	require.NoError(t, err)
	assert.Equal(t, reshard.StateRunning, after.State)
	assert.False(t, after.Placement.Frozen, "the freeze is lifted")
	assert.Equal(t, before.Placement.Write, after.Placement.Write)
	assert.Equal(t, before.Placement.Read, after.Placement.Read)
	// Both instances write again, to the old placement.
	waitFor(t, "the old instance to follow the unfrozen placement", func() bool {
		err := old.Model(&Account{ID: 7}).Update("balance", 70).Error
		return err == nil || !errors.Is(err, grant.ErrWritesFrozen)
	})
	require.NoError(t, old.Model(&Account{ID: 7}).Update("balance", 70).Error)
	require.NoError(t, app.Model(&Account{ID: 8}).Update("balance", 80).Error)
	var n int64
	require.NoError(t, dbs["s2"].Open(t).Model(&Account{}).Count(&n).Error)
	var moved int64
	for id := int64(1); id <= 100; id++ {
		if home(t, h, id, 3) == "s2" {
			moved++
		}
	}
	assert.Equal(t, moved, n, "s2 holds the copies only, kept current by the stream")
}

func home(t *testing.T, h *harness, id int64, shards int) string {
	t.Helper()
	name, err := shardOf(h, id, h.To[:shards])
	require.NoError(t, err)
	return name
}
