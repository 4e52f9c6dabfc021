package grant_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/callbacks"
	"github.com/grant-go/grant/internal/testdb"
)

// TestKeptDecisionsFollowEachStatementsFacts: grant keeps the routing
// decision of a model's plain statements (callbacks/decided.go). Statements
// of the same model with a scope, a context, a lock, a transaction or
// another kind, interleaved with plain ones, must each still go where their
// own facts say — read back from the database each one reached.
func TestKeptDecisionsFollowEachStatementsFacts(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		f := newFixture(t, b)
		toWriter := grant.ConnectedTo(context.Background(), grant.Connection{Role: grant.Writing})
		preventing := grant.PreventWrites(context.Background())
		plainRead := func() []string { return userNames(t, f.db) }

		for round := 0; round < 3; round++ { // the first round decides, the later ones reuse
			assert.Equal(t, []string{"replica-user"}, plainRead(), "round %d: a plain read", round)
			assert.Equal(t, []string{"writer-user"}, userNames(t, f.db.WithContext(toWriter)), "round %d: ConnectedTo the writer", round)
			assert.Equal(t, []string{"writer-user"}, userNames(t, f.db.Scopes(grant.Role(grant.Writing))), "round %d: a Role scope", round)
			assert.Equal(t, []string{"reports-user"}, userNames(t, f.db.Scopes(grant.Role("reports"))), "round %d: a custom role", round)
			assert.Equal(t, []string{"analytics-user"}, userNames(t, f.db.Scopes(grant.UseDatabase("analytics"))), "round %d: another database", round)
			assert.Equal(t, []string{"replica-user"}, plainRead(), "round %d: a plain read after the others", round)

			require.NoError(t, f.db.Transaction(func(tx *gorm.DB) error {
				assert.Equal(t, []string{"writer-user"}, userNames(t, tx), "round %d: a read in a transaction", round)
				return nil
			}))
			if b.Name != testdb.NameSQLite { // SQLite has no row locks
				var locked []User
				require.NoError(t, f.db.Clauses(clause.Locking{Strength: "UPDATE"}).Find(&locked).Error)
				assert.Equal(t, []string{"writer-user"}, namesOf(locked), "round %d: a locking read", round)
				err := f.db.WithContext(preventing).Clauses(clause.Locking{Strength: "UPDATE"}).Find(&locked).Error
				assert.ErrorIs(t, err, grant.ErrReadOnly, "round %d: a locking read under prevention", round)
			}

			require.NoError(t, f.db.Create(&User{Name: "created"}).Error)
			err := f.db.WithContext(preventing).Create(&User{Name: "prevented"}).Error
			assert.ErrorIs(t, err, grant.ErrReadOnly, "round %d: a create under prevention", round)
			require.NoError(t, f.db.Where("name = ?", "created").Delete(&User{}).Error)
			assert.Equal(t, seeded["users"], f.counts(t, "users"), "round %d: created on the writer and deleted there; nothing prevented was written", round)
		}
	})
}

// TestScopesRouteWhateverThePool: a scope rides on the statement's pool
// when that is grant's handle's (callbacks/scope.go, scopedPool) and in its
// clauses otherwise. Each path must route the same: a write whose default
// transaction begins through the scoped pool, stacked scopes, a scope
// inside a transaction, and PrepareStmt handles.
func TestScopesRouteWhateverThePool(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		for _, prepared := range []bool{false, true} {
			f := newFixture(t, b, prepareStmt(prepared))
			toAnalytics := f.db.Scopes(grant.UseDatabase("analytics"))
			require.NoError(t, toAnalytics.Create(&User{Name: "scoped-create"}).Error, "PrepareStmt %v", prepared)
			assert.Equal(t, with("users", map[string]int64{"analytics": 2}), f.counts(t, "users"), "PrepareStmt %v: the scoped create landed on analytics", prepared)
			assert.Equal(t, []string{"analytics-user", "scoped-create"}, userNames(t, toAnalytics))

			// A scope made for this handle alone (grant's own are shared, and
			// keep a pool for the first handle they meet): its pool must give
			// way to the merged scopes after it.
			fresh := callbacks.ScopeFunc(grant.Connection{Database: "analytics"})
			stacked := f.db.Scopes(fresh, grant.UseDatabase("primary"), grant.Role("reports"))
			assert.Equal(t, []string{"reports-user"}, userNames(t, stacked), "PrepareStmt %v: the last scope wins, field by field", prepared)

			require.NoError(t, f.db.Transaction(func(tx *gorm.DB) error {
				return tx.Scopes(grant.UseDatabase("analytics")).Where("name = ?", "scoped-create").Delete(&User{}).Error
			}))
			assert.Equal(t, seeded["users"], f.counts(t, "users"), "PrepareStmt %v: the scoped delete in a transaction ran on analytics", prepared)
			assert.Equal(t, []string{"replica-user"}, userNames(t, f.db), "PrepareStmt %v: an unscoped read after them reads the replica", prepared)
		}
	})
}

// TestKeptDecisionsUnderConcurrency: goroutines that first meet a model at
// the same moment, each with its own Connection, race to keep decisions;
// each statement must still read where its own facts say.
func TestKeptDecisionsUnderConcurrency(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		f := newFixture(t, b)
		cases := []struct {
			db   *gorm.DB
			want string
		}{
			{f.db, "replica-user"},
			{f.db.WithContext(grant.ConnectedTo(context.Background(), grant.Connection{Role: grant.Writing})), "writer-user"},
			{f.db.Scopes(grant.Role("reports")).Session(&gorm.Session{}), "reports-user"}, // a Session: safe to share
			{f.db.Scopes(grant.UseDatabase("analytics")).Session(&gorm.Session{}), "analytics-user"},
			{f.db.WithContext(grant.ConnectedTo(context.Background(), grant.Connection{Database: "analytics"})), "analytics-user"},
			{f.db.Scopes(grant.Role(grant.Writing)).Session(&gorm.Session{}), "writer-user"},
		}
		var wg sync.WaitGroup
		wrong := make(chan string, len(cases)*20)
		for g := range 2 * len(cases) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 20 {
					c := cases[(g+i)%len(cases)]
					var users []User
					if err := c.db.Find(&users).Error; err != nil || len(users) != 1 || users[0].Name != c.want {
						wrong <- fmt.Sprintf("goroutine %d, statement %d: want %s, got %v (%v)", g, i, c.want, namesOf(users), err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(wrong)
		for w := range wrong {
			t.Error(w)
		}
	})
}

// TestSharedScopesStayWithTheirHandle: grant's scopes are shared values
// (grant.UseDatabase("analytics") returns the same scope everywhere), and a
// scope keeps the pool it made for the first handle it met. Two handles
// using it in turn must each write to their own analytics database.
func TestSharedScopesStayWithTheirHandle(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		first, second := newFixture(t, b), newFixture(t, b)
		for i := range 3 {
			for _, f := range []*fixture{first, second} {
				require.NoError(t, f.db.Scopes(grant.UseDatabase("analytics")).Create(&User{Name: fmt.Sprintf("scoped-%d", i)}).Error)
			}
		}
		for _, f := range []*fixture{first, second} {
			assert.Equal(t, with("users", map[string]int64{"analytics": 4}), f.counts(t, "users"), "each handle's three creates on its own analytics")
		}

		// Before routing, a callback that asks the statement for its
		// *sql.DB gets its own handle's, not the one the scope met first.
		want, err := second.db.DB()
		require.NoError(t, err)
		var got *sql.DB
		require.NoError(t, second.db.Callback().Query().Before("*").Register("test:pool-before-routing", func(tx *gorm.DB) {
			got, _ = tx.DB()
		}))
		require.NoError(t, second.db.Scopes(grant.UseDatabase("analytics")).Find(&[]User{}).Error)
		assert.Same(t, want, got)
	})
}
