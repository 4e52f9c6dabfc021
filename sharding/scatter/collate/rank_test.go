package collate

import (
	"cmp"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant/internal/testdb"
)

// longValues are strings that differ only past MariaDB's default
// max_sort_length (1024 bytes of sort key), around it, and by case,
// accents or trailing spaces.
func longValues() []string {
	var out []string
	for _, n := range []int{510, 511, 512, 513, 1000, 5000} {
		x := strings.Repeat("x", n)
		out = append(out, x+"a", x+"b", x+"A", x+"a ", x+"é", x+"e", x)
	}
	return out
}

// checkRanks requires ranks to order values as the native collation c does.
func checkRanks(t *testing.T, c Collation, values []string, ranks []int64) {
	t.Helper()
	require.Len(t, ranks, len(values))
	for i := range values {
		for j := range values {
			want := c.Compare(values[i], values[j])
			if got := cmp.Compare(int(ranks[i]), int(ranks[j])); got != want {
				t.Fatalf("%s: ranks %d, %d of %s, %s; Compare says %d", c.Name(), ranks[i], ranks[j], hexq(values[i]), hexq(values[j]), want)
			}
		}
	}
}

func TestRankLongValues(t *testing.T) {
	ctx := context.Background()
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		s := openServer(t, b, "rank_long")
		names := map[string][]string{
			Postgres: {"C", "ucs_basic"},
			MySQL:    {"utf8mb4_general_ci", "utf8mb4_bin", "utf8mb4_general_nopad_ci"},
			SQLite:   {"NOCASE", "RTRIM"},
		}[s.dialect]
		values := longValues()
		for _, name := range names {
			c, err := Lookup(ctx, s.db, s.dialect, name)
			require.NoError(t, err)
			ranks, err := Rank(ctx, s.db, c, values)
			require.NoError(t, err)
			checkRanks(t, c, values, ranks)
		}
		if s.dialect == MySQL {
			// Not native: check what is known of utf8mb4_unicode_ci.
			c, err := Lookup(ctx, s.db, MySQL, "utf8mb4_unicode_ci")
			require.NoError(t, err)
			ranks, err := Rank(ctx, s.db, c, values)
			require.NoError(t, err)
			for k := 0; k < len(values); k += 7 {
				a, bb, upper, space, acute, e, bare := ranks[k], ranks[k+1], ranks[k+2], ranks[k+3], ranks[k+4], ranks[k+5], ranks[k+6]
				assert.Less(t, a, bb)
				assert.Equal(t, a, upper)
				assert.Equal(t, a, space)
				assert.Equal(t, e, acute)
				assert.Less(t, bare, a)
			}
		}
	})
}

func TestRankErrors(t *testing.T) {
	ctx := context.Background()
	c := resolve(t, Postgres, Spec{Name: "en-x-icu", Provider: "i", Locale: "en"})

	ranks, err := Rank(ctx, nil, c, nil)
	require.NoError(t, err, "no values, no query")
	assert.Empty(t, ranks)

	_, err = Rank(ctx, nil, c, []string{"a", "\xff"})
	assert.ErrorIs(t, err, ErrNotRanked)
	_, err = Rank(ctx, nil, c, []string{"a\x00"})
	assert.ErrorIs(t, err, ErrNotRanked)
	_, err = Rank(ctx, nil, foreign{}, []string{"a"})
	assert.Error(t, err)

	t.Run("mariadb", func(t *testing.T) {
		s := openServer(t, testdb.MariaDB(t), "rank_err")
		latin1, err := Lookup(ctx, s.db, MySQL, "latin1_swedish_ci")
		require.NoError(t, err)
		_, err = Rank(ctx, s.db, latin1, []string{"a", "😀"})
		assert.ErrorIs(t, err, ErrNotRanked, "a character latin1 lacks must not be ranked as '?'")
		ranks, err := Rank(ctx, s.db, latin1, []string{"b", "A", "a", "é"})
		require.NoError(t, err)
		assert.Equal(t, []int64{2, 1, 1, 3}, ranks)
	})
	t.Run("postgres", func(t *testing.T) {
		d := testdb.Postgres(t).CreateDatabase(t, "rank_pool")
		gdb := d.Open(t)
		// A gorm.ConnPool is a Querier.
		ranks, err := Rank(ctx, gdb.ConnPool, c, []string{"b", "a", "B", "a"})
		require.NoError(t, err)
		assert.Equal(t, []int64{2, 1, 3, 1}, ranks)
		// A collation name is quoted, never spliced: a missing one is an error.
		bad := resolve(t, Postgres, Spec{Name: `x" COLLATE "C`, Provider: "i"})
		_, err = Rank(ctx, gdb.ConnPool, bad, []string{"a"})
		assert.Error(t, err)
	})
}

// foreign is a Collation from elsewhere, which Rank cannot name.
type foreign struct{}

func (foreign) Name() string                    { return "foreign" }
func (foreign) Native() bool                    { return false }
func (foreign) Compare(a, b string) int         { return strings.Compare(a, b) }
func (foreign) Key(dst []byte, s string) []byte { return append(dst, s...) }
