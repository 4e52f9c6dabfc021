package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant/topology"
)

// A shard may be pending, and the reshard section turns on following
// placements; absent, placements are static.
func TestParseConfigPendingAndReshard(t *testing.T) {
	cfg, err := Parse("grant.yml", yml(
		"reshard:",
		"  poll_interval: 50ms",
		"  lease: 2s",
		"  freeze_wait: 300ms",
		"  instance: web-1",
		"clusters:",
		"  orders:",
		"    adapter: postgres",
		"    shards:",
		"      - {name: s1, dsn: a}",
		"      - {name: s2, dsn: b, pending: true}",
	), nil)
	require.NoError(t, err)
	assert.Equal(t, &topology.ReshardConfig{PollInterval: 50 * time.Millisecond, Lease: 2 * time.Second, FreezeWait: 300 * time.Millisecond, Instance: "web-1"}, cfg.Reshard)
	assert.False(t, cfg.Clusters["orders"].Shards[0].Pending)
	assert.True(t, cfg.Clusters["orders"].Shards[1].Pending)

	cfg, err = Parse("grant.yml", yml("reshard: {}"), nil)
	require.NoError(t, err)
	assert.Equal(t, &topology.ReshardConfig{}, cfg.Reshard, "an empty section watches with the defaults")
	cfg, err = Parse("grant.yml", yml("default: primary"), nil)
	require.NoError(t, err)
	assert.Nil(t, cfg.Reshard, "no section: placements are static")
}

func TestParseConfigRejectsBadReshard(t *testing.T) {
	for _, tc := range []struct {
		name    string
		file    []byte
		line    int
		key     string
		problem string
	}{
		{"negative poll interval", yml("reshard:", "  poll_interval: -1s"), 2, "reshard.poll_interval", "must be 0 (the default) or more"},
		{"not a duration", yml("reshard:", "  lease: soon"), 2, "reshard.lease", "expected a duration"},
		{"lease too short for the poll", yml("reshard:", "  poll_interval: 1s", "  lease: 1s"), 3, "reshard.lease", "must exceed poll_interval"},
		{"unknown key", yml("reshard:", "  poll: 1s"), 2, "reshard.poll", `unknown key "poll"`},
		{"pending not a boolean", yml(
			"clusters:",
			"  orders:",
			"    adapter: postgres",
			"    shards:",
			"      - {name: s1, dsn: a, pending: maybe}",
		), 5, "clusters.orders.shards[0].pending", "expected true or false"},
		{"every shard pending", yml(
			"clusters:",
			"  orders:",
			"    adapter: postgres",
			"    shards:",
			"      - {name: s1, dsn: a, pending: true}",
		), 4, "clusters.orders.shards", "every shard is pending"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("grant.yml", tc.file, nil)
			require.Error(t, err)
			assert.ErrorIs(t, err, topology.ErrInvalidConfig)
			var fe *FileError
			require.ErrorAs(t, err, &fe, "want *FileError, got %T: %v", err, err)
			assert.Equal(t, tc.line, fe.Line, "line of %v", err)
			assert.Equal(t, tc.key, fe.Key, "key of %v", err)
			assert.Contains(t, fe.Problem, tc.problem)
		})
	}
}
