package grant_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/plugin/dbresolver"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/testdb"
)

func TestWritesGoToTheWriterReadsToTheReplica(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		f := newFixture(t, b)
		require.NoError(t, f.db.Create(&User{Name: "new-user"}).Error)
		assert.Equal(t, with("users", map[string]int64{"primary": 2}), f.counts(t, "users"))

		assert.Equal(t, []string{"replica-user"}, userNames(t, f.db), "Find reads the replica")
		var first User
		require.NoError(t, f.db.First(&first).Error)
		assert.Equal(t, "replica-user", first.Name, "First reads the replica")
		var n int64
		require.NoError(t, f.db.Model(&User{}).Count(&n).Error)
		assert.EqualValues(t, 1, n, "Count reads the replica (writer has 2 rows)")
		var plucked []string
		require.NoError(t, f.db.Model(&User{}).Pluck("name", &plucked).Error)
		assert.Equal(t, []string{"replica-user"}, plucked)
		var scanned string
		require.NoError(t, f.db.Model(&User{}).Select("name").Row().Scan(&scanned))
		assert.Equal(t, "replica-user", scanned, "Row reads the replica")
		rows, err := f.db.Model(&User{}).Select("name").Rows()
		require.NoError(t, err)
		var fromRows []string
		for rows.Next() {
			require.NoError(t, rows.Scan(&scanned))
			fromRows = append(fromRows, scanned)
		}
		require.NoError(t, rows.Close())
		assert.Equal(t, []string{"replica-user"}, fromRows, "Rows reads the replica")
		var last, taken User
		require.NoError(t, f.db.Last(&last).Error)
		require.NoError(t, f.db.Take(&taken).Error)
		assert.Equal(t, []string{"replica-user", "replica-user"}, []string{last.Name, taken.Name}, "Last and Take read the replica")

		require.NoError(t, f.db.Model(&User{}).Where("name = ?", "new-user").Update("name", "renamed").Error)
		assert.EqualValues(t, 1, f.primary.Open(t).Where("name = ?", "renamed").Find(&[]User{}).RowsAffected)
		require.NoError(t, f.db.Where("name = ?", "renamed").Delete(&User{}).Error)
		assert.Equal(t, seeded["users"], f.counts(t, "users"))
	})
}

func TestRawSQLIsClassifiedByItsText(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		f := newFixture(t, b)
		var names []string
		require.NoError(t, f.db.Raw("/* report */ SELECT name FROM users").Scan(&names).Error)
		assert.Equal(t, []string{"replica-user"}, names, "a plain SELECT reads the replica")

		names = nil
		require.NoError(t, f.db.Raw("WITH u AS (SELECT name FROM users) SELECT name FROM u").Scan(&names).Error)
		assert.Equal(t, []string{"replica-user"}, names, "a read-only CTE reads the replica")

		if b.Name != "sqlite" { // SQLite has no row locks
			names = nil
			require.NoError(t, f.db.Raw("SELECT name FROM users FOR UPDATE").Scan(&names).Error)
			assert.Equal(t, []string{"writer-user"}, names, "SELECT ... FOR UPDATE locks the writer's rows")
			var locked []User
			require.NoError(t, f.db.Clauses(clause.Locking{Strength: "UPDATE"}).Find(&locked).Error)
			assert.Equal(t, []string{"writer-user"}, namesOf(locked), "a builder locking clause goes to the writer")
		}

		require.NoError(t, f.db.Exec("INSERT INTO users (name) VALUES (?)", "raw-user").Error)
		assert.Equal(t, with("users", map[string]int64{"primary": 2}), f.counts(t, "users"), "Exec goes to the writer")

		if b.Name == "postgres" { // a data-modifying CTE: PostgreSQL only
			var inserted []string
			require.NoError(t, f.db.Raw("WITH ins AS (INSERT INTO users (name) VALUES ('cte-user') RETURNING name) SELECT name FROM ins").Scan(&inserted).Error)
			assert.Equal(t, []string{"cte-user"}, inserted)
			assert.EqualValues(t, 3, f.primary.Count(t, "users"), "a CTE containing INSERT is a write")
		}
	})
}

func TestScopeBeatsContextBeatsModelBeatsDefault(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		f := newFixture(t, b)
		ctx := context.Background()
		writing := f.db.WithContext(grant.ConnectedTo(ctx, grant.Connection{Role: grant.Writing}))
		assert.Equal(t, []string{"writer-user"}, userNames(t, writing), "context role")
		assert.Equal(t, []string{"replica-user"}, userNames(t, writing.Scopes(grant.Role(grant.Reading))), "scope beats context")
		assert.Equal(t, []string{"writer-user"}, userNames(t, f.db.Scopes(grant.Role(grant.Writing))), "scope role")
		assert.Equal(t, []string{"reports-user"}, userNames(t, f.db.Scopes(grant.Role("reports"))), "custom role")

		analytics := grant.ConnectedTo(ctx, grant.Connection{Database: "analytics"})
		assert.Equal(t, []string{"analytics-user"}, userNames(t, f.db.WithContext(analytics)), "context database beats the default")
		assert.Equal(t, []string{"replica-user"}, userNames(t, f.db.WithContext(analytics).Scopes(grant.UseDatabase("primary"))), "scope database beats context")

		var events []Event
		require.NoError(t, f.db.Find(&events).Error)
		require.Len(t, events, 1, "the model's ConnectsTo sends Event to analytics")
		assert.Equal(t, "analytics-event", events[0].Name)
		require.NoError(t, f.db.Create(&Event{Name: "e2"}).Error)
		assert.Equal(t, with("events", map[string]int64{"analytics": 2}), f.counts(t, "events"))

		primaryCtx := grant.ConnectedTo(ctx, grant.Connection{Database: "primary", Role: grant.Writing})
		require.NoError(t, f.db.WithContext(primaryCtx).Create(&Event{Name: "e3"}).Error)
		assert.Equal(t, with("events", map[string]int64{"analytics": 2, "primary": 1}), f.counts(t, "events"), "context beats the model")

		// Nesting: innermost wins, and the outer context is untouched.
		inner := grant.ConnectedTo(analytics, grant.Connection{Role: grant.Writing})
		assert.Equal(t, []string{"analytics-user"}, userNames(t, f.db.WithContext(inner)))
		back := grant.ConnectedTo(inner, grant.Connection{Database: "primary", Role: grant.Reading})
		assert.Equal(t, []string{"replica-user"}, userNames(t, f.db.WithContext(back)))
		assert.Equal(t, []string{"replica-user"}, userNames(t, f.db), "no switch leaks outside its context")
	})
}

func TestConfigTablesMapModelsAndRawSQL(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		f := newFixture(t, b, func(_ *gorm.Config, c *grant.Config) { c.Tables = map[string]string{"users": "analytics"} })
		assert.Equal(t, []string{"analytics-user"}, userNames(t, f.db), "users mapped by table name")
		require.NoError(t, f.db.Exec("INSERT INTO users (name) VALUES ('raw')").Error)
		assert.Equal(t, with("users", map[string]int64{"analytics": 2}), f.counts(t, "users"), "raw SQL mapped by its table")
		var names []string
		require.NoError(t, f.db.Table("users").Select("name").Order("name").Scan(&names).Error)
		assert.Equal(t, []string{"analytics-user", "raw"}, names)
	})
}

func TestDBResolverClausesKeepTheirMeaning(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		f := newFixture(t, b)
		assert.Equal(t, []string{"writer-user"}, userNames(t, f.db.Clauses(dbresolver.Write)))
		assert.Equal(t, []string{"replica-user"}, userNames(t, f.db.Clauses(dbresolver.Read)))
		var names []string
		require.NoError(t, f.db.Clauses(dbresolver.Write).Raw("SELECT name FROM users").Scan(&names).Error)
		assert.Equal(t, []string{"writer-user"}, names)
		assert.Equal(t, []string{"analytics-user"}, userNames(t, f.db.Clauses(dbresolver.Use("analytics"))))
	})
}
