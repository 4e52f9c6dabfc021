package testdb

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
)

type item struct {
	ID   uint
	Name string
}

var nameRE = regexp.MustCompile(`^grant_t_[0-9a-f]{8}_primary$`)

func TestCreateDatabaseOpenCount(t *testing.T) {
	Each(t, func(t *testing.T, b *Backend) {
		t.Parallel()
		a := b.CreateDatabase(t, "primary")
		c := b.CreateDatabase(t, "primary")

		if a.Backend != b || c.Backend != b {
			t.Fatalf("Database.Backend not set")
		}
		if a.DSN == c.DSN {
			t.Fatalf("two CreateDatabase calls share the DSN %q", a.DSN)
		}
		if b.Name == NameSQLite {
			if a.Name != "primary" {
				t.Fatalf("sqlite Name = %q, want the suffix", a.Name)
			}
		} else {
			if a.Name == c.Name {
				t.Fatalf("two CreateDatabase calls gave the same name %q", a.Name)
			}
			for _, n := range []string{a.Name, c.Name} {
				if !nameRE.MatchString(n) {
					t.Fatalf("name %q does not match %s", n, nameRE)
				}
				if !strings.Contains(a.DSN, a.Name) {
					t.Fatalf("DSN %q does not name database %q", a.DSN, a.Name)
				}
			}
		}
		want := map[string]string{NameSQLite: "sqlite", NamePostgres: "postgres", NameMariaDB: "mysql"}[b.Name]
		if got := a.Adapter(); got != want {
			t.Fatalf("Adapter() = %q, want %q", got, want)
		}
		if got := a.Dialector().Name(); got != want {
			t.Fatalf("Dialector().Name() = %q, want %q", got, want)
		}

		dbA, dbC := a.Open(t), c.Open(t)
		for _, db := range []interface{ AutoMigrate(...any) error }{dbA, dbC} {
			if err := db.AutoMigrate(&item{}); err != nil {
				t.Fatalf("AutoMigrate: %v", err)
			}
		}
		if err := dbA.Create(&[]item{{Name: "x"}, {Name: "y"}}).Error; err != nil {
			t.Fatalf("Create: %v", err)
		}
		if err := dbC.Create(&item{Name: "z"}).Error; err != nil {
			t.Fatalf("Create: %v", err)
		}
		if n := a.Count(t, "items"); n != 2 {
			t.Fatalf("Count(items) on %s = %d, want 2", a.Name, n)
		}
		if n := c.Count(t, "items"); n != 1 {
			t.Fatalf("Count(items) on %s = %d, want 1", c.Name, n)
		}

		// The database really is the one named: the server reports it as
		// the current database.
		var current string
		switch b.Name {
		case NamePostgres:
			dbA.Raw("SELECT current_database()").Scan(&current)
		case NameMariaDB:
			dbA.Raw("SELECT DATABASE()").Scan(&current)
		default:
			current = a.Name
		}
		if current != a.Name {
			t.Fatalf("connected to database %q, want %q", current, a.Name)
		}
	})
}

// exists reports whether the database d (already cleaned up or not) exists.
func exists(t *testing.T, b *Backend, name, dsn string) bool {
	t.Helper()
	var n int64
	var err error
	ctx := context.Background()
	switch b.Name {
	case NamePostgres:
		err = b.admin.QueryRowContext(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n)
	case NameMariaDB:
		err = b.admin.QueryRowContext(ctx, "SELECT count(*) FROM information_schema.schemata WHERE schema_name = ?", name).Scan(&n)
	default:
		path, _, _ := strings.Cut(dsn, "?")
		_, err := os.Stat(path)
		if err != nil && !os.IsNotExist(err) {
			t.Fatalf("stat %s: %v", path, err)
		}
		return err == nil
	}
	if err != nil {
		t.Fatalf("checking whether %s exists: %v", name, err)
	}
	return n > 0
}

func TestDroppedAfterCleanup(t *testing.T) {
	Each(t, func(t *testing.T, b *Backend) {
		var name, dsn string
		lingering := func() {}
		defer func() { lingering() }()
		t.Run("inner", func(t *testing.T) {
			d := b.CreateDatabase(t, "gone")
			db := d.Open(t)
			if err := db.AutoMigrate(&item{}); err != nil {
				t.Fatalf("AutoMigrate: %v", err)
			}
			if err := db.Create(&item{Name: "x"}).Error; err != nil {
				t.Fatalf("Create: %v", err)
			}
			_ = d.Count(t, "items")
			// Keep a connection to the database open past the cleanup so
			// the drop has to cope with it (PostgreSQL needs WITH (FORCE)).
			if b.Name != NameSQLite {
				driverName := map[string]string{NamePostgres: "pgx", NameMariaDB: "mysql"}[b.Name]
				pool, err := sql.Open(driverName, d.DSN)
				if err != nil {
					t.Fatal(err)
				}
				conn, err := pool.Conn(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				lingering = func() { _ = conn.Close(); _ = pool.Close() }
			}
			name, dsn = d.Name, d.DSN
			if !exists(t, b, name, dsn) {
				t.Fatalf("database %s does not exist after CreateDatabase", name)
			}
		})
		if name == "" {
			t.Fatal("inner subtest did not run")
		}
		if exists(t, b, name, dsn) {
			t.Fatalf("database %s still exists after the subtest's cleanup", name)
		}
	})
}

func TestParallelCreate(t *testing.T) {
	Servers(t, func(t *testing.T, b *Backend) {
		const n = 8
		var mu sync.Mutex
		names := map[string]bool{}
		t.Run("group", func(t *testing.T) {
			for i := range n {
				t.Run(fmt.Sprint(i), func(t *testing.T) {
					t.Parallel()
					d := b.CreateDatabase(t, "par")
					if n := d.Count(t, "information_schema.tables"); n == 0 {
						t.Errorf("no tables visible in information_schema")
					}
					mu.Lock()
					names[d.Name] = true
					mu.Unlock()
				})
			}
		})
		if len(names) != n {
			t.Fatalf("%d parallel CreateDatabase calls gave %d distinct names", n, len(names))
		}
		for name := range names {
			if exists(t, b, name, "") {
				t.Errorf("database %s still exists after cleanup", name)
			}
		}
	})
}

func TestCountMissingTableFails(t *testing.T) {
	d := SQLite(t).CreateDatabase(t, "primary")
	ft := &fakeTB{TB: t}
	runFake(func() { d.Count(ft, "no_such_table") })
	if ft.fatal == "" || !strings.Contains(ft.fatal, "no_such_table") {
		t.Fatalf("Count on a missing table: fatal = %q", ft.fatal)
	}
}

func TestSuffixValidation(t *testing.T) {
	for _, s := range []string{"primary", "replica_2", "a", strings.Repeat("x", maxSuffix)} {
		if err := checkSuffix(s); err != nil {
			t.Errorf("checkSuffix(%q) = %v, want nil", s, err)
		}
	}
	for _, s := range []string{"", "Primary", "a-b", "a b", "a;drop", `a"b`, strings.Repeat("x", maxSuffix+1)} {
		if err := checkSuffix(s); err == nil {
			t.Errorf("checkSuffix(%q) = nil, want error", s)
		}
	}
	ft := &fakeTB{TB: t}
	runFake(func() { SQLite(t).CreateDatabase(ft, "Bad-Name") })
	if !strings.Contains(ft.fatal, "Bad-Name") {
		t.Fatalf("CreateDatabase with a bad suffix: fatal = %q", ft.fatal)
	}
}

func TestSQLiteDSN(t *testing.T) {
	d := SQLite(t).CreateDatabase(t, "primary")
	path, _, _ := strings.Cut(d.DSN, "?")
	if filepath.Base(path) != "primary.db" {
		t.Fatalf("sqlite file = %q, want primary.db", path)
	}
	db := d.Open(t)
	var mode string
	var timeout int
	db.Raw("PRAGMA journal_mode").Scan(&mode)
	db.Raw("PRAGMA busy_timeout").Scan(&timeout)
	if mode != "wal" || timeout != 5000 {
		t.Fatalf("journal_mode = %q, busy_timeout = %d; want wal, 5000", mode, timeout)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database file not created: %v", err)
	}
}

func TestPostgresDSNWithDB(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"host=127.0.0.1 port=5432 user=postgres dbname=test sslmode=disable",
			"host=127.0.0.1 port=5432 user=postgres sslmode=disable dbname=grant_t_x"},
		{"host=h user=u", "host=h user=u dbname=grant_t_x"},
		{"host = h  password='a b\\'c' dbname = 'old db'", `host=h password='a b\'c' dbname=grant_t_x`},
		{"postgres://u:p@h:5432/test?sslmode=disable", "postgres://u:p@h:5432/grant_t_x?sslmode=disable"},
		{"postgresql://u@h/?dbname=test&sslmode=disable", "postgresql://u@h/grant_t_x?sslmode=disable"},
	} {
		got, err := postgresDSNWithDB(tc.in, "grant_t_x")
		if err != nil || got != tc.want {
			t.Errorf("postgresDSNWithDB(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := postgresDSNWithDB("host='unterminated", "x"); err == nil {
		t.Errorf("unterminated quote: want error")
	}
}

func TestRedactDSN(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{NamePostgres, "host=h user=u password=s3cret dbname=test", "host=h user=u password=xxxxx dbname=test"},
		{NamePostgres, "host=h password='s3 cret'", "host=h password=xxxxx"},
		{NamePostgres, "postgres://u:s3cret@h/test", "postgres://u:xxxxx@h/test"},
		{NamePostgres, "postgres://u@h/test?password=s3cret", "postgres://u@h/test?password=xxxxx"},
		{NamePostgres, DefaultPostgresDSN, DefaultPostgresDSN},
		{NamePostgres, "host='broken password=s3cret", "<unparsable DSN redacted>"},
		{NameMariaDB, "root:s3cret@tcp(127.0.0.1:3306)/test?parseTime=true", "root:xxxxx@tcp(127.0.0.1:3306)/test?parseTime=true"},
		{NameMariaDB, DefaultMySQLDSN, DefaultMySQLDSN},
	} {
		if got := redactDSN(tc.name, tc.in); got != tc.want {
			t.Errorf("redactDSN(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// fakeTB records Skipf/Fatalf instead of stopping the goroutine.
type fakeTB struct {
	testing.TB
	mu          sync.Mutex
	skip, fatal string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.mu.Lock()
	f.skip = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatal = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

// runFake runs fn in its own goroutine so a fakeTB's Goexit ends only fn.
func runFake(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
}

func TestUnreachableServerSkipsOrFails(t *testing.T) {
	// Port 1 on localhost refuses connections at once.
	t.Setenv(EnvPostgresDSN, "host=127.0.0.1 port=1 user=postgres password=s3cret dbname=test sslmode=disable")
	t.Setenv(EnvMySQLDSN, "root:s3cret@tcp(127.0.0.1:1)/test?parseTime=true")

	for _, require := range []string{"", "1"} {
		t.Setenv(EnvRequireServers, require)
		if RequireServers() != (require == "1") {
			t.Fatalf("RequireServers() = %v with %s=%q", RequireServers(), EnvRequireServers, require)
		}
		for name, get := range map[string]func(testing.TB) *Backend{NamePostgres: Postgres, NameMariaDB: MariaDB} {
			ft := &fakeTB{TB: t}
			var got *Backend
			runFake(func() { got = get(ft) })
			msg := ft.skip
			if require == "1" {
				msg = ft.fatal
				if ft.skip != "" {
					t.Errorf("%s: skipped although %s=1", name, EnvRequireServers)
				}
			} else if ft.fatal != "" {
				t.Errorf("%s: failed instead of skipping: %s", name, ft.fatal)
			}
			if got != nil {
				t.Errorf("%s: returned a backend for an unreachable server", name)
			}
			t.Logf("%s, %s=%q: %s", name, EnvRequireServers, require, msg)
			if !strings.Contains(msg, "127.0.0.1") || !strings.Contains(msg, "xxxxx") || strings.Contains(msg, "s3cret") {
				t.Errorf("%s: message must name the DSN with the password redacted: %q", name, msg)
			}
		}
	}
}
