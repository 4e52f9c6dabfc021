package grant_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/glebarez/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/grant-go/grant"
)

// The examples run on SQLite files. SQLite has no replication, so a
// "replica" here is a separate file seeded with rows of its own: a read that
// returns them visibly came from that replica.

// ExUser lives in the default database.
type ExUser struct {
	ID   uint   `gorm:"primaryKey"`
	Name string `gorm:"size:100"`
}

// ExEvent declares that it lives in the analytics database.
type ExEvent struct {
	ID   uint   `gorm:"primaryKey"`
	Name string `gorm:"size:100"`
}

func (ExEvent) ConnectsTo() grant.Connection { return grant.Database("analytics") }

// exSQLiteFile creates dir/name.db with the ex_users and ex_events tables,
// seeds ex_users with users, and returns the file's DSN.
func exSQLiteFile(dir, name string, users ...string) string {
	dsn := filepath.Join(dir, name+".db") + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)"
	db, err := gorm.Open(sqlite.Open(dsn), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		log.Fatal(err)
	}
	defer exClose(db)
	if err := db.AutoMigrate(&ExUser{}, &ExEvent{}); err != nil {
		log.Fatal(err)
	}
	for _, u := range users {
		if err := db.Create(&ExUser{Name: u}).Error; err != nil {
			log.Fatal(err)
		}
	}
	return dsn
}

// exOpen opens a handle on dsn and installs grant with cfg.
func exOpen(dsn string, cfg grant.Config) *gorm.DB {
	db, err := gorm.Open(sqlite.Open(dsn), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		log.Fatal(err)
	}
	if err := db.Use(grant.New(cfg)); err != nil {
		log.Fatal(err)
	}
	return db
}

// exClose closes grant's pools, if installed, and the handle's own pool.
func exClose(db *gorm.DB) {
	if p, ok := grant.From(db); ok {
		_ = p.Close()
	}
	if sqlDB, err := db.DB(); err == nil {
		_ = sqlDB.Close()
	}
}

// exNames reads the ex_users names through db, sorted.
func exNames(db *gorm.DB) []string {
	var names []string
	if err := db.Model(&ExUser{}).Order("name").Pluck("name", &names).Error; err != nil {
		log.Fatal(err)
	}
	return names
}

func exTempDir() string {
	dir, err := os.MkdirTemp("", "grant-example-")
	if err != nil {
		log.Fatal(err)
	}
	return dir
}

// Install grant on a handle and give its default database a replica: writes
// go to the handle's own connection, reads to the replica.
func Example() {
	dir := exTempDir()
	defer os.RemoveAll(dir)
	primaryDSN := exSQLiteFile(dir, "primary", "writer-row")
	replicaDSN := exSQLiteFile(dir, "replica", "replica-row") // a stand-in for a real replica

	db, err := gorm.Open(sqlite.Open(primaryDSN), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		log.Fatal(err)
	}
	plugin := grant.New(grant.Config{
		Databases: map[string]grant.DatabaseConfig{
			// No Writer: the default database writes through db's own connection.
			"primary": {Replicas: []grant.NodeConfig{{Dialector: sqlite.Open(replicaDSN)}}},
		},
	})
	if err := db.Use(plugin); err != nil {
		log.Fatal(err)
	}
	defer exClose(db)

	if err := db.Create(&ExUser{Name: "new-row"}).Error; err != nil {
		log.Fatal(err)
	}
	fmt.Println("read:", exNames(db))
	fmt.Println("read your own write:", exNames(db.Scopes(grant.Role(grant.Writing))))
	// Output:
	// read: [replica-row]
	// read your own write: [new-row writer-row]
}

// A context carries a Connection to every statement run with it; nothing
// outside that context is affected.
func ExampleConnectedTo() {
	dir := exTempDir()
	defer os.RemoveAll(dir)
	primaryDSN := exSQLiteFile(dir, "primary", "primary-row")
	analyticsDSN := exSQLiteFile(dir, "analytics", "analytics-row")
	db := exOpen(primaryDSN, grant.Config{
		Databases: map[string]grant.DatabaseConfig{
			"analytics": {Writer: &grant.NodeConfig{Dialector: sqlite.Open(analyticsDSN)}},
		},
	})
	defer exClose(db)

	ctx := grant.ConnectedTo(context.Background(), grant.Connection{Database: "analytics"})
	fmt.Println("in ctx:", exNames(db.WithContext(ctx)))
	fmt.Println("elsewhere:", exNames(db))
	// Contexts nest; the innermost Connection wins field by field.
	back := grant.ConnectedTo(ctx, grant.Connection{Database: "primary"})
	fmt.Println("nested:", exNames(db.WithContext(back)))
	// Output:
	// in ctx: [analytics-row]
	// elsewhere: [primary-row]
	// nested: [primary-row]
}

// The Role scope picks the role for one statement, beating the context and
// the model: Writing reads your own writes, Reading refuses writes.
func ExampleRole() {
	dir := exTempDir()
	defer os.RemoveAll(dir)
	primaryDSN := exSQLiteFile(dir, "primary", "writer-row")
	replicaDSN := exSQLiteFile(dir, "replica", "replica-row")
	db := exOpen(primaryDSN, grant.Config{
		Databases: map[string]grant.DatabaseConfig{
			"primary": {Replicas: []grant.NodeConfig{{Dialector: sqlite.Open(replicaDSN)}}},
		},
	})
	defer exClose(db)

	fmt.Println("automatic:", exNames(db))
	fmt.Println("writing:", exNames(db.Scopes(grant.Role(grant.Writing))))
	err := db.Scopes(grant.Role(grant.Reading)).Create(&ExUser{Name: "refused"}).Error
	fmt.Println("write on reading refused:", errors.Is(err, grant.ErrReadOnly))
	// Output:
	// automatic: [replica-row]
	// writing: [writer-row]
	// write on reading refused: true
}

// PreventWrites refuses every write run with the context before anything is
// sent; reads still work, and no inner ConnectedTo can lift it.
func ExamplePreventWrites() {
	dir := exTempDir()
	defer os.RemoveAll(dir)
	db := exOpen(exSQLiteFile(dir, "primary", "writer-row"), grant.Config{})
	defer exClose(db)

	ctx := grant.PreventWrites(context.Background())
	err := db.WithContext(ctx).Create(&ExUser{Name: "blocked"}).Error
	fmt.Println(errors.Is(err, grant.ErrReadOnly))
	fmt.Println(err)
	fmt.Println("reads:", exNames(db.WithContext(ctx)))

	inner := grant.ConnectedTo(ctx, grant.Connection{Role: grant.Writing})
	err = db.WithContext(inner).Exec("DELETE FROM ex_users").Error
	fmt.Println("inner layer:", errors.Is(err, grant.ErrReadOnly))
	// Output:
	// true
	// grant: write refused on a connection that prevents writes: table "ex_users" on route primary/writing
	// reads: [writer-row]
	// inner layer: true
}

// A model names its database with a ConnectsTo method:
//
//	func (ExEvent) ConnectsTo() grant.Connection { return grant.Database("analytics") }
//
// Every statement on ExEvent then goes to analytics unless a scope or context
// says otherwise.
func ExampleDatabase() {
	dir := exTempDir()
	defer os.RemoveAll(dir)
	primaryDSN := exSQLiteFile(dir, "primary")
	analyticsDSN := exSQLiteFile(dir, "analytics")
	db := exOpen(primaryDSN, grant.Config{
		Databases: map[string]grant.DatabaseConfig{
			"analytics": {Writer: &grant.NodeConfig{Dialector: sqlite.Open(analyticsDSN)}},
		},
	})
	defer exClose(db)

	if err := db.Create(&ExEvent{Name: "signup"}).Error; err != nil {
		log.Fatal(err)
	}
	var onAnalytics, onPrimary int64
	if err := db.Model(&ExEvent{}).Count(&onAnalytics).Error; err != nil {
		log.Fatal(err)
	}
	if err := db.Scopes(grant.UseDatabase("primary")).Model(&ExEvent{}).Count(&onPrimary).Error; err != nil {
		log.Fatal(err)
	}
	fmt.Println("events on analytics:", onAnalytics)
	fmt.Println("events on primary:", onPrimary)
	// Output:
	// events on analytics: 1
	// events on primary: 0
}

// RoundRobinPolicy sends reads to each replica in turn.
func ExampleRoundRobinPolicy() {
	dir := exTempDir()
	defer os.RemoveAll(dir)
	primaryDSN := exSQLiteFile(dir, "primary", "writer-row")
	replicaA := exSQLiteFile(dir, "replica-a", "replica-a-row")
	replicaB := exSQLiteFile(dir, "replica-b", "replica-b-row")
	db := exOpen(primaryDSN, grant.Config{
		Databases: map[string]grant.DatabaseConfig{
			"primary": {
				Replicas: []grant.NodeConfig{{Dialector: sqlite.Open(replicaA)}, {Dialector: sqlite.Open(replicaB)}},
				Policy:   grant.RoundRobinPolicy(),
			},
		},
	})
	defer exClose(db)

	for range 4 {
		fmt.Println(exNames(db))
	}
	// Output:
	// [replica-a-row]
	// [replica-b-row]
	// [replica-a-row]
	// [replica-b-row]
}
