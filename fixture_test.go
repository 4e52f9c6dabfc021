package grant_test

import (
	"errors"
	"sort"
	"testing"

	"github.com/glebarez/sqlite"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/testdb"
)

// User lives in the default database.
type User struct {
	ID   uint   `gorm:"primaryKey"`
	Name string `gorm:"size:100"`
}

// Event lives in the analytics database, by its own declaration.
type Event struct {
	ID   uint   `gorm:"primaryKey"`
	Name string `gorm:"size:100"`
}

func (Event) ConnectsTo() grant.Connection { return grant.Database("analytics") }

// HookedEvent shares Event's table; its AfterCreate hook fails for "boom",
// which must roll the row back on analytics.
type HookedEvent struct {
	ID   uint   `gorm:"primaryKey"`
	Name string `gorm:"size:100"`
}

func (HookedEvent) TableName() string                { return "events" }
func (HookedEvent) ConnectsTo() grant.Connection     { return grant.Database("analytics") }
func (e *HookedEvent) AfterCreate(tx *gorm.DB) error { return hookError(e.Name) }

var errHook = errors.New("hook refused the row")

func hookError(name string) error {
	if name == "boom" {
		return errHook
	}
	return nil
}

// Ghost declares a database nobody configured.
type Ghost struct {
	ID uint `gorm:"primaryKey"`
}

func (Ghost) ConnectsTo() grant.Connection { return grant.Database("nowhere") }

// fixture is a topology on real databases. Every physical database holds
// users and events tables seeded with one row naming the node, so a read
// tells which node served it:
//
//	primary   writer  P  users: writer-user      events: -
//	primary   reading R  users: replica-user     events: -
//	primary   reports X  users: reports-user     events: -
//	analytics writer  A  users: analytics-user   events: analytics-event
type fixture struct {
	db                                   *gorm.DB
	plugin                               *grant.Plugin
	primary, replica, reports, analytics *testdb.Database
	backend                              *testdb.Backend
}

type fixtureOption func(*gorm.Config, *grant.Config)

func newFixture(t *testing.T, b *testdb.Backend, opts ...fixtureOption) *fixture {
	t.Helper()
	f := &fixture{
		backend:   b,
		primary:   b.CreateDatabase(t, "primary"),
		replica:   b.CreateDatabase(t, "replica"),
		reports:   b.CreateDatabase(t, "reports"),
		analytics: b.CreateDatabase(t, "analytics"),
	}
	seed := map[*testdb.Database]string{f.primary: "writer-user", f.replica: "replica-user", f.reports: "reports-user", f.analytics: "analytics-user"}
	for d, name := range seed {
		direct := d.Open(t)
		require.NoError(t, direct.AutoMigrate(&User{}, &Event{}))
		require.NoError(t, direct.Create(&User{Name: name}).Error)
	}
	require.NoError(t, f.analytics.Open(t).Create(&Event{Name: "analytics-event"}).Error)

	gormConfig := &gorm.Config{Logger: logger.Discard}
	cfg := grant.Config{
		Databases: map[string]grant.DatabaseConfig{
			"primary": {
				Replicas: []grant.NodeConfig{{Dialector: f.replica.Dialector()}},
				Roles:    map[string][]grant.NodeConfig{"reports": {{DSN: f.reports.DSN, Adapter: f.reports.Adapter()}}},
			},
			"analytics": {Writer: &grant.NodeConfig{Dialector: f.analytics.Dialector()}},
		},
		Adapters: map[string]grant.Adapter{"sqlite": func(dsn string) gorm.Dialector { return sqlite.Open(dsn) }},
	}
	for _, o := range opts {
		o(gormConfig, &cfg)
	}
	db, err := gorm.Open(f.primary.Dialector(), gormConfig)
	require.NoError(t, err)
	f.plugin = grant.New(cfg)
	require.NoError(t, db.Use(f.plugin))
	t.Cleanup(func() {
		_ = f.plugin.Close()
		if sqlDB, err := db.DB(); err == nil {
			_ = sqlDB.Close()
		}
	})
	f.db = db
	return f
}

// userNames reads the names in users through db, sorted.
func userNames(t *testing.T, db *gorm.DB) []string {
	t.Helper()
	var users []User
	require.NoError(t, db.Order("name").Find(&users).Error)
	return namesOf(users)
}

func namesOf(users []User) []string {
	names := make([]string, len(users))
	for i, u := range users {
		names[i] = u.Name
	}
	sort.Strings(names)
	return names
}

// counts returns each physical database's row count of table.
func (f *fixture) counts(t *testing.T, table string) map[string]int64 {
	return map[string]int64{
		"primary":   f.primary.Count(t, table),
		"replica":   f.replica.Count(t, table),
		"reports":   f.reports.Count(t, table),
		"analytics": f.analytics.Count(t, table),
	}
}

// seeded is the row counts right after newFixture.
var seeded = map[string]map[string]int64{
	"users":  {"primary": 1, "replica": 1, "reports": 1, "analytics": 1},
	"events": {"primary": 0, "replica": 0, "reports": 0, "analytics": 1},
}

// with returns the seeded counts of table with some changed.
func with(table string, changes map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range seeded[table] {
		out[k] = v
	}
	for k, v := range changes {
		out[k] = v
	}
	return out
}
