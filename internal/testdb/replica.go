package testdb

// Real replicas: a PostgreSQL primary with a streaming hot standby, and a
// MariaDB primary with a GTID replica, started outside the tests by
// scripts/pg-replica.sh and scripts/mariadb-replica.sh (see DEVELOPERS.md).
//
// Replay on a replica is global to its server: pausing it for one test pauses
// it for every database on it. So a ReplicaSet holds a lock for as long as
// its test runs: a session-level lock on the primary (pg_advisory_lock /
// GET_LOCK) that serializes tests of different test binaries (go test ./...
// runs packages at once), shared by every ReplicaSet of one process. Tests
// of one binary that use replica sets must therefore not run in parallel with
// each other (do not call t.Parallel in them); nested use, e.g. a subtest
// calling PostgresReplica while its parent holds a ReplicaSet, is fine.
//
// Environment (see also the DSN constants below):
//
//	GRANT_PG_REPLICA_PRIMARY_DSN       PostgreSQL replica-set primary admin DSN
//	GRANT_PG_REPLICA_DSN               PostgreSQL replica (hot standby) admin DSN
//	GRANT_MARIADB_REPLICA_PRIMARY_DSN  MariaDB replica-set primary admin DSN
//	GRANT_MARIADB_REPLICA_DSN          MariaDB replica admin DSN
//	GRANT_PG_REPLICA_DIR               scripts/pg-replica.sh's directory, whose
//	                                   lock Freeze holds (as the script does)
//	GRANT_REQUIRE_REPLICA              "1": a replica set that is not running fails
//	                                   the test instead of skipping it (so does
//	                                   GRANT_REQUIRE_SERVERS=1, unless this is
//	                                   "0": the GitHub workflow has no replica sets)
//	GRANT_PGBOUNCER                    set: the PostgreSQL set's Primary and Replica
//	                                   connect through the bouncers at
//	                                   GRANT_PGBOUNCER_REPLICA_PRIMARY and
//	                                   GRANT_PGBOUNCER_REPLICA (pgbouncer.go)

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"
)

// Environment variables and defaults of the replica sets.
const (
	// EnvRequireReplica names the variable that turns a missing replica set
	// from a skip into a failure.
	EnvRequireReplica = "GRANT_REQUIRE_REPLICA"

	// EnvPGReplicaDir names scripts/pg-replica.sh's directory (its
	// default is DefaultPGReplicaDir); Freeze takes the script's lock,
	// next to it.
	EnvPGReplicaDir     = "GRANT_PG_REPLICA_DIR"
	DefaultPGReplicaDir = "/tmp/grant-pg-replica"

	EnvPGReplicaPrimaryDSN      = "GRANT_PG_REPLICA_PRIMARY_DSN"
	EnvPGReplicaDSN             = "GRANT_PG_REPLICA_DSN"
	EnvMariaDBReplicaPrimaryDSN = "GRANT_MARIADB_REPLICA_PRIMARY_DSN"
	EnvMariaDBReplicaDSN        = "GRANT_MARIADB_REPLICA_DSN"

	// Defaults: the ports scripts/pg-replica.sh and scripts/mariadb-replica.sh use.
	DefaultPGReplicaPrimaryDSN      = "host=127.0.0.1 port=55432 user=postgres sslmode=disable"
	DefaultPGReplicaDSN             = "host=127.0.0.1 port=55433 user=postgres sslmode=disable"
	DefaultMariaDBReplicaPrimaryDSN = "root@tcp(127.0.0.1:53306)/?parseTime=true"
	DefaultMariaDBReplicaDSN        = "root@tcp(127.0.0.1:53307)/?parseTime=true"

	// MariaDBAppUser and MariaDBAppPassword are the non-admin account
	// scripts/mariadb-replica.sh creates: every privilege but SUPER and
	// READ_ONLY ADMIN, so the --read-only replica refuses its writes (root's
	// it accepts).
	MariaDBAppUser     = "grant_app"
	MariaDBAppPassword = "grant_app"
)

const (
	// setupCatchUp bounds the wait for a new database to reach the replica,
	// and for its drop to reach it in cleanup.
	setupCatchUp = 30 * time.Second
	// lockWait bounds the wait for another test process's replica set.
	lockWait = 5 * time.Minute
	// scriptTimeout bounds one run of a replica script.
	scriptTimeout = 3 * time.Minute
	// serveTimeout bounds StartReplica's wait for the replica to answer.
	serveTimeout = 60 * time.Second
)

// ReplicaSet is a primary with a streaming replica, started by
// scripts/pg-replica.sh (or mariadb-replica.sh), and one throw-away database
// on it.
//
// Primary and Replica are the same physical database (same Name), created on
// the primary and replicated, reached through the primary's and the replica's
// admin DSNs. Their .DSN, .Dialector(), .Open(t) and .Count(t, table) work as
// for any Database. AppPrimary and AppReplica are the same database again,
// reached as a non-admin user: on MariaDB grant_app (root may write to a
// read-only replica, grant_app may not: write-prevention tests use these); on
// PostgreSQL they are Primary and Replica themselves (a hot standby refuses
// every write). With GRANT_PGBOUNCER set, the PostgreSQL set's DSNs and
// Dialectors go through PgBouncer (DirectDSN, Open and Count do not).
//
// A ReplicaSet belongs to the test that created it; its methods must be
// called from that test (or its subtests), not concurrently.
type ReplicaSet struct {
	Name                   string // "postgres" or "mariadb"
	Primary, Replica       *Database
	AppPrimary, AppReplica *Database

	kind             *replicaKind
	primary, replica *Backend // admin pools of this set, closed in cleanup

	mu      sync.Mutex
	stopped bool     // StopReplica ran and StartReplica has not
	frozen  *os.File // while Freeze holds the script's lock: the lock file
}

// replicaKind describes one of the two replica setups.
type replicaKind struct {
	name                   string // NamePostgres or NameMariaDB
	title                  string // for messages
	script                 string // file in scripts/
	primaryEnv, replicaEnv string
	primaryDef, replicaDef string
	lock                   crossLock
}

var (
	pgReplica = &replicaKind{
		name: NamePostgres, title: "PostgreSQL", script: "pg-replica.sh",
		primaryEnv: EnvPGReplicaPrimaryDSN, replicaEnv: EnvPGReplicaDSN,
		primaryDef: DefaultPGReplicaPrimaryDSN, replicaDef: DefaultPGReplicaDSN,
	}
	mariaDBReplica = &replicaKind{
		name: NameMariaDB, title: "MariaDB", script: "mariadb-replica.sh",
		primaryEnv: EnvMariaDBReplicaPrimaryDSN, replicaEnv: EnvMariaDBReplicaDSN,
		primaryDef: DefaultMariaDBReplicaPrimaryDSN, replicaDef: DefaultMariaDBReplicaDSN,
	}
)

// RequireReplica reports whether a replica set that is not running fails the
// test (GRANT_REQUIRE_REPLICA=1, or GRANT_REQUIRE_SERVERS=1 with
// GRANT_REQUIRE_REPLICA unset) instead of skipping it.
func RequireReplica() bool {
	if v := os.Getenv(EnvRequireReplica); v != "" {
		return v == "1"
	}
	return RequireServers()
}

// PostgresReplica returns a fresh database on the PostgreSQL replica set of
// scripts/pg-replica.sh (primary GRANT_PG_REPLICA_PRIMARY_DSN, default port
// 55432; replica GRANT_PG_REPLICA_DSN, default port 55433).
//
// It creates the database on the primary (grant_t_<8 hex>_replica), waits
// until the replica has replayed it, and at t.Cleanup resumes replay (and
// restarts a replica StopReplica left stopped), drops the database on the
// primary and waits until the drop has replayed. A paused replay left behind
// by an earlier crashed test is resumed first.
//
// When either server does not answer, the test is skipped, or fails when
// GRANT_REQUIRE_REPLICA=1 or GRANT_REQUIRE_SERVERS=1; the message names the
// command that starts the replica set. A server on the replica DSN that is not
// a replica fails the test. Callers must not run in parallel with other
// replica-set tests of the same binary (see the package notes above).
func PostgresReplica(t testing.TB) *ReplicaSet {
	t.Helper()
	return newReplicaSet(t, pgReplica)
}

// MariaDBReplica is PostgresReplica for the MariaDB replica set of
// scripts/mariadb-replica.sh (primary GRANT_MARIADB_REPLICA_PRIMARY_DSN,
// default port 53306; replica GRANT_MARIADB_REPLICA_DSN, default port 53307;
// GTID replication). AppPrimary and AppReplica connect as grant_app.
func MariaDBReplica(t testing.TB) *ReplicaSet {
	t.Helper()
	return newReplicaSet(t, mariaDBReplica)
}

func newReplicaSet(t testing.TB, k *replicaKind) *ReplicaSet {
	t.Helper()
	primaryDSN := envOr(k.primaryEnv, k.primaryDef)
	replicaDSN := envOr(k.replicaEnv, k.replicaDef)

	primary, err := connect(k.name, primaryDSN)
	if err != nil {
		k.unavailable(t, fmt.Sprintf("primary at %s: %v", redactDSN(k.name, primaryDSN), err))
		return nil
	}
	// The lock comes before the replica is contacted: another test process
	// may have stopped it for a while. Cleanups run last-registered first:
	// the lock is released last, after the pools are closed, after the
	// database is dropped.
	release, err := k.lock.acquire(t, k, primary)
	if err != nil {
		_ = primary.admin.Close()
		t.Fatalf("testdb: %s replica set: %v", k.title, err)
	}
	t.Cleanup(release)
	t.Cleanup(func() { _ = primary.admin.Close() })
	replica, err := connect(k.name, replicaDSN)
	if err != nil {
		k.unavailable(t, fmt.Sprintf("replica at %s: %v", redactDSN(k.name, replicaDSN), err))
		return nil
	}
	t.Cleanup(func() { _ = replica.admin.Close() })
	r := &ReplicaSet{Name: k.name, kind: k, primary: primary, replica: replica}

	ctx, cancel := context.WithTimeout(context.Background(), setupCatchUp)
	defer cancel()
	if err := r.checkReplica(ctx); err != nil {
		t.Fatalf("testdb: %s replica at %s: %v", k.title, redactDSN(k.name, replicaDSN), err)
	}
	if resumed, err := r.resume(ctx, true); err != nil {
		t.Fatalf("testdb: %s replica set: resuming replay left paused by an earlier test: %v", k.title, err)
	} else if resumed {
		t.Logf("testdb: %s replica set: replay was paused (by an earlier test?); resumed it", k.title)
	}

	name := "grant_t_" + randomHex(4) + "_replica"
	if err := primary.create(name); err != nil {
		t.Fatalf("testdb: %s replica set: CREATE DATABASE %s on the primary (%s): %v", k.title, name, redactDSN(k.name, primaryDSN), scrub(err, k.name, primaryDSN))
	}
	t.Cleanup(func() { r.cleanup(t, name) })

	if err := r.waitCaughtUp(setupCatchUp); err != nil {
		t.Fatalf("testdb: %s replica set: database %s did not reach the replica: %v", k.title, name, err)
	}
	if ok, err := r.replicaHas(ctx, name); err != nil || !ok {
		t.Fatalf("testdb: %s replica set: database %s not on the replica after catching up (err %v)", k.title, name, err)
	}

	var viaPrimary, viaReplica string
	if k.name == NamePostgres {
		viaPrimary, viaReplica = pgBouncerReplica()
		for _, b := range []struct{ dsn, addr string }{{primaryDSN, viaPrimary}, {replicaDSN, viaReplica}} {
			if b.addr == "" {
				continue
			}
			if err := pingPgBouncer(b.dsn, b.addr); err != nil {
				k.unavailable(t, err.Error())
				return nil
			}
		}
	}
	r.Primary = r.database(t, primary, name, "", "", viaPrimary)
	r.Replica = r.database(t, replica, name, "", "", viaReplica)
	r.AppPrimary, r.AppReplica = r.Primary, r.Replica
	if k.name == NameMariaDB {
		r.AppPrimary = r.database(t, primary, name, MariaDBAppUser, MariaDBAppPassword, "")
		r.AppReplica = r.database(t, replica, name, MariaDBAppUser, MariaDBAppPassword, "")
	}
	return r
}

// database returns the Database for name on b, as b's admin user or, when
// user is set, as that MariaDB user; through the PgBouncer at bouncer when
// it is not "".
func (r *ReplicaSet) database(t testing.TB, b *Backend, name, user, password, bouncer string) *Database {
	t.Helper()
	dsn, err := b.databaseDSN(name)
	if err == nil && user != "" {
		var cfg *mysqldriver.Config
		if cfg, err = mysqldriver.ParseDSN(dsn); err == nil {
			cfg.User, cfg.Passwd = user, password
			dsn = cfg.FormatDSN()
		}
	}
	direct := dsn
	if err == nil {
		dsn, err = bounce(direct, bouncer)
	}
	if err != nil {
		t.Fatalf("testdb: %s replica set: %v", r.kind.title, err)
	}
	d := &Database{Backend: b, Name: name, DSN: dsn, DirectDSN: direct}
	// Registered after the drop, so it runs before it.
	t.Cleanup(d.closeDirect)
	return d
}

func (k *replicaKind) unavailable(t testing.TB, msg string) {
	t.Helper()
	msg = fmt.Sprintf("testdb: %s replica set is not running (%s); start it with: sudo bash scripts/%s start", k.title, msg, k.script)
	if RequireReplica() {
		t.Fatalf("%s (%s=1 or %s=1)", msg, EnvRequireReplica, EnvRequireServers)
	} else {
		t.Skipf("%s (set %s=1 to fail instead of skipping)", msg, EnvRequireReplica)
	}
}

// cleanup resumes replay, drops the database on the primary and waits until
// the replica has replayed the drop.
func (r *ReplicaSet) cleanup(t testing.TB, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), dropTimeout)
	defer cancel()
	if _, err := r.resume(ctx, true); err != nil {
		t.Errorf("testdb: %s replica set: resuming replay before dropping %s: %v", r.kind.title, name, err)
	}
	if err := r.primary.drop(name); err != nil {
		t.Errorf("testdb: %s replica set: dropping database %s on the primary: %v", r.kind.title, name, scrub(err, r.Name, r.primary.adminDSN))
		return
	}
	if err := r.waitCaughtUp(setupCatchUp); err != nil {
		t.Errorf("testdb: %s replica set: the drop of %s did not reach the replica: %v", r.kind.title, name, err)
	}
}

// Pause pauses replay on the replica (pg_wal_replay_pause() and waiting until
// it is paused; MariaDB: STOP SLAVE SQL_THREAD): from its return until
// Resume, nothing written on the primary becomes visible on the replica. The
// replica keeps receiving WAL/binlog, and keeps answering queries.
// It fails the test when the replica cannot be paused.
func (r *ReplicaSet) Pause(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.pause(ctx); err != nil {
		t.Fatalf("testdb: %s replica set: pausing replay: %v", r.kind.title, err)
	}
}

// Resume resumes replay paused by Pause (pg_wal_replay_resume(); MariaDB:
// START SLAVE SQL_THREAD). It does not wait for the replica to catch up: use
// WaitCaughtUp. It fails the test when the replica cannot be resumed.
func (r *ReplicaSet) Resume(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := r.resume(ctx, false); err != nil {
		t.Fatalf("testdb: %s replica set: resuming replay: %v", r.kind.title, err)
	}
}

// StopReplica stops the replica server (scripts/<kind>-replica.sh
// stop-replica, a fast shutdown), for failover tests: connections to it fail
// until StartReplica. If the test ends with the replica stopped, its cleanup
// starts it again (before the database is dropped). StopReplica needs the
// rights the script needs (root) and only works on the replica set that
// script manages, whatever the DSN variables say. It fails the test when the
// script fails.
func (r *ReplicaSet) StopReplica(t testing.TB) {
	t.Helper()
	r.mu.Lock()
	first := !r.stopped
	r.stopped = true
	r.mu.Unlock()
	if first {
		t.Cleanup(func() {
			r.mu.Lock()
			stopped := r.stopped
			r.mu.Unlock()
			if stopped {
				if err := r.startReplica(); err != nil {
					t.Errorf("testdb: %s replica set: restarting the replica StopReplica stopped: %v", r.kind.title, err)
				}
			}
		})
	}
	if out, err := runScript(r.kind.script, "stop-replica"); err != nil {
		t.Fatalf("testdb: %s replica set: scripts/%s stop-replica: %v\n%s", r.kind.title, r.kind.script, err, out)
	}
	r.dropIdleReplicaConns()
}

// StartReplica starts the replica again (scripts/<kind>-replica.sh
// start-replica, which waits until it streams from the primary), then waits
// until it serves queries. Idle connections to the replica made before
// StopReplica are dropped from the pools of Replica, AppReplica and Count;
// pools the test opened itself (Replica.Open) may still hand out a dead
// connection once. It fails the test when the replica does not come back.
func (r *ReplicaSet) StartReplica(t testing.TB) {
	t.Helper()
	if err := r.startReplica(); err != nil {
		t.Fatalf("testdb: %s replica set: %v", r.kind.title, err)
	}
}

func (r *ReplicaSet) startReplica() error {
	if out, err := runScript(r.kind.script, "start-replica"); err != nil {
		return fmt.Errorf("scripts/%s start-replica: %v\n%s", r.kind.script, err, out)
	}
	r.dropIdleReplicaConns()
	ctx, cancel := context.WithTimeout(context.Background(), serveTimeout)
	defer cancel()
	for {
		err := r.checkReplica(ctx)
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the replica does not serve queries %s after start-replica: %v", serveTimeout, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	r.mu.Lock()
	r.stopped = false
	r.mu.Unlock()
	return nil
}

// dropIdleReplicaConns closes the idle connections to the replica, which a
// restart has made useless.
func (r *ReplicaSet) dropIdleReplicaConns() {
	r.replica.admin.SetMaxIdleConns(0)
	r.replica.admin.SetMaxIdleConns(4)
	for _, d := range []*Database{r.Replica, r.AppReplica} {
		if d == nil {
			continue
		}
		d.mu.Lock()
		if d.direct != nil {
			if sqlDB, err := d.direct.DB(); err == nil {
				_ = sqlDB.Close()
			}
			d.direct = nil // reopened by the next Count, unless closed
		}
		d.mu.Unlock()
	}
}

// Freeze stops the PostgreSQL replica's processes with SIGSTOP
// (scripts/pg-replica.sh freeze, or freeze-all with whole), as a hung host
// can leave a server: with whole false only its postmaster, so the
// sessions it has keep answering and it accepts no new one; with whole
// true the postmaster and all its children (backends, startup process, WAL
// receiver, ...: PostgreSQL gives each child a process group of its own,
// so "the whole server" is found by parent PID), so nothing answers,
// sessions it has included. The
// processes exist and their TCP port accepts connections (the kernel
// queues them); nothing is refused, everything waits.
//
// From the first Freeze until Thaw the test holds the script's lock, so
// that a scripts/pg-replica.sh start run meanwhile (by a developer or
// another worktree's CI; start thaws a frozen replica) waits instead of
// thawing the replica under the test. The test's cleanup thaws it, before
// the replica set's own cleanup; a test killed while the replica is frozen
// leaves it so until the next scripts/pg-replica.sh start. Freeze needs the
// script's rights (root, or the postgres user), and fails the test when
// the script fails. PostgreSQL only.
func (r *ReplicaSet) Freeze(t testing.TB, whole bool) {
	t.Helper()
	if r.Name != NamePostgres {
		t.Fatalf("testdb: Freeze: only the PostgreSQL replica set can be frozen, not %s", r.kind.title)
	}
	r.mu.Lock()
	lock := r.frozen
	r.mu.Unlock()
	if lock == nil {
		var err error
		if lock, err = takeScriptLock(pgReplicaLockPath()); err != nil {
			t.Fatalf("testdb: %s replica set: Freeze: %v", r.kind.title, err)
		}
		r.mu.Lock()
		r.frozen = lock
		r.mu.Unlock()
		t.Cleanup(func() {
			if err := r.thaw(); err != nil {
				t.Errorf("testdb: %s replica set: thawing the replica Freeze froze: %v", r.kind.title, err)
			}
		})
	}
	command := "freeze"
	if whole {
		command = "freeze-all"
	}
	if out, err := runScriptLocked(r.kind.script, command, lock); err != nil {
		t.Fatalf("testdb: %s replica set: scripts/%s %s: %v\n%s", r.kind.title, r.kind.script, command, err, out)
	}
}

// Thaw resumes a replica Freeze froze (scripts/pg-replica.sh thaw: SIGCONT
// to its postmaster and children) and releases the script's lock. It does nothing
// when the replica is not frozen. It fails the test when the script
// fails.
func (r *ReplicaSet) Thaw(t testing.TB) {
	t.Helper()
	if err := r.thaw(); err != nil {
		t.Fatalf("testdb: %s replica set: %v", r.kind.title, err)
	}
}

func (r *ReplicaSet) thaw() error {
	r.mu.Lock()
	lock := r.frozen
	r.frozen = nil
	r.mu.Unlock()
	if lock == nil {
		return nil
	}
	defer lock.Close() // releases the lock
	if out, err := runScriptLocked(r.kind.script, "thaw", lock); err != nil {
		return fmt.Errorf("scripts/%s thaw: %v\n%s", r.kind.script, err, out)
	}
	return nil
}

// abandonFreeze releases the script's lock and leaves the replica frozen,
// as a test killed mid-freeze would (for testing the script's recovery).
func (r *ReplicaSet) abandonFreeze() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.frozen != nil {
		_ = r.frozen.Close()
		r.frozen = nil
	}
}

// pgReplicaLockPath is the lock scripts/pg-replica.sh takes: next to its
// directory, which stop removes.
func pgReplicaLockPath() string {
	return strings.TrimRight(envOr(EnvPGReplicaDir, DefaultPGReplicaDir), "/") + ".lock"
}

// takeScriptLock opens the script's lock file and takes its lock (flock,
// as the script's flock(1) does), waiting up to scriptTimeout for a
// running script (or another test's Freeze) to release it.
func takeScriptLock(path string) (*os.File, error) {
	// Read-only, as the script opens it: fs.protected_regular forbids
	// O_CREAT on another user's file in /tmp.
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		f, err = os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o644)
	}
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(scriptTimeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			_ = f.Close()
			return nil, fmt.Errorf("taking the lock %s: %v", path, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runScriptLocked runs scripts/<name> <command> with lock, on which this
// process holds the script's lock, passed as GRANT_PG_REPLICA_LOCK_FD.
func runScriptLocked(name, command string, lock *os.File) (string, error) {
	path, err := scriptPath(name)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", path, command)
	cmd.ExtraFiles = []*os.File{lock} // descriptor 3
	cmd.Env = append(os.Environ(), "GRANT_PG_REPLICA_LOCK_FD=3")
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// WaitCaughtUp waits until the replica has replayed everything the primary
// had written when WaitCaughtUp was called (PostgreSQL: the replica's
// pg_last_wal_replay_lsn() reaches the primary's pg_current_wal_lsn();
// MariaDB: MASTER_GTID_WAIT of the primary's gtid_binlog_pos), so that
// every transaction committed on the primary before the call is visible on
// the replica. It fails the test, with the replica's replication state, when
// that takes longer than timeout (e.g. while replay is paused).
func (r *ReplicaSet) WaitCaughtUp(t testing.TB, timeout time.Duration) {
	t.Helper()
	if err := r.waitCaughtUp(timeout); err != nil {
		t.Fatalf("testdb: %s replica set: the replica did not catch up within %s: %v", r.kind.title, timeout, err)
	}
}

// ---- per-kind SQL -----------------------------------------------------------

// checkReplica verifies that the replica answers and is a replica.
func (r *ReplicaSet) checkReplica(ctx context.Context) error {
	if r.Name == NamePostgres {
		var inRecovery bool
		if err := r.replica.admin.QueryRowContext(ctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery); err != nil {
			return err
		}
		if !inRecovery {
			return errors.New("the server answers but is not in recovery: it is not a replica (promoted?)")
		}
		return nil
	}
	st, err := slaveStatus(ctx, r.replica.admin)
	if err != nil {
		return err
	}
	if st == nil {
		return errors.New("the server answers but SHOW SLAVE STATUS is empty: it is not a replica")
	}
	return nil
}

func (r *ReplicaSet) pause(ctx context.Context) error {
	if r.Name == NameMariaDB {
		_, err := r.replica.admin.ExecContext(ctx, "STOP SLAVE SQL_THREAD")
		return err
	}
	if _, err := r.replica.admin.ExecContext(ctx, "SELECT pg_wal_replay_pause()"); err != nil {
		return err
	}
	// Once requested, no further record is replayed; wait for the
	// confirmation anyway, so that the state is unambiguous.
	for {
		var state string
		if err := r.replica.admin.QueryRowContext(ctx, "SELECT pg_get_wal_replay_pause_state()").Scan(&state); err != nil {
			return err
		}
		if state == "paused" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("replay pause state is %q, not \"paused\": %w", state, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// resume resumes replay. With all (setup and cleanup), a MariaDB replica
// gets START SLAVE, which also restarts a stopped IO thread. It reports
// whether replay had been paused (PostgreSQL) or a slave thread stopped
// (MariaDB).
func (r *ReplicaSet) resume(ctx context.Context, all bool) (bool, error) {
	if r.Name == NameMariaDB {
		st, err := slaveStatus(ctx, r.replica.admin)
		if err != nil {
			return false, err
		}
		stmt := "START SLAVE SQL_THREAD"
		if all {
			stmt = "START SLAVE"
		}
		if _, err := r.replica.admin.ExecContext(ctx, stmt); err != nil {
			return false, err
		}
		return st != nil && (st["Slave_SQL_Running"] != "Yes" || all && st["Slave_IO_Running"] == "No"), nil
	}
	var paused bool
	if err := r.replica.admin.QueryRowContext(ctx, "SELECT pg_is_wal_replay_paused()").Scan(&paused); err != nil {
		return false, err
	}
	_, err := r.replica.admin.ExecContext(ctx, "SELECT pg_wal_replay_resume()")
	return paused, err
}

func (r *ReplicaSet) waitCaughtUp(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if r.Name == NameMariaDB {
		return r.waitGTID(ctx, timeout)
	}
	var target string
	if err := r.primary.admin.QueryRowContext(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&target); err != nil {
		return fmt.Errorf("reading the primary's WAL position: %v", err)
	}
	var replayed, state sql.NullString
	var lastErr error
	for {
		var done bool
		lastErr = r.replica.admin.QueryRowContext(ctx,
			"SELECT coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false), pg_last_wal_replay_lsn()::text, pg_get_wal_replay_pause_state()",
			target).Scan(&done, &replayed, &state)
		if lastErr == nil && done {
			return nil
		}
		select {
		case <-ctx.Done():
			if lastErr != nil && !errors.Is(lastErr, context.DeadlineExceeded) {
				return fmt.Errorf("primary at %s; replica: %v", target, lastErr)
			}
			return fmt.Errorf("primary at %s, replica replayed up to %s, replay %s", target, replayed.String, state.String)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (r *ReplicaSet) waitGTID(ctx context.Context, timeout time.Duration) error {
	var pos string
	if err := r.primary.admin.QueryRowContext(ctx, "SELECT @@gtid_binlog_pos").Scan(&pos); err != nil {
		return fmt.Errorf("reading the primary's gtid_binlog_pos: %v", err)
	}
	// MASTER_GTID_WAIT itself times out (-1) a little before ctx does.
	wait := timeout - 100*time.Millisecond
	if wait < 0 {
		wait = 0
	}
	var res sql.NullInt64
	err := r.replica.admin.QueryRowContext(ctx, "SELECT MASTER_GTID_WAIT(?, ?)", pos, wait.Seconds()).Scan(&res)
	if err == nil && res.Valid && res.Int64 == 0 {
		return nil
	}
	desc := fmt.Sprintf("primary at GTID %q", pos)
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var slavePos string
	_ = r.replica.admin.QueryRowContext(sctx, "SELECT @@gtid_slave_pos").Scan(&slavePos)
	desc += fmt.Sprintf("; replica at %q", slavePos)
	if st, serr := slaveStatus(sctx, r.replica.admin); serr == nil && st != nil {
		desc += fmt.Sprintf(", IO thread %s, SQL thread %s", st["Slave_IO_Running"], st["Slave_SQL_Running"])
		for _, f := range []string{"Last_IO_Error", "Last_SQL_Error"} {
			if st[f] != "" {
				desc += ", " + f + ": " + st[f]
			}
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %v", desc, err)
	}
	return errors.New(desc)
}

func (r *ReplicaSet) replicaHas(ctx context.Context, name string) (bool, error) {
	q := "SELECT count(*) FROM pg_database WHERE datname = $1"
	if r.Name == NameMariaDB {
		q = "SELECT count(*) FROM information_schema.schemata WHERE schema_name = ?"
	}
	var n int
	err := r.replica.admin.QueryRowContext(ctx, q, name).Scan(&n)
	return n == 1, err
}

// slaveStatus returns SHOW SLAVE STATUS as a map, or nil when the server is
// not a replica.
func slaveStatus(ctx context.Context, db *sql.DB) (map[string]string, error) {
	rows, err := db.QueryContext(ctx, "SHOW SLAVE STATUS")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	if !rows.Next() {
		return nil, rows.Err()
	}
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	st := make(map[string]string, len(cols))
	for i, c := range cols {
		st[c] = string(vals[i])
	}
	return st, rows.Err()
}

// ---- cross-process lock -------------------------------------------------------

// crossLock is a session-level lock on a replica set's primary, held while
// any ReplicaSet of this process is alive (reference counted), so that test
// binaries take turns.
type crossLock struct {
	mu   sync.Mutex
	refs int
	db   *sql.DB
	conn *sql.Conn
}

const (
	pgLockKey      = 0x6772616e74726570 // "grantrep"
	mariaDBLockKey = "grant_replica_tests"
)

// acquire takes the lock (or a reference to it) and returns its release.
func (l *crossLock) acquire(t testing.TB, k *replicaKind, primary *Backend) (func(), error) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.refs == 0 {
		if err := l.lock(t, k, primary); err != nil {
			return nil, err
		}
	}
	l.refs++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.refs--
			if l.refs == 0 {
				// Closing the session releases the lock.
				_ = l.conn.Close()
				_ = l.db.Close()
				l.conn, l.db = nil, nil
			}
		})
	}, nil
}

func (l *crossLock) lock(t testing.TB, k *replicaKind, primary *Backend) error {
	t.Helper()
	driverName := "pgx"
	try := "SELECT pg_try_advisory_lock($1)"
	var key any = int64(pgLockKey)
	if k.name == NameMariaDB {
		driverName, try, key = "mysql", "SELECT GET_LOCK(?, 0)", mariaDBLockKey
	}
	db, err := sql.Open(driverName, primary.adminDSN)
	if err != nil {
		return scrub(err, k.name, primary.adminDSN)
	}
	ctx, cancel := context.WithTimeout(context.Background(), lockWait)
	defer cancel()
	conn, err := db.Conn(ctx)
	if err != nil {
		_ = db.Close()
		return scrub(err, k.name, primary.adminDSN)
	}
	logged := false
	for {
		var got sql.NullBool
		if err := conn.QueryRowContext(ctx, try, key).Scan(&got); err != nil {
			_ = conn.Close()
			_ = db.Close()
			if ctx.Err() != nil {
				return fmt.Errorf("another test process held the replica-set lock for %s (a replica-set test hanging elsewhere?)", lockWait)
			}
			return fmt.Errorf("taking the replica-set lock: %v", scrub(err, k.name, primary.adminDSN))
		}
		if got.Valid && got.Bool {
			l.db, l.conn = db, conn
			return nil
		}
		if !logged {
			t.Logf("testdb: waiting for another test process to finish with the %s replica set", k.title)
			logged = true
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ---- scripts ----------------------------------------------------------------

// runScript runs scripts/<name> <command> with bash and returns its output.
func runScript(name, command string) (string, error) {
	path, err := scriptPath(name)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "bash", path, command).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// scriptPath finds scripts/<name>: next to this source file's module root,
// or in the working directory or one of its parents.
func scriptPath(name string) (string, error) {
	var tried []string
	if _, file, _, ok := runtime.Caller(0); ok {
		p := filepath.Join(filepath.Dir(file), "..", "..", "scripts", name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		tried = append(tried, p)
	}
	if dir, err := os.Getwd(); err == nil {
		for {
			p := filepath.Join(dir, "scripts", name)
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
			tried = append(tried, p)
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", fmt.Errorf("scripts/%s not found (tried %s)", name, strings.Join(tried, ", "))
}

// ConnectsWithin opens a new PostgreSQL session on dsn and pings it within
// d: nil when a server answers a new session in time (a frozen one does
// not). The session is closed again.
func ConnectsWithin(dsn string, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.PingContext(ctx)
}
