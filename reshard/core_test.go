package reshard

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant/sharding"
)

func TestCaptureNameFitsTheServer(t *testing.T) {
	pg, my := dialect{name: "postgres"}, dialect{name: "mysql"}
	assert.Equal(t, "grant_orders_reshard_s1", captureName("orders_reshard", "s1", pg))
	assert.Equal(t, "grant_w_shard_1", captureName("w", "Shard-1", pg), "folded to what a slot name allows")
	long := strings.Repeat("x", 60)
	a, b := captureName(long, "s1", pg), captureName(long, "s2", pg)
	assert.LessOrEqual(t, len(a), 63)
	assert.NotEqual(t, a, b, "shards of one workflow never share a slot")
	assert.LessOrEqual(t, len(captureName(long, "s1", my)), 40)
}

func TestUpsertSQL(t *testing.T) {
	tb := &table{Table: Table{Name: "accounts", PK: []string{"id"}, Columns: []string{"id", "balance"}}}
	assert.Equal(t, `INSERT INTO "accounts" ("id", "balance") VALUES ($1, $2), ($3, $4) ON CONFLICT ("id") DO UPDATE SET "balance" = EXCLUDED."balance"`,
		dialect{name: "postgres"}.upsert(tb, 2))
	assert.Equal(t, "INSERT INTO `accounts` (`id`, `balance`) VALUES (?, ?) ON DUPLICATE KEY UPDATE `balance` = VALUES(`balance`)",
		dialect{name: "mysql"}.upsert(tb, 1))
	keyOnly := &table{Table: Table{Name: "t", PK: []string{"a", "b"}, Columns: []string{"a", "b"}}}
	assert.Contains(t, dialect{name: "postgres"}.upsert(keyOnly, 1), `ON CONFLICT ("a", "b") DO NOTHING`)
	assert.Equal(t, `("a", "b") IN (($1, $2), ($3, $4))`, dialect{name: "postgres"}.inList(keyOnly.PK, 2))
	assert.Equal(t, "`id` IN (?, ?, ?)", dialect{name: "mysql"}.inList([]string{"id"}, 3))
}

func TestUncleanShards(t *testing.T) {
	jump := &record{From: []string{"s0", "s1"}, To: []string{"s0", "s1", "s2"}, Tables: []tableSpec{{Strategy: "jump"}}}
	assert.Empty(t, unclean(jump, jump.From), "jump hash over appended shards moves keys only to the new ones")
	assert.Equal(t, []string{"s0", "s1"}, unclean(jump, jump.To), "the old shards hold moved rows until complete")

	modulo := &record{From: []string{"s0", "s1"}, To: []string{"s0", "s1", "s2"}, Tables: []tableSpec{{Strategy: "modulo"}}}
	assert.Equal(t, []string{"s0", "s1"}, unclean(modulo, modulo.From), "modulo 2→3 moves keys between old shards")
	modulo.To = append(modulo.To, "s3")
	assert.Empty(t, unclean(modulo, modulo.From), "modulo 2→4 moves keys only to the new shards")

	reordered := &record{From: []string{"s0", "s1"}, To: []string{"s1", "s0", "s2"}, Tables: []tableSpec{{Strategy: "jump"}}}
	assert.Equal(t, []string{"s0", "s1"}, unclean(reordered, reordered.From))
}

// The claim unclean relies on: under jump hash and a multiplying modulo,
// a key whose shard changes always goes to an appended shard.
func TestOnlyNewShardsReceiveKeys(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		strategy sharding.Strategy
		from, to int
	}{{sharding.JumpHash(), 4, 6}, {sharding.JumpHash(), 1, 7}, {sharding.Modulo(), 2, 4}, {sharding.Modulo(), 3, 9}} {
		var names []string
		for i := range tc.to {
			names = append(names, string(rune('a'+i)))
		}
		for k := int64(0); k < 20000; k++ {
			a, err := sharding.MapOne(ctx, tc.strategy, names[:tc.from], sharding.IntKey(k))
			require.NoError(t, err)
			b, err := sharding.MapOne(ctx, tc.strategy, names, sharding.IntKey(k))
			require.NoError(t, err)
			if a != b && strings.Contains(strings.Join(names[:tc.from], ""), b) {
				t.Fatalf("%s %d→%d: key %d moves from %s to old shard %s", tc.strategy.Name(), tc.from, tc.to, k, a, b)
			}
		}
	}
}

func TestDivergedErrorNamesKeys(t *testing.T) {
	err := error(&DivergedError{Workflow: "w", Total: 7, Diffs: []Diff{
		{Table: "accounts", Shard: "s4", PK: []string{"42"}, Kind: "different"},
		{Table: "accounts", Shard: "s5", PK: []string{"7", "x"}, Kind: "missing"},
	}})
	assert.True(t, errors.Is(err, ErrDiverged))
	assert.Contains(t, err.Error(), "7 row(s) differ")
	assert.Contains(t, err.Error(), "accounts different (42) on shard s4")
	assert.Contains(t, err.Error(), "accounts missing (7, x) on shard s5")
}

func TestIntKeysReadAsText(t *testing.T) {
	tb := &table{keyAt: 0, keyInt: true}
	k, err := tb.key([]any{[]byte("42")})
	require.NoError(t, err)
	assert.Equal(t, sharding.IntKey(42), k, "MySQL hands integers over as text; the model's key is an integer")
	_, err = tb.key([]any{[]byte("4x")})
	assert.Error(t, err)
}
