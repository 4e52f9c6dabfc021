package grant_test

import (
	"database/sql"
	"fmt"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/testdb"
)

func TestScatterGatherReads(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		f := newShardFixture(t, b)
		var all []string
		for c := int64(1); c <= 10; c++ {
			note := fmt.Sprintf("n%02d", c)
			all = append(all, note)
			require.NoError(t, f.db.Create(&KeyedOrder{CustomerID: c, Note: note}).Error)
		}
		assert.Equal(t, [3]int64{5, 1, 5}, f.orderCounts(t))
		writers := f.db.Scopes(grant.AllShards(), grant.Role(grant.Writing)).Session(&gorm.Session{})

		var orders []KeyedOrder
		require.NoError(t, writers.Find(&orders).Error)
		assert.Equal(t, all, sortedNotes(orders), "Find concatenates every shard")

		require.NoError(t, writers.Order("note desc").Limit(3).Offset(2).Find(&orders).Error)
		assert.Equal(t, []string{"n08", "n07", "n06"}, notesOf(orders), "Order, Limit and Offset as one database would answer")
		if b.Name == testdb.NameMariaDB {
			// GORM writes a bare OFFSET, which MariaDB rejects; grant refuses alike.
			assert.ErrorIs(t, writers.Order("customer_id").Offset(8).Find(&orders).Error, grant.ErrSpansShards)
		} else {
			require.NoError(t, writers.Order("customer_id").Offset(8).Find(&orders).Error)
			assert.Equal(t, []string{"n09", "n10"}, notesOf(orders), "Offset without Limit")
		}

		var n int64
		require.NoError(t, writers.Model(&KeyedOrder{}).Count(&n).Error)
		assert.EqualValues(t, 10, n, "Count sums")
		var first, last KeyedOrder
		require.NoError(t, writers.Order("customer_id desc").First(&first).Error)
		assert.Equal(t, "n10", first.Note)
		require.NoError(t, writers.Order("note").Take(&last).Error)
		assert.Equal(t, "n01", last.Note)
		var notes []string
		require.NoError(t, writers.Model(&KeyedOrder{}).Order("note").Limit(4).Pluck("note", &notes).Error)
		assert.Equal(t, []string{"n01", "n02", "n03", "n04"}, notes)

		// Ordering by a column the query does not select: grant adds the
		// column to each shard's SELECT for the merge and removes it after.
		var narrow []KeyedOrder
		require.NoError(t, writers.Select("note").Order("customer_id desc").Limit(3).Find(&narrow).Error)
		assert.Equal(t, []string{"n10", "n09", "n08"}, notesOf(narrow), "order by an unselected column")
		for _, o := range narrow {
			assert.Zero(t, o.CustomerID, "the added order column is not handed to GORM")
		}
		require.NoError(t, writers.Model(&KeyedOrder{}).Order(clause.OrderByColumn{Column: clause.Column{Name: "customer_id"}, Desc: true}).Limit(2).Pluck("note", &notes).Error)
		assert.Equal(t, []string{"n10", "n09"}, notes, "Pluck ordered by another column")
		var firstByKey KeyedOrder
		require.NoError(t, writers.Select("note").Order("customer_id").Take(&firstByKey).Error)
		assert.Equal(t, "n01", firstByKey.Note)

		// Limit(0) answers no rows, as one database would.
		require.NoError(t, writers.Order("note").Limit(0).Find(&orders).Error)
		assert.Empty(t, orders, "Limit(0)")
		require.NoError(t, writers.Limit(0).Offset(3).Find(&orders).Error)
		assert.Empty(t, orders, "Limit(0) with Offset")
		require.NoError(t, writers.Model(&KeyedOrder{}).Limit(0).Pluck("note", &notes).Error)
		assert.Empty(t, notes, "Pluck with Limit(0)")

		require.NoError(t, f.db.Scopes(grant.Role(grant.Writing)).Where("customer_id IN ?", []int64{1, 2, 3, 4}).Order("note").Find(&orders).Error)
		assert.Equal(t, []string{"n01", "n02", "n03", "n04"}, notesOf(orders), "IN over two shards runs on exactly those")

		require.NoError(t, f.db.Scopes(grant.AllShards()).Model(&KeyedOrder{}).Count(&n).Error)
		assert.EqualValues(t, 6, n, "reads use each shard's replica: shard1's stand-in has 1 row, shard2 (no replica) its 5")
	})
}

func TestScatterGatherRefusals(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		f := newShardFixture(t, b)
		require.NoError(t, f.db.Create(&KeyedOrder{CustomerID: 1, Note: "x"}).Error)
		everywhere := f.db.Scopes(grant.AllShards()).Session(&gorm.Session{})
		cases := map[string]error{
			"create":                everywhere.Create(&KeyedOrder{CustomerID: 3}).Error,
			"key update":            everywhere.Model(&KeyedOrder{}).Where("1 = 1").Update("customer_id", 5).Error,
			"raw":                   everywhere.Model(&KeyedOrder{}).Raw("SELECT * FROM orders").Find(&[]KeyedOrder{}).Error,
			"raw without a model":   everywhere.Raw("SELECT * FROM orders").Scan(&[]KeyedOrder{}).Error,
			"window function":       everywhere.Model(&KeyedOrder{}).Select("note, COUNT(*) OVER () AS total").Find(&[]map[string]any{}).Error,
			"rows of a window":      rowsErr(everywhere.Model(&KeyedOrder{}).Select("ROW_NUMBER() OVER (ORDER BY id) AS n").Rows()),
			"subquery of every row": everywhere.Model(&KeyedOrder{}).Where("customer_id > (SELECT AVG(customer_id) FROM orders)").Find(&[]KeyedOrder{}).Error,
			"locking read":          everywhere.Set("x", 1).Clauses(lockingForUpdate()).Find(&[]KeyedOrder{}).Error,
			"in a transaction": f.db.Transaction(func(tx *gorm.DB) error {
				return tx.Scopes(grant.AllShards()).Find(&[]KeyedOrder{}).Error
			}),
		}
		for name, err := range cases {
			require.Error(t, err, name)
			if name == "in a transaction" {
				assert.ErrorIs(t, err, grant.ErrCrossShardTransaction, name)
				continue
			}
			assert.ErrorIs(t, err, grant.ErrSpansShards, name)
		}
		// A column no shard has fails on the shards, as on one database.
		err := everywhere.Order("shipped_at").Find(&[]KeyedOrder{}).Error
		require.Error(t, err)
		assert.NotErrorIs(t, err, grant.ErrSpansShards)
		var notes []string
		require.NoError(t, f.shard2.Open(t).Model(&KeyedOrder{}).Pluck("note", &notes).Error)
		assert.Equal(t, []string{"x"}, notes, "nothing was changed on any shard")
		assert.Equal(t, [3]int64{0, 1, 1}, f.orderCounts(t))
	})
}

type noteTotals struct {
	Note        string
	Total, N    int64
	Lowest, Top int64
}

func TestScatterGroupAndAggregates(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		f := newShardFixture(t, b)
		for c, note := range map[int64]string{1: "a", 2: "a", 3: "b", 4: "b", 5: "a", 6: "b"} {
			require.NoError(t, f.db.Create(&KeyedOrder{CustomerID: c, Note: note}).Error)
		}
		writers := f.db.Scopes(grant.AllShards(), grant.Role(grant.Writing)).Session(&gorm.Session{})
		query := "note, SUM(customer_id) AS total, COUNT(*) AS n, MIN(customer_id) AS lowest, MAX(customer_id) AS top"
		var got []noteTotals
		require.NoError(t, writers.Model(&KeyedOrder{}).Select(query).Group("note").Order("note").Find(&got).Error)
		assert.Equal(t, []noteTotals{{"a", 8, 3, 1, 5}, {"b", 13, 3, 3, 6}}, got, "groups merged across shards")

		require.NoError(t, writers.Model(&KeyedOrder{}).Select(query).Group("note").Order("total desc").Limit(1).Find(&got).Error)
		assert.Equal(t, []noteTotals{{"b", 13, 3, 3, 6}}, got, "a limit by an aggregate order is cut after the merge")

		var totals []int64
		require.NoError(t, writers.Model(&KeyedOrder{}).Select("SUM(customer_id) AS total").Group("note").Order("note desc").Pluck("total", &totals).Error)
		assert.Equal(t, []int64{13, 8}, totals, "groups merge by a group column the query does not select")
		var lone []noteTotals
		require.NoError(t, writers.Model(&KeyedOrder{}).Select("SUM(customer_id) AS total").Group("note").Order("total").Limit(0).Find(&lone).Error)
		assert.Empty(t, lone, "grouped Limit(0)")

		var overall []noteTotals
		require.NoError(t, writers.Model(&KeyedOrder{}).Select("SUM(customer_id) AS total, COUNT(*) AS n").Find(&overall).Error)
		require.Len(t, overall, 1)
		assert.Equal(t, int64(21), overall[0].Total)
		assert.Equal(t, int64(6), overall[0].N)
	})
}

func TestScatterUpdateAndDeleteOnEveryShard(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		f := newShardFixture(t, b)
		for c := int64(1); c <= 6; c++ {
			require.NoError(t, f.db.Create(&KeyedOrder{CustomerID: c, Note: "new"}).Error)
		}
		everywhere := f.db.Scopes(grant.AllShards()).Session(&gorm.Session{})
		res := everywhere.Model(&KeyedOrder{}).Where("customer_id > ?", 2).Update("note", "bulk")
		require.NoError(t, res.Error)
		assert.EqualValues(t, 4, res.RowsAffected, "RowsAffected summed over the shards")
		var bulk int64
		for _, shard := range []*testdb.Database{f.shard1, f.shard2} {
			var n int64
			require.NoError(t, shard.Open(t).Model(&KeyedOrder{}).Where("note = ?", "bulk").Count(&n).Error)
			assert.EqualValues(t, 2, n, "each shard updated its own rows")
			bulk += n
		}
		assert.EqualValues(t, 4, bulk)
		res = everywhere.Where("note = ?", "bulk").Delete(&KeyedOrder{})
		require.NoError(t, res.Error)
		assert.EqualValues(t, 4, res.RowsAffected)
		assert.Equal(t, [3]int64{1, 1, 1}, f.orderCounts(t))
		require.ErrorIs(t, everywhere.Model(&KeyedOrder{}).Update("note", "x").Error, gorm.ErrMissingWhereClause, "GORM's global-update guard still applies")
	})
}

func notesOf(orders []KeyedOrder) []string {
	notes := make([]string, len(orders))
	for i, o := range orders {
		notes[i] = o.Note
	}
	return notes
}

func sortedNotes(orders []KeyedOrder) []string {
	notes := notesOf(orders)
	sort.Strings(notes)
	return notes
}

func lockingForUpdate() clause.Locking { return clause.Locking{Strength: "UPDATE"} }

func rowsErr(rows *sql.Rows, err error) error {
	if rows != nil {
		_ = rows.Close()
	}
	return err
}

func TestScatterFailingShard(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		f := newShardFixture(t, b)
		for c := int64(1); c <= 4; c++ {
			require.NoError(t, f.db.Create(&KeyedOrder{CustomerID: c, Note: "n"}).Error)
		}
		require.NoError(t, f.shard2.Open(t).Migrator().DropTable("orders"))
		writers := f.db.Scopes(grant.AllShards(), grant.Role(grant.Writing)).Session(&gorm.Session{})

		err := writers.Find(&[]KeyedOrder{}).Error
		require.Error(t, err)
		assert.Contains(t, err.Error(), "orders/shard2", "the error names the failing shard")

		var result grant.ScatterResult
		var orders []KeyedOrder
		require.NoError(t, writers.Scopes(grant.PartialResults(&result)).Order("customer_id").Find(&orders).Error)
		assert.Equal(t, []int64{2, 4}, []int64{orders[0].CustomerID, orders[1].CustomerID}, "shard1's rows")
		assert.True(t, result.Partial(), "flagged as partial")
		assert.Contains(t, result.Failures(), "orders/shard2")
	})
}
