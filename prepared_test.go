package grant_test

import (
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/testdb"
)

// oneConnection gives every node of the primary database a single
// connection, so that the statements prepared on a node can be counted on
// the server through that node's own pool.
func oneConnection(_ *gorm.Config, c *grant.Config) {
	d := c.Databases["primary"]
	d.Pool = grant.PoolConfig{MaxOpenConns: 1}
	c.Databases["primary"] = d
}

// nodeDB returns the *sql.DB of the node whose Stats key is key.
func nodeDB(t *testing.T, f *fixture, key string) *sql.DB {
	t.Helper()
	for _, n := range f.plugin.Topology().Nodes() {
		if n.Key() == key {
			db, err := n.DB()
			require.NoError(t, err)
			return db
		}
	}
	t.Fatalf("no node %s", key)
	return nil
}

// serverStatements counts the prepared statements whose SQL contains text
// on the one connection of db, as the server sees them; -1 on SQLite, which
// has no server. PostgreSQL lists them (pgx names them stmt_<hash>);
// MariaDB counts them per session (prepared minus closed).
func serverStatements(t *testing.T, b *testdb.Backend, db *sql.DB, text string) int {
	t.Helper()
	switch b.Name {
	case testdb.NamePostgres:
		var n int
		require.NoError(t, db.QueryRow(`SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'stmt\_%' AND strpos(statement, $1) > 0`, text).Scan(&n))
		return n
	case testdb.NameMariaDB:
		rows, err := db.Query(`SHOW SESSION STATUS WHERE Variable_name IN ('Com_stmt_prepare', 'Com_stmt_close')`)
		require.NoError(t, err)
		defer rows.Close()
		counts := map[string]int{}
		for rows.Next() {
			var name string
			var n int
			require.NoError(t, rows.Scan(&name, &n))
			counts[strings.ToLower(name)] = n
		}
		require.NoError(t, rows.Err())
		return counts["com_stmt_prepare"] - counts["com_stmt_close"]
	}
	return -1
}

// keysWith returns the cache's keys containing text.
func keysWith(cache *gorm.PreparedStmtDB, text string) []string {
	var out []string
	for _, k := range cache.Stmts.Keys() {
		if strings.Contains(k, text) {
			out = append(out, k)
		}
	}
	return out
}

// checkPreparedCache is GORM's prepared-statement contract, the same with or
// without grant: reads through each reader land in cache (one key per SQL,
// however many nodes prepared it), a transaction's ConnPool is a
// *gorm.PreparedStmtTX whose statements land there too, Close frees every
// statement on every server, and the handle prepares again afterwards.
// servers are the pools (one connection each) the readers reach.
func checkPreparedCache(t *testing.T, b *testdb.Backend, cache *gorm.PreparedStmtDB, readers []func() *gorm.DB, servers []*sql.DB) {
	t.Helper()
	const read = "ORDER BY name"
	readAll := func() {
		for i, r := range readers {
			userNames(t, r())
			assert.Len(t, keysWith(cache, read), 1, "after reader %d: one key per SQL", i)
		}
	}
	onEveryServer := func(want int) func() bool {
		return func() bool {
			for _, s := range servers {
				if n := serverStatements(t, b, s, read); n != -1 && n != want {
					return false
				}
			}
			return true
		}
	}
	readAll()
	stmt, ok := cache.Stmts.Get(keysWith(cache, read)[0])
	require.True(t, ok)
	require.NotNil(t, stmt.Stmt)
	assert.True(t, onEveryServer(1)(), "the read is prepared once on each server it reached")

	require.NoError(t, readers[0]().Transaction(func(tx *gorm.DB) error {
		assert.IsType(t, &gorm.PreparedStmtTX{}, tx.Statement.ConnPool)
		return tx.Create(&User{Name: "prepared-in-a-transaction"}).Error
	}))
	assert.Len(t, keysWith(cache, "INSERT INTO"), 1)

	cache.Close()
	assert.Empty(t, cache.Stmts.Keys())
	assert.Eventually(t, onEveryServer(0), 30*time.Second, 20*time.Millisecond, "Close frees the statements on the servers")

	readAll() // reuse after Close: prepared again
	assert.True(t, onEveryServer(1)())
}

// onReplicaAndWriter returns readers of db on the replica, then the writer.
func onReplicaAndWriter(db *gorm.DB) []func() *gorm.DB {
	return []func() *gorm.DB{
		func() *gorm.DB { return db },
		func() *gorm.DB { return db.Scopes(grant.Role(grant.Writing)) },
	}
}

func TestPrepareStmtHandleKeepsGORMsCache(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		t.Run("without grant", func(t *testing.T) {
			db, _ := plainHandle(t, b, &gorm.Config{PrepareStmt: true})
			sqlDB, err := db.DB()
			require.NoError(t, err)
			sqlDB.SetMaxOpenConns(1)
			cache, ok := db.ConnPool.(*gorm.PreparedStmtDB)
			require.True(t, ok, "db.ConnPool is %T", db.ConnPool)
			checkPreparedCache(t, b, cache, []func() *gorm.DB{func() *gorm.DB { return db }}, []*sql.DB{sqlDB})
		})
		t.Run("with grant", func(t *testing.T) {
			f := newFixture(t, b, prepareStmt(true), oneConnection)
			cache, ok := f.db.ConnPool.(*gorm.PreparedStmtDB)
			require.True(t, ok, "db.ConnPool is %T", f.db.ConnPool)
			writer, err := f.db.DB()
			require.NoError(t, err)
			replica := nodeDB(t, f, "primary/reading/1")
			checkPreparedCache(t, b, cache, onReplicaAndWriter(f.db), []*sql.DB{replica, writer})
			// Each node ran its own statement: the answers differ.
			assert.Equal(t, []string{"replica-user"}, userNames(t, f.db))
			assert.Equal(t, []string{"prepared-in-a-transaction", "writer-user"}, userNames(t, f.db.Scopes(grant.Role(grant.Writing))))
		})
	})
}

func TestPrepareStmtSessionKeepsGORMsCache(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		t.Run("without grant", func(t *testing.T) {
			db, _ := plainHandle(t, b, &gorm.Config{})
			sqlDB, err := db.DB()
			require.NoError(t, err)
			sqlDB.SetMaxOpenConns(1)
			session := db.Session(&gorm.Session{PrepareStmt: true})
			cache, ok := session.Statement.ConnPool.(*gorm.PreparedStmtDB)
			require.True(t, ok, "the session's ConnPool is %T", session.Statement.ConnPool)
			checkPreparedCache(t, b, cache, []func() *gorm.DB{func() *gorm.DB { return session }}, []*sql.DB{sqlDB})
		})
		t.Run("with grant", func(t *testing.T) {
			f := newFixture(t, b, oneConnection)
			session := f.db.Session(&gorm.Session{PrepareStmt: true})
			cache, ok := session.Statement.ConnPool.(*gorm.PreparedStmtDB)
			require.True(t, ok, "the session's ConnPool is %T", session.Statement.ConnPool)
			writer, err := f.db.DB()
			require.NoError(t, err)
			replica := nodeDB(t, f, "primary/reading/1")
			checkPreparedCache(t, b, cache, onReplicaAndWriter(session), []*sql.DB{replica, writer})
			// A second session shares the cache, as under GORM.
			other := f.db.Session(&gorm.Session{PrepareStmt: true}).Statement.ConnPool.(*gorm.PreparedStmtDB)
			assert.Equal(t, cache.Stmts.Keys(), other.Stmts.Keys())
			other.Close()
			assert.Empty(t, cache.Stmts.Keys())
		})
	})
}
