package grant_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/glebarez/sqlite"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/testdb"
)

// writingFunction creates ins_fn(), which inserts a user and returns 1: a
// write no SQL text shows (issue 11, item 3). SQLite has no SQL functions.
var writingFunction = map[string]string{
	"postgres": `CREATE FUNCTION ins_fn() RETURNS int LANGUAGE sql AS $$ INSERT INTO users (name) VALUES ('by ins_fn'); SELECT 1 $$`,
	"mariadb":  `CREATE FUNCTION ins_fn() RETURNS int MODIFIES SQL DATA BEGIN INSERT INTO users (name) VALUES ('by ins_fn'); RETURN 1; END`,
}

// readOnlySetting reads whether the session is read only, as the server
// sees it: "on"/"1" on a read-only session.
var readOnlySetting = map[string]string{
	"postgres": "SELECT current_setting('transaction_read_only')",
	"mariadb":  "SELECT CAST(@@tx_read_only AS CHAR)",
	"sqlite":   "SELECT CAST(query_only AS TEXT) FROM pragma_query_only()",
}

func strict(_ *gorm.Config, c *grant.Config) { c.StrictPreventWrites = true }

// TestStrictPreventionIsEnforcedByTheServer: a SELECT calling a function
// that writes passes grant's reading of the text; without strict
// prevention the function writes, with it the server refuses — outside
// and inside transactions — and no row moves. Reads and ordinary writes
// keep working.
func TestStrictPreventionIsEnforcedByTheServer(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		if fn, ok := writingFunction[b.Name]; ok {
			t.Run("without strict prevention the function writes", func(t *testing.T) {
				f := newFixture(t, b)
				createOnEveryNode(t, f, fn)
				guarded := f.db.WithContext(grant.PreventWrites(context.Background()))
				require.NoError(t, guarded.Exec("SELECT ins_fn()").Error, "the text reads; only the server can tell")
				assert.Equal(t, seeded["users"]["primary"]+1, f.counts(t, "users")["primary"])
			})
		}
		f := newFixture(t, b, strict)
		if fn, ok := writingFunction[b.Name]; ok {
			createOnEveryNode(t, f, fn)
		}
		guarded := f.db.WithContext(grant.PreventWrites(context.Background()))
		var setting string
		require.NoError(t, guarded.Raw(readOnlySetting[b.Name]).Scan(&setting).Error)
		assert.Contains(t, []string{"on", "1"}, strings.ToLower(setting), "a read under prevention runs on a read-only session")
		require.NoError(t, f.db.Scopes(grant.Role(grant.Writing)).Raw(readOnlySetting[b.Name]).Scan(&setting).Error)
		assert.Contains(t, []string{"off", "0"}, strings.ToLower(setting), "without prevention the session may write")

		if _, ok := writingFunction[b.Name]; ok {
			var one int
			refusedByServer(t, guarded.Exec("SELECT ins_fn()").Error, "Exec on the writer")
			refusedByServer(t, guarded.Raw("SELECT ins_fn()").Scan(&one).Error, "a read on the replica")
			refusedByServer(t, f.db.Scopes(grant.Role(grant.Reading)).Raw("SELECT ins_fn()").Scan(&one).Error, "the reading role prevents writes")
			refusedByServer(t, guarded.Transaction(func(tx *gorm.DB) error {
				return tx.Raw("SELECT ins_fn()").Scan(&one).Error
			}), "a transaction whose context prevents writes begins read only")
		}
		assert.Equal(t, seeded["users"], f.counts(t, "users"), "no row was written anywhere")

		assert.Equal(t, []string{"replica-user"}, userNames(t, guarded), "reads go where they always go")
		require.NoError(t, f.db.Create(&User{Name: "written"}).Error, "writes without prevention still write")
		require.NoError(t, f.db.Transaction(func(tx *gorm.DB) error { return tx.Create(&User{Name: "in a transaction"}).Error }))
		assert.Equal(t, seeded["users"]["primary"]+2, f.counts(t, "users")["primary"])
		assert.Contains(t, f.plugin.Stats(), "primary/reading/1/read-only", "the read-only pool is reported")
	})
}

// refusedByServer: err is the server's refusal to write in a read-only
// transaction (PostgreSQL "read-only transaction", MariaDB "READ ONLY
// transaction").
func refusedByServer(t *testing.T, err error, what string) {
	t.Helper()
	if assert.Error(t, err, what) {
		text := strings.ToLower(err.Error())
		assert.True(t, strings.Contains(text, "read-only transaction") || strings.Contains(text, "read only transaction"), "%s: %v", what, err)
	}
}

// createOnEveryNode runs ddl on each physical database of the fixture.
func createOnEveryNode(t *testing.T, f *fixture, ddl string) {
	t.Helper()
	for _, d := range []*testdb.Database{f.primary, f.replica, f.reports, f.analytics} {
		require.NoError(t, d.Open(t).Exec(ddl).Error, "creating ins_fn on %s", d.Name)
	}
}

// TestStrictPreventionNeedsADSN: a node opened from a pool, not a DSN,
// cannot get read-only sessions; Use says which node, and why.
func TestStrictPreventionNeedsADSN(t *testing.T) {
	b := testdb.SQLite(t)
	primary := b.CreateDatabase(t, "primary")
	pool := primary.Open(t)
	sqlDB, err := pool.DB()
	require.NoError(t, err)
	db, err := gorm.Open(primary.Dialector(), &gorm.Config{})
	require.NoError(t, err)
	err = db.Use(grant.New(grant.Config{StrictPreventWrites: true, Databases: map[string]grant.DatabaseConfig{
		"analytics": {Writer: &grant.NodeConfig{Dialector: wrapping(sqlDB)}},
	}}))
	require.ErrorIs(t, err, grant.ErrInvalidConfig)
	require.ErrorIs(t, err, grant.ErrNoReadOnlySession)
	assert.Contains(t, err.Error(), "analytics/writing/writer")
	assert.Contains(t, err.Error(), "wraps an open pool")
}

// wrapping is a SQLite dialector over an open pool, with no DSN.
func wrapping(db *sql.DB) gorm.Dialector { return &sqlite.Dialector{Conn: db} }

// BenchmarkStrictPrevention: a primary-key read under PreventWrites on the
// real servers, with and without strict prevention (no replica: the read
// runs on the writer, on its read-only pool when strict). The difference
// is the per-statement cost of strict prevention; its price is the second
// pool. strict-transaction wraps the read in a transaction (BEGIN on the
// read-only session, COMMIT): what the alternative design, a READ ONLY
// transaction per statement, would cost. Server benchmarks skip without
// servers.
func BenchmarkStrictPrevention(b *testing.B) {
	for _, backend := range []func(testing.TB) *testdb.Backend{testdb.Postgres, testdb.MariaDB} {
		be := backend(b)
		primary := be.CreateDatabase(b, "strictbench")
		direct := primary.Open(b)
		require.NoError(b, direct.AutoMigrate(&User{}))
		require.NoError(b, direct.Create(&User{Name: "u"}).Error)
		for _, mode := range []struct {
			name                  string
			strict, inTransaction bool
		}{{"prevention", false, false}, {"strict", true, false}, {"strict-transaction", true, true}} {
			b.Run(be.Name+"/"+mode.name, func(b *testing.B) {
				db, err := gorm.Open(primary.Dialector(), &gorm.Config{Logger: logger.Discard})
				require.NoError(b, err)
				plugin := grant.New(grant.Config{StrictPreventWrites: mode.strict})
				require.NoError(b, db.Use(plugin))
				b.Cleanup(func() { _ = plugin.Close() })
				guarded := db.WithContext(grant.PreventWrites(context.Background()))
				b.ReportAllocs()
				read := func(db *gorm.DB) error { var u User; return db.First(&u, 1).Error }
				for b.Loop() {
					var err error
					if mode.inTransaction { // what a READ ONLY transaction per statement would cost
						err = guarded.Transaction(func(tx *gorm.DB) error { return read(tx) })
					} else {
						err = read(guarded)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
