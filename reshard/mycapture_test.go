package reshard

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grant-go/grant/internal/testdb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// myShard is one throw-away MariaDB database with a pool on it.
func myShard(t *testing.T) (*sql.DB, string) {
	t.Helper()
	d := testdb.MariaDB(t).CreateDatabase(t, "mycap")
	db, err := d.Open(t).DB()
	require.NoError(t, err)
	return db, d.Name
}

func myExec(t *testing.T, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, q string, args ...any) {
	t.Helper()
	_, err := db.ExecContext(context.Background(), q, args...)
	require.NoError(t, err, q)
}

func myReached(t *testing.T, c *MySQLCapture, m Mark) bool {
	t.Helper()
	ok, err := c.Reached(context.Background(), m)
	require.NoError(t, err)
	return ok
}

// readAll reads and acks until the changelog is empty.
func readAll(t *testing.T, c *MySQLCapture) []Change {
	t.Helper()
	ctx := context.Background()
	var all []Change
	for {
		ch, cur, err := c.Read(ctx, 100)
		require.NoError(t, err)
		if len(ch) == 0 {
			return all
		}
		all = append(all, ch...)
		require.NoError(t, c.Ack(ctx, cur))
	}
}

func TestMySQLCaptureEvents(t *testing.T) {
	db, _ := myShard(t)
	ctx := context.Background()
	myExec(t, db, "CREATE TABLE items (id BIGINT PRIMARY KEY, v INT)")
	myExec(t, db, "CREATE TABLE pairs (a VARCHAR(20), b INT, v INT, PRIMARY KEY (a, b))")
	c := NewMySQLCapture(db, "wf1")
	require.NoError(t, c.Install(ctx, []Table{
		{Name: "items", PK: []string{"id"}},
		{Name: "pairs", PK: []string{"b", "a"}}, // Table.PK order, not the index's
	}))

	myExec(t, db, "INSERT INTO items VALUES (1, 10)")
	myExec(t, db, "UPDATE items SET v = 11 WHERE id = 1")
	myExec(t, db, "UPDATE items SET id = 2 WHERE id = 1")
	myExec(t, db, "DELETE FROM items WHERE id = 2")
	myExec(t, db, "INSERT INTO pairs VALUES ('x', 1, 0)")
	myExec(t, db, "UPDATE pairs SET a = 'y' WHERE a = 'x'")
	myExec(t, db, "UPDATE pairs SET a = 'Y' WHERE a = 'y'") // equal under the _ci collation, not byte-wise
	myExec(t, db, "DELETE FROM pairs")

	assert.Equal(t, []Change{
		{Table: "items", PK: []string{"1"}},
		{Table: "items", PK: []string{"1"}},                                      // update, key kept: NEW only
		{Table: "items", PK: []string{"2"}}, {Table: "items", PK: []string{"1"}}, // key changed: NEW and OLD
		{Table: "items", PK: []string{"2"}},
		{Table: "pairs", PK: []string{"1", "x"}},
		{Table: "pairs", PK: []string{"1", "y"}}, {Table: "pairs", PK: []string{"1", "x"}},
		{Table: "pairs", PK: []string{"1", "Y"}}, {Table: "pairs", PK: []string{"1", "y"}},
		{Table: "pairs", PK: []string{"1", "Y"}},
	}, readAll(t, c))
}

// TestMySQLCapturePKText proves, per key type claimed, that the text
// reported is exact and that binding it as a parameter finds the row.
func TestMySQLCapturePKText(t *testing.T) {
	db, _ := myShard(t)
	ctx := context.Background()
	cases := []struct {
		typ  string
		val  any
		want string
	}{
		{"INT", -7, "-7"},
		{"BIGINT UNSIGNED", uint64(18446744073709551615), "18446744073709551615"},
		{"DECIMAL(20,4)", "12.5", "12.5000"},
		{"DECIMAL(30,10)", "-12345678901234567890.0000000001", "-12345678901234567890.0000000001"},
		{"VARCHAR(100) CHARACTER SET utf8mb4", "it's \"q\" \\ \t\n\x00 é ü 日本 😀", "it's \"q\" \\ \t\n\x00 é ü 日本 😀"},
		{"VARCHAR(100) CHARACTER SET latin1", "café 'x'", "café 'x'"},
		{"VARCHAR(10)", "", ""},
		{"CHAR(8)", "abc", "abc"},
		{"DATETIME", "2024-02-29 23:59:58", "2024-02-29 23:59:58"},
		{"DATETIME(6)", "2024-01-02 03:04:05.123456", "2024-01-02 03:04:05.123456"},
		{"DATETIME(3)", "2024-01-02 03:04:05.1", "2024-01-02 03:04:05.100"},
		{"DATE", "1999-12-31", "1999-12-31"},
		{"TIME(2)", "-838:59:58.5", "-838:59:58.50"},
		{"YEAR", 2024, "2024"},
		{"ENUM('a','b c')", "b c", "b c"},
		{"UUID", "123e4567-e89b-12d3-a456-426614174000", "123e4567-e89b-12d3-a456-426614174000"},
		{"INET6", "2001:db8::1", "2001:db8::1"},
		{"VARBINARY(16)", []byte{0, 0xff, '"', '\\', 0x80, 'a'}, "\x00\xff\"\\\x80a"},
		{"BINARY(4)", []byte{1, 2}, "\x01\x02\x00\x00"}, // padded as stored
	}
	var tables []Table
	for i, tc := range cases {
		name := fmt.Sprintf("k%d", i)
		myExec(t, db, fmt.Sprintf("CREATE TABLE %s (k %s NOT NULL PRIMARY KEY)", name, tc.typ))
		tables = append(tables, Table{Name: name, PK: []string{"k"}})
	}
	c := NewMySQLCapture(db, "wf")
	require.NoError(t, c.Install(ctx, tables))
	for i, tc := range cases {
		myExec(t, db, fmt.Sprintf("INSERT INTO k%d VALUES (?)", i), tc.val)
	}
	got := readAll(t, c)
	require.Len(t, got, len(cases))
	for i, tc := range cases {
		ch := got[i]
		assert.Equal(t, Change{Table: fmt.Sprintf("k%d", i), PK: []string{tc.want}}, ch, tc.typ)
		var n int
		require.NoError(t, db.QueryRowContext(ctx,
			fmt.Sprintf("SELECT COUNT(*) FROM k%d WHERE k = ?", i), ch.PK[0]).Scan(&n))
		assert.Equal(t, 1, n, "%s: %q does not find the row", tc.typ, ch.PK[0])
	}
}

func TestMySQLCaptureRefusesTables(t *testing.T) {
	db, schema := myShard(t)
	ctx := context.Background()
	myExec(t, db, "CREATE TABLE nopk (v INT)")
	myExec(t, db, "CREATE TABLE fl (k DOUBLE PRIMARY KEY)")
	myExec(t, db, "CREATE TABLE ok (k INT PRIMARY KEY, j INT)")
	c := NewMySQLCapture(db, "wf")

	err := c.Install(ctx, []Table{{Name: "nopk", PK: []string{"v"}}})
	require.ErrorIs(t, err, ErrNoPrimaryKey)
	assert.Contains(t, err.Error(), "table nopk")
	assert.Contains(t, err.Error(), "database "+schema)

	err = c.Install(ctx, []Table{{Name: "fl"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "table fl")

	err = c.Install(ctx, []Table{{Name: "ok", PK: []string{"j"}}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "table ok")

	err = c.Install(ctx, []Table{{Name: "missing"}})
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrNoPrimaryKey)
	assert.Contains(t, err.Error(), "table missing: no such table")
}

func TestMySQLCaptureRollbackAndGap(t *testing.T) {
	db, _ := myShard(t)
	ctx := context.Background()
	myExec(t, db, "CREATE TABLE items (id INT PRIMARY KEY)")
	c := NewMySQLCapture(db, "wf")
	require.NoError(t, c.Install(ctx, []Table{{Name: "items", PK: []string{"id"}}}))

	rb, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	myExec(t, rb, "INSERT INTO items VALUES (100)")
	require.NoError(t, rb.Rollback())
	assert.Empty(t, readAll(t, c), "a rolled-back row is never reported")

	// open takes the lower changelog id and commits after a higher one
	// was read, acked and passed by a Mark.
	open, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	myExec(t, open, "INSERT INTO items VALUES (1)")
	myExec(t, db, "INSERT INTO items VALUES (2)")

	ch, cur, err := c.Read(ctx, 10)
	require.NoError(t, err)
	assert.Equal(t, []Change{{Table: "items", PK: []string{"2"}}}, ch, "uncommitted change invisible")
	m, err := c.Mark(ctx)
	require.NoError(t, err)
	assert.Equal(t, cur.(mysqlCursor)[0], int64(m))
	assert.False(t, myReached(t, c, m))
	require.NoError(t, c.Ack(ctx, cur))
	assert.True(t, myReached(t, c, m))

	require.NoError(t, open.Commit())
	lag, err := c.Lag(ctx)
	require.NoError(t, err)
	assert.Equal(t, Lag{Pending: 1, Unit: "changes"}, lag)
	assert.False(t, myReached(t, c, m), "the late lower id is below the Mark")
	ch, cur, err = c.Read(ctx, 10)
	require.NoError(t, err)
	assert.Equal(t, []Change{{Table: "items", PK: []string{"1"}}}, ch, "the gap's change appears after commit")
	assert.Less(t, cur.(mysqlCursor)[0], int64(m))
	require.NoError(t, c.Ack(ctx, cur))
	assert.True(t, myReached(t, c, m))
	m, err = c.Mark(ctx)
	require.NoError(t, err)
	assert.Equal(t, Mark(0), m, "empty changelog")
}

func TestMySQLCaptureAckAndResume(t *testing.T) {
	db, _ := myShard(t)
	ctx := context.Background()
	myExec(t, db, "CREATE TABLE items (id INT PRIMARY KEY)")
	tables := []Table{{Name: "items", PK: []string{"id"}}}
	c := NewMySQLCapture(db, "wf")
	require.NoError(t, c.Install(ctx, tables))
	for i := 1; i <= 5; i++ {
		myExec(t, db, "INSERT INTO items VALUES (?)", i)
	}
	lag, err := c.Lag(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(5), lag.Pending)

	ch, cur, err := c.Read(ctx, 3)
	require.NoError(t, err)
	require.Len(t, ch, 3)
	require.NoError(t, c.Ack(ctx, cur))
	require.NoError(t, c.Ack(ctx, cur), "acking twice")
	require.NoError(t, c.Ack(ctx, nil))
	require.Error(t, c.Ack(ctx, "not a cursor"))

	// Read again without acking: the same rows come back.
	ch, cur, err = c.Read(ctx, 1)
	require.NoError(t, err)
	assert.Equal(t, []Change{{Table: "items", PK: []string{"4"}}}, ch)
	ch2, _, err := c.Read(ctx, 1)
	require.NoError(t, err)
	assert.Equal(t, ch, ch2)
	require.NoError(t, c.Ack(ctx, cur))

	// A new capture on the same name, after a re-Install, continues.
	myExec(t, db, "INSERT INTO items VALUES (6)")
	c2 := NewMySQLCapture(db, "wf")
	require.NoError(t, c2.Install(ctx, tables))
	require.NoError(t, c2.Install(ctx, tables), "Install twice")
	myExec(t, db, "INSERT INTO items VALUES (7)")
	assert.Equal(t, []Change{
		{Table: "items", PK: []string{"5"}},
		{Table: "items", PK: []string{"6"}},
		{Table: "items", PK: []string{"7"}},
	}, readAll(t, c2), "no duplicate triggers, nothing lost")
	lag, err = c2.Lag(ctx)
	require.NoError(t, err)
	assert.Equal(t, Lag{Pending: 0, Unit: "changes"}, lag)
}

func TestMySQLCaptureAckBatches(t *testing.T) {
	db, _ := myShard(t)
	ctx := context.Background()
	myExec(t, db, "CREATE TABLE items (id INT PRIMARY KEY)")
	c := NewMySQLCapture(db, "wf")
	require.NoError(t, c.Install(ctx, []Table{{Name: "items"}}))
	myExec(t, db, "INSERT INTO items SELECT seq FROM seq_1_to_2500") // the Sequence engine
	myExec(t, db, "INSERT INTO items VALUES (9999)")
	ch, cur, err := c.Read(ctx, 2500)
	require.NoError(t, err)
	require.Len(t, ch, 2500)
	require.NoError(t, c.Ack(ctx, cur))
	assert.Equal(t, []Change{{Table: "items", PK: []string{"9999"}}}, readAll(t, c), "exactly the acked ids went")
}

func myTriggers(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query("SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() ORDER BY 1")
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		out = append(out, n)
	}
	require.NoError(t, rows.Err())
	return out
}

func myHasTable(t *testing.T, db *sql.DB, name string) bool {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?", name).Scan(&n))
	return n > 0
}

func TestMySQLCaptureUninstall(t *testing.T) {
	db, _ := myShard(t)
	ctx := context.Background()
	long := strings.Repeat("t", 64) // the longest table name: trigger names are shortened
	myExec(t, db, "CREATE TABLE a (id INT PRIMARY KEY)")
	myExec(t, db, "CREATE TABLE "+long+" (id INT PRIMARY KEY)")
	myExec(t, db, "CREATE TABLE nopk (v INT)")
	// Another workflow whose name extends this one's keeps its triggers.
	other := NewMySQLCapture(db, "wf_a")
	require.NoError(t, other.Install(ctx, []Table{{Name: "a"}}))

	c := NewMySQLCapture(db, "wf")
	// "wf" on a_a derives the trigger names "wf_a" has on a.
	myExec(t, db, "CREATE TABLE a_a (id INT PRIMARY KEY)")
	err := c.Install(ctx, []Table{{Name: "a_a"}})
	require.ErrorIs(t, err, ErrTriggerTaken)
	assert.Contains(t, err.Error(), "table a_a")
	// The failing table stands in for a crash half way through Install.
	require.Error(t, c.Install(ctx, []Table{{Name: "a"}, {Name: long}, {Name: "nopk"}}))
	require.Len(t, myTriggers(t, db), 9)
	myExec(t, db, "INSERT INTO "+long+" VALUES (1)")
	assert.Equal(t, []Change{{Table: long, PK: []string{"1"}}}, readAll(t, c))

	require.NoError(t, c.Uninstall(ctx))
	assert.Equal(t, []string{"wf_a_a_del", "wf_a_a_ins", "wf_a_a_upd"}, myTriggers(t, db))
	assert.False(t, myHasTable(t, db, "wf_changelog"))
	assert.True(t, myHasTable(t, db, "wf_a_changelog"))
	require.NoError(t, c.Uninstall(ctx), "Uninstall twice")

	require.NoError(t, other.Uninstall(ctx))
	assert.Empty(t, myTriggers(t, db))
	assert.False(t, myHasTable(t, db, "wf_a_changelog"))
	myExec(t, db, "INSERT INTO a VALUES (1)") // no trigger left to fail on

	_, _, err = c.Read(ctx, 1)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "wf_changelog")
}

func TestMySQLTriggerName(t *testing.T) {
	name := strings.Repeat("n", 40)
	seen := map[string]bool{}
	for _, table := range []string{"a", strings.Repeat("t", 64), strings.Repeat("t", 63) + "u", strings.Repeat("t", 20)} {
		for _, ev := range triggerEvents {
			n := triggerName(name, table, ev.suffix)
			assert.LessOrEqual(t, len(n), maxIdent, n)
			assert.True(t, strings.HasPrefix(n, name+"_"), n)
			assert.False(t, seen[n], "duplicate %s", n)
			seen[n] = true
		}
	}
	assert.Equal(t, "wf_items_ins", triggerName("wf", "items", "ins"))
}

// TestMySQLCaptureConcurrentWriters runs writers in multi-statement
// transactions (some rolled back) while a reader reads and acks, so that
// ids commit out of order, and counts that every committed row change was
// reported exactly once.
func TestMySQLCaptureConcurrentWriters(t *testing.T) {
	db, _ := myShard(t)
	ctx := context.Background()
	db.SetMaxOpenConns(20)
	myExec(t, db, "CREATE TABLE items (w INT, k INT, v INT, PRIMARY KEY (w, k))")
	c := NewMySQLCapture(db, "wf")
	require.NoError(t, c.Install(ctx, []Table{{Name: "items", PK: []string{"w", "k"}}}))

	const writers, txns = 8, 40
	want := make([]map[string]int, writers)
	var wg sync.WaitGroup
	for w := range writers {
		want[w] = map[string]int{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			live := map[int]bool{}
			next := 0
			for range txns {
				tx, err := db.BeginTx(ctx, nil)
				if !assert.NoError(t, err) {
					return
				}
				pending := map[string]int{}
				staged := map[int]bool{}
				for k := range live {
					staged[k] = true
				}
				for range 1 + rng.IntN(4) {
					var keys []int
					for k := range staged {
						keys = append(keys, k)
					}
					key := func(k int) string { return fmt.Sprintf("%d/%d", w, k) }
					switch op := rng.IntN(4); {
					case op == 0 || len(keys) == 0:
						next++
						_, err = tx.Exec("INSERT INTO items VALUES (?, ?, 0)", w, next)
						staged[next] = true
						pending[key(next)]++
					case op == 1:
						k := keys[rng.IntN(len(keys))]
						_, err = tx.Exec("UPDATE items SET v = v + 1 WHERE w = ? AND k = ?", w, k)
						pending[key(k)]++
					case op == 2:
						k := keys[rng.IntN(len(keys))]
						next++
						_, err = tx.Exec("UPDATE items SET k = ? WHERE w = ? AND k = ?", next, w, k)
						delete(staged, k)
						staged[next] = true
						pending[key(k)]++
						pending[key(next)]++
					default:
						k := keys[rng.IntN(len(keys))]
						_, err = tx.Exec("DELETE FROM items WHERE w = ? AND k = ?", w, k)
						delete(staged, k)
						pending[key(k)]++
					}
					if !assert.NoError(t, err) {
						_ = tx.Rollback()
						return
					}
					time.Sleep(time.Duration(rng.IntN(500)) * time.Microsecond)
				}
				if rng.IntN(5) == 0 {
					assert.NoError(t, tx.Rollback())
					continue
				}
				if !assert.NoError(t, tx.Commit()) {
					return
				}
				live = staged
				for k, n := range pending {
					want[w][k] += n
				}
			}
		}()
	}

	got := map[string]int{}
	record := func(ch []Change) {
		for _, x := range ch {
			require.Equal(t, "items", x.Table)
			require.Len(t, x.PK, 2)
			got[x.PK[0]+"/"+x.PK[1]]++
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		ch, cur, err := c.Read(ctx, 7)
		require.NoError(t, err)
		record(ch)
		require.NoError(t, c.Ack(ctx, cur))
	}
	record(readAll(t, c))

	all := map[string]int{}
	total := 0
	for _, m := range want {
		for k, n := range m {
			all[k] += n
			total += n
		}
	}
	require.Greater(t, total, writers*txns/2)
	assert.Equal(t, all, got, "every committed change reported exactly once")
}
