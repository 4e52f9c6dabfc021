package reshard

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/grant-go/grant/internal/testdb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A commit is in the WAL, flushed, a moment before other sessions can see
// it. Synchronous replication to a standby that never comes holds that
// moment open: the committing backend waits for the standby after its
// commit is flushed and before it leaves the running transactions. Read
// must not return the transaction then: the applier would re-read the row
// as it was before, and Ack the change unapplied (a CI run lost a delete
// this way, the row left on its target).
func TestPostgresCaptureWaitsForCommitsToBeVisible(t *testing.T) {
	db, dsn := privatePostgres(t, "wal_level = logical", "max_replication_slots = 2", "max_wal_senders = 2",
		"synchronous_standby_names = 'nobody'", "synchronous_commit = local")
	ctx := context.Background()
	_, err := db.Exec("CREATE TABLE items (id bigint PRIMARY KEY, v text); INSERT INTO items VALUES (1, 'a')")
	require.NoError(t, err)
	c := NewPostgresCapture(dsn, db, "syncrep")
	require.NoError(t, c.Install(ctx, []Table{pgItems}))

	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	var pid int
	require.NoError(t, conn.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid))
	// Should the test fail while the delete waits, Close would wait for
	// it forever: end the wait first.
	defer db.Exec("SELECT pg_cancel_backend($1)", pid) //nolint:errcheck
	deleted := make(chan error, 1)
	go func() {
		_, err := conn.ExecContext(ctx, "SET synchronous_commit = on; DELETE FROM items WHERE id = 1")
		deleted <- err
	}()
	require.Eventually(t, func() bool {
		var waiting bool
		require.NoError(t, db.QueryRow("SELECT coalesce(wait_event = 'SyncRep', false) FROM pg_stat_activity WHERE pid = $1", pid).Scan(&waiting))
		return waiting
	}, 10*time.Second, time.Millisecond, "the delete waits for the standby")

	// The window is open: the slot holds the delete, and a read still
	// finds the row.
	var decoded, visible int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM pg_logical_slot_peek_binary_changes('syncrep', pg_current_wal_flush_lsn(), NULL,
		'proto_version', '1', 'publication_names', 'syncrep')`).Scan(&decoded))
	require.Positive(t, decoded, "the committed delete is in the slot")
	require.NoError(t, db.QueryRow("SELECT count(*) FROM items").Scan(&visible))
	require.Equal(t, 1, visible, "and not visible yet")

	type batch struct {
		changes []Change
		err     error
	}
	read := make(chan batch, 1)
	go func() {
		changes, _, err := c.Read(ctx, 0)
		read <- batch{changes, err}
	}()
	select {
	case b := <-read:
		t.Fatalf("Read returned %v, %v while its delete is not visible", b.changes, b.err)
	case <-time.After(200 * time.Millisecond): // nothing to wait for: Read must not return
	}

	// Cancelling the wait for the standby ends it: the delete, committed
	// already, becomes visible, and Read returns it.
	_, err = db.Exec("SELECT pg_cancel_backend($1)", pid)
	require.NoError(t, err)
	require.NoError(t, <-deleted, "a cancelled wait for the standby leaves the commit committed (a warning)")
	b := <-read
	require.NoError(t, b.err)
	assert.Equal(t, []Change{ch("items", "1")}, b.changes)
	require.NoError(t, db.QueryRow("SELECT count(*) FROM items").Scan(&visible))
	assert.Zero(t, visible, "what Read returned is visible when it returns")
}

// privatePostgres starts a throw-away PostgreSQL server with settings no
// shared server may have (synchronous replication to nobody would hang
// every other test's commits), and stops and removes it when t ends. It
// skips, or fails under GRANT_REQUIRE_SERVERS, without PostgreSQL's
// binaries.
func privatePostgres(t *testing.T, settings ...string) (*sql.DB, string) {
	t.Helper()
	bin := os.Getenv("GRANT_PG_BIN")
	if bin == "" {
		found, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
		if len(found) > 0 {
			bin = found[len(found)-1]
		}
	}
	unavailable := func(msg string) {
		t.Helper()
		if testdb.RequireServers() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if _, err := os.Stat(filepath.Join(bin, "initdb")); err != nil {
		unavailable("no PostgreSQL binaries to start a private server (set GRANT_PG_BIN)")
	}
	var owner *user.User
	if os.Getuid() == 0 { // the server refuses to run as root
		pg, err := user.Lookup("postgres")
		if err != nil {
			unavailable("running as root, and no user postgres to run a private PostgreSQL server as")
		}
		owner = pg
	}
	// Not t.TempDir: its parent is private to this user, and the server
	// runs as postgres when the tests run as root.
	dir, err := os.MkdirTemp("", "grant-private-pg-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	run := func(name string, args ...string) {
		t.Helper()
		path := filepath.Join(bin, name)
		cmd := exec.Command(path, args...)
		if owner != nil {
			cmd = exec.Command("runuser", append([]string{"-u", owner.Username, "--", path}, args...)...)
		}
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s: %s", name, out)
	}
	if owner != nil {
		uid, _ := strconv.Atoi(owner.Uid)
		gid, _ := strconv.Atoi(owner.Gid)
		require.NoError(t, os.Chown(dir, uid, gid))
	}
	data := filepath.Join(dir, "data")
	run("initdb", "-D", data, "--auth=trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	conf := fmt.Sprintf("port = %d\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\nfsync = off\n", port, dir)
	for _, s := range settings {
		conf += s + "\n"
	}
	f, err := os.OpenFile(filepath.Join(data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(conf)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	run("pg_ctl", "start", "-w", "-t", "60", "-D", data, "-l", filepath.Join(dir, "log"))
	t.Cleanup(func() { run("pg_ctl", "stop", "-w", "-m", "immediate", "-D", data) })
	dsn := fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=postgres sslmode=disable", port)
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db, dsn
}
