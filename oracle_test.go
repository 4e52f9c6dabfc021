package grant_test

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/testdb"
)

// The oracle: a differential fuzzer of scatter-gather reads. One seeded data
// set is loaded into a grant cluster (PostgreSQL 4 shards, MariaDB 2,
// SQLite 3) and into one plain "union" database; queries generated from a
// grammar wider than the planner (oracle_grammar_test.go,
// oracle_clauses_test.go, oracle_query_test.go) run on the union database
// with plain GORM and through grant with grant.AllShards() (a few routed
// by a customer_id IN list). Each comes out
//
//   - matched: same columns in the same order, same rows and values, Go
//     types included (oracle_compare_test.go says what may differ and why);
//   - refused: grant returned ErrSpansShards (or, routed by an IN list it
//     cannot read the key from, ErrShardKeyMissing) before any shard was
//     sent a statement about the oracle's tables (oracle_pool_test.go
//     counts them); counted by the *scatter.Refusal's Reason;
//   - both-failed: the union database and grant both returned an error;
//   - wrong: anything else. The test fails on any wrong answer, printing
//     reproductions.
//
// Environment:
//
//	GRANT_ORACLE_SEED=<n>       data and queries (default 20260314)
//	GRANT_ORACLE_QUERIES=<n>    queries per server (default 1000; SQLite runs a quarter)
//	GRANT_ORACLE_ONLY=<i>       run query i alone, logging both results
//	GRANT_ORACLE_SELFCHECK=1    compare the union database with a second one loaded
//	                            in another order instead of grant: must show no wrong
//	                            answer, or the comparison is too strict
//
// The long run: GRANT_ORACLE_QUERIES=10000 go test -race -run TestOracle -timeout 60m .

const (
	oracleDefaultSeed    = 20260314
	oracleDefaultQueries = 1000
	oracleRows           = 2500
	oracleCustomers      = 60
	oraclePayments       = 700
	oracleMaxRepros      = 10
)

// oracleItem lives in cluster "oracle", sharded by a hash of customer_id;
// the union database has the same table, reached without grant.
type oracleItem struct {
	ID         int64 `gorm:"primaryKey;autoIncrement:false"`
	CustomerID int64
	Grp        int64
	Score      *int64
	Price      float64
	Qty        int64
	Name       *string
	NameX      *string
	NameY      *string
	Tag        *string
	CreatedAt  *time.Time `gorm:"autoCreateTime:false"`
}

func (oracleItem) TableName() string            { return "oracle_items" }
func (oracleItem) ConnectsTo() grant.Connection { return grant.Cluster("oracle") }
func (oracleItem) ShardKey() grant.ShardKey {
	return grant.ShardKey{Column: "customer_id", Strategy: grant.Hash()}
}

// oraclePayment is co-located with oracleItem: same cluster, key and strategy.
type oraclePayment struct {
	ID         int64 `gorm:"primaryKey;autoIncrement:false"`
	CustomerID int64
	Amount     int64
	Status     string
}

func (oraclePayment) TableName() string            { return "oracle_payments" }
func (oraclePayment) ConnectsTo() grant.Connection { return grant.Cluster("oracle") }
func (oraclePayment) ShardKey() grant.ShardKey {
	return grant.ShardKey{Column: "customer_id", Strategy: grant.Hash()}
}

// oracleDDL creates the tables, the same on shards and union, with the
// types GORM would choose and a non-default collation on name_x and name_y
// (see oracleDialect).
func oracleDDL(dialect string) []string {
	switch dialect {
	case "postgres":
		return []string{
			`CREATE COLLATION IF NOT EXISTS oracle_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)`,
			`CREATE TABLE oracle_items (id bigint PRIMARY KEY, customer_id bigint NOT NULL, grp bigint NOT NULL, score bigint,
				price decimal NOT NULL, qty bigint NOT NULL, name text, name_x text COLLATE "en-x-icu", name_y text COLLATE oracle_ci,
				tag varchar(20), created_at timestamptz)`,
			`CREATE INDEX oracle_items_customer ON oracle_items (customer_id)`,
			`CREATE TABLE oracle_payments (id bigint PRIMARY KEY, customer_id bigint NOT NULL, amount bigint NOT NULL, status varchar(10))`,
			`CREATE INDEX oracle_payments_customer ON oracle_payments (customer_id)`,
			`CREATE INDEX oracle_payments_amount ON oracle_payments (amount)`,
		}
	case "mysql": // tag takes the database's utf8mb4_unicode_ci
		return []string{
			`CREATE TABLE oracle_items (id bigint PRIMARY KEY, customer_id bigint NOT NULL, grp bigint NOT NULL, score bigint NULL,
				price double NOT NULL, qty bigint NOT NULL, name varchar(40) COLLATE utf8mb4_general_ci,
				name_x varchar(40) COLLATE utf8mb4_unicode_ci, name_y varchar(40) COLLATE utf8mb4_bin, tag varchar(20),
				created_at datetime(3) NULL, KEY (customer_id))`,
			`CREATE TABLE oracle_payments (id bigint PRIMARY KEY, customer_id bigint NOT NULL, amount bigint NOT NULL, status varchar(10),
				KEY (customer_id), KEY (amount))`,
		}
	default:
		return []string{
			`CREATE TABLE oracle_items (id integer PRIMARY KEY, customer_id integer NOT NULL, grp integer NOT NULL, score integer,
				price real NOT NULL, qty integer NOT NULL, name text, name_x text COLLATE NOCASE, name_y text COLLATE RTRIM,
				tag text, created_at datetime)`,
			`CREATE INDEX oracle_items_customer ON oracle_items (customer_id)`,
			`CREATE TABLE oracle_payments (id integer PRIMARY KEY, customer_id integer NOT NULL, amount integer NOT NULL, status text)`,
			`CREATE INDEX oracle_payments_customer ON oracle_payments (customer_id)`, // correlated subqueries: no scan per row
			`CREATE INDEX oracle_payments_amount ON oracle_payments (amount)`,
		}
	}
}

func oracleEnvUint(t *testing.T, name string, def uint64) uint64 {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.ParseUint(s, 10, 64)
	require.NoError(t, err, "%s=%q", name, s)
	return v
}

// TestOracle compares grant's scatter-gather reads with one database
// holding every row: PostgreSQL with 4 shards, MariaDB with 2, SQLite with 3.
func TestOracle(t *testing.T) {
	t.Parallel()
	seed := oracleEnvUint(t, "GRANT_ORACLE_SEED", oracleDefaultSeed)
	queries := int(oracleEnvUint(t, "GRANT_ORACLE_QUERIES", oracleDefaultQueries))
	// The three run at once: each has its own databases, cluster and
	// statement counter (oracleCounter), and they share only read-only data.
	// The pure-Go SQLite is slow under -race: it runs the first quarter of the stream.
	t.Run(testdb.NameSQLite, func(t *testing.T) {
		t.Parallel()
		runOracle(t, testdb.SQLite(t), 3, seed, max(queries/4, 1))
	})
	testdb.Servers(t, func(t *testing.T, b *testdb.Backend) {
		t.Parallel()
		shards := 2
		if b.Name == testdb.NamePostgres {
			shards = 4
		}
		runOracle(t, b, shards, seed, queries)
	})
}

type oracleCluster struct {
	d         *oDialect
	db        *gorm.DB // grant
	union     *gorm.DB // plain GORM on the union database
	selfCheck *gorm.DB // GRANT_ORACLE_SELFCHECK: a second union database replacing grant
	shards    []*testdb.Database
	counter   *oracleCounter
	classes   *oracleClasses
}

func newOracleCluster(t *testing.T, b *testdb.Backend, n int) *oracleCluster {
	t.Helper()
	c := &oracleCluster{counter: &oracleCounter{}}
	primary, union := b.CreateDatabase(t, "oracle_primary"), b.CreateDatabase(t, "oracle_union")
	c.union = union.Open(t)
	c.d = oracleDialect(c.union.Dialector.Name())
	var shards []grant.ShardConfig
	for i := range n {
		d := b.CreateDatabase(t, fmt.Sprintf("oracle_s%d", i+1))
		c.shards = append(c.shards, d)
		setup := d.Open(t)
		for _, ddl := range oracleDDL(c.d.name) {
			require.NoError(t, setup.Exec(ddl).Error)
		}
		driverName := map[string]string{"postgres": "pgx", "mysql": "mysql", "sqlite": sqlite.DriverName}[c.d.name]
		pool, err := oracleCountingDB(driverName, d.DSN, c.counter)
		require.NoError(t, err)
		t.Cleanup(func() { _ = pool.Close() })
		var dialector gorm.Dialector = &sqlite.Dialector{Conn: pool}
		switch c.d.name {
		case "postgres":
			dialector = postgres.New(postgres.Config{Conn: pool})
		case "mysql":
			dialector = mysql.New(mysql.Config{Conn: pool})
		}
		shards = append(shards, grant.ShardConfig{Name: fmt.Sprintf("s%d", i+1),
			DatabaseConfig: grant.DatabaseConfig{Writer: &grant.NodeConfig{Dialector: dialector}}})
	}
	db, err := gorm.Open(primary.Dialector(), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err)
	require.NoError(t, db.Use(grant.New(grant.Config{Clusters: map[string]grant.ClusterConfig{"oracle": {Shards: shards}}})))
	t.Cleanup(func() { exClose(db) })
	c.db = db
	for _, ddl := range oracleDDL(c.d.name) {
		require.NoError(t, c.union.Exec(ddl).Error)
	}
	c.classes = &oracleClasses{db: c.union, d: c.d, classes: map[string]map[string]int{}}
	require.NoError(t, c.classes.create())
	if os.Getenv("GRANT_ORACLE_SELFCHECK") == "1" {
		c.selfCheck = b.CreateDatabase(t, "oracle_union2").Open(t)
		for _, ddl := range oracleDDL(c.d.name) {
			require.NoError(t, c.selfCheck.Exec(ddl).Error)
		}
	}
	return c
}

// oracleData: unique shuffled IDs, 60 customers, many ties and NULLs, and
// text in case, accent, width and trailing-space variants.
func oracleData(seed uint64) ([]oracleItem, []oraclePayment) {
	r := rand.New(rand.NewPCG(seed, 0x6f7261636c65))
	text := func(xs []string, nullPct int) *string {
		if r.IntN(100) < nullPct {
			return nil
		}
		return &xs[r.IntN(len(xs))]
	}
	ids := r.Perm(oracleRows * 3)[:oracleRows]
	items := make([]oracleItem, oracleRows)
	for i := range items {
		it := oracleItem{ID: int64(ids[i]) + 1, CustomerID: int64(r.IntN(oracleCustomers)) + 1, Grp: int64(r.IntN(5)),
			Price: float64(r.IntN(3000)-300) / 100, Qty: int64(r.IntN(21)),
			Name: text(oracleNames, 8), NameX: text(oracleNames, 8), NameY: text(oracleNames, 8), Tag: text(oracleTags, 10)}
		if r.IntN(100) >= 12 {
			it.Score = new(int64(r.IntN(101) - 50))
		}
		if r.IntN(100) >= 10 {
			it.CreatedAt = new(oracleEpoch.Add(time.Duration(r.IntN(150)*37) * time.Minute))
		}
		items[i] = it
	}
	payments := make([]oraclePayment, oraclePayments)
	for i := range payments {
		payments[i] = oraclePayment{ID: int64(i) + 1, CustomerID: int64(r.IntN(oracleCustomers+10)) + 1,
			Amount: int64(r.IntN(500)) + 1, Status: oneOf(r, "paid", "open", "void")}
	}
	return items, payments
}

func runOracle(t *testing.T, b *testdb.Backend, nShards int, seed uint64, queries int) {
	start := time.Now()
	c := newOracleCluster(t, b, nShards)
	items, payments := oracleData(seed)
	require.NoError(t, c.db.Create(&items).Error, "a batch spanning every shard is split per shard")
	require.NoError(t, c.db.Create(&payments).Error)
	require.NoError(t, c.union.CreateInBatches(&items, 500).Error)
	require.NoError(t, c.union.CreateInBatches(&payments, 500).Error)
	if c.selfCheck != nil { // the same rows, added in reverse order
		rev, revP := slices.Clone(items), slices.Clone(payments)
		slices.Reverse(rev)
		slices.Reverse(revP)
		require.NoError(t, c.selfCheck.CreateInBatches(&rev, 500).Error)
		require.NoError(t, c.selfCheck.CreateInBatches(&revP, 500).Error)
	}
	for _, coll := range c.d.classCollations() { // the classes of every string in the data, up front
		for _, s := range slices.Concat(oracleNames, oracleTags) {
			c.classes.of(coll, s)
		}
	}
	require.NoError(t, c.classes.err)
	oracleSpread(t, c, items)
	loaded := time.Since(start)

	only, hasOnly := os.LookupEnv("GRANT_ORACLE_ONLY")
	tally := newOracleTally()
	for i := range queries {
		if hasOnly && only != strconv.Itoa(i) {
			continue
		}
		q := oracleQueryFor(seed, i, c.d)
		o := c.check(q)
		require.NoError(t, c.classes.err)
		tally.add(q, o)
		if hasOnly || o.kind == "wrong" && len(tally.repros) < oracleMaxRepros {
			repro := fmt.Sprintf("GRANT_ORACLE_SEED=%d GRANT_ORACLE_ONLY=%d go test -race -run 'TestOracle/%s' .\n  %s query %d: %s: %s\n  %s\n  union: %s\n  grant: %s",
				seed, i, b.Name, b.Name, i, o.kind, oracleClip(cmp.Or(o.detail, o.reason), 1200), q, oracleClip(showTable(o.union, 4), 800),
				oracleClip(showTable(o.grant, 4), 800))
			tally.repros = append(tally.repros, repro)
		}
	}
	elapsed := time.Since(start) - loaded
	summary := fmt.Sprintf("%s, %d shards, seed %d: %s", b.Name, nShards, seed, tally.summary())
	per := func(d time.Duration) time.Duration {
		return (d / time.Duration(max(tally.n, 1))).Round(100 * time.Microsecond)
	}
	t.Logf("%s\nsetup and load %v; %d queries in %v (%v per query: union %v, grant %v)\nby production (queries: matched/refused/both-failed/wrong):\n%s",
		summary, loaded.Round(time.Millisecond), tally.n, elapsed.Round(time.Millisecond), per(elapsed),
		per(tally.unionTime), per(tally.grantTime), tally.byLabel())
	if hasOnly {
		t.Log(strings.Join(tally.repros, "\n"))
	}
	if tally.kinds["wrong"] > 0 && !hasOnly {
		t.Errorf("%s\nfirst %d wrong answers:\n%s", summary, len(tally.repros), strings.Join(tally.repros, "\n"))
	}
}

func oracleClip(s string, most int) string {
	if len(s) <= most {
		return s
	}
	return s[:most] + "…"
}

// oracleSpread checks the data really is spread: every shard holds rows,
// each customer lives on exactly one shard, the shards add up to the union.
func oracleSpread(t *testing.T, c *oracleCluster, items []oracleItem) {
	var total int64
	home := map[int64]int{}
	for i, shard := range c.shards {
		n := shard.Count(t, "oracle_items")
		assert.Positive(t, n, "shard %d of %d holds rows", i+1, len(c.shards))
		total += n
		var customers []int64
		require.NoError(t, shard.Open(t).Model(&oracleItem{}).Distinct("customer_id").Pluck("customer_id", &customers).Error)
		for _, cust := range customers {
			prev, seen := home[cust]
			assert.False(t, seen, "customer %d lives on shard %d and shard %d", cust, prev+1, i+1)
			home[cust] = i
		}
	}
	require.EqualValues(t, len(items), total, "the shards hold every row once")
	var unionCount int64
	require.NoError(t, c.union.Model(&oracleItem{}).Count(&unionCount).Error)
	require.EqualValues(t, len(items), unionCount)
}
