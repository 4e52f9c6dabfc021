package grant_test

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/testdb"
	"github.com/grant-go/grant/sharding/scatter"
)

// The reproductions of issue 10, each answered by grant across shards and
// by one database holding every row ("union"); they must agree, or grant
// must refuse before any shard is contacted.

// MergeItem lives in cluster "merge", by customer_id modulo the shards.
type MergeItem struct {
	ID         int64 `gorm:"primaryKey;autoIncrement:false"`
	CustomerID int64
	Grp        int64
	Score      *int64
	Price      int64
	Name       string `gorm:"size:40"`
	Tag        string `gorm:"size:20"`
}

func (MergeItem) TableName() string            { return "merge_items" }
func (MergeItem) ConnectsTo() grant.Connection { return grant.Cluster("merge") }
func (MergeItem) ShardKey() grant.ShardKey {
	return grant.ShardKey{Column: "customer_id", Strategy: grant.Modulo()}
}

// MergePayment is co-located with MergeItem: same cluster, same key.
type MergePayment struct {
	ID         int64 `gorm:"primaryKey;autoIncrement:false"`
	CustomerID int64
	Amount     int64
}

func (MergePayment) TableName() string            { return "merge_payments" }
func (MergePayment) ConnectsTo() grant.Connection { return grant.Cluster("merge") }
func (MergePayment) ShardKey() grant.ShardKey {
	return grant.ShardKey{Column: "customer_id", Strategy: grant.Modulo()}
}

type mergeFixture struct {
	db, union *gorm.DB
	shards    []*gorm.DB // each shard's database, opened directly
	backend   *testdb.Backend
}

var mergeNames = []string{"Alice", "alice", "ALICE", "bob", "Bob", "carol", "Dave", "dave", "eve", "Zed"}

func newMergeFixture(t *testing.T, b *testdb.Backend, opts ...func(*grant.Config)) *mergeFixture {
	t.Helper()
	n := map[string]int{testdb.NamePostgres: 4, testdb.NameMariaDB: 2}[b.Name]
	if n == 0 {
		n = 3
	}
	var shards []grant.ShardConfig
	var direct []*gorm.DB
	for i := range n {
		d := b.CreateDatabase(t, fmt.Sprintf("merge_s%d", i))
		direct = append(direct, d.Open(t))
		shards = append(shards, grant.ShardConfig{Name: fmt.Sprintf("s%d", i), DatabaseConfig: grant.DatabaseConfig{Writer: &grant.NodeConfig{Dialector: d.Dialector()}}})
	}
	primary := b.CreateDatabase(t, "merge_primary")
	db, err := gorm.Open(primary.Dialector(), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err)
	cfg := grant.Config{Clusters: map[string]grant.ClusterConfig{"merge": {Shards: shards}}}
	for _, opt := range opts {
		opt(&cfg)
	}
	require.NoError(t, db.Use(grant.New(cfg)))
	t.Cleanup(func() { exClose(db) })
	require.NoError(t, grant.AutoMigrate(db, &MergeItem{}, &MergePayment{}))
	union := b.CreateDatabase(t, "merge_union").Open(t)
	require.NoError(t, union.Table("merge_items").AutoMigrate(&MergeItem{}))
	require.NoError(t, union.Table("merge_payments").AutoMigrate(&MergePayment{}))

	var items []MergeItem
	var payments []MergePayment
	for i := int64(1); i <= 240; i++ {
		score := (i*37)%201 - 100
		item := MergeItem{ID: i, CustomerID: i % 23, Grp: i % 6, Score: &score, Price: (i * 13) % 50, Name: mergeNames[i%int64(len(mergeNames))], Tag: []string{"red", "Red", "blue", "green"}[i%4]}
		if i%17 == 0 {
			item.Score = nil
		}
		items = append(items, item)
		if i%3 == 0 {
			payments = append(payments, MergePayment{ID: i, CustomerID: i % 23, Amount: i * 10})
		}
	}
	require.NoError(t, db.Create(&items).Error)
	require.NoError(t, db.Create(&payments).Error)
	require.NoError(t, union.Table("merge_items").Create(&items).Error)
	require.NoError(t, union.Table("merge_payments").Create(&payments).Error)
	return &mergeFixture{db: db, union: union, shards: direct, backend: b}
}

// both runs the same chain through grant (every shard) and on the union
// database, scanning rows into maps.
func (f *mergeFixture) both(t *testing.T, chain func(db *gorm.DB) *gorm.DB) (got, want []map[string]any, err error) {
	t.Helper()
	require.NoError(t, chain(f.union.Model(&MergeItem{})).Find(&want).Error)
	err = chain(f.db.Scopes(grant.AllShards()).Model(&MergeItem{})).Find(&got).Error
	return got, want, err
}

func TestScatterMergesLikeOneDatabase(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		f := newMergeFixture(t, b)
		exact := map[string]func(*gorm.DB) *gorm.DB{
			"HAVING COUNT(*) > ?": func(db *gorm.DB) *gorm.DB {
				return db.Select("grp, COUNT(*) AS n").Group("grp").Having("COUNT(*) > ?", 39).Order("grp")
			},
			"HAVING SUM < 0": func(db *gorm.DB) *gorm.DB {
				return db.Select("grp, SUM(score) AS s").Group("grp").Having("SUM(score) < 0").Order("grp")
			},
			"HAVING with AND, OR, NOT and arithmetic": func(db *gorm.DB) *gorm.DB {
				return db.Select("grp, COUNT(*) AS n, MAX(price) AS hi").Group("grp").
					Having("(COUNT(*) * 2 > ? AND NOT MAX(price) < 40) OR grp = ?", 60, 5).Order("grp")
			},
			"window sum or AVG workaround": func(db *gorm.DB) *gorm.DB {
				return db.Select("SUM(score) / COUNT(score) AS s")
			},
			"MAX - MIN": func(db *gorm.DB) *gorm.DB { return db.Select("MAX(score) - MIN(score) AS d") },
			"SUM + 1 with an alias": func(db *gorm.DB) *gorm.DB {
				return db.Select("grp, SUM(score) + 1 AS s").Group("grp").Order("grp")
			},
			"ORDER BY position": func(db *gorm.DB) *gorm.DB { return db.Select("id, price").Order("2 DESC").Order("1").Limit(10) },
			"ORDER BY an alias": func(db *gorm.DB) *gorm.DB {
				return db.Select("id, price + 1 AS p1").Order("p1 desc").Order("id").Limit(7)
			},
			"GROUP BY a CASE alias": func(db *gorm.DB) *gorm.DB {
				return db.Select("CASE WHEN score > 0 THEN 'pos' WHEN score < 0 THEN 'neg' ELSE 'none' END AS bucket, COUNT(*) AS n").
					Group("bucket").Order("bucket")
			},
			"COUNT(DISTINCT)": func(db *gorm.DB) *gorm.DB {
				return db.Select("grp, COUNT(DISTINCT price) AS prices, COUNT(*) AS n").Group("grp").Order("grp")
			},
			"AVG": func(db *gorm.DB) *gorm.DB { return db.Select("grp, AVG(price) AS mean").Group("grp").Order("grp") },
			"DISTINCT over groups": func(db *gorm.DB) *gorm.DB {
				return db.Select("DISTINCT COUNT(*) AS n, MIN(grp) % 2 AS odd").Group("grp").Order("n, odd")
			},
			"DISTINCT with Limit": func(db *gorm.DB) *gorm.DB {
				return db.Distinct("grp", "price").Order("price desc, grp").Limit(5).Offset(3)
			},
			"co-located subquery": func(db *gorm.DB) *gorm.DB {
				return db.Select("id").Where("customer_id IN (SELECT customer_id FROM merge_payments WHERE amount > ?)", 1500).Order("id")
			},
		}
		for name, chain := range exact {
			got, want, err := f.both(t, chain)
			if assert.NoError(t, err, name) {
				assert.Equal(t, want, got, name)
			}
		}

		// Text ordered, grouped and compared under the column's collation:
		// equal names may come back as any of their spellings, so compare
		// in lower case (the names differ only by ASCII case).
		for name, chain := range map[string]func(*gorm.DB) *gorm.DB{
			"DISTINCT tag": func(db *gorm.DB) *gorm.DB { return db.Select("DISTINCT tag").Order("tag") },
			"GROUP BY name": func(db *gorm.DB) *gorm.DB {
				return db.Select("name, COUNT(*) AS n").Group("name").Order("name")
			},
			"MIN and MAX of text": func(db *gorm.DB) *gorm.DB { return db.Select("MIN(name) AS lo, MAX(name) AS hi") },
			"ORDER BY name, id":   func(db *gorm.DB) *gorm.DB { return db.Select("id, name").Order("name, id") },
		} {
			got, want, err := f.both(t, chain)
			if assert.NoError(t, err, name) {
				assert.Equal(t, lowered(want), lowered(got), name)
			}
		}
	})
}

// lowered prints rows with text in lower case.
func lowered(rows []map[string]any) []string {
	out := make([]string, len(rows))
	for i, row := range rows {
		keys := make([]string, 0, len(row))
		for k := range row {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for _, k := range keys {
			v := row[k]
			if bs, ok := v.([]byte); ok {
				v = string(bs)
			}
			fmt.Fprintf(&b, "%s=%v ", k, v)
		}
		out[i] = strings.ToLower(b.String())
	}
	return out
}

func TestScatterScanRowAndRows(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		f := newMergeFixture(t, b)
		everywhere := f.db.Scopes(grant.AllShards()).Model(&MergeItem{}).Session(&gorm.Session{})

		type total struct {
			Grp int64
			N   int64
		}
		var got, want []total
		require.NoError(t, everywhere.Select("grp, COUNT(*) AS n").Group("grp").Order("grp").Scan(&got).Error)
		require.NoError(t, f.union.Model(&MergeItem{}).Select("grp, COUNT(*) AS n").Group("grp").Order("grp").Scan(&want).Error)
		assert.Equal(t, want, got, "Scan")

		var n, wantN int64
		require.NoError(t, everywhere.Select("COUNT(*)").Row().Scan(&n))
		require.NoError(t, f.union.Model(&MergeItem{}).Select("COUNT(*)").Row().Scan(&wantN))
		assert.Equal(t, wantN, n, "Row")

		rows, err := everywhere.Select("id").Order("id desc").Rows()
		require.NoError(t, err)
		var ids []int64
		for rows.Next() {
			var id int64
			require.NoError(t, rows.Scan(&id))
			ids = append(ids, id)
		}
		require.NoError(t, rows.Close())
		require.Len(t, ids, 240)
		assert.Equal(t, int64(240), ids[0])
		assert.Equal(t, int64(1), ids[239], "Rows streams in order")

		// A refused Row carries its error instead of being nil.
		var x int64
		err = everywhere.Select("COUNT(*) OVER ()").Row().Scan(&x)
		assert.ErrorIs(t, err, grant.ErrSpansShards)
	})
}

func TestScatterRefusesWhatItCannotMerge(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		f := newMergeFixture(t, b)
		everywhere := f.db.Scopes(grant.AllShards()).Model(&MergeItem{}).Session(&gorm.Session{})
		sub := f.db.Model(&MergePayment{}).Select("customer_id").Where("amount > ?", 2000)
		var rows []map[string]any
		cases := []struct {
			name   string
			err    error
			reason scatter.Reason
		}{
			{"window function", everywhere.Select("id, COUNT(*) OVER () AS total").Order("id").Limit(3).Find(&rows).Error, scatter.ReasonWindow},
			{"subquery over every row", everywhere.Where("score > (SELECT AVG(score) FROM merge_items)").Find(&rows).Error, scatter.ReasonSubquery},
			{"IN on another column", everywhere.Where("grp IN (SELECT customer_id FROM merge_payments)").Find(&rows).Error, scatter.ReasonSubquery},
			{"NOT IN", everywhere.Where("customer_id NOT IN (?)", sub).Find(&rows).Error, scatter.ReasonSubquery},
			{"string aggregate", everywhere.Select("STRING_AGG(name, ',') AS names").Find(&rows).Error, scatter.ReasonAggregate},
			{"unknown function", everywhere.Select("my_agg(score) AS m").Find(&rows).Error, scatter.ReasonFunction},
			{"raw SQL", f.db.Scopes(grant.AllShards()).Raw("SELECT * FROM merge_items").Scan(&rows).Error, scatter.ReasonRawSQL},
			{"computed without alias", everywhere.Select("SUM(score) + 1").Find(&rows).Error, scatter.ReasonAmbiguous},
		}
		for _, c := range cases {
			var refusal *scatter.Refusal
			if assert.ErrorIs(t, c.err, grant.ErrSpansShards, c.name) && assert.True(t, errors.As(c.err, &refusal), c.name) {
				assert.Equal(t, c.reason, refusal.Reason, "%s: %v", c.name, c.err)
			}
		}
		// A *gorm.DB subquery on a co-located table is merged.
		var got, want []int64
		require.NoError(t, everywhere.Where("customer_id IN (?)", sub).Order("id").Pluck("id", &got).Error)
		require.NoError(t, f.union.Model(&MergeItem{}).Where("customer_id IN (SELECT customer_id FROM merge_payments WHERE amount > ?)", 2000).Order("id").Pluck("id", &want).Error)
		assert.Equal(t, want, got)
		assert.NotEmpty(t, got)
	})
}

// TestScatterCollations: text under a collation grant ranks through the
// database (PostgreSQL ICU, MariaDB unicode_ci) and one it compares
// natively (MariaDB _bin, with PAD SPACE) is ordered, grouped and
// compared as one database does.
func TestScatterCollations(t *testing.T) {
	t.Parallel()
	words := []string{"Élodie", "elodie", "Zoë", "zoe", "ß", "ss", "Alice", "alice", "ALICE", "bob ", "bob", "a\tb", "ab", "Ångström", "angstrom", "李", "😀", ""}
	cases := map[string][]string{
		testdb.NamePostgres: {`ALTER TABLE merge_items ALTER COLUMN name TYPE varchar(40) COLLATE "en-x-icu"`},
		testdb.NameMariaDB:  {"ALTER TABLE merge_items MODIFY name varchar(40) COLLATE utf8mb4_unicode_ci", "ALTER TABLE merge_items MODIFY tag varchar(20) COLLATE utf8mb4_bin"},
	}
	testdb.Servers(t, func(t *testing.T, b *testdb.Backend) {
		f := newMergeFixture(t, b)
		for _, ddl := range cases[b.Name] {
			require.NoError(t, f.union.Exec(ddl).Error)
			for _, shard := range f.shards {
				require.NoError(t, shard.Exec(ddl).Error)
			}
		}
		for i := int64(1); i <= 240; i++ {
			w := words[i%int64(len(words))]
			for _, db := range append([]*gorm.DB{f.union}, f.shards...) {
				require.NoError(t, db.Exec("UPDATE merge_items SET name = ?, tag = ? WHERE id = ?", w, words[(i*7)%int64(len(words))], i).Error)
			}
		}
		// Exact: PostgreSQL's ICU collation is deterministic (equal only when
		// identical); MariaDB's _bin compares code points with PAD SPACE.
		exact := map[string]func(*gorm.DB) *gorm.DB{
			"ORDER BY name, id": func(db *gorm.DB) *gorm.DB { return db.Select("id, name").Order("name, id").Limit(50).Offset(20) },
			"ORDER BY tag DESC": func(db *gorm.DB) *gorm.DB { return db.Select("id, tag").Order("tag DESC, id").Limit(40) },
			"MIN/MAX": func(db *gorm.DB) *gorm.DB {
				return db.Select("MIN(name) AS lo, MAX(name) AS hi, MIN(tag) AS tlo, MAX(tag) AS thi")
			},
			"GROUP BY tag": func(db *gorm.DB) *gorm.DB { return db.Select("tag, COUNT(*) AS n").Group("tag").Order("tag") },
			"HAVING on text": func(db *gorm.DB) *gorm.DB {
				return db.Select("tag, COUNT(*) AS n").Group("tag").Having("MIN(tag) > ?", "b").Order("n, tag")
			},
		}
		if b.Name == testdb.NamePostgres {
			exact["GROUP BY name"] = func(db *gorm.DB) *gorm.DB { return db.Select("name, COUNT(*) AS n").Group("name").Order("name") }
			exact["DISTINCT name"] = func(db *gorm.DB) *gorm.DB { return db.Distinct("name").Order("name DESC") }
		}
		for name, chain := range exact {
			got, want, err := f.both(t, chain)
			if assert.NoError(t, err, name) {
				assert.Equal(t, want, got, name)
			}
		}
		if b.Name == testdb.NameMariaDB {
			// unicode_ci: 'Élodie' = 'elodie', 'ß' = 'ss': groups have any
			// spelling of their members, so compare counts in group order.
			var got, want []int64
			chain := func(db *gorm.DB) *gorm.DB { return db.Select("COUNT(*) AS n").Group("name").Order("MIN(name)") }
			require.NoError(t, chain(f.union.Model(&MergeItem{})).Pluck("n", &want).Error)
			require.NoError(t, chain(f.db.Scopes(grant.AllShards()).Model(&MergeItem{})).Pluck("n", &got).Error)
			assert.Equal(t, want, got, "GROUP BY name under unicode_ci")
			assert.Less(t, len(want), len(words), "equal spellings are one group")
		}
	})
}

// TestScatterDistinctBound: COUNT(DISTINCT …) holds its values while the
// shards' answers merge; past Config.MaxDistinctValues the query fails with
// a memory-bound refusal instead of growing without bound.
func TestScatterDistinctBound(t *testing.T) {
	f := newMergeFixture(t, testdb.SQLite(t), func(c *grant.Config) { c.MaxDistinctValues = 30 })
	var n []int64
	err := f.db.Scopes(grant.AllShards()).Model(&MergeItem{}).Select("COUNT(DISTINCT price) AS n").Pluck("n", &n).Error
	var refusal *scatter.Refusal
	require.ErrorIs(t, err, grant.ErrSpansShards)
	require.ErrorAs(t, err, &refusal)
	assert.Equal(t, scatter.ReasonMemory, refusal.Reason)
	assert.Contains(t, err.Error(), "more than 30 values")

	// Under the bound the same count is exact.
	require.NoError(t, f.db.Scopes(grant.AllShards()).Model(&MergeItem{}).Select("COUNT(DISTINCT grp) AS n").Pluck("n", &n).Error)
	assert.Equal(t, []int64{6}, n)
}
