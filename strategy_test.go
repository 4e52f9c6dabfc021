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

// RangedOrder places customers 0–99 on shard1 and 100–199 on shard2.
type RangedOrder struct {
	ID         uint `gorm:"primaryKey"`
	CustomerID int64
	Note       string `gorm:"size:100"`
}

func (RangedOrder) TableName() string            { return "orders" }
func (RangedOrder) ConnectsTo() grant.Connection { return grant.Cluster("orders") }
func (RangedOrder) ShardKey() grant.ShardKey {
	return grant.ShardKey{Column: "customer_id", Strategy: grant.Range(
		grant.KeyRange{From: 0, To: 100, Shard: "shard1"},
		grant.KeyRange{From: 100, To: 200, Shard: "shard2"},
	)}
}

// DirectoryOrder finds its shard in the customer_shards table of the
// default database, "primary". ShardKey builds a fresh strategy on each
// call, so every grant handle binds its own directory.
type DirectoryOrder struct {
	ID         uint `gorm:"primaryKey"`
	CustomerID int64
	Note       string `gorm:"size:100"`
}

func (DirectoryOrder) TableName() string            { return "orders" }
func (DirectoryOrder) ConnectsTo() grant.Connection { return grant.Cluster("orders") }
func (DirectoryOrder) ShardKey() grant.ShardKey {
	return grant.ShardKey{Column: "customer_id", Strategy: grant.Lookup(grant.LookupConfig{
		Source: grant.DirectoryTable("primary", "customer_shards", "customer_id", "shard"),
	})}
}

func TestRangeAndDirectoryStrategies(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		f := newShardFixture(t, b)
		primary := f.primary.Open(t)
		require.NoError(t, primary.Exec("CREATE TABLE customer_shards (customer_id BIGINT PRIMARY KEY, shard VARCHAR(20))").Error)
		require.NoError(t, primary.Exec("INSERT INTO customer_shards VALUES (1, 'shard2'), (2, 'shard1'), (3, 'shard9')").Error)

		require.NoError(t, f.db.Create(&RangedOrder{CustomerID: 5, Note: "r5"}).Error)
		require.NoError(t, f.db.Create(&RangedOrder{CustomerID: 150, Note: "r150"}).Error)
		require.NoError(t, f.db.Create(&DirectoryOrder{CustomerID: 1, Note: "d1"}).Error)
		require.NoError(t, f.db.Create(&DirectoryOrder{CustomerID: 2, Note: "d2"}).Error)
		var notes []string
		require.NoError(t, f.shard1.Open(t).Table("orders").Order("note").Pluck("note", &notes).Error)
		assert.Equal(t, []string{"d2", "r5"}, notes, "shard1: customer 2 by the directory, 5 by range")
		require.NoError(t, f.shard2.Open(t).Table("orders").Order("note").Pluck("note", &notes).Error)
		assert.Equal(t, []string{"d1", "r150"}, notes, "shard2: customer 1 by the directory, 150 by range")

		var found DirectoryOrder
		require.NoError(t, f.db.Scopes(grant.Role(grant.Writing)).Where("customer_id = ?", 1).Take(&found).Error)
		assert.Equal(t, "d1", found.Note, "a read finds the shard in the directory too")

		unknownShard := grant.ConnectedTo(context.Background(), grant.Connection{Database: "orders", Shard: "shard9"})
		cases := []struct {
			name string
			err  error
			is   error
			says string
		}{
			{"key above every range", f.db.Create(&RangedOrder{CustomerID: 250}).Error, grant.ErrNoShardForKey, "250"},
			{"key below every range", f.db.Where("customer_id = ?", -1).Delete(&RangedOrder{}).Error, grant.ErrNoShardForKey, "-1"},
			{"range key of the wrong type", f.db.Where("customer_id = ?", "abc").Find(&[]RangedOrder{}).Error, grant.ErrKeyType, "abc"},
			{"directory miss", f.db.Create(&DirectoryOrder{CustomerID: 4}).Error, grant.ErrNoShardForKey, "no entry"},
			{"directory names an unknown shard", f.db.Create(&DirectoryOrder{CustomerID: 3}).Error, grant.ErrNoShardForKey, "shard9"},
			{"IN list mixing types, write", f.db.Where("customer_id IN ?", []any{2, "4"}).Delete(&KeyedOrder{}).Error, grant.ErrKeyType, "mix kinds"},
			{"IN list mixing types, read", f.db.Where("customer_id IN ?", []any{"2", 4}).Find(&[]KeyedOrder{}).Error, grant.ErrKeyType, "mix kinds"},
			{"unknown shard in the context", f.db.WithContext(unknownShard).Create(&KeyedOrder{CustomerID: 2}).Error, grant.ErrUnknownShard, "shard9"},
			{"unknown shard in a scope", f.db.Scopes(grant.Shard("shard9")).Delete(&KeyedOrder{}, "1 = 1").Error, grant.ErrUnknownShard, "shard9"},
		}
		for _, tc := range cases {
			require.Error(t, tc.err, tc.name)
			assert.ErrorIs(t, tc.err, tc.is, tc.name)
			assert.Contains(t, tc.err.Error(), tc.says, tc.name)
		}
		assert.Equal(t, [3]int64{2, 1, 2}, f.orderCounts(t), "no refused statement reached a shard")
	})
}

// A DirectoryTable naming a database grant does not know fails the model's
// statements with an error naming it.
type LostDirectoryOrder struct {
	ID         uint `gorm:"primaryKey"`
	CustomerID int64
}

func (LostDirectoryOrder) TableName() string            { return "orders" }
func (LostDirectoryOrder) ConnectsTo() grant.Connection { return grant.Cluster("orders") }
func (LostDirectoryOrder) ShardKey() grant.ShardKey {
	return grant.ShardKey{Column: "customer_id", Strategy: grant.Lookup(grant.LookupConfig{
		Source: grant.DirectoryTable("directory", "customer_shards", "customer_id", "shard"),
	})}
}

func TestDirectoryTableNeedsAKnownDatabase(t *testing.T) {
	f := newShardFixture(t, testdb.SQLite(t))
	err := f.db.Create(&LostDirectoryOrder{CustomerID: 1}).Error
	require.ErrorIs(t, err, grant.ErrInvalidConfig)
	assert.Contains(t, err.Error(), `DirectoryTable directory.customer_shards`)
	assert.ErrorIs(t, f.db.Session(&gorm.Session{}).Create(&LostDirectoryOrder{CustomerID: 2}).Error, grant.ErrInvalidConfig)
	assert.Equal(t, [3]int64{0, 1, 0}, f.orderCounts(t))
}
