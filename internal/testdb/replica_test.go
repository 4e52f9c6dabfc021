package testdb

import (
	"context"
	"database/sql"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Replica-set tests must not call t.Parallel (see replica.go).

var replicaNameRE = regexp.MustCompile(`^grant_t_[0-9a-f]{8}_replica$`)

var replicaSets = []struct {
	name string
	get  func(testing.TB) *ReplicaSet
}{
	{NamePostgres, PostgresReplica},
	{NameMariaDB, MariaDBReplica},
}

func driverOf(name string) string {
	if name == NameMariaDB {
		return "mysql"
	}
	return "pgx"
}

// adminPool opens a pool on dsn that the test closes at cleanup.
func adminPool(t *testing.T, name, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driverOf(name), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestReplicaSet(t *testing.T) {
	for _, rs := range replicaSets {
		t.Run(rs.name, func(t *testing.T) {
			r := rs.get(t)
			if r.Name != rs.name {
				t.Fatalf("Name = %q, want %q", r.Name, rs.name)
			}
			for _, d := range []*Database{r.Primary, r.Replica, r.AppPrimary, r.AppReplica} {
				if d.Name != r.Primary.Name || !strings.Contains(d.DSN, d.Name) || d.Backend.Name != rs.name {
					t.Fatalf("database %+v: want name %s in its DSN and backend %s", d, r.Primary.Name, rs.name)
				}
			}
			if !replicaNameRE.MatchString(r.Primary.Name) {
				t.Fatalf("name %q does not match %s", r.Primary.Name, replicaNameRE)
			}
			if r.Primary.DSN == r.Replica.DSN {
				t.Fatalf("primary and replica share the DSN %q", r.Primary.DSN)
			}
			if rs.name == NamePostgres && envOr(EnvPGReplicaDSN, "") == "" && !strings.Contains(r.Replica.DirectDSN, "port=55433") ||
				rs.name == NameMariaDB && envOr(EnvMariaDBReplicaDSN, "") == "" && !strings.Contains(r.Replica.DirectDSN, ":53307)") {
				t.Fatalf("replica DSN %q does not name the default replica port", r.Replica.DirectDSN)
			}
			if _, via := pgBouncerReplica(); rs.name == NamePostgres && via != "" {
				_, port, _ := strings.Cut(via, ":")
				if !strings.Contains(r.Replica.DSN, "port="+port) || !r.Replica.ThroughPgBouncer() {
					t.Fatalf("replica DSN %q does not go through the bouncer at %s", r.Replica.DSN, via)
				}
			} else if r.Replica.ThroughPgBouncer() || r.Primary.ThroughPgBouncer() {
				t.Fatalf("DSN %q goes through a bouncer without %s", r.Replica.DSN, EnvPgBouncer)
			}
			if rs.name == NameMariaDB && !strings.HasPrefix(r.AppReplica.DSN, MariaDBAppUser+":") {
				t.Fatalf("AppReplica DSN %q does not use %s", r.AppReplica.DSN, MariaDBAppUser)
			}

			// Another session cannot take the cross-process lock meanwhile.
			lockDB := adminPool(t, rs.name, r.primary.adminDSN)
			try, key := "SELECT pg_try_advisory_lock($1)", any(int64(pgLockKey))
			if rs.name == NameMariaDB {
				try, key = "SELECT GET_LOCK(?, 0)", mariaDBLockKey
			}
			var got sql.NullBool
			if err := lockDB.QueryRow(try, key).Scan(&got); err != nil || got.Bool {
				t.Fatalf("another session took the replica-set lock (%v, %v)", got, err)
			}

			primary := r.Primary.Open(t)
			if err := primary.AutoMigrate(&item{}); err != nil {
				t.Fatalf("AutoMigrate: %v", err)
			}
			if err := primary.Create(&item{Name: "a"}).Error; err != nil {
				t.Fatalf("Create: %v", err)
			}
			r.WaitCaughtUp(t, 10*time.Second)
			if n := r.Replica.Count(t, "items"); n != 1 {
				t.Fatalf("replica has %d items after WaitCaughtUp, want 1", n)
			}

			// The replica refuses writes from the application user.
			if err := r.AppReplica.Open(t).Create(&item{Name: "no"}).Error; err == nil {
				t.Fatalf("a write as the app user on the replica succeeded")
			} else {
				t.Logf("write on the replica: %v", err)
			}
			if err := r.AppPrimary.Open(t).Create(&item{Name: "b"}).Error; err != nil {
				t.Fatalf("a write as the app user on the primary: %v", err)
			}
			r.WaitCaughtUp(t, 10*time.Second)
			if n := r.AppReplica.Count(t, "items"); n != 2 {
				t.Fatalf("replica has %d items, want 2", n)
			}

			// Paused: the replica does not see new writes.
			r.Pause(t)
			if err := primary.Create(&item{Name: "c"}).Error; err != nil {
				t.Fatalf("Create: %v", err)
			}
			ft := &fakeTB{TB: t}
			runFake(func() { r.WaitCaughtUp(ft, 500*time.Millisecond) })
			if ft.fatal == "" {
				t.Fatalf("WaitCaughtUp succeeded while replay was paused")
			}
			t.Logf("WaitCaughtUp while paused: %s", ft.fatal)
			if n := r.Replica.Count(t, "items"); n != 2 {
				t.Fatalf("replica has %d items while paused, want 2", n)
			}
			r.Resume(t)
			r.WaitCaughtUp(t, 10*time.Second)
			if n := r.Replica.Count(t, "items"); n != 3 {
				t.Fatalf("replica has %d items after Resume, want 3", n)
			}

			// Stopped: connections fail; started again, it catches up.
			r.StopReplica(t)
			probe := adminPool(t, rs.name, r.Replica.DSN)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			if err := probe.PingContext(ctx); err == nil {
				t.Fatalf("the replica answers after StopReplica")
			}
			if err := primary.Create(&item{Name: "d"}).Error; err != nil {
				t.Fatalf("Create: %v", err)
			}
			r.StartReplica(t)
			r.WaitCaughtUp(t, 30*time.Second)
			if n := r.Replica.Count(t, "items"); n != 4 {
				t.Fatalf("replica has %d items after StartReplica, want 4", n)
			}
		})
	}
}

// A test that ends with replay paused and the replica stopped leaves the
// replica set running, replaying, and without its databases.
func TestReplicaSetCleanup(t *testing.T) {
	for _, rs := range replicaSets {
		t.Run(rs.name, func(t *testing.T) {
			var names []string
			var primaryDSN, replicaDSN string
			var inner *testing.T
			t.Run("inner", func(t *testing.T) {
				inner = t
				a := rs.get(t)
				b := rs.get(t) // nested: shares the process's lock
				if a.Primary.Name == b.Primary.Name {
					t.Fatalf("two replica sets got the same database %s", a.Primary.Name)
				}
				names = []string{a.Primary.Name, b.Primary.Name}
				primaryDSN, replicaDSN = a.primary.adminDSN, a.replica.adminDSN
				db := b.Primary.Open(t)
				if err := db.AutoMigrate(&item{}); err != nil {
					t.Fatalf("AutoMigrate: %v", err)
				}
				b.WaitCaughtUp(t, 10*time.Second)
				_ = b.Replica.Count(t, "items") // keeps a connection to the replica's copy open
				b.Pause(t)
				if err := db.Create(&item{Name: "x"}).Error; err != nil {
					t.Fatalf("Create: %v", err)
				}
				a.StopReplica(t)
			})
			if len(names) == 0 {
				if inner != nil && inner.Skipped() {
					// rs.get skipped it: the replica set is not running (the
					// inner subtest's skip says why). With GRANT_REQUIRE_REPLICA
					// it would have failed instead, and so would this test.
					t.Skipf("the %s replica set is not running (see the skip of %s)", rs.name, inner.Name())
				}
				t.Fatal("the inner subtest got no replica sets")
			}
			primary, replica := adminPool(t, rs.name, primaryDSN), adminPool(t, rs.name, replicaDSN)
			q := "SELECT count(*) FROM pg_database WHERE datname = $1"
			if rs.name == NameMariaDB {
				q = "SELECT count(*) FROM information_schema.schemata WHERE schema_name = ?"
			}
			for _, name := range names {
				for server, db := range map[string]*sql.DB{"primary": primary, "replica": replica} {
					var n int
					if err := db.QueryRow(q, name).Scan(&n); err != nil {
						t.Fatalf("%s: %v", server, err)
					}
					if n != 0 {
						t.Errorf("database %s still exists on the %s after cleanup", name, server)
					}
				}
			}
			// Replay runs again: a new replica set catches up at once.
			r := rs.get(t)
			r.WaitCaughtUp(t, 10*time.Second)
			if rs.name == NamePostgres {
				var paused bool
				if err := replica.QueryRow("SELECT pg_is_wal_replay_paused()").Scan(&paused); err != nil || paused {
					t.Fatalf("replay paused after cleanup (%v, %v)", paused, err)
				}
			}
		})
	}
}

func TestReplicaSetUnavailableSkipsOrFails(t *testing.T) {
	// Port 1 on localhost refuses connections at once.
	t.Setenv(EnvPGReplicaPrimaryDSN, "host=127.0.0.1 port=1 user=postgres password=s3cret sslmode=disable")
	t.Setenv(EnvMariaDBReplicaPrimaryDSN, "root:s3cret@tcp(127.0.0.1:1)/?parseTime=true")
	for _, env := range []struct{ requireReplica, requireServers string }{{"", ""}, {"1", ""}, {"", "1"}, {"0", "1"}} {
		t.Setenv(EnvRequireReplica, env.requireReplica)
		t.Setenv(EnvRequireServers, env.requireServers)
		require := env.requireReplica == "1" || env.requireReplica == "" && env.requireServers == "1"
		if RequireReplica() != require {
			t.Fatalf("RequireReplica() = %v with %+v", RequireReplica(), env)
		}
		for _, rs := range replicaSets {
			ft := &fakeTB{TB: t}
			var got *ReplicaSet
			runFake(func() { got = rs.get(ft) })
			msg := ft.skip
			if require {
				msg = ft.fatal
				if ft.skip != "" {
					t.Errorf("%s: skipped although required (%+v)", rs.name, env)
				}
			} else if ft.fatal != "" {
				t.Errorf("%s: failed instead of skipping: %s", rs.name, ft.fatal)
			}
			if got != nil {
				t.Errorf("%s: returned a replica set for an unreachable server", rs.name)
			}
			t.Logf("%s, %+v: %s", rs.name, env, msg)
			script := map[string]string{NamePostgres: "scripts/pg-replica.sh start", NameMariaDB: "scripts/mariadb-replica.sh start"}[rs.name]
			if !strings.Contains(msg, script) || !strings.Contains(msg, "xxxxx") || strings.Contains(msg, "s3cret") {
				t.Errorf("%s: message must name %q and the DSN with the password redacted: %q", rs.name, script, msg)
			}
		}
	}
}

func TestScriptPath(t *testing.T) {
	for _, name := range []string{"pg-replica.sh", "mariadb-replica.sh"} {
		if p, err := scriptPath(name); err != nil {
			t.Errorf("scriptPath(%q): %v", name, err)
		} else if !strings.HasSuffix(p, "scripts/"+name) {
			t.Errorf("scriptPath(%q) = %q", name, p)
		}
	}
	if _, err := scriptPath("no-such-script.sh"); err == nil {
		t.Errorf("scriptPath of a missing script: want error")
	}
}

func TestFreezeAndThaw(t *testing.T) {
	r := PostgresReplica(t)
	admin := adminPool(t, NamePostgres, r.Replica.DSN)
	ctx := context.Background()
	session, err := admin.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()
	answers := func(d time.Duration) error {
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		var one int
		return session.QueryRowContext(ctx, "SELECT 1").Scan(&one)
	}
	if err := answers(5 * time.Second); err != nil {
		t.Fatal(err)
	}

	r.Freeze(t, false)
	if err := answers(5 * time.Second); err != nil {
		t.Fatalf("postmaster frozen: a session it has should still answer: %v", err)
	}
	if err := ConnectsWithin(r.Replica.DSN, 300*time.Millisecond); err == nil {
		t.Fatal("postmaster frozen: a new session answered")
	}

	r.Freeze(t, true)
	if err := answers(300 * time.Millisecond); err == nil {
		t.Fatal("postmaster and children frozen: a session answered")
	}
	if out, err := runScriptLocked(pgReplica.script, "status", r.frozen); err == nil || !strings.Contains(out, "replica: frozen") {
		t.Errorf("status while frozen: exit %v, want 1 and 'replica: frozen' in:\n%s", err, out)
	}
	r.Thaw(t)
	if err := ConnectsWithin(r.Replica.DSN, 10*time.Second); err != nil {
		t.Fatalf("thawed: %v", err)
	}

	// A test killed while the replica is frozen: the next start thaws it.
	r.Freeze(t, true)
	r.abandonFreeze()
	if out, err := runScript(pgReplica.script, "start"); err != nil {
		t.Fatalf("scripts/pg-replica.sh start: %v\n%s", err, out)
	} else if !strings.Contains(out, "was frozen (SIGSTOP); thawed it") {
		t.Errorf("start did not say it thawed the replica:\n%s", out)
	}
	if err := ConnectsWithin(r.Replica.DSN, 10*time.Second); err != nil {
		t.Fatalf("after start: %v", err)
	}
}
