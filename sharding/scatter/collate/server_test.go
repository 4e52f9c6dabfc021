package collate

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant/internal/testdb"
)

// server is one throw-away database of a dialect.
type server struct {
	dialect string
	db      *sql.DB
}

// openServer creates a database on b (skipping when its server is down)
// and opens a pool on it.
func openServer(t *testing.T, b *testdb.Backend, suffix string) server {
	t.Helper()
	d := b.CreateDatabase(t, suffix)
	db, err := d.Open(t).DB()
	require.NoError(t, err)
	return server{dialect: d.Adapter(), db: db}
}

func (s server) exec(t *testing.T, query string, args ...any) {
	t.Helper()
	_, err := s.db.ExecContext(context.Background(), query, args...)
	require.NoError(t, err, query)
}

func (s server) placeholder(i int) string {
	if s.dialect == Postgres {
		return "$" + strconv.Itoa(i)
	}
	return "?"
}

// bytesOf is an expression ordering the column's values by their bytes,
// trailing spaces included, to break the ties of a collation.
func (s server) bytesOf(pgType string) string {
	switch s.dialect {
	case Postgres:
		return pgType + "send(v)"
	case MySQL:
		return "CAST(v AS BINARY)"
	}
	return "CAST(v AS BLOB)"
}

// loadCorpus creates table (id, grp, v colType) with an index on v and
// fills it with values, id being the position in values.
func (s server) loadCorpus(t *testing.T, table, colType string, values []string) {
	t.Helper()
	s.exec(t, "CREATE TABLE "+table+" (id INT PRIMARY KEY, grp INT NOT NULL, v "+colType+")")
	s.exec(t, "CREATE INDEX "+table+"_v ON "+table+" (v)")
	const batch = 500
	for start := 0; start < len(values); start += batch {
		end := min(start+batch, len(values))
		var b strings.Builder
		args := make([]any, 0, 3*(end-start))
		b.WriteString("INSERT INTO " + table + " (id, grp, v) VALUES ")
		for i := start; i < end; i++ {
			if i > start {
				b.WriteByte(',')
			}
			n := len(args)
			fmt.Fprintf(&b, "(%s, %s, %s)", s.placeholder(n+1), s.placeholder(n+2), s.placeholder(n+3))
			args = append(args, i, i%groupsOf, values[i])
		}
		s.exec(t, b.String(), args...)
	}
}

// groupsOf is how many groups the MIN/MAX check splits the corpus into.
const groupsOf = 37

// answers are what a server said about a column holding the corpus.
type answers struct {
	order  []int           // positions in ORDER BY v, then bytes
	equal  map[[2]int]bool // pairs of positions (i < j) with v = v
	groups int             // rows of GROUP BY v
	min    []string        // MIN(v) of each grp
	max    []string        // MAX(v) of each grp
}

func (s server) answers(t *testing.T, table, pgType string) answers {
	t.Helper()
	ctx := context.Background()
	a := answers{equal: map[[2]int]bool{}}
	ints := func(query string, each func(...int)) {
		rows, err := s.db.QueryContext(ctx, query)
		require.NoError(t, err, query)
		defer rows.Close()
		cols, err := rows.Columns()
		require.NoError(t, err)
		vals := make([]int, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			require.NoError(t, rows.Scan(ptrs...))
			each(vals...)
		}
		require.NoError(t, rows.Err())
	}
	ints("SELECT id FROM "+table+" ORDER BY v, "+s.bytesOf(pgType), func(v ...int) { a.order = append(a.order, v[0]) })
	ints("SELECT a.id, b.id FROM "+table+" a JOIN "+table+" b ON a.v = b.v AND a.id < b.id",
		func(v ...int) { a.equal[[2]int{v[0], v[1]}] = true })
	ints("SELECT COUNT(*) FROM (SELECT v FROM "+table+" GROUP BY v) g", func(v ...int) { a.groups = v[0] })

	rows, err := s.db.QueryContext(ctx, "SELECT grp, MIN(v), MAX(v) FROM "+table+" GROUP BY grp ORDER BY grp")
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var g int
		var lo, hi string
		require.NoError(t, rows.Scan(&g, &lo, &hi))
		require.Equal(t, len(a.min), g)
		a.min, a.max = append(a.min, lo), append(a.max, hi)
	}
	require.NoError(t, rows.Err())
	return a
}

// verify checks an ordering of the corpus (cmp over positions) and its
// equality key against the server's answers: the same sequence under
// ORDER BY, equal exactly for the pairs the server joins as equal, as many
// keys as GROUP BY groups, the same MIN and MAX. Disagreements are
// reported with the strings in hex.
func verify(t *testing.T, values []string, a answers, cmp func(i, j int) int, key func(i int) string) {
	t.Helper()
	bad := 0
	fail := func(format string, args ...any) {
		t.Helper()
		if bad++; bad <= 15 {
			t.Errorf(format, args...)
		}
	}
	require.Len(t, a.order, len(values), "server returned another number of rows")
	for k := 0; k+1 < len(a.order); k++ {
		i, j := a.order[k], a.order[k+1]
		c, eq := cmp(i, j), a.equal[pair(i, j)]
		if eq && c != 0 || !eq && c >= 0 {
			fail("server orders %s then %s (equal: %t), Go compares them %d", hexq(values[i]), hexq(values[j]), eq, c)
		}
	}
	byKey := map[string][]int{}
	for i := range values {
		k := key(i)
		byKey[k] = append(byKey[k], i)
	}
	keyEqual := map[[2]int]bool{}
	for _, members := range byKey {
		for x := range members {
			for y := x + 1; y < len(members); y++ {
				keyEqual[pair(members[x], members[y])] = true
			}
		}
	}
	for p := range a.equal {
		if !keyEqual[p] {
			fail("server: %s = %s, Go keys differ", hexq(values[p[0]]), hexq(values[p[1]]))
		}
	}
	for p := range keyEqual {
		if !a.equal[p] {
			fail("server: %s <> %s, Go keys are equal", hexq(values[p[0]]), hexq(values[p[1]]))
		}
	}
	if len(byKey) != a.groups {
		fail("GROUP BY: server %d groups, Go %d keys", a.groups, len(byKey))
	}
	if bad == 0 {
		goOrder := sortPositions(values, cmp)
		for k := range goOrder {
			if goOrder[k] != a.order[k] {
				fail("ORDER BY differs at row %d: server %s, Go %s", k, hexq(values[a.order[k]]), hexq(values[goOrder[k]]))
				break
			}
		}
	}
	index := map[string]int{}
	for i, v := range values {
		index[v] = i
	}
	for g := range a.min {
		lo, hi := -1, -1
		for i := g; i < len(values); i += groupsOf {
			if lo < 0 || cmp(i, lo) < 0 {
				lo = i
			}
			if hi < 0 || cmp(i, hi) > 0 {
				hi = i
			}
		}
		for _, m := range []struct {
			what, got string
			want      int
		}{{"MIN", a.min[g], lo}, {"MAX", a.max[g], hi}} {
			i, ok := index[m.got]
			if !ok || cmp(i, m.want) != 0 {
				fail("%s of group %d: server %s, Go %s", m.what, g, hexq(m.got), hexq(values[m.want]))
			}
		}
	}
}

func pair(i, j int) [2]int {
	if i > j {
		i, j = j, i
	}
	return [2]int{i, j}
}

// hexq shows a string quoted and in hex, long ones by their ends.
func hexq(s string) string {
	if len(s) > 64 {
		return fmt.Sprintf("%q…%q (% x … % x, %d bytes)", s[:24], s[len(s)-24:], s[:24], s[len(s)-24:], len(s))
	}
	return fmt.Sprintf("%q (% x)", s, s)
}

// verifyNative checks Compare and Key of a native collation against the
// server, and Rank against Compare.
func verifyNative(t *testing.T, s server, c Collation, values []string, a answers) {
	t.Helper()
	require.True(t, c.Native(), "%s should be native", c.Name())
	verify(t, values, a,
		func(i, j int) int { return c.Compare(values[i], values[j]) },
		func(i int) string { return string(c.Key(nil, values[i])) })
	verifyRank(t, s, c, values, a)
}

// verifyRank checks Rank's answer for the corpus against the server's.
func verifyRank(t *testing.T, s server, c Collation, values []string, a answers) {
	t.Helper()
	ranks, err := Rank(context.Background(), s.db, c, values)
	require.NoError(t, err)
	verify(t, values, a,
		func(i, j int) int { return cmp.Compare(int(ranks[i]), int(ranks[j])) },
		func(i int) string { return strconv.FormatInt(ranks[i], 10) })
}
