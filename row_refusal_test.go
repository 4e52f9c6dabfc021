package grant_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/testdb"
)

// TestRefusedRowCarriesTheError: whatever grant refuses, Row() returns a
// *sql.Row whose Err and Scan report the refusal — never nil or a zero
// sql.Row, whose Scan panics — and nothing reaches a database.
func TestRefusedRowCarriesTheError(t *testing.T) {
	t.Parallel()
	bg := context.Background()
	cancelled, cancel := context.WithCancel(bg)
	cancel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		for _, prepared := range []bool{false, true} {
			f := newFixture(t, b, prepareStmt(prepared))
			preventing := f.db.WithContext(grant.PreventWrites(bg))
			cases := []struct {
				name string
				row  func() *sql.Row
				is   error
				says string
			}{
				{"raw write under PreventWrites", func() *sql.Row { return preventing.Raw("DELETE FROM users").Row() },
					grant.ErrReadOnly, `table "users"`},
				{"locking read under PreventWrites", func() *sql.Row {
					return preventing.Model(&User{}).Clauses(clause.Locking{Strength: "UPDATE"}).Select("name").Row()
				}, grant.ErrReadOnly, "write refused"},
				{"raw write on the reading role", func() *sql.Row {
					return f.db.Scopes(grant.Role(grant.Reading)).Raw("UPDATE users SET name = 'x'").Row()
				}, grant.ErrReadOnly, "primary/reading"},
				{"unknown database scope", func() *sql.Row {
					return f.db.Scopes(grant.UseDatabase("nope")).Model(&User{}).Select("name").Row()
				}, grant.ErrUnknownDatabase, `"nope" is not configured`},
				{"unknown role context", func() *sql.Row {
					return f.db.WithContext(grant.ConnectedTo(bg, grant.Connection{Role: "nope"})).Model(&User{}).Select("name").Row()
				}, grant.ErrUnknownRole, "primary/nope"},
				{"model declaring a missing database", func() *sql.Row { return f.db.Model(&Ghost{}).Select("id").Row() },
					grant.ErrUnknownDatabase, "model Ghost declares it"},
				{"cross-database statement in a transaction", func() *sql.Row {
					tx := f.db.Begin()
					defer tx.Rollback()
					require.NoError(t, tx.Create(&Event{Name: "in-tx"}).Error)
					return tx.Model(&User{}).Select("name").Row()
				}, grant.ErrCrossDatabaseTransaction, `the transaction is on database "analytics"`},
				{"savepoint read before BEGIN", func() *sql.Row {
					tx := f.db.Begin()
					defer tx.Rollback()
					return tx.Raw("SAVEPOINT sp1").Row()
				}, nil, "transaction has not begun"},
				{"savepoint read before BEGIN, cancelled context", func() *sql.Row {
					tx := f.db.Begin()
					defer tx.Rollback()
					return tx.WithContext(cancelled).Raw("SAVEPOINT sp1").Row()
				}, nil, "transaction has not begun"},
				{"the transaction's own QueryRowContext before BEGIN", func() *sql.Row {
					tx := f.db.Begin()
					defer tx.Rollback()
					pool := tx.Statement.ConnPool
					if p, ok := pool.(*gorm.PreparedStmtTX); ok {
						// GORM's own wrapper answers a failed prepare with a
						// zero sql.Row, grant or not: ask grant's transaction.
						pool = p.Tx
					}
					return pool.QueryRowContext(bg, "SELECT 1")
				}, nil, "transaction has not begun"},
				{"statement after Commit", func() *sql.Row {
					tx := f.db.Begin()
					require.NoError(t, tx.Create(&User{Name: "committed"}).Error)
					require.NoError(t, tx.Commit().Error)
					return tx.Raw("SELECT name FROM users").Row()
				}, sql.ErrTxDone, ""},
				{"savepoint after Commit of an unbegun transaction", func() *sql.Row {
					tx := f.db.Begin()
					require.NoError(t, tx.Commit().Error)
					return tx.Raw("SAVEPOINT sp1").Row()
				}, sql.ErrTxDone, ""},
			}
			for _, tc := range cases {
				var row *sql.Row
				require.NotPanics(t, func() { row = tc.row() }, tc.name)
				require.NotNil(t, row, tc.name)
				var dest any
				var scanErr error
				require.NotPanics(t, func() { scanErr = row.Scan(&dest) }, "%s: Scan", tc.name)
				for what, err := range map[string]error{"Err": row.Err(), "Scan": scanErr} {
					require.Error(t, err, "%s: %s", tc.name, what)
					if tc.is != nil {
						assert.ErrorIs(t, err, tc.is, "%s: %s", tc.name, what)
					}
					assert.Contains(t, err.Error(), tc.says, "%s: %s", tc.name, what)
				}
			}
			assert.Equal(t, with("users", map[string]int64{"primary": 2}), f.counts(t, "users"),
				"only the committed row was written")
			assert.Equal(t, seeded["events"], f.counts(t, "events"))
		}
	})
}
