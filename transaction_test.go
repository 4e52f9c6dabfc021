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

func TestTransactionBeginsWhereItsFirstStatementRoutes(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		f := newFixture(t, b)
		err := f.db.Transaction(func(tx *gorm.DB) error {
			if err := tx.Create(&Event{Name: "in-tx"}).Error; err != nil {
				return err
			}
			var events []Event
			if err := tx.Find(&events).Error; err != nil {
				return err
			}
			assert.Len(t, events, 2, "reads inside see the transaction's own write")
			// Raw SQL scanned into a plain struct follows the transaction:
			// the struct is a destination, not a model that lives somewhere.
			var counted struct{ N int }
			if err := tx.Raw("SELECT count(*) AS n FROM events").Find(&counted).Error; err != nil {
				return err
			}
			assert.Equal(t, 2, counted.N)
			// A raw statement with no table follows the transaction.
			return tx.Exec("UPDATE events SET name = 'renamed' WHERE name = 'in-tx'").Error
		})
		require.NoError(t, err)
		assert.Equal(t, with("events", map[string]int64{"analytics": 2}), f.counts(t, "events"), "committed on analytics, the model's database")
		var renamed int64
		require.NoError(t, f.analytics.Open(t).Model(&Event{}).Where("name = 'renamed'").Count(&renamed).Error)
		assert.EqualValues(t, 1, renamed)

		// Reads in a transaction never go to a replica.
		require.NoError(t, f.db.Transaction(func(tx *gorm.DB) error {
			assert.Equal(t, []string{"writer-user"}, userNames(t, tx))
			return nil
		}))
	})
}

func TestTransactionRollsBackOnItsDatabase(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		f := newFixture(t, b)
		errStop := errors.New("stop")
		err := f.db.Transaction(func(tx *gorm.DB) error {
			require.NoError(t, tx.Create(&Event{Name: "doomed"}).Error)
			return errStop
		})
		require.ErrorIs(t, err, errStop)
		assert.Equal(t, seeded["events"], f.counts(t, "events"))

		// db.Begin with the database named by the context.
		ctx := grant.ConnectedTo(context.Background(), grant.Connection{Database: "analytics"})
		tx := f.db.WithContext(ctx).Begin()
		require.NoError(t, tx.Error)
		require.NoError(t, tx.Exec("INSERT INTO users (name) VALUES ('begun')").Error)
		require.NoError(t, tx.Commit().Error)
		assert.Equal(t, with("users", map[string]int64{"analytics": 2}), f.counts(t, "users"))

		// db.Begin with the database named by a scope.
		tx = f.db.Scopes(grant.UseDatabase("analytics")).Begin()
		require.NoError(t, tx.Create(&User{Name: "scoped"}).Error)
		require.NoError(t, tx.Rollback().Error)
		assert.Equal(t, with("users", map[string]int64{"analytics": 2}), f.counts(t, "users"))
	})
}

func TestHookErrorRollsBackTheRoutedDatabase(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		f := newFixture(t, b)
		err := f.db.Create(&HookedEvent{Name: "boom"}).Error
		require.ErrorIs(t, err, errHook)
		assert.Equal(t, seeded["events"], f.counts(t, "events"), "GORM's default transaction began on analytics and rolled back there")
		require.NoError(t, f.db.Create(&HookedEvent{Name: "fine"}).Error)
		assert.Equal(t, with("events", map[string]int64{"analytics": 2}), f.counts(t, "events"))
	})
}

func TestCrossDatabaseStatementInTransactionIsRefused(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		f := newFixture(t, b)
		err := f.db.Transaction(func(tx *gorm.DB) error {
			require.NoError(t, tx.Create(&Event{Name: "first"}).Error)
			return tx.Create(&User{Name: "elsewhere"}).Error
		})
		require.ErrorIs(t, err, grant.ErrCrossDatabaseTransaction)
		assert.Contains(t, err.Error(), `the transaction is on database "analytics"`)
		assert.Equal(t, seeded["users"], f.counts(t, "users"), "the user row went nowhere")
		assert.Equal(t, seeded["events"], f.counts(t, "events"), "and the event rolled back")

		err = f.db.Transaction(func(tx *gorm.DB) error {
			require.NoError(t, tx.Create(&User{Name: "first"}).Error)
			return tx.Scopes(grant.UseDatabase("analytics")).Exec("DELETE FROM users").Error
		})
		require.ErrorIs(t, err, grant.ErrCrossDatabaseTransaction)
		assert.Equal(t, seeded["users"], f.counts(t, "users"))
	})
}

func TestNestedTransactionsAndSavepoints(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		f := newFixture(t, b)
		errInner := errors.New("inner fails")
		err := f.db.Transaction(func(tx *gorm.DB) error {
			// The savepoint comes before anything chose the database; it is
			// replayed on analytics once the first event routes there.
			_ = tx.Transaction(func(inner *gorm.DB) error {
				require.NoError(t, inner.Create(&Event{Name: "rolled-back"}).Error)
				return errInner
			})
			return tx.Create(&Event{Name: "kept"}).Error
		})
		require.NoError(t, err)
		var names []string
		require.NoError(t, f.analytics.Open(t).Model(&Event{}).Order("name").Pluck("name", &names).Error)
		assert.Equal(t, []string{"analytics-event", "kept"}, names)
	})
}

func TestAssociationInDefaultTransactionCannotCrossDatabases(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		f := newFixture(t, b)
		// A hook that writes to another database through GORM's default
		// transaction would put the row in the wrong database.
		err := f.db.Create(&UserWithAudit{Name: "audited"}).Error
		require.ErrorIs(t, err, grant.ErrCrossDatabaseTransaction)
		assert.Equal(t, seeded["users"], f.counts(t, "users"))
		assert.Equal(t, seeded["events"], f.counts(t, "events"))
	})
}

// UserWithAudit writes an Event (analytics) from a hook running inside the
// default transaction on primary.
type UserWithAudit struct {
	ID   uint   `gorm:"primaryKey"`
	Name string `gorm:"size:100"`
}

func (UserWithAudit) TableName() string { return "users" }
func (u *UserWithAudit) AfterCreate(tx *gorm.DB) error {
	return tx.Create(&Event{Name: "audit " + u.Name}).Error
}
