package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/spf13/cobra"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/grant-go/grant"
)

// User lives in the default database, "primary".
type User struct {
	ID   uint   `gorm:"primaryKey"`
	Name string `gorm:"size:100"`
}

// Event declares its own database: grant sends it to "analytics".
type Event struct {
	ID   uint   `gorm:"primaryKey"`
	Name string `gorm:"size:100"`
}

func (Event) ConnectsTo() grant.Connection { return grant.Database("analytics") }

// sqlitePragmas wait for locks instead of failing, and let readers and the
// writer of one file work side by side.
const sqlitePragmas = "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)"

// replicaOnlyUser is seeded on the replica stand-in only, so a read that
// returns it visibly came from the replica.
const replicaOnlyUser = "grace (seeded on the replica only)"

func newDemoCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Watch grant route statements across SQLite databases",
		Long: `demo installs grant on throwaway SQLite files and runs a few statements,
printing each one with its route ("[primary/reading#1] SELECT ..."):

  primary.db          writer of database "primary" (the *gorm.DB's own file)
  primary_replica.db  replica of "primary" (a stand-in: see below)
  analytics.db        writer of database "analytics"
  orders_shard1.db    writer of shard "shard1" of cluster "orders"
  orders_shard2.db    writer of shard "shard2" of cluster "orders"

SQLite has no replication, so the replica is a separate file seeded with a
row the writer lacks: reads that return that row came from the replica.

The files go in a temporary directory removed at the end, unless --dir
names a directory to keep them in (it must not hold them already).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), cmd.OutOrStdout(), dir)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "keep the SQLite files in `DIR` (created if missing)")
	return cmd
}

// demoFiles are the DSNs of the SQLite files.
type demoFiles struct{ primary, replica, analytics, shard1, shard2 string }

// demoStep is one numbered step of the demo.
type demoStep struct {
	title string
	run   func() error
}

func runDemo(ctx context.Context, out io.Writer, dir string) error {
	if dir == "" {
		tmp, err := os.MkdirTemp("", "grant-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var dsns []string
	for _, name := range []string{"primary.db", "primary_replica.db", "analytics.db", "orders_shard1.db", "orders_shard2.db"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("%s already exists: remove it or choose another --dir", p)
		}
		dsns = append(dsns, p+sqlitePragmas)
	}
	files := demoFiles{dsns[0], dsns[1], dsns[2], dsns[3], dsns[4]}
	fmt.Fprintf(out, "SQLite files in %s:\n", dir)
	fmt.Fprintln(out, `  primary.db          writer of "primary"`)
	fmt.Fprintln(out, `  primary_replica.db  replica of "primary": a stand-in, since SQLite has no replication;`)
	fmt.Fprintf(out, "                      a separate file seeded with %q, which the writer lacks\n", replicaOnlyUser)
	fmt.Fprintln(out, `  analytics.db        writer of "analytics"`)
	fmt.Fprintln(out, `  orders_shard1.db    writer of shard "shard1" of cluster "orders"`)
	fmt.Fprintln(out, `  orders_shard2.db    writer of shard "shard2" of cluster "orders"`)
	if err := seedDemo(files); err != nil {
		return fmt.Errorf("seeding: %w", err)
	}

	gormLogger := logger.New(log.New(out, "", 0), logger.Config{
		SlowThreshold:             time.Second,
		LogLevel:                  logger.Info,
		Colorful:                  false,
		IgnoreRecordNotFoundError: true,
	})
	db, err := gorm.Open(sqlite.Open(files.primary), &gorm.Config{Logger: gormLogger})
	if err != nil {
		return err
	}
	if sqlDB, err := db.DB(); err == nil {
		defer sqlDB.Close()
	}
	plugin := grant.New(grant.Config{
		Databases: map[string]grant.DatabaseConfig{
			// No Writer: the default database's writer is db's own file.
			"primary":   {Replicas: []grant.NodeConfig{{DSN: files.replica, Adapter: "sqlite"}}},
			"analytics": {Writer: &grant.NodeConfig{Dialector: sqlite.Open(files.analytics)}},
		},
		Clusters:    ordersCluster(files),
		Adapters:    map[string]grant.Adapter{"sqlite": func(dsn string) gorm.Dialector { return sqlite.Open(dsn) }},
		TraceRoutes: true,
	})
	if err := db.Use(plugin); err != nil {
		return err
	}
	defer plugin.Close()
	db = db.WithContext(ctx)
	if err := migrateOrders(out, db); err != nil {
		return fmt.Errorf("creating the orders table on each shard: %w", err)
	}

	var users []User
	names := func() []string {
		var ns []string
		for _, u := range users {
			ns = append(ns, u.Name)
		}
		return ns
	}
	steps := []demoStep{
		{"Create a user: writes go to the writer", func() error {
			return db.Create(&User{Name: "ada"}).Error
		}},
		{"Find users: reads go to the replica", func() error {
			if err := db.Find(&users).Error; err != nil {
				return err
			}
			fmt.Fprintf(out, "read %q: the replica answered (the writer's \"ada\" is not there)\n", names())
			return expect(slices.Equal(names(), []string{replicaOnlyUser}), "the read did not come from the replica")
		}},
		{"Find users with grant.Role(grant.Writing): read your own write", func() error {
			if err := db.Scopes(grant.Role(grant.Writing)).Find(&users).Error; err != nil {
				return err
			}
			fmt.Fprintf(out, "read %q from the writer\n", names())
			return expect(slices.Equal(names(), []string{"ada"}), "the read did not come from the writer")
		}},
		{"Create an Event: its ConnectsTo() sends it to analytics", func() error {
			return db.Create(&Event{Name: "page_view"}).Error
		}},
		{`Switch the context: grant.ConnectedTo(ctx, grant.Connection{Database: "analytics"})`, func() error {
			var n int64
			analytics := grant.ConnectedTo(ctx, grant.Connection{Database: "analytics"})
			if err := db.WithContext(analytics).Table("events").Count(&n).Error; err != nil {
				return err
			}
			fmt.Fprintf(out, "%s: Table(\"events\") names no model, the context chose analytics\n", plural(n, "event", "events"))
			return expect(n == 1, "expected 1 event on analytics")
		}},
		{"A transaction begins on the database of its first statement", func() error {
			var n int64
			err := db.Transaction(func(tx *gorm.DB) error {
				if err := tx.Create(&Event{Name: "signup"}).Error; err != nil {
					return err
				}
				return tx.Model(&Event{}).Count(&n).Error
			})
			fmt.Fprintf(out, "committed on analytics: %s\n", plural(n, "event", "events"))
			return err
		}},
		{"grant.PreventWrites(ctx) blocks writes before they are sent", func() error {
			var before, after int64
			countOnWriter := func(n *int64) error { return db.Scopes(grant.Role(grant.Writing)).Model(&User{}).Count(n).Error }
			if err := countOnWriter(&before); err != nil {
				return err
			}
			err := db.WithContext(grant.PreventWrites(ctx)).Create(&User{Name: "mallory"}).Error
			fmt.Fprintf(out, "error: %v\nerrors.Is(err, grant.ErrReadOnly) = %t\n", err, errors.Is(err, grant.ErrReadOnly))
			if !errors.Is(err, grant.ErrReadOnly) {
				return fmt.Errorf("want an error matching grant.ErrReadOnly, got %v", err)
			}
			if err := countOnWriter(&after); err != nil {
				return err
			}
			fmt.Fprintf(out, "users on the writer: %d before, %d after\n", before, after)
			return expect(before == after, "the blocked write changed the row count")
		}},
	}
	steps = append(steps, orderSteps(out, db)...)
	for i, s := range steps {
		fmt.Fprintf(out, "\n%d. %s\n", i+1, s.title)
		if err := s.run(); err != nil {
			return fmt.Errorf("step %d (%s): %w", i+1, s.title, err)
		}
	}

	fmt.Fprintln(out, "\nplugin.Stats() has pools for:")
	for _, k := range slices.Sorted(maps.Keys(plugin.Stats())) {
		fmt.Fprintf(out, "  %s\n", k)
	}
	fmt.Fprintln(out, "\ndemo finished")
	return nil
}

// seedDemo creates the tables directly on each file, without grant: users on
// the primary and its replica stand-in, events on analytics.
func seedDemo(f demoFiles) error {
	for _, s := range []struct {
		dsn   string
		model any
		rows  any
	}{
		{f.primary, &User{}, nil},
		{f.replica, &User{}, &[]User{{Name: replicaOnlyUser}}},
		{f.analytics, &Event{}, nil},
	} {
		db, err := gorm.Open(sqlite.Open(s.dsn), &gorm.Config{Logger: logger.Discard})
		if err != nil {
			return err
		}
		err = db.AutoMigrate(s.model)
		if err == nil && s.rows != nil {
			err = db.Create(s.rows).Error
		}
		if sqlDB, dbErr := db.DB(); dbErr == nil {
			err = errors.Join(err, sqlDB.Close())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func expect(ok bool, problem string) error {
	if !ok {
		return errors.New(problem)
	}
	return nil
}
