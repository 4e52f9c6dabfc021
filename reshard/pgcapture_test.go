package reshard

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grant-go/grant/internal/testdb"
	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	pgItems = Table{Name: "items", PK: []string{"id"}, Key: "id", Columns: []string{"id", "v"}}
	// The PK's order differs from the columns' so that keys come in PK order.
	pgPairs = Table{Name: "pairs", PK: []string{"b", "a"}, Key: "a", Columns: []string{"a", "b", "v"}}
)

// pgShard is one throw-away database with the tables above and a capture
// on it whose slot is dropped when the test ends, passed or not: a
// leftover slot holds WAL forever and blocks DROP DATABASE.
type pgShard struct {
	t    *testing.T
	d    *testdb.Database
	db   *sql.DB
	name string
	c    *PostgresCapture
}

func newPgShard(t *testing.T, suffix string) *pgShard {
	t.Helper()
	d := testdb.Postgres(t).CreateDatabase(t, suffix)
	db, err := sql.Open("pgx", d.DirectDSN)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	var level string
	require.NoError(t, db.QueryRow("SHOW wal_level").Scan(&level))
	if level != "logical" {
		msg := "PostgreSQL has wal_level=" + level + ", change capture needs logical: run scripts/pg-logical.sh"
		if testdb.RequireServers() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	s := &pgShard{t: t, d: d, db: db, name: d.Name}
	s.exec("CREATE TABLE items (id bigint PRIMARY KEY, v text)")
	s.exec("CREATE TABLE pairs (a int, b text, v int, PRIMARY KEY (b, a))")
	t.Cleanup(func() {
		// From the same pool; registered after db.Close, so it runs before.
		_, err := db.Exec("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1", s.name)
		if err != nil {
			t.Errorf("dropping slot %s: %v", s.name, err)
		}
	})
	s.c = NewPostgresCapture(d.DirectDSN, db, s.name)
	return s
}

func (s *pgShard) exec(query string, args ...any) {
	s.t.Helper()
	_, err := s.db.Exec(query, args...)
	require.NoError(s.t, err, query)
}

// read is one Read that must succeed.
func (s *pgShard) read(c *PostgresCapture, limit int) ([]Change, Cursor) {
	s.t.Helper()
	changes, cursor, err := c.Read(context.Background(), limit)
	require.NoError(s.t, err)
	return changes, cursor
}

func (s *pgShard) lsn(fn string) pglogrepl.LSN {
	s.t.Helper()
	var text string
	require.NoError(s.t, s.db.QueryRow("SELECT "+fn+"::text").Scan(&text))
	lsn, err := pglogrepl.ParseLSN(text)
	require.NoError(s.t, err)
	return lsn
}

func ch(table string, pk ...string) Change { return Change{Table: table, PK: pk} }

func TestPostgresCaptureChanges(t *testing.T) {
	t.Parallel()
	s := newPgShard(t, "pgcap_changes")
	ctx := context.Background()
	require.NoError(t, s.c.Install(ctx, []Table{pgItems, pgPairs}))
	require.NoError(t, s.c.Install(ctx, []Table{pgItems, pgPairs}), "Install is idempotent")

	s.exec("INSERT INTO items VALUES (1, 'a'), (2, 'b')")
	s.exec("UPDATE items SET v = 'c' WHERE id = 1")
	s.exec("UPDATE items SET id = 3 WHERE id = 2") // the key changes: both keys
	s.exec("DELETE FROM items WHERE id = 1")
	s.exec("INSERT INTO pairs VALUES (7, 'x', 0)")
	s.exec("UPDATE pairs SET v = 1")
	s.exec("DELETE FROM pairs")

	changes, cursor := s.read(s.c, 1000)
	assert.Equal(t, []Change{
		ch("items", "1"), ch("items", "2"),
		ch("items", "1"),
		ch("items", "3"), ch("items", "2"),
		ch("items", "1"),
		ch("pairs", "x", "7"), ch("pairs", "x", "7"), ch("pairs", "x", "7"),
	}, changes)

	again, _ := s.read(s.c, 1000)
	assert.Equal(t, changes, again, "Read peeks: without Ack the same changes come again")
	require.NoError(t, s.c.Ack(ctx, cursor))
	require.NoError(t, s.c.Ack(ctx, cursor), "an Ack that does not move the slot is ignored")
	after, _ := s.read(s.c, 1000)
	assert.Empty(t, after, "acked changes do not come again")

	s.exec("INSERT INTO items VALUES (4, 'd')")
	changes, _ = s.read(s.c, 1000)
	assert.Equal(t, []Change{ch("items", "4")}, changes)
}

func TestPostgresCaptureTransactions(t *testing.T) {
	t.Parallel()
	s := newPgShard(t, "pgcap_txn")
	ctx := context.Background()
	require.NoError(t, s.c.Install(ctx, []Table{pgItems}))

	s.exec("INSERT INTO items SELECT g, 'a' FROM generate_series(1, 5) g")
	s.exec("INSERT INTO items SELECT g, 'b' FROM generate_series(6, 8) g")

	// A limit smaller than a transaction still returns all of it, and
	// stops after it.
	changes, cursor := s.read(s.c, 2)
	assert.Equal(t, []Change{ch("items", "1"), ch("items", "2"), ch("items", "3"), ch("items", "4"), ch("items", "5")}, changes)
	require.NoError(t, s.c.Ack(ctx, cursor))
	changes, cursor = s.read(s.c, 2)
	assert.Equal(t, []Change{ch("items", "6"), ch("items", "7"), ch("items", "8")}, changes)
	require.NoError(t, s.c.Ack(ctx, cursor))

	// An open transaction's rows do not come out, and the Ack of the
	// empty batch (which moves the slot past the transaction's first
	// change) does not lose them: they come at commit.
	tx, err := s.db.BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = tx.Exec("INSERT INTO items VALUES (9, 'open'), (10, 'open')")
	require.NoError(t, err)
	s.exec("INSERT INTO items VALUES (11, 'later')") // commits first
	changes, cursor = s.read(s.c, 1000)
	assert.Equal(t, []Change{ch("items", "11")}, changes)
	require.NoError(t, s.c.Ack(ctx, cursor))
	changes, cursor = s.read(s.c, 1000)
	assert.Empty(t, changes)
	require.NoError(t, s.c.Ack(ctx, cursor))
	require.NoError(t, tx.Commit())
	changes, _ = s.read(s.c, 1000)
	assert.Equal(t, []Change{ch("items", "9"), ch("items", "10")}, changes)
}

func TestPostgresCaptureResumesInANewProcess(t *testing.T) {
	t.Parallel()
	s := newPgShard(t, "pgcap_resume")
	ctx := context.Background()
	require.NoError(t, s.c.Install(ctx, []Table{pgItems, pgPairs}))
	s.exec("INSERT INTO items VALUES (1, 'a'), (2, 'b')")
	_, cursor := s.read(s.c, 1000)
	require.NoError(t, s.c.Ack(ctx, cursor))
	s.exec("INSERT INTO items VALUES (3, 'c')")
	s.exec("INSERT INTO pairs VALUES (5, 'y', 0)")

	// A process that has not called Install finds the keys in pgoutput's
	// relation messages.
	bare := NewPostgresCapture(s.d.DirectDSN, s.db, s.name)
	changes, _ := s.read(bare, 1000)
	assert.ElementsMatch(t, []Change{ch("items", "3"), ch("pairs", "5", "y")}, changes, "key columns in table order")

	restarted := NewPostgresCapture(s.d.DirectDSN, s.db, s.name)
	require.NoError(t, restarted.Install(ctx, []Table{pgItems, pgPairs}))
	changes, _ = s.read(restarted, 1000)
	assert.Equal(t, []Change{ch("items", "3"), ch("pairs", "y", "5")}, changes)
}

func TestPostgresCaptureMarkLag(t *testing.T) {
	t.Parallel()
	s := newPgShard(t, "pgcap_mark")
	ctx := context.Background()
	require.NoError(t, s.c.Install(ctx, []Table{pgItems}))
	_, cursor := s.read(s.c, 1000)
	require.NoError(t, s.c.Ack(ctx, cursor))

	before := s.lsn("pg_current_wal_insert_lsn()")
	s.exec("INSERT INTO items SELECT g, repeat('x', 100) FROM generate_series(1, 1000) g")
	written := s.lsn("pg_current_wal_lsn()")
	m, err := s.c.Mark(ctx)
	require.NoError(t, err)
	reached, err := s.c.Reached(ctx, m)
	require.NoError(t, err)
	assert.False(t, reached, "the insert is not acked")
	lag, err := s.c.Lag(ctx)
	require.NoError(t, err)
	assert.Equal(t, "bytes", lag.Unit)
	assert.GreaterOrEqual(t, lag.Pending, int64(written-before), "at least the insert's WAL")

	// The workflow's loop: Read and Ack until the Mark is reached. The
	// flushed position a Read goes to can trail the Mark on a busy server;
	// every round moves it on.
	deadline, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var changes []Change
	for !reached {
		batch, cursor := s.read(s.c, 100)
		changes = append(changes, batch...)
		require.NoError(t, s.c.Ack(ctx, cursor))
		reached, err = s.c.Reached(ctx, m)
		require.NoError(t, err)
		require.NoError(t, deadline.Err(), "the Mark was never reached")
	}
	assert.Len(t, changes, 1000)
	lag, err = s.c.Lag(ctx)
	require.NoError(t, err)
	// Whatever the server (every database on it) wrote since the Ack.
	assert.LessOrEqual(t, lag.Pending, int64(s.lsn("pg_current_wal_lsn()")-pglogrepl.LSN(m)))
}

func TestPostgresCaptureSnapshot(t *testing.T) {
	t.Parallel()
	s := newPgShard(t, "pgcap_snapshot")
	ctx := context.Background()
	s.exec("INSERT INTO items VALUES (1, 'a'), (2, 'b'), (3, 'c')")

	snapshot, release, err := s.c.InstallAt(ctx, []Table{pgItems})
	require.NoError(t, err)
	t.Cleanup(release) // before the slot's drop
	require.NotEmpty(t, snapshot)

	s.exec("INSERT INTO items VALUES (4, 'd')")
	s.exec("UPDATE items SET v = 'changed' WHERE id = 1")
	s.exec("DELETE FROM items WHERE id = 2")

	conn, err := s.db.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ")
	require.NoError(t, err)
	_, err = conn.ExecContext(ctx, "SET TRANSACTION SNAPSHOT '"+snapshot+"'")
	require.NoError(t, err)
	rows, err := conn.QueryContext(ctx, "SELECT id, v FROM items ORDER BY id")
	require.NoError(t, err)
	var seen []string
	for rows.Next() {
		var id, v string
		require.NoError(t, rows.Scan(&id, &v))
		seen = append(seen, id+"="+v)
	}
	require.NoError(t, rows.Err())
	_, err = conn.ExecContext(ctx, "COMMIT")
	require.NoError(t, err)
	assert.Equal(t, []string{"1=a", "2=b", "3=c"}, seen, "the snapshot is the slot's start")

	changes, _ := s.read(s.c, 1000)
	assert.Equal(t, []Change{ch("items", "4"), ch("items", "1"), ch("items", "2")}, changes, "everything after it comes from the slot")

	again, noop, err := s.c.InstallAt(ctx, []Table{pgItems})
	require.NoError(t, err)
	noop()
	assert.Empty(t, again, "the slot exists: no snapshot")
	changes, _ = s.read(s.c, 1000)
	assert.Len(t, changes, 3, "and its position is kept")
	release()
	release() // twice is fine
}

func TestPostgresCaptureUninstall(t *testing.T) {
	t.Parallel()
	s := newPgShard(t, "pgcap_uninstall")
	ctx := context.Background()
	require.NoError(t, s.c.Install(ctx, []Table{pgItems}))
	require.NoError(t, s.c.Install(ctx, []Table{pgItems, pgPairs}), "Install with more tables")
	var published []string
	rows, err := s.db.Query("SELECT tablename FROM pg_publication_tables WHERE pubname = $1 ORDER BY tablename", s.name)
	require.NoError(t, err)
	for rows.Next() {
		var name string
		require.NoError(t, rows.Scan(&name))
		published = append(published, name)
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, []string{"items", "pairs"}, published)

	// A slot a walsender streams from is in use: Uninstall names the
	// process and leaves it.
	cfg, err := pgconn.ParseConfig(s.d.DirectDSN)
	require.NoError(t, err)
	cfg.RuntimeParams["replication"] = "database"
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	require.NoError(t, err)
	require.NoError(t, pglogrepl.StartReplication(ctx, conn, s.name, 0, pglogrepl.StartReplicationOptions{
		PluginArgs: []string{"proto_version '1'", "publication_names '" + s.name + "'"},
	}))
	var pid int
	require.NoError(t, s.db.QueryRow("SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1", s.name).Scan(&pid))
	err = s.c.Uninstall(ctx)
	assert.ErrorContains(t, err, fmt.Sprintf("in use by server process %d", pid))
	closeConn(conn)

	// The walsender ends after its connection: wait on the slot's state.
	require.Eventually(t, func() bool {
		var active bool
		return s.db.QueryRow("SELECT active FROM pg_replication_slots WHERE slot_name = $1", s.name).Scan(&active) == nil && !active
	}, time.Minute, 10*time.Millisecond)
	require.NoError(t, s.c.Uninstall(ctx))
	var slots, pubs int
	require.NoError(t, s.db.QueryRow("SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1", s.name).Scan(&slots))
	require.NoError(t, s.db.QueryRow("SELECT count(*) FROM pg_publication WHERE pubname = $1", s.name).Scan(&pubs))
	assert.Zero(t, slots)
	assert.Zero(t, pubs)
	require.NoError(t, s.c.Uninstall(ctx), "a second Uninstall is fine")
	_, _, err = s.c.Read(ctx, 10)
	assert.ErrorContains(t, err, s.name)
}

func TestPostgresCaptureRefusals(t *testing.T) {
	t.Parallel()
	s := newPgShard(t, "pgcap_refuse")
	ctx := context.Background()
	s.exec("CREATE TABLE nopk (x int)")
	err := s.c.Install(ctx, []Table{pgItems, {Name: "nopk", PK: []string{"x"}}})
	assert.ErrorContains(t, err, "table nopk has no primary key")
	err = s.c.Install(ctx, []Table{{Name: "items"}})
	assert.ErrorContains(t, err, "table items has no primary key")
	err = NewPostgresCapture(s.d.DirectDSN, s.db, "Bad-Name").Install(ctx, []Table{pgItems})
	assert.ErrorContains(t, err, "[a-z0-9_]+")

	require.NoError(t, s.c.Install(ctx, []Table{pgItems}))
	s.exec("INSERT INTO items VALUES (1, 'a')")
	s.exec("TRUNCATE items")
	_, _, err = s.c.Read(ctx, 1000)
	require.Error(t, err)
	assert.ErrorContains(t, err, "TRUNCATE of table items")
	assert.ErrorContains(t, err, s.d.Name, "names the database")
}

func TestWalLevelError(t *testing.T) {
	err := walLevelError("shard_1", "replica")
	for _, want := range []string{"shard_1", "wal_level = logical", "wal_level = replica", "scripts/pg-logical.sh", "ALTER SYSTEM SET wal_level = logical", "restart"} {
		assert.Contains(t, err.Error(), want)
	}
}

// A transaction is taken as running while the snapshot says so, with
// 32-bit ids placed in the 64-bit snapshot's epoch.
func TestRunningIn(t *testing.T) {
	const epoch = uint64(3) << 32
	for _, c := range []struct {
		snapshot string
		xids     []uint32
		running  bool
	}{
		{"100:110:", []uint32{99, 105, 109}, false},
		{"100:110:", []uint32{110}, true}, // not yet completed: at xmax
		{"100:110:", []uint32{200}, true},
		{"100:110:100,104", []uint32{104}, true},
		{"100:110:100,104", []uint32{101, 103, 105}, false},
		{fmt.Sprintf("%d:%d:", epoch+5, epoch+10), []uint32{0xFFFFFFF0}, false}, // the previous epoch
		{fmt.Sprintf("%d:%d:%d", epoch-10, epoch+10, epoch-4), []uint32{0xFFFFFFFC}, true},
		{fmt.Sprintf("%d:%d:", epoch-10, epoch-2), []uint32{0xFFFFFFFE}, true},
	} {
		running, err := runningIn(c.snapshot, c.xids)
		require.NoError(t, err)
		assert.Equal(t, c.running, running, "%s %v", c.snapshot, c.xids)
	}
	for _, bad := range []string{"", "1:2", "1:x:", "1:2:3,y"} {
		_, err := runningIn(bad, []uint32{1})
		assert.ErrorContains(t, err, "unexpected snapshot", bad)
	}
}

// Read returns only once the transactions it returns are visible to new
// snapshots: awaitVisible waits out a transaction that is still running.
func TestPostgresCaptureAwaitsVisibility(t *testing.T) {
	s := newPgShard(t, "vis")
	require.NoError(t, s.c.Install(context.Background(), []Table{pgItems}))
	tx, err := s.db.Begin()
	require.NoError(t, err)
	var xid uint32
	require.NoError(t, tx.QueryRow("SELECT txid_current() % 4294967296").Scan(&xid))
	done := make(chan error, 1)
	go func() { done <- s.c.awaitVisible(context.Background(), []uint32{xid}) }()
	select {
	case err := <-done:
		t.Fatalf("returned while transaction %d runs: %v", xid, err)
	case <-time.After(100 * time.Millisecond): // nothing to wait for: it must not return
	}
	require.NoError(t, tx.Commit())
	require.NoError(t, <-done)

	ctx, cancel := context.WithCancel(context.Background())
	tx, err = s.db.Begin()
	require.NoError(t, err)
	defer tx.Rollback() //nolint:errcheck
	require.NoError(t, tx.QueryRow("SELECT txid_current() % 4294967296").Scan(&xid))
	go func() { done <- s.c.awaitVisible(ctx, []uint32{xid}) }()
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
}

// Dropping the publication while the application writes to its tables
// must not fail a write. PostgreSQL lists a table's publications for a
// write and then looks each up, and a DROP PUBLICATION between the two
// fails the write ("cache lookup failed for publication": 6–9 of 300
// plain drops under these writers); Uninstall empties the publication and
// waits for older snapshots first.
func TestPostgresCaptureUninstallUnderWrites(t *testing.T) {
	s := newPgShard(t, "unw")
	s.exec("INSERT INTO items SELECT g, '' FROM generate_series(1, 100) g")
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var (
		writes  sync.WaitGroup
		ops     atomic.Int64
		mu      sync.Mutex
		failed  []string
		counter atomic.Int64
	)
	for range 8 {
		writes.Go(func() {
			for ctx.Err() == nil {
				_, err := s.db.ExecContext(ctx, "UPDATE items SET v = $1 WHERE id = $2", "x", counter.Add(1)%100+1)
				if err != nil && ctx.Err() == nil {
					mu.Lock()
					failed = append(failed, err.Error())
					mu.Unlock()
				}
				ops.Add(1)
			}
		})
	}
	for range 300 {
		s.exec("CREATE PUBLICATION " + s.name + " FOR TABLE items")
		require.NoError(t, s.c.Uninstall(context.Background()))
	}
	stop()
	writes.Wait()
	t.Logf("300 publications dropped under %d writes", ops.Load())
	assert.Empty(t, failed)
	var left int
	require.NoError(t, s.db.QueryRow("SELECT count(*) FROM pg_publication WHERE pubname = $1", s.name).Scan(&left))
	assert.Zero(t, left)
}
