package callbacks

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// classifyCases hold on every dialect: ClassifyIn for each and Classify
// agree. Texts the dialects lex differently are in dialectCases.
var classifyCases = []struct {
	name string
	sql  string
	want SQLKind
}{
	// Plain reads and the noise around them.
	{"plain select", "SELECT * FROM users WHERE id = 1", SQLRead},
	{"lower case", "select * from users", SQLRead},
	{"mixed case", "SeLeCt id FrOm users", SQLRead},
	{"leading whitespace and newlines", " \n\t\r\n  SELECT 1", SQLRead},
	{"leading line comment", "-- fetch users\nSELECT * FROM users", SQLRead},
	{"leading block comment", "/* app=api */ SELECT 1", SQLRead},
	{"block comment in the middle hides update", "SELECT /* update */ 1", SQLRead},
	{"trailing line comment hides update", "SELECT 1 -- FOR UPDATE", SQLRead},
	{"optimizer hint", "SELECT /*+ MAX_EXECUTION_TIME(1000) */ * FROM t", SQLRead},
	{"update in string literal", "SELECT * FROM t WHERE s = 'update'", SQLRead},
	{"update in string with doubled quote", "SELECT 'it''s an update; DELETE' FROM t", SQLRead},
	{"update in double-quoted identifier", `SELECT "update" FROM t`, SQLRead},
	{"positional placeholders", "SELECT * FROM t WHERE a = $1 AND b = $2", SQLRead},
	{"identifiers containing keywords", "SELECT update_count, last_update, deleted_at, into_x FROM t", SQLRead},
	{"qualified column named like keyword", "SELECT t.delete, t.update FROM t", SQLRead},
	{"jsonb hash operators", "SELECT data #>> '{a,b}' FROM t", SQLRead},
	{"replace function", "SELECT REPLACE(name, 'a', 'b') FROM t", SQLRead},
	{"column named like side-effect function", "SELECT nextval FROM t", SQLRead},
	{"extract from", "SELECT EXTRACT(YEAR FROM created_at) FROM t", SQLRead},

	// Locking and writing reads.
	{"for update", "SELECT * FROM t WHERE id = 1 FOR UPDATE", SQLWrite},
	{"for update lower case", "select * from t for update skip locked", SQLWrite},
	{"for no key update", "SELECT * FROM t FOR NO KEY UPDATE", SQLWrite},
	{"for share", "SELECT * FROM t FOR SHARE", SQLWrite},
	{"for key share", "SELECT * FROM t FOR KEY SHARE NOWAIT", SQLWrite},
	{"lock in share mode", "SELECT * FROM t LOCK IN SHARE MODE", SQLWrite},
	{"select into table", "SELECT * INTO archive FROM t", SQLWrite},
	{"select into outfile", "SELECT * FROM t INTO OUTFILE '/tmp/t.csv'", SQLWrite},
	{"nextval", "SELECT nextval('orders_id_seq')", SQLWrite},
	{"schema-qualified nextval", "SELECT pg_catalog.nextval ('s')", SQLWrite},
	{"last insert id", "SELECT LAST_INSERT_ID()", SQLWrite},
	{"advisory lock", "SELECT pg_try_advisory_xact_lock(42)", SQLWrite},

	// CTEs and parentheses.
	{"read-only cte", "WITH x AS (SELECT * FROM a) SELECT * FROM x", SQLRead},
	{"recursive cte", "WITH RECURSIVE r(n) AS (VALUES (1) UNION ALL SELECT n+1 FROM r) SELECT * FROM r", SQLRead},
	{"delete cte", "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", SQLWrite},
	{"update cte", "WITH u AS (UPDATE t SET a = 1 RETURNING id) SELECT id FROM u", SQLWrite},
	{"insert cte", "WITH i AS (INSERT INTO t (a) VALUES (1) RETURNING id) SELECT * FROM i", SQLWrite},
	{"cte feeding an insert", "WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x", SQLWrite},
	{"parenthesized select", "(SELECT 1) UNION (SELECT 2)", SQLRead},
	{"doubly parenthesized select", "((SELECT a FROM t))", SQLRead},

	// Other reads.
	{"show", "SHOW TABLES", SQLRead},
	{"show lock_timeout", "SHOW lock_timeout", SQLRead},
	{"describe", "DESCRIBE users", SQLRead},
	{"desc", "desc users", SQLRead},
	{"explain select", "EXPLAIN SELECT * FROM t", SQLRead},
	{"explain delete without analyze", "EXPLAIN DELETE FROM t", SQLRead},
	{"explain format json", "EXPLAIN FORMAT=JSON UPDATE t SET a = 1", SQLRead},
	{"explain analyze select", "EXPLAIN ANALYZE SELECT * FROM t", SQLRead},
	{"explain analyze delete", "EXPLAIN ANALYZE DELETE FROM t", SQLWrite},
	{"explain analyse verbose insert", "explain analyse verbose insert into t values (1)", SQLWrite},
	{"explain analyze select for update", "EXPLAIN ANALYZE SELECT * FROM t FOR UPDATE", SQLWrite},
	{"explain options analyze buffers update", "EXPLAIN (ANALYZE, BUFFERS) UPDATE t SET a = 1", SQLWrite},
	{"explain options analyze true", "EXPLAIN (ANALYZE true) DELETE FROM t", SQLWrite},
	{"explain options analyze last", "EXPLAIN (FORMAT JSON, ANALYZE) DELETE FROM t", SQLWrite},
	{"explain options analyze false", "EXPLAIN (ANALYZE false) DELETE FROM t", SQLRead},
	{"explain options analyze off", "EXPLAIN (ANALYZE OFF, COSTS) DELETE FROM t", SQLRead},
	{"explain options without analyze", "EXPLAIN (COSTS false, FORMAT YAML) DELETE FROM t", SQLRead},
	{"explain options analyze select", "EXPLAIN (ANALYZE) SELECT 1", SQLRead},
	{"explain unterminated options", "EXPLAIN (ANALYZE", SQLWrite},
	{"explain nothing", "EXPLAIN VERBOSE;", SQLWrite},
	{"describe analyze delete", "DESCRIBE ANALYZE DELETE FROM t", SQLWrite},
	{"values", "VALUES (1, 'a'), (2, 'b')", SQLRead},
	{"table", "TABLE t", SQLRead},

	// Writes.
	{"insert", "INSERT INTO t (a) VALUES (1)", SQLWrite},
	{"update", "UPDATE t SET a = 1", SQLWrite},
	{"delete", "delete from t", SQLWrite},
	{"merge", "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE", SQLWrite},
	{"replace", "REPLACE INTO t VALUES (1)", SQLWrite},
	{"create", "CREATE TABLE t (id int)", SQLWrite},
	{"alter", "ALTER TABLE t ADD COLUMN b int", SQLWrite},
	{"drop", "DROP TABLE t", SQLWrite},
	{"truncate", "TRUNCATE t", SQLWrite},
	{"call", "CALL refresh()", SQLWrite},
	{"do", "DO $$ BEGIN PERFORM 1; END $$", SQLWrite},
	{"analyze statement", "ANALYZE t", SQLWrite},
	{"unknown word", "FROBNICATE t", SQLWrite},
	{"starts with a literal", "'SELECT 1'", SQLWrite},

	// Session control.
	{"begin", "BEGIN", SQLSessionControl},
	{"begin work", "begin work;", SQLSessionControl},
	{"commit", "COMMIT", SQLSessionControl},
	{"rollback", "rollback", SQLSessionControl},
	{"savepoint", "SAVEPOINT sp1", SQLSessionControl},
	{"release savepoint", "RELEASE SAVEPOINT sp1", SQLSessionControl},
	{"rollback to savepoint", "ROLLBACK TO SAVEPOINT sp1", SQLSessionControl},
	{"set search_path", "SET search_path TO public", SQLSessionControl},
	{"set lock_timeout", "SET LOCAL lock_timeout = '1s'", SQLSessionControl},
	{"set transaction", "SET TRANSACTION ISOLATION LEVEL READ COMMITTED", SQLSessionControl},
	{"set names", "SET NAMES utf8mb4", SQLSessionControl},
	{"start transaction", "START TRANSACTION", SQLSessionControl},
	{"start transaction read only", "START TRANSACTION READ ONLY", SQLSessionControl},
	{"reset", "RESET ALL", SQLSessionControl},
	{"end", "END", SQLSessionControl},
	{"start replica", "START REPLICA", SQLWrite},
	{"set global", "SET GLOBAL max_connections = 10", SQLWrite},
	{"set password", "SET PASSWORD = 'x'", SQLWrite},
	{"set default role", "SET DEFAULT ROLE admin TO bob", SQLWrite},
	{"reset master", "RESET MASTER", SQLWrite},
	{"set from nextval", "SET x = nextval('s')", SQLWrite},

	// Degenerate input.
	{"empty", "", SQLWrite},
	{"only whitespace", "  \n\t", SQLWrite},
	{"only a line comment", "-- nothing here", SQLWrite},
	{"only a block comment", "/* nothing here */", SQLWrite},
	{"only semicolons", " ; ;", SQLWrite},
	{"unterminated string", "SELECT 'abc", SQLWrite},
	{"unterminated double quote", `SELECT "abc`, SQLWrite},
	{"unterminated block comment", "SELECT 1 /* oops", SQLWrite},
	{"lone dollar", "SELECT $", SQLRead},
	{"lone paren", "(", SQLWrite},

	// Statement lists.
	{"two reads", "SELECT 1; SELECT 2;", SQLRead},
	{"read then delete", "SELECT 1; DELETE FROM t", SQLWrite},
	{"delete then read", "DELETE FROM t; SELECT 1", SQLWrite},
	{"read then set", "SELECT 1; SET x = 1", SQLSessionControl},
	{"transaction around read", "BEGIN; SELECT 1; COMMIT", SQLSessionControl},
	{"transaction around update", "BEGIN; UPDATE t SET a = 1; COMMIT", SQLWrite},
	{"explain then delete", "EXPLAIN SELECT 1; DELETE FROM t", SQLWrite},
	{"show then delete", "SHOW TABLES; DELETE FROM t", SQLWrite},
	{"semicolon in string", "SELECT ';DELETE FROM t'", SQLRead},

	// MySQL executable comments run their body; elsewhere, only a comment.
	{"executable comment statement", "/*!40101 DELETE FROM t */", SQLWrite},
}

func TestClassify(t *testing.T) {
	require.GreaterOrEqual(t, len(classifyCases), 60)
	seen := map[string]bool{}
	for _, tc := range classifyCases {
		require.False(t, seen[tc.name], "duplicate case name %q", tc.name)
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, Classify(tc.sql), "%q", tc.sql)
			for _, d := range genDialects {
				assert.Equal(t, tc.want, ClassifyIn(d, tc.sql), "%v %q", d, tc.sql)
			}
		})
	}
}

func TestSQLKindString(t *testing.T) {
	assert.Equal(t, "write", SQLWrite.String())
	assert.Equal(t, "read", SQLRead.String())
	assert.Equal(t, "session-control", SQLSessionControl.String())
	assert.Equal(t, "SQLKind(7)", SQLKind(7).String())
}

func TestTableOf(t *testing.T) {
	cases := []struct{ name, sql, want string }{
		{"select from", "SELECT * FROM users WHERE id = 1", "users"},
		{"lower case", "select * from users", "users"},
		{"double quotes", `select * from "users"`, "users"},
		{"backticks", "SELECT * FROM `users` WHERE 1", "users"},
		{"brackets", "SELECT * FROM [users]", "users"},
		{"insert into", "INSERT INTO orders (id, total) VALUES (1, 2)", "orders"},
		{"insert into no space", "INSERT INTO orders(id) VALUES (1)", "orders"},
		{"update", "UPDATE accounts SET balance = 0", "accounts"},
		{"delete", "DELETE FROM logs WHERE at < now()", "logs"},
		{"schema", "SELECT * FROM public.users", "public.users"},
		{"quoted schema", `SELECT * FROM "public"."users"`, "public.users"},
		{"mixed quoting", "SELECT * FROM db.`user table`", "db.user table"},
		{"escaped quote", `SELECT * FROM "we""ird"`, `we"ird`},
		{"no table", "SELECT 1", ""},
		{"empty", "", ""},
		{"leading comments", "-- hi\n/* there */ SELECT * FROM users", "users"},
		{"cte", "WITH x AS (SELECT * FROM a) SELECT * FROM x", "a"},
		{"subquery", "SELECT * FROM (SELECT * FROM b) s", "b"},
		{"extract is not a table", "SELECT EXTRACT(YEAR FROM ts) FROM events", "events"},
		{"distinct from is not a table", "SELECT a IS DISTINCT FROM b FROM t", "t"},
		{"for update is not a table", "SELECT now() FOR UPDATE", ""},
		{"only", "UPDATE ONLY parts SET a = 1", "parts"},
		{"table", "TABLE t", "t"},
		{"create table if not exists", "CREATE TABLE IF NOT EXISTS audit (id int)", "audit"},
		{"from in string", "SELECT 'FROM x' FROM y", "y"},
		{"into variable then from", "SELECT a INTO @v FROM t", "t"},
		{"unterminated quoted name", `SELECT * FROM "users`, ""},
		{"dangling dot", "SELECT * FROM public.", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, TableOf(tc.sql), "%q", tc.sql)
		})
	}
}

func TestClassifyDoesNotAllocate(t *testing.T) {
	inputs := []string{
		"SELECT * FROM users WHERE id = $1",
		"/* app */ select * from t where s = 'update' for update",
		"INSERT INTO orders (id) VALUES (?)",
		"EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM t",
		"WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d; COMMIT",
		"SELECT nextval('s'), x FROM \"users\"",
		"BEGIN; SELECT $$a$$ FROM `t` LOCK IN SHARE MODE; COMMIT",
	}
	inputs = append(inputs, `SELECT '\'; SELECT 'a\''`, "SELECT 1 /*!50000 , 2 */ /*!99999 , 3 */", "SELECT \"nextval\" /**/ ('s')")
	for _, in := range inputs {
		assert.Zero(t, testing.AllocsPerRun(100, func() { Classify(in) }), "Classify(%q)", in)
		assert.Zero(t, testing.AllocsPerRun(100, func() { TableOf(in) }), "TableOf(%q)", in)
		for _, d := range genDialects {
			assert.Zero(t, testing.AllocsPerRun(100, func() { ClassifyIn(d, in) }), "ClassifyIn(%v, %q)", d, in)
		}
	}
}

var fuzzSeeds = []string{
	"SELECT * FROM users WHERE id = 1",
	"-- c\nSELECT 1",
	"# c\nSELECT 1",
	"SELECT 'it''s' FROM t FOR UPDATE",
	`SELECT "update" FROM "public"."t"`,
	"SELECT $fn$ x $fn$",
	"WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
	"EXPLAIN (ANALYZE false) DELETE FROM t",
	"EXPLAIN ANALYZE DELETE FROM t",
	"SELECT 1; DELETE FROM t",
	"BEGIN; SELECT 1; COMMIT",
	"SELECT 1 /*!50000 FOR UPDATE */",
	"SELECT 'abc",
	"SELECT 1 /* oops",
	"SELECT * FROM [a].[b]",
	"",
}

func FuzzClassify(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		k := Classify(sql)
		if k != SQLWrite && k != SQLRead && k != SQLSessionControl {
			t.Fatalf("Classify(%q) = %d", sql, k)
		}
		// Whatever sql leaves open, a later statement can hide no write.
		if got := Classify(sql + "\n;DELETE FROM t"); got != SQLWrite {
			t.Fatalf("Classify(%q + DELETE) = %v", sql, got)
		}
		if got := Classify("/* c */ " + sql); got != k {
			t.Fatalf("Classify with a leading comment = %v, without = %v, sql %q", got, k, sql)
		}
		name := TableOf(sql)
		if len(name) > len(sql) {
			t.Fatalf("TableOf(%q) = %q, longer than the input", sql, name)
		}
		for _, part := range strings.Split(name, ".") {
			if part != "" && !strings.Contains(sql, part) && !strings.ContainsAny(sql, "\"`]") {
				t.Fatalf("TableOf(%q) = %q, not derived from the input", sql, name)
			}
		}
	})
}

var benchInputs = []string{
	"SELECT id, name, email FROM users WHERE id = $1 AND deleted_at IS NULL",
	"/* request_id=abc */ SELECT * FROM orders WHERE user_id = ? ORDER BY created_at DESC LIMIT 10 FOR UPDATE",
	"INSERT INTO orders (user_id, total) VALUES (?, ?)",
	"WITH recent AS (SELECT * FROM events WHERE at > now() - interval '1 day') SELECT count(*) FROM recent",
}

func BenchmarkClassify(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		for _, in := range benchInputs {
			Classify(in)
		}
	}
}

func BenchmarkClassifyIn(b *testing.B) {
	for _, d := range genDialects {
		b.Run(d.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, in := range benchInputs {
					ClassifyIn(d, in)
				}
			}
		})
	}
}
