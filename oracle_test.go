package grant_test

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/testdb"
)

// The oracle: one random data set is loaded into a grant cluster and into a
// single "union" database, then random reads run through grant (scattered
// to every shard, or to the shards of a customer_id IN list) and on the
// union database, and must return exactly the same thing. Every order ends
// with the primary key, so a total order makes pages comparable.
//
// Reproduce a failure with GRANT_ORACLE_SEED=<seed from the message>;
// GRANT_ORACLE_QUERIES=<n> runs more (or fewer) queries than the default.

const (
	oracleDefaultSeed    = 20260314
	oracleDefaultQueries = 500
	oracleRows           = 1500
	oracleCustomers      = 40
	oracleMaxFailures    = 10 // mismatches reported before the test stops
)

// oracleRow lives in cluster "oracle", sharded by a hash of customer_id.
type oracleRow struct {
	ID         int64 `gorm:"primaryKey;autoIncrement:false"`
	CustomerID int64 `gorm:"index"`
	Amount     int64
	Price      float64
	Name       string `gorm:"size:20"`
	Region     string `gorm:"size:10"`
}

func (oracleRow) TableName() string            { return "oracle_rows" }
func (oracleRow) ConnectsTo() grant.Connection { return grant.Cluster("oracle") }
func (oracleRow) ShardKey() grant.ShardKey {
	return grant.ShardKey{Column: "customer_id", Strategy: grant.Hash()}
}

// oracleUnion is the same table in the plain union database. Its fields
// equal oracleRow's, so the two convert into each other.
type oracleUnion struct {
	ID         int64 `gorm:"primaryKey;autoIncrement:false"`
	CustomerID int64 `gorm:"index"`
	Amount     int64
	Price      float64
	Name       string `gorm:"size:20"`
	Region     string `gorm:"size:10"`
}

func (oracleUnion) TableName() string { return "oracle_rows" }

// Lowercase ASCII only: grant merges text in byte order, which every test
// database's collation agrees with for these.
var (
	oracleNames   = []string{"ada", "ben", "cyd", "dora", "ed", "fay", "gus", "hal", "ivy", "jo"}
	oracleRegions = []string{"eu", "us", "ap"}
)

func oracleEnvUint(t *testing.T, name string, def uint64) uint64 {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.ParseUint(s, 10, 64)
	require.NoError(t, err, "%s=%q", name, s)
	return v
}

// TestOracle compares grant's scatter-gather reads with one database holding
// every row: PostgreSQL with 4 shards, MariaDB with 2, SQLite with 3.
func TestOracle(t *testing.T) {
	seed := oracleEnvUint(t, "GRANT_ORACLE_SEED", oracleDefaultSeed)
	queries := int(oracleEnvUint(t, "GRANT_ORACLE_QUERIES", oracleDefaultQueries))
	// The pure-Go SQLite is slow under -race: it runs the first quarter of
	// the same query stream.
	t.Run(testdb.NameSQLite, func(t *testing.T) { runOracle(t, testdb.SQLite(t), 3, seed, max(queries/4, 1)) })
	testdb.Servers(t, func(t *testing.T, b *testdb.Backend) {
		shards := 2
		if b.Name == testdb.NamePostgres {
			shards = 4
		}
		runOracle(t, b, shards, seed, queries)
	})
}

type oracleCluster struct {
	db     *gorm.DB // grant handle
	union  *gorm.DB // plain handle on the union database
	shards []*testdb.Database
}

func newOracleCluster(t *testing.T, b *testdb.Backend, n int) *oracleCluster {
	t.Helper()
	c := &oracleCluster{}
	primary, union := b.CreateDatabase(t, "oracle_primary"), b.CreateDatabase(t, "oracle_union")
	var shards []grant.ShardConfig
	for i := range n {
		d := b.CreateDatabase(t, fmt.Sprintf("oracle_s%d", i+1))
		c.shards = append(c.shards, d)
		// The replica is a second pool on the shard's own database, so the
		// reading and the writing role must both see every row.
		shards = append(shards, grant.ShardConfig{Name: fmt.Sprintf("s%d", i+1), DatabaseConfig: grant.DatabaseConfig{
			Writer:   &grant.NodeConfig{Dialector: d.Dialector()},
			Replicas: []grant.NodeConfig{{Dialector: d.Dialector()}},
		}})
	}
	db, err := gorm.Open(primary.Dialector(), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err)
	require.NoError(t, db.Use(grant.New(grant.Config{Clusters: map[string]grant.ClusterConfig{"oracle": {Shards: shards}}})))
	t.Cleanup(func() { exClose(db) })
	require.NoError(t, grant.AutoMigrate(db, &oracleRow{}))
	c.db = db
	c.union = union.Open(t)
	require.NoError(t, c.union.AutoMigrate(&oracleUnion{}))
	return c
}

// oracleData is the random data set: unique shuffled IDs, 40 customers,
// amounts 0..999, prices with cents (duplicates likely), names and regions
// from small sets.
func oracleData(r *rand.Rand) []oracleRow {
	ids := r.Perm(oracleRows * 3)[:oracleRows]
	rows := make([]oracleRow, oracleRows)
	for i := range rows {
		rows[i] = oracleRow{
			ID:         int64(ids[i]) + 1,
			CustomerID: int64(r.IntN(oracleCustomers)) + 1,
			Amount:     int64(r.IntN(1000)),
			Price:      float64(r.IntN(5000)) / 100,
			Name:       oracleNames[r.IntN(len(oracleNames))],
			Region:     oracleRegions[r.IntN(len(oracleRegions))],
		}
	}
	return rows
}

func runOracle(t *testing.T, b *testdb.Backend, nShards int, seed uint64, queries int) {
	start := time.Now()
	r := rand.New(rand.NewPCG(seed, 0x6f7261636c65))
	c := newOracleCluster(t, b, nShards)
	rows := oracleData(r)
	union := make([]oracleUnion, len(rows))
	for i, row := range rows {
		union[i] = oracleUnion(row)
	}
	res := c.db.Create(&rows)
	require.NoError(t, res.Error, "a batch spanning every shard is split per shard")
	require.EqualValues(t, len(rows), res.RowsAffected)
	require.NoError(t, c.union.CreateInBatches(&union, 500).Error)
	loaded := time.Since(start)

	// The data really is spread: every shard holds rows, each customer
	// lives on exactly one shard, and the shards add up to the union.
	var total int64
	home := map[int64]int{}
	for i, shard := range c.shards {
		n := shard.Count(t, "oracle_rows")
		assert.Positive(t, n, "shard %d of %d holds rows", i+1, nShards)
		total += n
		var customers []int64
		require.NoError(t, shard.Open(t).Model(&oracleUnion{}).Distinct("customer_id").Pluck("customer_id", &customers).Error)
		for _, cust := range customers {
			prev, seen := home[cust]
			assert.False(t, seen, "customer %d lives on shard %d and shard %d", cust, prev+1, i+1)
			home[cust] = i
		}
	}
	var unionCount int64
	require.NoError(t, c.union.Model(&oracleUnion{}).Count(&unionCount).Error)
	require.EqualValues(t, len(rows), unionCount)
	require.Equal(t, unionCount, total, "the shards hold every row once")

	var everything []oracleRow
	require.NoError(t, c.db.Scopes(grant.AllShards()).Order("id").Find(&everything).Error)
	sorted := slices.Clone(rows)
	slices.SortFunc(sorted, func(a, b oracleRow) int { return cmp.Compare(a.ID, b.ID) })
	require.Equal(t, sorted, everything, "every row came back as created")

	families := map[string]int{}
	failures := 0
	for i := range queries {
		q := randomOracleQuery(r)
		families[q.family]++
		where := fmt.Sprintf("seed %d (GRANT_ORACLE_SEED), %s with %d shards, query %d: %s", seed, b.Name, nShards, i, q)
		want, wantErr := q.run(c.union.Session(&gorm.Session{NewDB: true}), true)
		require.NoError(t, ignoreNotFound(wantErr), where)
		routed := c.db.Session(&gorm.Session{NewDB: true})
		if q.scatter {
			routed = routed.Scopes(grant.AllShards())
		}
		for _, role := range []string{"reading", "writing"} {
			db := routed
			if role == "writing" {
				db = db.Scopes(grant.Role(grant.Writing))
			}
			got, err := q.run(db.Session(&gorm.Session{}), false)
			msg := where + " [" + role + "]"
			if !assert.Equal(t, errors.Is(wantErr, gorm.ErrRecordNotFound), errors.Is(err, gorm.ErrRecordNotFound), msg) ||
				!assert.NoError(t, ignoreNotFound(err), msg) ||
				!assert.Equal(t, want, got, msg) {
				failures++
				if failures >= oracleMaxFailures {
					t.Fatalf("stopping after %d mismatches", failures)
				}
			}
		}
	}
	t.Logf("seed %d: %s, %d shards, %d rows (%v) set up and loaded in %v, %d queries ×2 in %v, by family %v",
		seed, b.Name, nShards, len(rows), shardSizes(t, c), loaded.Round(time.Millisecond), queries,
		(time.Since(start) - loaded).Round(time.Millisecond), families)
}

func shardSizes(t *testing.T, c *oracleCluster) []int64 {
	sizes := make([]int64, len(c.shards))
	for i, s := range c.shards {
		sizes[i] = s.Count(t, "oracle_rows")
	}
	return sizes
}

func ignoreNotFound(err error) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil
	}
	return err
}

// ---- random queries -----------------------------------------------------------

type oracleCond struct {
	sql  string
	args []any
}

type oracleQuery struct {
	family  string
	scatter bool // grant.AllShards; otherwise routed by a customer_id IN condition
	conds   []oracleCond
	selects string   // family "narrow", "group", "overall"; may leave out what it orders or groups by
	group   []string // family "group"
	groupAs string   // "joined" (Group("a, b")) or "chained"
	order   []string // terms like "amount desc"
	orderAs string   // "joined", "chained" or "clause"
	limit   *int     // nil: no Limit
	offset  int      // 0: no Offset
	pluck   string   // family "pluck"
	method  string   // family "one": First, Last or Take
	sorted  bool     // family "find" without ORDER BY: compared sorted by id
}

func (q oracleQuery) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "family=%s", q.family)
	if q.scatter {
		b.WriteString(" AllShards")
	} else {
		b.WriteString(" routed-by-IN")
	}
	if q.method != "" {
		fmt.Fprintf(&b, " %s", q.method)
	}
	if q.pluck != "" {
		fmt.Fprintf(&b, " Pluck(%q)", q.pluck)
	}
	if q.selects != "" {
		fmt.Fprintf(&b, " Select(%q)", q.selects)
	}
	for _, c := range q.conds {
		fmt.Fprintf(&b, " Where(%q, %v)", c.sql, c.args)
	}
	if len(q.group) > 0 {
		fmt.Fprintf(&b, " Group%v(%s)", q.group, q.groupAs)
	}
	if len(q.order) > 0 {
		fmt.Fprintf(&b, " Order%q(%s)", q.order, q.orderAs)
	}
	if q.limit != nil {
		fmt.Fprintf(&b, " Limit(%d)", *q.limit)
	}
	if q.offset != 0 {
		fmt.Fprintf(&b, " Offset(%d)", q.offset)
	}
	if q.sorted {
		b.WriteString(" (no ORDER BY: compared sorted by id)")
	}
	return b.String()
}

func pick[T any](r *rand.Rand, xs ...T) T { return xs[r.IntN(len(xs))] }

func randomOracleQuery(r *rand.Rand) oracleQuery {
	q := oracleQuery{scatter: r.IntN(10) < 7}
	q.conds = randomConds(r, q.scatter)
	switch n := r.IntN(100); {
	case n < 30:
		q.family = "find"
		if r.IntN(8) == 0 {
			q.sorted = true
		} else {
			q.order = randomOrder(r, []string{"amount", "price", "name", "region", "customer_id"}, "id")
		}
		randomPage(r, &q, !q.sorted)
	case n < 42:
		q.family = "count"
		if r.IntN(4) == 0 {
			randomPage(r, &q, true) // Count ignores the order; an Offset empties it
		}
	case n < 62:
		q.family = "group"
		q.group = pick(r, []string{"region"}, []string{"name"}, []string{"customer_id"}, []string{"region", "name"})
		q.groupAs = pick(r, "joined", "chained")
		q.selects = strings.Join(q.group, ", ") + ", SUM(amount) AS total, COUNT(*) AS n, MIN(amount) AS lo, MAX(amount) AS hi"
		switch r.IntN(3) {
		case 0: // by the group columns: a Limit is pushed to the shards
			for _, g := range q.group {
				q.order = append(q.order, g+pick(r, "", " desc"))
			}
			if r.IntN(3) == 0 { // grouped by columns it does not select
				q.selects = "SUM(amount) AS total, COUNT(*) AS n, MIN(amount) AS lo, MAX(amount) AS hi"
			}
		case 1: // by an aggregate, the group columns breaking ties
			q.order = append([]string{pick(r, "total desc", "n", "lo", "hi desc")}, q.group...)
		default: // group columns in another order, or an aggregate in between
			q.order = slices.Clone(q.group)
			slices.Reverse(q.order)
			if len(q.order) == 1 {
				q.order = []string{"n desc", q.group[0]}
			}
		}
		q.orderAs = pick(r, "joined", "chained")
		if r.IntN(2) == 0 {
			randomPage(r, &q, true)
		}
	case n < 72:
		q.family = "overall"
		q.selects = "SUM(amount) AS total, COUNT(*) AS n, MIN(amount) AS lo, MAX(amount) AS hi"
		if r.IntN(6) == 0 {
			q.conds = append(q.conds, oracleCond{"amount > ?", []any{5000}}) // matches nothing: NULL aggregates
		}
	case n < 82:
		q.family = "narrow"
		q.selects = pick(r, "id, name", "id, amount, region", "id, customer_id, price")
		q.order = randomOrder(r, []string{"amount", "price", "name", "region", "customer_id"}, "id")
		randomPage(r, &q, true) // often ordered by columns it does not select
	case n < 90:
		q.family = "pluck"
		q.pluck = pick(r, "name", "amount", "region", "customer_id")
		// Ordering by the plucked column alone is a total order of the
		// plucked values, even with duplicates.
		q.order = []string{q.pluck + pick(r, "", " desc")}
		if r.IntN(3) == 0 {
			q.order = append(q.order, "id") // not plucked
		}
		q.orderAs = "joined"
		randomPage(r, &q, true)
	default:
		q.family = "one"
		q.method = pick(r, "First", "Last", "Take")
		if q.method == "Take" || r.IntN(3) > 0 {
			q.order = randomOrder(r, []string{"amount", "price", "name", "region", "customer_id"}, "id")
			q.orderAs = pick(r, "joined", "chained", "clause")
		}
	}
	return q
}

// randomConds: filters ANDed together. Unscattered queries always carry a
// customer_id IN list, which routes them to the shards of those customers.
func randomConds(r *rand.Rand, scatter bool) []oracleCond {
	var conds []oracleCond
	if r.IntN(10) < 4 {
		lo := r.IntN(1000)
		conds = append(conds, oracleCond{"amount >= ?", []any{lo}}, oracleCond{"amount < ?", []any{lo + r.IntN(400)}})
	}
	if r.IntN(4) == 0 {
		conds = append(conds, oracleCond{"region = ?", []any{pick(r, "eu", "us", "ap", "ap", "af")}})
	}
	if r.IntN(4) == 0 {
		names := []string{}
		for range 1 + r.IntN(3) {
			names = append(names, pick(r, append(oracleNames, "zed")...))
		}
		conds = append(conds, oracleCond{"name IN ?", []any{names}})
	}
	if r.IntN(20) == 0 {
		conds = append(conds, oracleCond{"price > ?", []any{float64(r.IntN(5000)) / 100}})
	}
	if scatter && r.IntN(10) == 0 {
		conds = append(conds, oracleCond{"region = ? OR amount < ?", []any{pick(r, oracleRegions...), r.IntN(500)}})
	}
	if !scatter || r.IntN(7) == 0 {
		var ids []int64
		for range 1 + r.IntN(8) {
			ids = append(ids, int64(r.IntN(oracleCustomers+2))+1) // sometimes a customer with no rows
		}
		conds = append(conds, oracleCond{"customer_id IN ?", []any{ids}})
	}
	return conds
}

// randomOrder: up to two distinct columns, each ascending or descending,
// then the tiebreaker, in a random direction.
func randomOrder(r *rand.Rand, columns []string, tiebreak string) []string {
	var order []string
	for _, i := range r.Perm(len(columns))[:r.IntN(3)] {
		order = append(order, pick(r, "", "", "", "oracle_rows.")+columns[i]+pick(r, "", " desc", " DESC", " asc"))
	}
	return append(order, tiebreak+pick(r, "", " desc"))
}

func randomPage(r *rand.Rand, q *oracleQuery, limited bool) {
	if q.orderAs == "" {
		q.orderAs = pick(r, "joined", "chained", "clause")
	}
	if !limited {
		return
	}
	switch r.IntN(20) {
	case 0, 1, 2, 3, 4, 5: // none
	case 6, 7, 8, 9, 10, 11:
		q.limit = ptr(pick(r, 0, 1, 2, 5, 10, 37, 100, 2000))
	case 12, 13, 14:
		q.offset = pick(r, 1, 3, 10, 50, 200, 1499, 5000)
	default:
		q.limit = ptr(pick(r, 0, 1, 2, 5, 10, 37, 100))
		q.offset = pick(r, 1, 3, 10, 50, 200, 1499, 5000)
	}
}

func ptr[T any](v T) *T { return &v }

// build applies the conditions, grouping, order and page.
func (q oracleQuery) build(db *gorm.DB, offsetNeedsLimit bool) *gorm.DB {
	if q.selects != "" {
		db = db.Select(q.selects)
	}
	for _, c := range q.conds {
		db = db.Where(c.sql, c.args...)
	}
	if q.groupAs == "joined" {
		db = db.Group(strings.Join(q.group, ", "))
	} else {
		for _, g := range q.group {
			db = db.Group(g)
		}
	}
	switch q.orderAs {
	case "joined":
		if len(q.order) > 0 {
			db = db.Order(strings.Join(q.order, ", "))
		}
	case "chained":
		for _, o := range q.order {
			db = db.Order(o)
		}
	case "clause":
		for _, o := range q.order {
			name, dir, _ := strings.Cut(o, " ")
			db = db.Order(clause.OrderByColumn{Column: clause.Column{Name: name}, Desc: strings.EqualFold(dir, "desc")})
		}
	}
	if q.limit != nil {
		db = db.Limit(*q.limit)
	} else if q.offset != 0 && offsetNeedsLimit {
		db = db.Limit(1 << 40) // MariaDB has no OFFSET without LIMIT
	}
	if q.offset != 0 {
		db = db.Offset(q.offset)
	}
	return db
}

type oracleGroup struct {
	Region     string
	Name       string
	CustomerID int64
	Total      int64
	N          int64
	Lo, Hi     int64
}

type oracleOverall struct {
	Total  *int64 // NULL when nothing matches
	N      int64
	Lo, Hi *int64
}

type oracleNarrow struct {
	ID         int64
	Name       string
	Amount     int64
	Region     string
	CustomerID int64
	Price      float64
}

// run executes q on db (the union database when union is set, else grant)
// and returns a comparable result.
func (q oracleQuery) run(db *gorm.DB, union bool) (any, error) {
	var model any = &oracleRow{}
	if union {
		model = &oracleUnion{}
	}
	// GORM writes Offset without Limit as a bare OFFSET, which MariaDB
	// rejects; grant's scatter-gather sends no OFFSET at all, but a read
	// routed to a single shard goes there unchanged.
	offsetNeedsLimit := db.Dialector.Name() == "mysql" && (union || !q.scatter)
	db = q.build(db.Model(model), offsetNeedsLimit)
	switch q.family {
	case "find":
		rows, err := findOracleRows(db, union)
		if q.sorted {
			slices.SortFunc(rows, func(a, b oracleRow) int { return cmp.Compare(a.ID, b.ID) })
		}
		return rows, err
	case "count":
		var n int64
		err := db.Count(&n).Error
		return n, err
	case "group":
		out := []oracleGroup{}
		err := db.Find(&out).Error
		return out, err
	case "overall":
		out := []oracleOverall{}
		err := db.Find(&out).Error
		return out, err
	case "narrow":
		out := []oracleNarrow{}
		err := db.Find(&out).Error
		return out, err
	case "pluck":
		switch q.pluck {
		case "name", "region":
			out := []string{}
			err := db.Pluck(q.pluck, &out).Error
			return out, err
		default:
			out := []int64{}
			err := db.Pluck(q.pluck, &out).Error
			return out, err
		}
	case "one":
		var row oracleRow
		var err error
		if union {
			var u oracleUnion
			err = oneOf(db, q.method, &u)
			row = oracleRow(u)
		} else {
			err = oneOf(db, q.method, &row)
		}
		return row, err
	}
	panic("unknown family " + q.family)
}

func oneOf(db *gorm.DB, method string, dest any) error {
	switch method {
	case "First":
		return db.First(dest).Error
	case "Last":
		return db.Last(dest).Error
	default:
		return db.Take(dest).Error
	}
}

func findOracleRows(db *gorm.DB, union bool) ([]oracleRow, error) {
	if !union {
		rows := []oracleRow{}
		err := db.Find(&rows).Error
		return rows, err
	}
	var us []oracleUnion
	err := db.Find(&us).Error
	rows := make([]oracleRow, len(us))
	for i, u := range us {
		rows[i] = oracleRow(u)
	}
	return rows, err
}
