package grant_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/testdb"
)

func TestWritesUnderPreventWritesReachNoDatabase(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		f := newFixture(t, b)
		ctx := grant.PreventWrites(context.Background())
		guarded := f.db.WithContext(ctx)
		attempts := map[string]error{
			"create":           guarded.Create(&User{Name: "x"}).Error,
			"create event":     guarded.Create(&Event{Name: "x"}).Error,
			"update":           guarded.Model(&User{}).Where("1 = 1").Update("name", "x").Error,
			"delete":           guarded.Where("1 = 1").Delete(&User{}).Error,
			"raw insert":       guarded.Exec("INSERT INTO users (name) VALUES ('x')").Error,
			"commented delete": guarded.Exec("/* cleanup */ DELETE FROM users").Error,
			"raw via Raw":      guarded.Raw("UPDATE users SET name = 'x'").Scan(&[]User{}).Error,
			"reading role":     f.db.Scopes(grant.Role(grant.Reading)).Create(&User{Name: "x"}).Error,
			"reading context":  f.db.WithContext(grant.ConnectedTo(context.Background(), grant.Connection{Role: grant.Reading})).Exec("DELETE FROM users").Error,
			"inner context cannot lift it": f.db.WithContext(grant.ConnectedTo(ctx, grant.Connection{Role: grant.Writing})).
				Create(&User{Name: "x"}).Error,
			"transaction": guarded.Transaction(func(tx *gorm.DB) error { return tx.Create(&User{Name: "x"}).Error }),
		}
		for name, err := range attempts {
			require.Error(t, err, name)
			assert.ErrorIs(t, err, grant.ErrReadOnly, name)
			var routeErr *grant.RouteError
			if assert.True(t, errors.As(err, &routeErr), name) {
				assert.NotEmpty(t, routeErr.Table, name)
				assert.Contains(t, err.Error(), "table", name)
			}
		}
		assert.Equal(t, seeded["users"], f.counts(t, "users"), "no write reached any database")
		assert.Equal(t, seeded["events"], f.counts(t, "events"))

		// Reads still work, and go where they always go.
		assert.Equal(t, []string{"replica-user"}, userNames(t, guarded))
		var one int
		require.NoError(t, guarded.Raw("SELECT 1").Scan(&one).Error)
		require.NoError(t, guarded.Exec("SELECT 1").Error, "an Exec that only reads is allowed")
	})
}

func TestBadNamesFailWithoutWriting(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		f := newFixture(t, b)
		bg := context.Background()
		cases := []struct {
			name string
			err  error
			is   error
			says string
		}{
			{"unknown database scope", f.db.Scopes(grant.UseDatabase("nope")).Create(&User{Name: "x"}).Error, grant.ErrUnknownDatabase, "configured databases: analytics, primary"},
			{"unknown database context", f.db.WithContext(grant.ConnectedTo(bg, grant.Connection{Database: "nope"})).Create(&User{Name: "x"}).Error, grant.ErrUnknownDatabase, `"nope"`},
			{"unknown role scope", f.db.Scopes(grant.Role("nope")).Create(&User{Name: "x"}).Error, grant.ErrUnknownRole, "has roles: writing, reading, reports"},
			{"unknown role context", f.db.WithContext(grant.ConnectedTo(bg, grant.Connection{Role: "nope"})).Find(&[]User{}).Error, grant.ErrUnknownRole, "primary/nope"},
			{"empty role scope", f.db.Scopes(grant.Role("")).Create(&User{Name: "x"}).Error, grant.ErrInvalidConfig, "empty"},
			{"model declaring a missing database", f.db.Create(&Ghost{}).Error, grant.ErrUnknownDatabase, "model Ghost declares it"},
		}
		for _, tc := range cases {
			require.Error(t, tc.err, tc.name)
			assert.ErrorIs(t, tc.err, tc.is, tc.name)
			assert.Contains(t, tc.err.Error(), tc.says, tc.name)
		}
		assert.Equal(t, seeded["users"], f.counts(t, "users"))
	})
}

// Issue 11, item 2: raw SQL is read as the server reads it, so text that
// hides a write from a naive lexer is refused under prevention, and row
// counts stay as they were. Reads that only look odd still run.
func TestPreventWritesReadsSQLAsTheServerDoes(t *testing.T) {
	t.Parallel()
	writes := map[string][]string{
		"postgres": {
			`SELECT '\'; DELETE FROM users; -- '`, // standard_conforming_strings: '\' is a whole string
			"SELECT 1 --\r; DELETE FROM users",    // a comment ends at a carriage return
			`SELECT $$ x $$; DELETE FROM users`,
			`SELECT E'\''; DELETE FROM users`,
		},
		"mariadb": {
			`SELECT 1 /*!99999 '*/ ; DELETE FROM users; -- ' */`,
			"SELECT 1 # x\n; DELETE FROM users",
			"BEGIN NOT ATOMIC DELETE FROM users; END",
			"SET STATEMENT max_statement_time=1 FOR DELETE FROM users",
		},
		"sqlite": {
			`SELECT $a(') ; DELETE FROM users; --')`,
		},
	}
	reads := map[string][]string{
		"postgres": {`SELECT E'it\'s'`, `SELECT 'a\'`, `SELECT $tag$ DELETE $tag$`},
		"mariadb":  {`SELECT 'it\'s'`, "SELECT 1 -- DELETE FROM users", "SELECT `delete` FROM (SELECT 1 AS `delete`) AS d"},
		"sqlite":   {`SELECT 'a\'`, `SELECT "delete" FROM (SELECT 1 AS "delete")`},
	}
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		f := newFixture(t, b)
		guarded := f.db.WithContext(grant.PreventWrites(context.Background()))
		for _, text := range append([]string{"SELECT 1; DELETE FROM users", "WITH d AS (DELETE FROM users RETURNING id) SELECT 1"}, writes[b.Name]...) {
			assert.ErrorIs(t, guarded.Exec(text).Error, grant.ErrReadOnly, "Exec %q", text)
			assert.ErrorIs(t, guarded.Raw(text).Scan(&[]User{}).Error, grant.ErrReadOnly, "Raw %q", text)
		}
		assert.Equal(t, seeded["users"], f.counts(t, "users"), "no write reached any database")
		for _, text := range reads[b.Name] {
			var out []map[string]any
			assert.NoError(t, guarded.Raw(text).Scan(&out).Error, "Raw %q", text)
		}
	})
}
