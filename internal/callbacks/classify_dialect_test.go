package callbacks

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant/sharding/scatter/sqlexpr"
)

const (
	kW = SQLWrite
	kR = SQLRead
	kS = SQLSessionControl
)

// dialectCases are texts that PostgreSQL, MySQL/MariaDB and SQLite lex
// differently, with what each does; Classify must give the most writing of
// the three. Comments name what the text exploits.
var dialectCases = []struct {
	name       string
	sql        string
	pg, my, sq SQLKind
}{
	// Backslashes.
	{"backslash ends a standard string", `SELECT '\'; DELETE FROM t; -- '`, kW, kW, kW},
	{"backslash escapes a mysql quote", `SELECT 'it\'s an update' FROM t`, kW, kR, kW},
	{"string ending in a backslash", `SELECT 'C:\'`, kR, kW, kR},
	{"doubled backslash before the quote", `SELECT 'a\\', 'b'`, kR, kR, kR},
	{"doubled quote after a backslash", `SELECT '\''; DELETE FROM t; -- '`, kW, kW, kR}, // PostgreSQL: standard_conforming_strings=off
	{"e string escapes its quote", `SELECT E'\'; DELETE FROM t; --'`, kR, kW, kW},
	{"e string needs its own token", `SELECT tablee'\'; DELETE FROM t; -- '`, kW, kW, kW},
	{"lower-case e string", `SELECT e'\''`, kR, kR, kW},
	{"e string continued keeps escapes", "SELECT E'x'\n'\\'' ; DELETE FROM t; -- '", kW, kW, kR},
	{"e string continued hides a delete", "SELECT E'a'\n'\\'; DELETE FROM t; --'", kR, kW, kW},
	{"continuation across a line comment", "SELECT E'a' -- c\n'\\'; DELETE FROM t; --'", kR, kW, kW},
	{"block comment breaks a continuation", "SELECT E'a' /* c */\n'\\'; DELETE FROM t; --'", kW, kW, kW},
	{"no continuation without a newline", `SELECT E'a' '\'; DELETE FROM t; --'`, kW, kW, kW},
	{"standard string continued", "SELECT 'a'\n'b\\' ; DELETE FROM t; -- '", kW, kW, kW},
	{"unicode escape string", `SELECT U&'d\0061t\+000061'`, kR, kR, kR},
	{"unicode escape string has no backslash escapes", `SELECT U&'\'; DELETE FROM t; -- '`, kW, kW, kW},
	{"bit and hex strings", `SELECT B'101', X'1F'`, kR, kR, kR},
	{"ansi quotes end at a backslash", `SELECT "\"; DELETE FROM t; -- "`, kW, kW, kW},
	{"double-quoted mysql string with an escape", `SELECT "a\"b"`, kW, kR, kW},
	{"non-ascii before a backslash", "SELECT '\xbf\\'; DELETE FROM t; -- '", kW, kW, kW},
	{"non-ascii before a backtick", "SELECT `café` FROM t", kR, kW, kR},
	{"multi-byte string before a backslash", `SELECT 'é\n'`, kW, kW, kR},
	{"no backslash escapes after set sql_mode", `SET sql_mode='NO_BACKSLASH_ESCAPES'; SELECT '\'; DELETE FROM t; -- '`, kW, kW, kW},
	{"statement after set sql_mode", "SET sql_mode = 'ANSI_QUOTES'; SELECT 1", kS, kW, kS},
	{"statement after set names", "SET NAMES gbk; SELECT 1", kS, kW, kS},
	{"set sql_mode alone", "SET SESSION sql_mode = 'ANSI'", kS, kS, kS},

	// Dollar quotes.
	{"dollar quote hides quotes", `SELECT $$'; DELETE FROM t; --$$`, kR, kW, kW},
	{"tagged dollar quote with inner dollars", `SELECT $a$ $$ ; DELETE FROM t; $b$ $a$`, kR, kW, kW},
	{"dollar tag mismatch", `SELECT $a$ x $b$; DELETE FROM t; $a$`, kR, kW, kW},
	{"dollar inside an identifier", `SELECT a$b$ ; DELETE FROM t; -- $b$`, kW, kW, kW},
	{"number before a dollar quote", `SELECT 1$$ ; DELETE FROM t; $$`, kR, kW, kW},
	{"update in dollar quotes", "SELECT $$ DELETE FROM t $$", kR, kW, kW},
	{"update in tagged dollar quotes", "SELECT $fn$ UPDATE t SET a = $$x$$ $fn$ AS body", kR, kW, kW},
	{"unterminated dollar quote", "SELECT $tag$ abc", kW, kR, kR},

	// Comments.
	{"nested comments in postgres", `SELECT 1 /* a /* b */ ; DELETE FROM t; */`, kR, kW, kW},
	{"comment after a nested one", `SELECT 1 /* a /* b */ c */ FROM t`, kR, kR, kR},
	{"slash star slash opens a comment", `SELECT 1 /*/ ; DELETE FROM t; */`, kR, kR, kR},
	{"quote inside a comment", `SELECT 1 /* ' */ FROM t`, kR, kR, kR},
	{"comment inside a string", `SELECT '/* ; DELETE FROM t; */'`, kR, kR, kR},
	{"line comment inside a string", `SELECT '-- ', 1 FROM t`, kR, kR, kR},
	{"hash is a postgres operator", `SELECT 1 # 2; DELETE FROM t`, kW, kR, kW},
	{"hash comment in the middle", "SELECT data #- '{a}' FROM t", kR, kR, kR},
	{"hash operator hides for update from mysql", "SELECT data #> '{a}' FROM t FOR UPDATE", kW, kR, kW},
	{"leading hash comment", "# mysql comment\nSELECT 1", kW, kR, kW},
	{"stacked leading comments", "-- a\n/* b */\n# c\n  select 1", kW, kR, kW},
	{"hash comment after semicolon", "SELECT 1;# DELETE FROM t\nSELECT 2", kW, kR, kW},
	{"double minus is no mysql comment", `SELECT 5 --1; DELETE FROM t`, kR, kW, kR},
	{"mysql double minus arithmetic", "SELECT 5--1 FROM t FOR UPDATE", kR, kW, kR},
	{"leading line comment without space", "--fetch\nSELECT 1", kR, kW, kR},
	{"double minus semicolon", `SELECT 1 --; DELETE FROM t`, kR, kW, kR},
	{"double minus tab is a comment", "SELECT 1 --\t; DELETE FROM t", kR, kR, kR},
	{"double minus delete character is a comment", "SELECT 1 --\x7f; DELETE FROM t", kR, kR, kR},
	{"carriage return ends a postgres comment", "SELECT 1 --\r; DELETE FROM t", kW, kR, kR},
	{"carriage return does not end a hash comment", "SELECT 1 #x\r; DELETE FROM t", kW, kR, kW},

	// MySQL conditional comments.
	{"executable comment hides a delete", `SELECT 1 /*! ; DELETE FROM t */`, kR, kW, kR},
	{"executable comment with write", "SELECT 1 /*!50000 FOR UPDATE */", kR, kW, kR},
	{"mariadb executable comment", "SELECT 1 /*M!100101 FOR UPDATE */", kR, kW, kR},
	{"version glued to the body", `SELECT 1 /*!500001DELETE FROM t */`, kR, kW, kR},
	{"short version is part of the body", `SELECT 1 /*!1 , 2 */`, kR, kR, kR},
	{"conditional comment read either way", `SELECT 1 /*!50000 , 2 */ FROM t`, kR, kR, kR},
	{"skipped comment may hold one comment", `SELECT 1 /*!99999 /* x */ ; DELETE FROM t; -- */`, kR, kW, kW},
	{"skipped comment ends at its first end", `SELECT 1 /*!99999 '*/ ; DELETE FROM t; -- ' */`, kW, kW, kW},
	{"skipped comment reveals the statement", `/*!99999 SELECT */ TRUNCATE t`, kW, kW, kW},
	{"mysql reads mariadb comments as plain", `SELECT 1 /*M!100000 /* x */ ; DELETE FROM t; -- */`, kR, kW, kW},
	{"nested executable comment", `SELECT 1 /*! /*! , 2 */ ; DELETE FROM t */`, kR, kW, kW},
	{"executable comment unterminated", `SELECT 1 /*! , 2`, kW, kW, kW},
	{"executable comment with set", "/*!40101 SET NAMES utf8 */;", kW, kS, kW},
	{"five conditional comments", "SELECT 1 /*!1*/ /*!2*/ /*!3*/ /*!4*/ /*!5*/", kR, kW, kR},
	{"optimizer hint", "SELECT /*+ SET_VAR(sql_mode='') */ 1", kR, kR, kR},

	// Identifiers and semicolons.
	{"update in backticks", "SELECT `update`, `delete` FROM `insert`", kW, kR, kR},
	{"unterminated backtick", "SELECT `abc", kR, kW, kW},
	{"semicolon in a double-quoted name", `SELECT "a;DELETE FROM t"`, kR, kR, kR},
	{"semicolon in backticks", "SELECT `a;DELETE FROM t`", kW, kR, kR},
	{"semicolon in brackets", "SELECT [a;DELETE FROM t]", kW, kW, kR},
	{"sqlite tcl variable hides a quote", `SELECT $a(') ; DELETE FROM t; --')`, kR, kR, kW},
	{"sqlite variables", "SELECT :a, @b, $c::d, $e(x) FROM t", kR, kR, kR},
	{"sqlite variable without a name", `SELECT $ , 1`, kR, kR, kR},
	{"set @@global", "SET @@GLOBAL.max_connections = 10", kW, kW, kS},

	// MariaDB compound statements and SET STATEMENT run dynamic SQL.
	{"begin isolation level", "BEGIN ISOLATION LEVEL SERIALIZABLE", kS, kW, kS},
	{"compound statement", "BEGIN NOT ATOMIC EXECUTE IMMEDIATE CONCAT('DEL','ETE FROM t'); END", kS, kW, kS},
	{"oracle-mode block", "BEGIN EXECUTE IMMEDIATE 'DELETE FROM t'; END;", kS, kW, kS},
	{"set statement for a read", "SET STATEMENT max_statement_time=5 FOR SELECT 1", kS, kR, kS},
	{"set statement for dynamic sql", "SET STATEMENT max_statement_time=5 FOR EXECUTE IMMEDIATE 'DELETE FROM t'", kS, kW, kS},
	{"set statement for a locking read", "SET STATEMENT max_statement_time=5 FOR SELECT 1 FOR UPDATE", kW, kW, kW},
	{"set statement without for", "SET STATEMENT max_statement_time=5", kS, kW, kS},

	// Side effects.
	{"quoted side-effect function", `SELECT "nextval"('s')`, kW, kR, kW},
	{"backquoted side-effect function", "SELECT `get_lock`('a', 1)", kR, kW, kW},
	{"comment before the call", `SELECT nextval /* x */ ('s')`, kW, kW, kW},
	{"unicode-escaped function name", `SELECT U&"nextva\006C"('s')`, kW, kR, kR},
	{"next value for", "SELECT NEXT VALUE FOR s", kW, kW, kW},
	{"next as a column", "SELECT next FROM t", kR, kR, kR},
	{"large-object function", "SELECT lo_unlink(42)", kW, kW, kW},
	{"show calling a side-effect function", "SHOW TABLES WHERE get_lock('a', 0)", kW, kW, kW},

	// Case, unicode, NUL.
	{"mixed-case statements", "sElEcT 1; dElEtE fRoM t", kW, kW, kW},
	{"unicode identifiers", "SELECT naïve, 名前 FROM t", kR, kR, kR},
	{"unicode in a string", "SELECT '日本語; DELETE FROM t'", kR, kR, kR},
	{"fullwidth keyword", "SELECT 1; ＤＥＬＥＴＥ FROM t", kW, kW, kW},
	{"nul byte", "SELECT 1\x00; DELETE FROM t", kW, kW, kW},
	{"nul byte in a string", "SELECT '\x00'", kW, kW, kW},
}

func TestClassifyInDialects(t *testing.T) {
	seen := map[string]bool{}
	for _, tc := range dialectCases {
		require.False(t, seen[tc.name], "duplicate case name %q", tc.name)
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.pg, ClassifyIn(sqlexpr.Postgres, tc.sql), "postgres %q", tc.sql)
			assert.Equal(t, tc.my, ClassifyIn(sqlexpr.MySQL, tc.sql), "mysql %q", tc.sql)
			assert.Equal(t, tc.sq, ClassifyIn(sqlexpr.SQLite, tc.sql), "sqlite %q", tc.sql)
			assert.Equal(t, worse(worse(tc.pg, tc.my), tc.sq), Classify(tc.sql), "Classify(%q)", tc.sql)
		})
	}
}

func TestClassifyInUnknownDialect(t *testing.T) {
	for _, sql := range []string{"SELECT 1", `SELECT '\'; DELETE FROM t; -- '`, "BEGIN"} {
		assert.Equal(t, Classify(sql), ClassifyIn(0, sql), "%q", sql)
		assert.Equal(t, Classify(sql), ClassifyIn(sqlexpr.Dialect(9), sql), "%q", sql)
	}
}

func TestClassifyInConditionalCommentCombinations(t *testing.T) {
	// Between versions 50000 and 99999 the server runs EXPLAIN ANALYZE t, a
	// write for grant; running both comments or neither explains a read.
	sql := `EXPLAIN /*!50000 ANALYZE */ /*!99999 SELECT * FROM */ t`
	assert.Equal(t, SQLWrite, ClassifyIn(sqlexpr.MySQL, sql))
	assert.Equal(t, SQLRead, ClassifyIn(sqlexpr.MySQL, strings.Replace(sql, "*/ t", "*/ SELECT 2", 1)))
}

func TestTableOfIn(t *testing.T) {
	sql := `SELECT '\' FROM a -- ' FROM b`
	assert.Equal(t, "a", TableOfIn(sqlexpr.Postgres, sql))
	assert.Equal(t, "b", TableOfIn(sqlexpr.MySQL, sql))
	assert.Equal(t, "a", TableOfIn(sqlexpr.SQLite, sql))
	assert.Equal(t, "a", TableOf(sql))
	assert.Equal(t, "users", TableOfIn(sqlexpr.SQLite, "SELECT * FROM [users]"))
	assert.Equal(t, "", TableOfIn(sqlexpr.Postgres, "SELECT * FROM [users]"))
	assert.Equal(t, "", TableOfIn(sqlexpr.MySQL, `SELECT * FROM "users"`), "a MySQL string names no table")
	assert.Equal(t, "users", TableOfIn(sqlexpr.MySQL, "SELECT * FROM `users`"))
	assert.Equal(t, "b", TableOfIn(sqlexpr.MySQL, "SELECT 1 /*! FROM b */"))
	assert.Equal(t, "", TableOfIn(sqlexpr.Postgres, "SELECT 1 /*! FROM b */"))
	assert.Equal(t, "t", TableOfIn(0, "SELECT * FROM t"))
}
