package grant_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

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

// plainHandle opens a handle without grant on a new database seeded like
// the fixture's primary writer (users: writer-user), and returns a second,
// direct handle to read what the first left there.
func plainHandle(t *testing.T, b *testdb.Backend, g *gorm.Config) (db, direct *gorm.DB) {
	t.Helper()
	d := b.CreateDatabase(t, "plain")
	direct = d.Open(t)
	require.NoError(t, direct.AutoMigrate(&User{}, &Event{}))
	require.NoError(t, direct.Create(&User{Name: "writer-user"}).Error)
	g.Logger = logger.Discard
	db, err := gorm.Open(d.Dialector(), g)
	require.NoError(t, err)
	t.Cleanup(func() {
		if sqlDB, err := db.DB(); err == nil {
			_ = sqlDB.Close()
		}
	})
	return db, direct
}

func prepareStmt(on bool) fixtureOption {
	return func(g *gorm.Config, _ *grant.Config) { g.PrepareStmt = on }
}

// outcome is what a program returned and the users it left in the
// database its handle writes to.
type outcome struct {
	err   error
	users []string
}

// compatCase is a program that must behave the same with and without grant.
type compatCase struct {
	name    string
	program func(db *gorm.DB) error
	says    string // both errors contain it; "" for no error
	exact   bool   // both return nil, or errors with the same text (says unused)
	both    bool   // run with PrepareStmt too
}

// sameWithAndWithoutGrant runs each case on a handle without grant and on a
// fixture's, with gorm.Config.PrepareStmt off and then on, resetting users
// to the seeded row before each; a case that closes the handle comes last.
func sameWithAndWithoutGrant(t *testing.T, cases []compatCase) {
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		for _, prepared := range []bool{false, true} {
			plainDB, plainDirect := plainHandle(t, b, &gorm.Config{PrepareStmt: prepared})
			f := newFixture(t, b, prepareStmt(prepared))
			grantDirect := f.primary.Open(t)
			run := func(t *testing.T, db, direct *gorm.DB, program func(*gorm.DB) error) (o outcome) {
				require.NoError(t, direct.Where("name <> ?", "writer-user").Delete(&User{}).Error)
				o.err = program(db)
				require.NoError(t, direct.Model(&User{}).Order("name").Pluck("name", &o.users).Error)
				return o
			}
			for _, tc := range cases {
				if prepared && !tc.both {
					continue
				}
				t.Run(fmt.Sprintf("%s (PrepareStmt %v)", tc.name, prepared), func(t *testing.T) {
					plain := run(t, plainDB, plainDirect, tc.program)
					granted := run(t, f.db, grantDirect, tc.program)
					switch {
					case tc.exact && plain.err != nil:
						require.Error(t, granted.err)
						assert.Equal(t, plain.err.Error(), granted.err.Error())
					case tc.says == "":
						require.NoError(t, plain.err, "without grant")
						require.NoError(t, granted.err, "with grant")
					default:
						require.ErrorContains(t, plain.err, tc.says, "without grant")
						require.ErrorContains(t, granted.err, tc.says, "with grant")
					}
					assert.Equal(t, plain.users, granted.users)
				})
			}
		}
	})
}

var errInner = errors.New("inner fails")

// TestTransactionErrorsAsWithoutGrant runs the same programs with and
// without grant: they must return the same errors and leave the same rows.
// A statement failing after BEGIN, its error dropped, then Commit: grant
// passes the server's answer through (PostgreSQL refuses to commit the
// aborted transaction; SQLite and MariaDB commit what succeeded).
func TestTransactionErrorsAsWithoutGrant(t *testing.T) {
	t.Parallel()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	sameWithAndWithoutGrant(t, []compatCase{
		{name: "Transaction with a cancelled context", says: "context canceled", both: true, program: func(db *gorm.DB) error {
			return db.WithContext(cancelled).Transaction(func(tx *gorm.DB) error {
				_ = tx.Find(&[]User{}).Error
				_ = tx.Create(&User{Name: "after-failed-begin"}).Error
				return nil
			})
		}},
		{name: "Begin, dropped error, Commit with a cancelled context", says: "context canceled", program: func(db *gorm.DB) error {
			tx := db.WithContext(cancelled).Begin()
			_ = tx.Create(&User{Name: "after-failed-begin"}).Error
			return tx.Commit().Error
		}},
		{name: "Transaction returning the BEGIN error", says: "context canceled", program: func(db *gorm.DB) error {
			return db.WithContext(cancelled).Transaction(func(tx *gorm.DB) error {
				return tx.Find(&[]User{}).Error
			})
		}},
		{name: "dropped statement error then Commit", exact: true, both: true, program: func(db *gorm.DB) error {
			return db.Transaction(func(tx *gorm.DB) error {
				require.NoError(t, tx.Create(&User{Name: "before-the-error"}).Error)
				require.Error(t, tx.Create(&User{ID: 1, Name: "duplicate-key"}).Error)
				return nil
			})
		}},
		{name: "nested transactions and savepoints", both: true, program: func(db *gorm.DB) error {
			return db.Transaction(func(tx *gorm.DB) error {
				_ = tx.Transaction(func(inner *gorm.DB) error { // before anything chose the database
					require.NoError(t, inner.Create(&User{Name: "inner-rolled-back"}).Error)
					return errInner
				})
				require.NoError(t, tx.Create(&User{Name: "outer"}).Error)
				_ = tx.Transaction(func(inner *gorm.DB) error {
					require.NoError(t, inner.Create(&User{Name: "inner-rolled-back-too"}).Error)
					return errInner
				})
				return tx.Transaction(func(inner *gorm.DB) error {
					return inner.Create(&User{Name: "inner-kept"}).Error
				})
			})
		}},
		{name: "nested transaction failing the outer one", says: "inner fails", program: func(db *gorm.DB) error {
			return db.Transaction(func(tx *gorm.DB) error {
				require.NoError(t, tx.Create(&User{Name: "outer-rolled-back"}).Error)
				return tx.Transaction(func(inner *gorm.DB) error { return errInner })
			})
		}},
		{name: "empty Transaction with a cancelled context", says: "context canceled", both: true, program: func(db *gorm.DB) error {
			return db.WithContext(cancelled).Transaction(func(tx *gorm.DB) error { return nil })
		}},
		{name: "empty Begin then Rollback", both: true, program: func(db *gorm.DB) error {
			return db.Begin().Rollback().Error
		}},
		{name: "Transaction after sqlDB.Close", says: "sql: database is closed", both: true, program: func(db *gorm.DB) error {
			sqlDB, err := db.DB()
			require.NoError(t, err)
			require.NoError(t, sqlDB.Close())
			// GORM's own TestTransactionOnClosedConn: even a transaction
			// that runs nothing must fail to commit.
			if err := db.Transaction(func(tx *gorm.DB) error { return nil }); err == nil {
				return errors.New("an empty transaction committed on a closed database")
			}
			return db.Transaction(func(tx *gorm.DB) error {
				_ = tx.Find(&[]User{}).Error
				_ = tx.Create(&User{Name: "after-failed-begin"}).Error
				return nil
			})
		}},
	})
}

// unreachable returns a dialector for a server (or file) that cannot be
// reached, of b's kind.
func unreachable(t *testing.T, b *testdb.Backend) gorm.Dialector {
	switch b.Name {
	case testdb.NamePostgres:
		return postgres.Open("host=127.0.0.1 port=1 user=postgres dbname=gone sslmode=disable connect_timeout=2")
	case testdb.NameMariaDB:
		return mysql.Open("root@tcp(127.0.0.1:1)/gone?timeout=2s")
	default:
		return sqlite.Open(filepath.Join(t.TempDir(), "missing", "gone.db") + "?mode=rw")
	}
}

// TestFailedBeginPoisonsTheTransaction: the first statement's BEGIN fails
// on analytics; a later statement for primary must not begin there instead,
// and the transaction must not report a commit.
func TestFailedBeginPoisonsTheTransaction(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		f := newFixture(t, b, func(_ *gorm.Config, c *grant.Config) {
			c.Databases["analytics"] = grant.DatabaseConfig{Writer: &grant.NodeConfig{Dialector: unreachable(t, b)}}
		})
		var first, later []error
		err := f.db.Transaction(func(tx *gorm.DB) error {
			first = append(first, tx.Create(&Event{Name: "lost"}).Error)
			var n int
			later = append(later,
				tx.Create(&User{Name: "half"}).Error,
				tx.Find(&[]User{}).Error,
				tx.Exec("SAVEPOINT sp1").Error,
				tx.Exec("UPDATE users SET name = 'half'").Error,
				tx.Raw("SELECT 1").Row().Scan(&n),
				tx.Raw("SAVEPOINT sp2").Row().Err(),
			)
			// GORM's dialects differ on reporting a failed SAVEPOINT (MySQL's
			// makes tx's error sticky, PostgreSQL's and SQLite's drop it), so
			// only the outcome of a nested transaction is checked: no commit.
			_ = tx.Transaction(func(inner *gorm.DB) error { return inner.Create(&User{Name: "nested"}).Error })
			return nil // the caller dropped every error
		})
		require.Error(t, first[0])
		assert.Contains(t, first[0].Error(), "analytics/writing/writer")
		require.Error(t, err, "Commit reports the failed BEGIN")
		assert.ErrorContains(t, err, first[0].Error())
		for i, e := range later {
			assert.Error(t, e, "statement %d after the failed BEGIN", i)
		}
		assert.Equal(t, seeded["users"], f.counts(t, "users"), "nothing after the failed BEGIN was committed anywhere")

		// By hand: Commit and Rollback report it too, once.
		tx := f.db.Begin()
		require.NoError(t, tx.Error)
		beginErr := tx.Create(&Event{Name: "lost"}).Error
		require.Error(t, beginErr)
		assert.Equal(t, beginErr.Error(), tx.Create(&User{Name: "half"}).Error.Error(), "a later statement gets the BEGIN's error")
		assert.Equal(t, beginErr.Error(), tx.Commit().Error.Error())
		assert.Equal(t, seeded["users"], f.counts(t, "users"))

		tx = f.db.Begin()
		require.Error(t, tx.Create(&Event{Name: "lost"}).Error)
		assert.ErrorContains(t, tx.Rollback().Error, "analytics/writing/writer")

		// A transaction that runs nothing begins where its context points
		// when it commits, as GORM's BEGIN would: analytics cannot begin.
		toAnalytics := grant.ConnectedTo(context.Background(), grant.Connection{Database: "analytics"})
		assert.ErrorContains(t, f.db.WithContext(toAnalytics).Transaction(func(*gorm.DB) error { return nil }), "analytics/writing/writer")
		require.NoError(t, f.db.Transaction(func(*gorm.DB) error { return nil }), "an empty transaction on primary commits")

		// A transaction whose BEGIN succeeded is unaffected.
		require.NoError(t, f.db.Transaction(func(tx *gorm.DB) error { return tx.Create(&User{Name: "fine"}).Error }))
		assert.Equal(t, with("users", map[string]int64{"primary": 2}), f.counts(t, "users"))
	})
}
