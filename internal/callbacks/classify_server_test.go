package callbacks

import (
	"context"
	"database/sql"
	"os"
	"strconv"
	"testing"

	mysqldriver "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant/internal/testdb"
	"github.com/grant-go/grant/sharding/scatter/sqlexpr"
)

// serverCase is how one server runs the generated texts: the scratch table t
// (id, v), triggers that count the rows each text inserts, updates or
// deletes, and the session settings each text runs under.
type serverCase struct {
	d       sqlexpr.Dialect
	backend func(testing.TB) *testdb.Backend
	open    func(*testing.T, *testdb.Database) *sql.DB
	setup   []string
	counter string   // reads the count
	inTx    bool     // the count is transactional: read it before the rollback
	modes   []string // one run of the corpus after each
}

var serverCases = map[string]serverCase{
	"postgres": {
		d: sqlexpr.Postgres, backend: testdb.Postgres, open: openGorm,
		setup: []string{
			"CREATE TABLE t (id serial PRIMARY KEY, v text)",
			"INSERT INTO t (v) VALUES ('a'), ('b'), ('c')",
			// A sequence is not transactional: it counts the writes of a text
			// even when a later error in the text rolls them back.
			"CREATE SEQUENCE grant_writes",
			"SELECT nextval('grant_writes')",
			`CREATE FUNCTION grant_count() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN PERFORM nextval('grant_writes'); RETURN NULL; END $$`,
			"CREATE TRIGGER grant_count AFTER INSERT OR UPDATE OR DELETE ON t FOR EACH ROW EXECUTE FUNCTION grant_count()",
		},
		counter: "SELECT last_value FROM grant_writes",
		modes:   []string{"SET standard_conforming_strings = on", "SET standard_conforming_strings = off"},
	},
	"mariadb": {
		d: sqlexpr.MySQL, backend: testdb.MariaDB, open: openMultiStatements,
		setup: []string{
			"CREATE TABLE t (id int AUTO_INCREMENT PRIMARY KEY, v text) ENGINE=InnoDB",
			"INSERT INTO t (v) VALUES ('a'), ('b'), ('c')",
			// MyISAM is not transactional: the count survives the rollback.
			"CREATE TABLE grant_writes (n int NOT NULL) ENGINE=MyISAM",
			"INSERT INTO grant_writes VALUES (0)",
			"CREATE TRIGGER grant_ins AFTER INSERT ON t FOR EACH ROW UPDATE grant_writes SET n = n + 1",
			"CREATE TRIGGER grant_upd AFTER UPDATE ON t FOR EACH ROW UPDATE grant_writes SET n = n + 1",
			"CREATE TRIGGER grant_del AFTER DELETE ON t FOR EACH ROW UPDATE grant_writes SET n = n + 1",
		},
		counter: "SELECT n FROM grant_writes",
		modes: []string{"SET SESSION sql_mode = DEFAULT", "SET SESSION sql_mode = 'ANSI_QUOTES'",
			"SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'"},
	},
	"sqlite": {
		d: sqlexpr.SQLite, backend: testdb.SQLite, open: openGorm,
		setup: []string{
			"CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)",
			"INSERT INTO t (v) VALUES ('a'), ('b'), ('c')",
			"CREATE TABLE grant_writes (n INTEGER NOT NULL)",
			"INSERT INTO grant_writes VALUES (0)",
			"CREATE TRIGGER grant_ins AFTER INSERT ON t BEGIN UPDATE grant_writes SET n = n + 1; END",
			"CREATE TRIGGER grant_upd AFTER UPDATE ON t BEGIN UPDATE grant_writes SET n = n + 1; END",
			"CREATE TRIGGER grant_del AFTER DELETE ON t BEGIN UPDATE grant_writes SET n = n + 1; END",
		},
		counter: "SELECT n FROM grant_writes", inTx: true,
		modes: []string{"SELECT 1"},
	},
}

func openGorm(t *testing.T, d *testdb.Database) *sql.DB {
	db, err := d.Open(t).DB()
	require.NoError(t, err)
	return db
}

// openMultiStatements opens a pool of its own whose connections run
// several statements in one Exec, as grant's users may configure theirs.
func openMultiStatements(t *testing.T, d *testdb.Database) *sql.DB {
	cfg, err := mysqldriver.ParseDSN(d.DSN)
	require.NoError(t, err)
	cfg.MultiStatements = true
	db, err := sql.Open("mysql", cfg.FormatDSN())
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// envInt reads a positive integer from the environment, or returns def.
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// TestClassifyInOnServers runs generated texts on each server, in a
// transaction rolled back after each, and requires every text with which the
// server changed a row to be a write for ClassifyIn. Texts it classifies as
// writes on which the server wrote nothing (most fail to parse) are false
// positives, which are allowed and logged with -v.
// GRANT_CLASSIFY_TEXTS and GRANT_CLASSIFY_SEED change the corpus.
func TestClassifyInOnServers(t *testing.T) {
	texts := genCorpus(uint64(envInt("GRANT_CLASSIFY_SEED", 11)), envInt("GRANT_CLASSIFY_TEXTS", 3000))
	for _, name := range []string{"postgres", "mariadb", "sqlite"} {
		sc := serverCases[name]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db := sc.open(t, sc.backend(t).CreateDatabase(t, "classify"))
			ctx := context.Background()
			conn, err := db.Conn(ctx)
			require.NoError(t, err)
			defer func() { _ = conn.Close() }()
			for _, q := range sc.setup {
				_, err := conn.ExecContext(ctx, q)
				require.NoError(t, err, q)
			}
			var count int64
			require.NoError(t, conn.QueryRowContext(ctx, sc.counter).Scan(&count))
			var runs, wrote, positives, falsePositives, cleanFalsePositives, failed, clean, cleanReads int
			for _, mode := range sc.modes {
				_, err := conn.ExecContext(ctx, mode)
				require.NoError(t, err, mode)
				for _, text := range texts {
					changed, textErr, err := runCounting(ctx, conn, sc, &count, text)
					require.NoError(t, err, "%s: %q", mode, text)
					runs++
					write := ClassifyIn(sc.d, text) == SQLWrite
					switch {
					case changed && !write:
						if failed++; failed <= 20 {
							t.Errorf("%s: the server wrote with %q, which ClassifyIn(%v) says is %v",
								mode, text, sc.d, ClassifyIn(sc.d, text))
						}
					case changed:
						wrote++
					case write:
						falsePositives++
					}
					if write {
						positives++
					}
					if textErr == nil {
						clean++
						cleanReads += btoi(!write)
						cleanFalsePositives += btoi(write && !changed)
					}
				}
			}
			t.Logf("%s: %d texts under %d settings: %d runs, %d without error; server wrote in %d (all classified write: %v); "+
				"%d runs classified write, %d of them false positives (server wrote nothing; %d of those without error); "+
				"%d classified read or session control ran without error",
				name, len(texts), len(sc.modes), runs, clean, wrote+failed, failed == 0, positives, falsePositives,
				cleanFalsePositives, cleanReads)
		})
	}
}

// runCounting runs text in a transaction it rolls back and reports whether
// the count of written rows moved, and text's own error; err is any other.
// last holds the count between transactions when it is not transactional.
func runCounting(ctx context.Context, conn *sql.Conn, sc serverCase, last *int64, text string) (changed bool, textErr, err error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return false, nil, err
	}
	before, after := *last, int64(0)
	if sc.inTx {
		err = tx.QueryRowContext(ctx, sc.counter).Scan(&before)
	}
	if err == nil {
		if _, textErr = tx.ExecContext(ctx, text); sc.inTx {
			err = tx.QueryRowContext(ctx, sc.counter).Scan(&after)
		}
	}
	if rollbackErr := tx.Rollback(); err == nil {
		err = rollbackErr
	}
	if err == nil && !sc.inTx {
		err = conn.QueryRowContext(ctx, sc.counter).Scan(&after)
		*last = after
	}
	return after != before, textErr, err
}
