package grant_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/testdb"
)

// Issue 11, item 1: a named shard never overrides a row's key. In the shard
// fixture customer_id modulo 2 puts odd customers on shard2, even ones on
// shard1; orderCounts reads shard1, shard1's replica stand-in and shard2
// directly.
func TestNamedShardNeverOverridesTheKey(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		f := newShardFixture(t, b)
		start := f.orderCounts(t)

		err := f.db.Scopes(grant.Shard("shard1")).Create(&KeyedOrder{CustomerID: 3}).Error
		require.ErrorIs(t, err, grant.ErrShardMismatch, "scope")
		assert.Contains(t, err.Error(), `"shard1"`)
		assert.Contains(t, err.Error(), `"shard2"`)

		ctx := grant.ConnectedTo(context.Background(), grant.Connection{Shard: "shard1"})
		err = f.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			if err := tx.Create(&KeyedOrder{CustomerID: 2, Note: "belongs here"}).Error; err != nil {
				return err
			}
			return tx.Create(&KeyedOrder{CustomerID: 5, Note: "belongs on shard2"}).Error
		})
		require.ErrorIs(t, err, grant.ErrShardMismatch, "context, inside a transaction: the transaction rolls back")

		err = f.db.Scopes(grant.Shard("shard1")).Create(&[]KeyedOrder{{CustomerID: 2}, {CustomerID: 4}, {CustomerID: 7}}).Error
		require.ErrorIs(t, err, grant.ErrShardMismatch, "every row of a batch is checked")
		assert.Contains(t, err.Error(), "row 2")

		var found []KeyedOrder
		err = f.db.Scopes(grant.Shard("shard1")).Where("customer_id = ?", 3).Find(&found).Error
		require.ErrorIs(t, err, grant.ErrShardMismatch, "a read by key names the wrong shard")
		err = f.db.Scopes(grant.Shard("shard1")).Where("customer_id IN ?", []int64{2, 3}).Find(&found).Error
		require.ErrorIs(t, err, grant.ErrShardMismatch, "an IN list reaching beyond the named shard")
		err = f.db.Scopes(grant.Shard("shard1")).Model(&KeyedOrder{}).Where("customer_id = ?", 2).Update("customer_id", 3).Error
		require.ErrorIs(t, err, grant.ErrShardKeyChange, "an update may not move a row off its named shard")

		assert.Equal(t, start, f.orderCounts(t), "nothing was written anywhere")

		// What agrees, and what has no key, still works.
		require.NoError(t, f.db.Scopes(grant.Shard("shard2")).Create(&KeyedOrder{CustomerID: 3}).Error)
		require.NoError(t, f.db.Scopes(grant.Shard("shard1")).Where("customer_id = ?", 2).Find(&found).Error)
		require.NoError(t, f.db.Scopes(grant.Shard("shard1")).Where("note = ?", "x").Find(&found).Error, "a keyless read names its shard, as in Rails")
		require.NoError(t, f.db.Scopes(grant.Shard("shard1")).Create(&Order{CustomerID: 3}).Error, "a model without a shard key goes where it is sent")
		want := start
		want[2]++
		want[0]++
		assert.Equal(t, want, f.orderCounts(t))
	})
}
