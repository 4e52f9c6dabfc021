package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
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
		Long: `demo installs grant on throwaway SQLite files and walks through its routing
in short steps, each showing a Go call, every statement grant sent for it
with its route ("[primary/reading#1] SELECT ..."), and what came back. A
statement grant refuses is shown as "✗ refused, never sent: SQL — error".
The files:

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

// demoStep is one numbered step of the demo: a short heading, then run
// shows the Go calls it makes, the statements grant sends, and what came
// back.
type demoStep struct {
	title string
	run   func() error
}

// The demo's lines are indented by what they are: a step's Go calls under
// its heading, the statements grant sent for a call under that call, and
// what the call returned after an arrow.
const (
	codeIndent   = "    "
	sqlIndent    = "      "
	resultIndent = "    → "
)

// tour prints the demo's own lines; demoLogger prints the statements.
type tour struct{ out io.Writer }

// code shows a line of the Go call about to run.
func (t tour) code(line string) {
	fmt.Fprintln(t.out, codeIndent+line)
}

// result shows what the call returned, or what it shows.
func (t tour) result(format string, args ...any) {
	fmt.Fprintf(t.out, resultIndent+format+"\n", args...)
}

// refused shows a statement grant refused before sending it. GORM logs no
// statement that never ran, so without this line the statements logged
// around it (which did run) could be taken for it.
func (t tour) refused(sql string, err error) {
	fmt.Fprintf(t.out, sqlIndent+"✗ refused, never sent: %s — %v\n", sql, err)
}

// demoLogger is the demo's GORM logger: one line per statement, its SQL with
// the route tag grant's TraceRoutes puts in front ("[primary/reading#1]
// SELECT ..."), and nothing else — no caller file:line, timing or row count,
// and no Info or Warn lines such as GORM's "replacing callback".
type demoLogger struct {
	mu  *sync.Mutex
	out io.Writer
}

func newDemoLogger(out io.Writer) demoLogger { return demoLogger{mu: &sync.Mutex{}, out: out} }

func (l demoLogger) LogMode(logger.LogLevel) logger.Interface { return l }
func (demoLogger) Info(context.Context, string, ...any)       {}
func (demoLogger) Warn(context.Context, string, ...any)       {}

func (l demoLogger) Error(_ context.Context, msg string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.out, sqlIndent+"✗ "+strings.TrimSuffix(msg, "\n")+"\n", args...)
}

// Trace runs once per statement GORM built, from the goroutine that ran it
// (several at once in a scatter-gather read).
func (l demoLogger) Trace(_ context.Context, _ time.Time, fc func() (string, int64), err error) {
	sql, _ := fc()
	if sql == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		fmt.Fprintf(l.out, sqlIndent+"%s\n"+sqlIndent+"✗ failed: %v\n", sql, err)
		return
	}
	fmt.Fprintln(l.out, sqlIndent+sql)
}

// sqlOf renders the SQL a statement would send, without grant and without
// sending it: how the demo shows statements grant refused.
type sqlOf func(stmt func(*gorm.DB) *gorm.DB) string

func newSQLOf() (sqlOf, func(), error) {
	dry, err := gorm.Open(sqlite.Open(":memory:"), &gorm.Config{Logger: logger.Discard, DryRun: true})
	if err != nil {
		return nil, nil, err
	}
	closeDry := func() {
		if sqlDB, err := dry.DB(); err == nil {
			_ = sqlDB.Close()
		}
	}
	return func(stmt func(*gorm.DB) *gorm.DB) string { return dry.ToSQL(stmt) }, closeDry, nil
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
	say := tour{out}
	fmt.Fprintln(out, "grant demo: a tour of grant's routing, on throwaway SQLite files.")
	fmt.Fprintln(out, "Each step shows a Go call, then every statement grant sent for it, tagged with")
	fmt.Fprintln(out, "its route ([primary/reading#1]: database primary, its replica #1), then what")
	fmt.Fprintln(out, `came back, after "→". A statement grant refused to send is marked "✗ refused".`)
	fmt.Fprintf(out, "\nThe databases, in %s:\n", dir)
	fmt.Fprintln(out, codeIndent+`primary.db          writer of "primary"`)
	fmt.Fprintln(out, codeIndent+`primary_replica.db  replica of "primary": a stand-in, since SQLite has no replication;`)
	fmt.Fprintf(out, codeIndent+"                    a separate file seeded with %q, which the writer lacks\n", replicaOnlyUser)
	fmt.Fprintln(out, codeIndent+`analytics.db        writer of "analytics"`)
	fmt.Fprintln(out, codeIndent+`orders_shard1.db    writer of shard "shard1" of cluster "orders"`)
	fmt.Fprintln(out, codeIndent+`orders_shard2.db    writer of shard "shard2" of cluster "orders"`)
	if err := seedDemo(files); err != nil {
		return fmt.Errorf("seeding: %w", err)
	}

	db, err := gorm.Open(sqlite.Open(files.primary), &gorm.Config{Logger: newDemoLogger(out)})
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
	fmt.Fprintln(out)
	if err := migrateOrders(say, db); err != nil {
		return fmt.Errorf("creating the orders table on each shard: %w", err)
	}
	sqlOf, closeDry, err := newSQLOf()
	if err != nil {
		return err
	}
	defer closeDry()

	var users []User
	names := func() []string {
		var ns []string
		for _, u := range users {
			ns = append(ns, u.Name)
		}
		return ns
	}
	steps := []demoStep{
		{"Writes go to the writer", func() error {
			say.code(`db.Create(&User{Name: "ada"})`)
			return db.Create(&User{Name: "ada"}).Error
		}},
		{"Reads go to a replica", func() error {
			say.code("db.Find(&users)")
			if err := db.Find(&users).Error; err != nil {
				return err
			}
			say.result("read %q: the replica answered (the writer's \"ada\" is not there)", names())
			return expect(slices.Equal(names(), []string{replicaOnlyUser}), "the read did not come from the replica")
		}},
		{"Read your own write: grant.Role(grant.Writing)", func() error {
			say.code("db.Scopes(grant.Role(grant.Writing)).Find(&users)")
			if err := db.Scopes(grant.Role(grant.Writing)).Find(&users).Error; err != nil {
				return err
			}
			say.result("read %q from the writer", names())
			return expect(slices.Equal(names(), []string{"ada"}), "the read did not come from the writer")
		}},
		{"A model picks its database: ConnectsTo()", func() error {
			say.code(`// Event has ConnectsTo() grant.Connection { return grant.Database("analytics") }`)
			say.code(`db.Create(&Event{Name: "page_view"})`)
			return db.Create(&Event{Name: "page_view"}).Error
		}},
		{"The context picks the database: grant.ConnectedTo", func() error {
			var n int64
			analytics := grant.ConnectedTo(ctx, grant.Connection{Database: "analytics"})
			say.code(`ctx = grant.ConnectedTo(ctx, grant.Connection{Database: "analytics"})`)
			say.code(`db.WithContext(ctx).Table("events").Count(&n)`)
			if err := db.WithContext(analytics).Table("events").Count(&n).Error; err != nil {
				return err
			}
			say.result("%s: Table(\"events\") names no model, the context chose analytics", plural(n, "event", "events"))
			return expect(n == 1, "expected 1 event on analytics")
		}},
		{"A transaction begins where its first statement goes", func() error {
			var n int64
			say.code("db.Transaction(func(tx *gorm.DB) error {")
			say.code(`    tx.Create(&Event{Name: "signup"})`)
			say.code("    return tx.Model(&Event{}).Count(&n).Error")
			say.code(`})   // "tx" in the tag: sent inside the transaction`)
			err := db.Transaction(func(tx *gorm.DB) error {
				if err := tx.Create(&Event{Name: "signup"}).Error; err != nil {
					return err
				}
				return tx.Model(&Event{}).Count(&n).Error
			})
			say.result("committed on analytics: %s", plural(n, "event", "events"))
			return err
		}},
		{"Write prevention: grant.PreventWrites(ctx)", func() error {
			var before, after int64
			countOnWriter := func(n *int64) error { return db.Scopes(grant.Role(grant.Writing)).Model(&User{}).Count(n).Error }
			say.code("db.Scopes(grant.Role(grant.Writing)).Model(&User{}).Count(&before)")
			if err := countOnWriter(&before); err != nil {
				return err
			}
			mallory := func(tx *gorm.DB) *gorm.DB { return tx.Create(&User{Name: "mallory"}) }
			say.code(`err := db.WithContext(grant.PreventWrites(ctx)).Create(&User{Name: "mallory"}).Error`)
			err := mallory(db.WithContext(grant.PreventWrites(ctx))).Error
			if err != nil {
				say.refused(sqlOf(mallory), err)
			}
			say.result("errors.Is(err, grant.ErrReadOnly) = %t", errors.Is(err, grant.ErrReadOnly))
			if !errors.Is(err, grant.ErrReadOnly) {
				return fmt.Errorf("want an error matching grant.ErrReadOnly, got %v", err)
			}
			say.code("db.Scopes(grant.Role(grant.Writing)).Model(&User{}).Count(&after)")
			if err := countOnWriter(&after); err != nil {
				return err
			}
			say.result("users on the writer: %d before, %d after", before, after)
			return expect(before == after, "the blocked write changed the row count")
		}},
	}
	steps = append(steps, orderSteps(say, db, sqlOf)...)
	for i, s := range steps {
		fmt.Fprintf(out, "\n%2d. %s\n", i+1, s.title)
		if err := s.run(); err != nil {
			return fmt.Errorf("step %d (%s): %w", i+1, s.title, err)
		}
	}

	fmt.Fprintln(out, "\nplugin.Stats(): the pools opened so far, one per node used (database/role/node)")
	for _, k := range slices.Sorted(maps.Keys(plugin.Stats())) {
		fmt.Fprintf(out, codeIndent+"%s\n", k)
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
