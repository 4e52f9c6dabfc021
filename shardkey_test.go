package grant_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/testdb"
)

// KeyedOrder is Order routed by its data: customer_id modulo 2 shards, so
// even customers live on shard1 and odd ones on shard2.
type KeyedOrder struct {
	ID         uint   `gorm:"primaryKey"`
	CustomerID int64  `gorm:"index"`
	Note       string `gorm:"size:100"`
}

func (KeyedOrder) TableName() string            { return "orders" }
func (KeyedOrder) ConnectsTo() grant.Connection { return grant.Cluster("orders") }
func (KeyedOrder) ShardKey() grant.ShardKey {
	return grant.ShardKey{Column: "customer_id", Strategy: grant.Modulo()}
}

// MisKeyedOrder names a column it does not have.
type MisKeyedOrder struct {
	ID uint `gorm:"primaryKey"`
}

func (MisKeyedOrder) TableName() string            { return "orders" }
func (MisKeyedOrder) ConnectsTo() grant.Connection { return grant.Cluster("orders") }
func (MisKeyedOrder) ShardKey() grant.ShardKey {
	return grant.ShardKey{Column: "customer_idx", Strategy: grant.Modulo()}
}

// UnclusteredKey declares a shard key without living in a cluster.
type UnclusteredKey struct {
	ID         uint `gorm:"primaryKey"`
	CustomerID int64
}

func (UnclusteredKey) ShardKey() grant.ShardKey {
	return grant.ShardKey{Column: "customer_id", Strategy: grant.Modulo()}
}

func TestShardKeyRoutesCreatesAndConditions(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		f := newShardFixture(t, b)
		require.NoError(t, f.db.Create(&KeyedOrder{CustomerID: 2, Note: "even"}).Error)
		require.NoError(t, f.db.Create(&KeyedOrder{CustomerID: 3, Note: "odd"}).Error)
		require.NoError(t, f.db.Create(&[]KeyedOrder{{CustomerID: 5}, {CustomerID: 7}}).Error, "a batch on one shard")
		assert.Equal(t, [3]int64{1, 1, 3}, f.orderCounts(t), "each row on its key's shard")

		var found []KeyedOrder
		require.NoError(t, f.db.Where("customer_id = ?", 3).Find(&found).Error)
		require.Len(t, found, 1)
		assert.Equal(t, "odd", found[0].Note)
		require.NoError(t, f.db.Where("customer_id IN ?", []int64{5, 7}).Find(&found).Error)
		assert.Len(t, found, 2, "IN within one shard")
		require.NoError(t, f.db.Where(&KeyedOrder{CustomerID: 3}).Find(&found).Error)
		assert.Len(t, found, 1, "struct condition")
		require.NoError(t, f.db.Where(map[string]any{"customer_id": 3}).Find(&found).Error)
		assert.Len(t, found, 1, "map condition")
		require.NoError(t, f.db.Where("customer_id = ?", 2).Find(&found).Error)
		assert.Empty(t, found, "shard1 reads its replica stand-in, which lacks the writer's row")
		require.NoError(t, f.db.Where("note <> ?", "x").Where("customer_id = ?", 7).Find(&found).Error)
		assert.Len(t, found, 1, "the key as one of several AND conditions")

		require.NoError(t, f.db.Model(&KeyedOrder{}).Where("customer_id = ?", 3).Update("note", "changed").Error)
		var changed int64
		require.NoError(t, f.shard2.Open(t).Model(&KeyedOrder{}).Where("note = ?", "changed").Count(&changed).Error)
		assert.EqualValues(t, 1, changed, "update ran on shard2")
		require.NoError(t, f.db.Where("customer_id IN (?, ?)", 5, 7).Delete(&KeyedOrder{}).Error)
		assert.Equal(t, [3]int64{1, 1, 1}, f.orderCounts(t), "delete ran on shard2 only")

		err := f.db.Scopes(grant.Shard("shard1")).Create(&KeyedOrder{CustomerID: 9, Note: "pinned"}).Error
		require.ErrorIs(t, err, grant.ErrShardMismatch, "a named shard never overrides the key")
		assert.Contains(t, err.Error(), `"shard1" is named, but row 0 has "customer_id" = 9 belongs on shard "shard2"`)
		assert.Equal(t, [3]int64{1, 1, 1}, f.orderCounts(t), "nothing was written")
		require.NoError(t, f.db.Scopes(grant.Shard("shard2")).Create(&KeyedOrder{CustomerID: 9, Note: "agrees"}).Error)
		assert.Equal(t, [3]int64{1, 1, 2}, f.orderCounts(t), "a named shard that agrees with the key")
	})
}

func TestShardKeyBadInputWritesNothing(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		f := newShardFixture(t, b)
		cases := []struct {
			name string
			err  error
			is   error
			says string
		}{
			{"batch across shards in a transaction", f.db.Transaction(func(tx *gorm.DB) error {
				return tx.Create(&[]KeyedOrder{{CustomerID: 1}, {CustomerID: 2}}).Error
			}), grant.ErrCrossShardTransaction, "a transaction lives on one shard"},
			{"a delete with IN across shards", f.db.Where("customer_id IN ?", []int64{1, 2}).Delete(&KeyedOrder{}).Error, grant.ErrSpansShards, "shard1, shard2"},
			{"no key in WHERE", f.db.Where("note = ?", "x").Delete(&KeyedOrder{}).Error, grant.ErrShardKeyMissing, `model KeyedOrder has shard key "customer_id"`},
			{"update without key", f.db.Model(&KeyedOrder{}).Where("id = ?", 1).Update("note", "x").Error, grant.ErrShardKeyMissing, "neither sets it nor filters on it"},
			{"OR is not a key", f.db.Where("customer_id = ?", 1).Or("customer_id = ?", 3).Find(&[]KeyedOrder{}).Error, grant.ErrShardKeyMissing, "customer_id"},
			{"negative key", f.db.Create(&KeyedOrder{CustomerID: -4}).Error, grant.ErrNoShardForKey, "negative key -4"},
			{"wrong key type", f.db.Where("customer_id = ?", "abc").Find(&[]KeyedOrder{}).Error, grant.ErrKeyType, "modulo"},
			{"NULL key", f.db.Where("customer_id = ?", nil).Find(&[]KeyedOrder{}).Error, grant.ErrNullKey, "customer_id"},
			{"key column missing", f.db.Scopes(grant.Shard("shard1")).Find(&[]MisKeyedOrder{}).Error, grant.ErrInvalidConfig, `shard key column "customer_idx" is not a column of the model (columns: id)`},
			{"key outside a cluster", f.db.Create(&UnclusteredKey{CustomerID: 1}).Error, grant.ErrInvalidConfig, "declares a shard key but does not live in a cluster"},
			{"two shards in a transaction", f.db.Transaction(func(tx *gorm.DB) error {
				require.NoError(t, tx.Create(&KeyedOrder{CustomerID: 2}).Error)
				return tx.Create(&KeyedOrder{CustomerID: 3}).Error
			}), grant.ErrCrossShardTransaction, `the transaction is on shard "orders/shard1"`},
		}
		for _, tc := range cases {
			require.Error(t, tc.err, tc.name)
			assert.ErrorIs(t, tc.err, tc.is, tc.name)
			assert.Contains(t, tc.err.Error(), tc.says, tc.name)
		}
		assert.Equal(t, [3]int64{0, 1, 0}, f.orderCounts(t), "nothing reached any shard")
	})
}

func TestShardKeyChangeAndModelValues(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		f := newShardFixture(t, b)
		order := KeyedOrder{CustomerID: 3, Note: "odd"}
		require.NoError(t, f.db.Create(&order).Error)

		err := f.db.Model(&KeyedOrder{}).Where("customer_id = ?", 3).Update("customer_id", 4).Error
		require.ErrorIs(t, err, grant.ErrShardKeyChange)
		assert.Contains(t, err.Error(), `setting "customer_id" to 4 would move the row from shard "shard2" to shard "shard1"`)
		err = f.db.Model(&KeyedOrder{}).Where("customer_id = ?", 3).Updates(map[string]any{"customer_id": 6, "note": "x"}).Error
		require.ErrorIs(t, err, grant.ErrShardKeyChange)
		assert.Equal(t, [3]int64{0, 1, 1}, f.orderCounts(t))

		require.NoError(t, f.db.Model(&KeyedOrder{}).Where("customer_id = ?", 3).Update("customer_id", 5).Error, "a new key on the same shard is fine")
		require.NoError(t, f.db.Model(&order).Update("note", "by model").Error, "the model value's key routes the update")
		var got KeyedOrder
		require.NoError(t, f.shard2.Open(t).First(&got, order.ID).Error)
		assert.Equal(t, int64(5), got.CustomerID)
		assert.Equal(t, "by model", got.Note)

		got.Note = "saved"
		require.NoError(t, f.db.Save(&got).Error, "Save routes by the struct's key")
		require.NoError(t, f.db.Delete(&got).Error, "Delete of a model value routes by its key")
		assert.Equal(t, [3]int64{0, 1, 0}, f.orderCounts(t))
	})
}

// BrowsableOrder lets reads without a key scatter to every shard.
type BrowsableOrder struct {
	ID         uint   `gorm:"primaryKey"`
	CustomerID int64  `gorm:"index"`
	Note       string `gorm:"size:100"`
}

func (BrowsableOrder) TableName() string            { return "orders" }
func (BrowsableOrder) ConnectsTo() grant.Connection { return grant.Cluster("orders") }
func (BrowsableOrder) ShardKey() grant.ShardKey {
	return grant.ShardKey{Column: "customer_id", Strategy: grant.Modulo(), ScatterReads: true}
}

func TestScatterReadsOptIn(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		f := newShardFixture(t, b)
		for c := int64(1); c <= 4; c++ {
			require.NoError(t, f.db.Create(&BrowsableOrder{CustomerID: c, Note: "n"}).Error)
		}
		var n int64
		require.NoError(t, f.db.Scopes(grant.Role(grant.Writing)).Model(&BrowsableOrder{}).Where("note = ?", "n").Count(&n).Error)
		assert.EqualValues(t, 4, n, "a keyless read runs on every shard")
		err := f.db.Where("note = ?", "n").Delete(&BrowsableOrder{}).Error
		require.ErrorIs(t, err, grant.ErrShardKeyMissing, "a keyless write still fails")
		require.ErrorIs(t, f.db.Where("note = ?", "n").Find(&[]KeyedOrder{}).Error, grant.ErrShardKeyMissing, "models that did not opt in still fail")
		assert.Equal(t, [3]int64{2, 1, 2}, f.orderCounts(t))
	})
}

var orderIDs = func() *grant.IDGenerator {
	g, err := grant.NewIDGenerator(grant.DefaultIDLayout(), 0)
	if err != nil {
		panic(err)
	}
	return g
}()

// IDOrder's primary keys encode their shard, so lookups by ID route
// without the customer.
type IDOrder struct {
	ID         int64  `gorm:"primaryKey;autoIncrement:false"`
	CustomerID int64  `gorm:"index"`
	Note       string `gorm:"size:100"`
}

func (IDOrder) TableName() string            { return "orders" }
func (IDOrder) ConnectsTo() grant.Connection { return grant.Cluster("orders") }
func (IDOrder) ShardKey() grant.ShardKey {
	return grant.ShardKey{Column: "customer_id", Strategy: grant.Modulo(), IDs: orderIDs}
}

func TestIDsEncodeTheShard(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		f := newShardFixture(t, b)
		odd, even := IDOrder{CustomerID: 3, Note: "odd"}, IDOrder{CustomerID: 4, Note: "even"}
		require.NoError(t, f.db.Create(&odd).Error)
		require.NoError(t, f.db.Create(&even).Error)
		require.NotZero(t, odd.ID)
		shard, ok := orderIDs.Shard(odd.ID)
		assert.True(t, ok)
		assert.Equal(t, 1, shard, "customer 3's row is on shard2 (index 1), and its ID says so")

		var got IDOrder
		require.NoError(t, f.db.First(&got, odd.ID).Error, "First by ID routes without the key")
		assert.Equal(t, "odd", got.Note)
		var both []IDOrder
		require.NoError(t, f.db.Scopes(grant.Role(grant.Writing)).Where("id IN ?", []int64{odd.ID, even.ID}).Order("note").Find(&both).Error)
		assert.Equal(t, []string{"even", "odd"}, []string{both[0].Note, both[1].Note}, "IDs on two shards scatter")
		require.NoError(t, f.db.Delete(&IDOrder{}, odd.ID).Error, "delete by ID")
		assert.Equal(t, [3]int64{1, 1, 0}, f.orderCounts(t))

		var none IDOrder
		err := f.db.First(&none, int64(1)<<22|int64(5)).Error // shard bits (the low 10) say index 5
		require.ErrorIs(t, err, grant.ErrNoShardForKey)
		assert.Contains(t, err.Error(), `encodes no shard of cluster "orders"`)
	})
}

// ParentOrder has co-located items: both live by customer_id.
type ParentOrder struct {
	ID         uint  `gorm:"primaryKey"`
	CustomerID int64 `gorm:"index"`
	Note       string
	Items      []OrderItem `gorm:"foreignKey:OrderID"`
}

func (ParentOrder) TableName() string            { return "orders" }
func (ParentOrder) ConnectsTo() grant.Connection { return grant.Cluster("orders") }
func (ParentOrder) ShardKey() grant.ShardKey {
	return grant.ShardKey{Column: "customer_id", Strategy: grant.Modulo()}
}

type OrderItem struct {
	ID         uint `gorm:"primaryKey"`
	OrderID    uint
	CustomerID int64
	Name       string `gorm:"size:50"`
}

func (OrderItem) ConnectsTo() grant.Connection { return grant.Cluster("orders") }
func (OrderItem) ShardKey() grant.ShardKey {
	return grant.ShardKey{Column: "customer_id", Strategy: grant.Modulo()}
}

func TestPreloadOfColocatedChildrenFollowsTheParent(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		f := newShardFixture(t, b)
		require.NoError(t, grant.AutoMigrate(f.db, &OrderItem{}))
		for _, c := range []int64{3, 4} {
			order := KeyedOrder{CustomerID: c, Note: fmt.Sprintf("order of %d", c)}
			require.NoError(t, f.db.Create(&order).Error)
			require.NoError(t, f.db.Create(&[]OrderItem{{OrderID: order.ID, CustomerID: c, Name: "a"}, {OrderID: order.ID, CustomerID: c, Name: "b"}}).Error)
		}
		var orders []ParentOrder
		require.NoError(t, f.db.Scopes(grant.Role(grant.Writing)).Where("customer_id = ?", 3).Preload("Items").Find(&orders).Error)
		require.Len(t, orders, 1)
		assert.Len(t, orders[0].Items, 2, "the items came from the parent's shard")
		for _, it := range orders[0].Items {
			assert.Equal(t, int64(3), it.CustomerID, "never another customer's items with the same order id")
		}
		require.ErrorIs(t, f.db.Where("name = ?", "a").Find(&[]OrderItem{}).Error, grant.ErrShardKeyMissing, "outside a parent, a keyless read still fails")
	})
}

func TestBatchCreateSplitsPerShard(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		f := newShardFixture(t, b)
		rows := []KeyedOrder{{CustomerID: 1, Note: "a"}, {CustomerID: 2, Note: "b"}, {CustomerID: 3, Note: "c"}, {CustomerID: 4, Note: "d"}}
		res := f.db.Create(&rows)
		require.NoError(t, res.Error)
		assert.EqualValues(t, 4, res.RowsAffected)
		assert.Equal(t, [3]int64{2, 1, 2}, f.orderCounts(t), "each row on its key's shard")
		for _, r := range rows {
			assert.NotZero(t, r.ID, "generated IDs came back into the caller's rows")
		}
		var onShard1 []KeyedOrder
		require.NoError(t, f.shard1.Open(t).Order("customer_id").Find(&onShard1).Error)
		assert.Equal(t, []string{"b", "d"}, notesOf(onShard1))

		pointers := []*IDOrder{{CustomerID: 5}, {CustomerID: 6}}
		require.NoError(t, f.db.Create(&pointers).Error)
		for _, p := range pointers {
			shard, _ := orderIDs.Shard(p.ID)
			assert.Equal(t, int(p.CustomerID%2), shard, "IDs encode each row's own shard (modulo: customer 6 → shard1, index 0)")
		}
	})
}

func TestBatchCreateSplitReportsWhatCommitted(t *testing.T) {
	t.Parallel()
	testdb.Servers(t, func(t *testing.T, b *testdb.Backend) {
		f := newShardFixture(t, b)
		// A unique index on shard2 only: its part fails, shard1's commits.
		require.NoError(t, f.shard2.Open(t).Exec("CREATE UNIQUE INDEX one_note ON orders (note)").Error)
		rows := []KeyedOrder{{CustomerID: 2, Note: "x"}, {CustomerID: 1, Note: "dup"}, {CustomerID: 3, Note: "dup"}}
		err := f.db.Create(&rows).Error
		var partial *grant.PartialWriteError
		require.ErrorAs(t, err, &partial)
		assert.Equal(t, []string{"shard1"}, partial.Committed)
		assert.Contains(t, partial.Failed, "shard2")
		assert.Contains(t, err.Error(), `committed on [shard1]; rolled back on shard2`)
		assert.Equal(t, [3]int64{1, 1, 0}, f.orderCounts(t), "shard1's part is there, shard2's part rolled back whole")
	})
}
