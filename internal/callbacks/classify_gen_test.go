package callbacks

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/grant-go/grant/sharding/scatter/sqlexpr"
)

// The generator below writes SQL texts that hide statements on the table
// t (id, v) behind every dialect's quotes, comments and escapes. FuzzClassifyIn
// checks ClassifyIn against texts whose meaning the generator knows; the
// server test runs mixed texts, whose meaning only the server knows.

var genDialects = [...]sqlexpr.Dialect{sqlexpr.Postgres, sqlexpr.MySQL, sqlexpr.SQLite}

var (
	genWrites = []string{
		"DELETE FROM t WHERE id = 1",
		"UPDATE t SET v = 'u' WHERE id = 2",
		"INSERT INTO t (v) VALUES ('i')",
		"delete from t where id=3",
		"WITH d AS (DELETE FROM t WHERE id = 1 RETURNING id) SELECT * FROM d",
		"BEGIN NOT ATOMIC EXECUTE IMMEDIATE CONCAT('DEL', 'ETE FROM t WHERE id = 1'); END",
		"SET STATEMENT max_statement_time = 5 FOR EXECUTE IMMEDIATE 'DELETE FROM t WHERE id = 2'",
	}
	genReads = []string{"SELECT 1", "SELECT v FROM t WHERE id = 1", "SELECT count(*) FROM t", "select 2 as x"}

	// genValues: literals and identifiers each dialect reads as one token,
	// whose insides look like quotes, comments, escapes or statements to the
	// others.
	genValues = [...][]string{
		sqlexpr.Postgres: {`'\'`, `'it''s'`, `'--'`, `'/*'`, `'#'`, `'$$'`, `'"'`, "'`'", `E'\''`, `E'\\'`,
			`e'\'\''`, `U&'\0041'`, `B'101'`, `X'1F'`, `N'x'`, `$$'$$`, `$$\$$`, `$q$ $$ ' $q$`,
			`$q$;DELETE FROM t;$q$`, `'/* ; DELETE FROM t */'`, "'a'\n'b\\'", "E'a'\n'\\''", "'a' -- c\n'b'",
			`E'\'; DELETE FROM t; -- '`, `$a$ $b$ ; DELETE FROM t; $b$ $a$`},
		sqlexpr.MySQL: {`'\''`, `'\\'`, `'it''s'`, `"\""`, `"it""s"`, `'"'`, "'`'", `'--'`, `'#'`, `'/*'`,
			`'$$'`, `X'41'`, `B'1'`, `N'x'`, `_utf8mb4'x'`, `'\'; DELETE FROM t; -- '`, `"\"; DELETE FROM t; -- "`,
			`'*/'`, `'/*!'`},
		sqlexpr.SQLite: {`'\'`, `'it''s'`, `'--'`, `'#'`, `'$$'`, `'\\'`, `X'41'`, `$a(')`, `:a`, `@b`,
			`'\'; DELETE FROM t; -- '`, `'/*'`},
	}
	// genComments: comments each dialect skips whole.
	genComments = [...][]string{
		sqlexpr.Postgres: {`/* ' */`, `/* /* ' */ ; DELETE FROM t; */`, `/*! DELETE FROM t */`, "-- ' ; DELETE FROM t\n",
			"--\r", "-- x\r", `/*/ ' */`},
		sqlexpr.MySQL: {`/* ' */`, `/* /* ' */`, "# ' ; DELETE FROM t\n", "-- ' ; DELETE FROM t\n", "--\t'\n",
			`/*!50000 + 0 */`, `/*!99999 + 0 */`, `/*M!100000 + 0 */`, `/*+ ' */`},
		sqlexpr.SQLite: {`/* ' */`, `/* /* ' */`, "-- ' ; DELETE FROM t\n", "--'\n"},
	}
	// genDelims open or close something in at least one dialect.
	genDelims = []string{`'`, `\'`, `'\'`, `''`, `"`, `\"`, "`", `E'`, `e'`, `U&'`, `B'`, `X'`, `$$`, `$a$`,
		`/*`, `*/`, `/* /*`, `*/ */`, `/*!`, `/*!50000`, `/*!99999`, `/*!100000`, `/*M!`, `/*M!100000`,
		`/*M!999999`, `--`, `-- `, "--\r", `#`, "\n", "\r", `[`, `]`, `$a(`, `)`, `\`, `\\`, `''''`, `-`, `*`,
		"'a'\n", "E'a'\n", "E'a' -- c\n", `--1`, `5--1`, `/*!99999 '*/`, `/*!50000 '*/`, `/*M!999999 /* */`,
		`/*!99999 /* */`, `$a(')`}
	// genPrefixes start a statement where a literal may follow.
	genPrefixes = []string{"SELECT ", "SELECT v FROM t WHERE v = ", "SELECT 1 ", "SELECT 1 + ", "SELECT v FROM t "}
)

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// genText is one generated text.
type genText struct {
	sql   string
	write bool // built for one dialect: a write statement stands outside its literals and comments
}

// genFor builds a text for dialect d from pieces d reads whole: statements
// (writes only if writes is set) separated by ';', with literals and comments
// that hide quotes, comments and write statements from other dialects.
func genFor(r *rand.Rand, d sqlexpr.Dialect, writes bool) genText {
	var b strings.Builder
	write := false
	value := func() string { return pick(r, genValues[d]) }
	space := func() {
		switch r.IntN(4) {
		case 0:
			b.WriteString("\n")
		case 1:
			b.WriteString(" " + pick(r, genComments[d]) + " ")
		default:
			b.WriteString(" ")
		}
	}
	for i, n := 0, 1+r.IntN(3); i < n; i++ {
		if i > 0 {
			space()
			b.WriteString(";")
			space()
		}
		switch r.IntN(4) | btoi(!writes)<<2 {
		case 0:
			write = true
			b.WriteString("UPDATE t SET v = " + value())
			space()
			b.WriteString("WHERE id = 2")
		case 1:
			write = true
			w := pick(r, genWrites[:4])
			b.WriteString(w[:6])
			space()
			b.WriteString(w[6:])
		default:
			b.WriteString("SELECT " + value())
			space()
			b.WriteString(", " + value())
			space()
			b.WriteString("FROM t")
		}
	}
	return genText{sql: b.String(), write: write}
}

// genMixed builds a text from every dialect's pieces and delimiters around
// read and write statements: which statements run is up to the server.
func genMixed(r *rand.Rand) string {
	var b strings.Builder
	anyPiece := func() string {
		d := pick(r, genDialects[:])
		switch r.IntN(3) {
		case 0:
			return pick(r, genValues[d])
		case 1:
			return pick(r, genComments[d])
		}
		return pick(r, genDelims)
	}
	switch r.IntN(8) {
	case 0, 1, 2: // a write behind an opener, maybe closed after it
		b.WriteString(pick(r, genPrefixes))
		for range 1 + r.IntN(2) {
			b.WriteString(anyPiece())
		}
		b.WriteString(pick(r, []string{" ; ", ";", "\n;", " "}) + pick(r, genWrites) + pick(r, []string{"; ", ";-- ", "; #", " "}))
		for range r.IntN(3) {
			b.WriteString(anyPiece())
		}
	case 3: // soup
		for range 3 + r.IntN(6) {
			switch r.IntN(5) {
			case 0:
				b.WriteString(pick(r, genWrites))
			case 1:
				b.WriteString(pick(r, genReads))
			case 2:
				b.WriteString(";")
			default:
				b.WriteString(anyPiece())
			}
			b.WriteString(pick(r, []string{" ", "", "\n"}))
		}
	case 4, 5:
		b.WriteString(genFor(r, pick(r, genDialects[:]), true).sql)
	default:
		b.WriteString(genFor(r, pick(r, genDialects[:]), false).sql)
	}
	return b.String()
}

// genCorpus returns n mixed texts from seed.
func genCorpus(seed uint64, n int) []string {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	texts := make([]string, n)
	for i := range texts {
		texts[i] = genMixed(r)
	}
	return texts
}

func FuzzClassifyIn(f *testing.F) {
	for i, s := range fuzzSeeds {
		f.Add(s, uint64(i), uint8(i))
	}
	for _, s := range genCorpus(1, 40) {
		f.Add(s, uint64(len(s)), uint8(len(s)))
	}
	f.Fuzz(func(t *testing.T, sql string, seed uint64, which uint8) {
		d := genDialects[int(which)%len(genDialects)]
		k := ClassifyIn(d, sql)
		if k != SQLWrite && k != SQLRead && k != SQLSessionControl {
			t.Fatalf("ClassifyIn(%v, %q) = %d", d, sql, k)
		}
		if worse(k, Classify(sql)) != Classify(sql) {
			t.Fatalf("Classify(%q) = %v, less conservative than ClassifyIn(%v) = %v", sql, Classify(sql), d, k)
		}
		// Whatever sql leaves open, a later statement can hide no write.
		if got := ClassifyIn(d, sql+"\n;DELETE FROM t"); got != SQLWrite {
			t.Fatalf("ClassifyIn(%v, %q + DELETE) = %v", d, sql, got)
		}
		if got := ClassifyIn(d, "/* c */ "+sql); got != k {
			t.Fatalf("ClassifyIn(%v) with a leading comment = %v, without = %v, sql %q", d, got, k, sql)
		}
		g := genFor(rand.New(rand.NewPCG(seed, uint64(which))), d, true)
		if got := ClassifyIn(d, g.sql); g.write && got != SQLWrite {
			t.Fatalf("ClassifyIn(%v, %q) = %v, but a write statement stands outside its literals and comments", d, g.sql, got)
		}
	})
}

func TestGeneratedWritesAreWrites(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	writes := 0
	for range 3000 {
		d := pick(r, genDialects[:])
		g := genFor(r, d, true)
		if g.write {
			writes++
			if !assertWrite(t, d, g.sql) {
				return
			}
		}
	}
	t.Logf("%d generated texts with a write statement, all classified as writes", writes)
}

func assertWrite(t *testing.T, d sqlexpr.Dialect, sql string) bool {
	t.Helper()
	if got := ClassifyIn(d, sql); got != SQLWrite {
		t.Errorf("ClassifyIn(%v, %q) = %v, want write", d, sql, got)
		return false
	}
	return true
}
