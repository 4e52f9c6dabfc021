package collate

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func resolve(t *testing.T, dialect string, s Spec) Collation {
	t.Helper()
	c, err := Resolve(dialect, s)
	require.NoError(t, err)
	return c
}

// TestNativeExamples pins the behaviours the server tests found, so that a
// regression shows without a server.
func TestNativeExamples(t *testing.T) {
	general := resolve(t, MySQL, Spec{Name: "utf8mb4_general_ci"})
	generalNoPad := resolve(t, MySQL, Spec{Name: "utf8mb4_general_nopad_ci"})
	bin := resolve(t, MySQL, Spec{Name: "utf8mb4_bin"})
	nopadBin := resolve(t, MySQL, Spec{Name: "utf8mb4_nopad_bin"})
	pgC := resolve(t, Postgres, Spec{Name: "default", Provider: "c", Locale: "C.UTF-8"})
	pgBpchar := resolve(t, Postgres, Spec{Name: "C", Provider: "c", Locale: "C", Type: "character(10)"})
	nocase := resolve(t, SQLite, Spec{Name: "nocase"})
	rtrim := resolve(t, SQLite, Spec{Name: "RTRIM"})

	for _, tc := range []struct {
		c    Collation
		a, b string
		want int
	}{
		{general, "Alice", "alice", 0},
		{general, "é", "e", 0},
		{general, "ß", "s", 0}, // one weight each: ß is not "ss" here
		{general, "ß", "ss", -1},
		{general, "a", "a ", 0},   // PAD SPACE
		{general, "a\t", "a", -1}, // ... compares the rest with spaces
		{general, "a", "a\x00", 1},
		{general, "😀", "\ufffd", 0}, // every supplementary character weighs U+FFFD
		{general, "😀", "𐀀", 0},
		{general, "😀", "\uffff", -1},
		{generalNoPad, "a", "a ", -1},
		{generalNoPad, "A", "a", 0},
		{bin, "a", "a  ", 0},
		{bin, "a\t", "a", -1},
		{bin, "a", "A", 1},
		{bin, "é", "z", 1},
		{nopadBin, "a", "a ", -1},
		{pgC, "B", "a", -1},
		{pgC, "a", "a ", -1},
		{pgC, "é", "z", 1},
		{pgBpchar, "a", "a  ", 0},
		{pgBpchar, "a", "a\t", -1}, // trailing spaces are removed, not padded
		{nocase, "ABC", "abc", 0},
		{nocase, "_", "a", -1}, // folded to lower case: '_' < 'a'
		{nocase, "É", "é", -1}, // ASCII only
		{nocase, "a\x00b", "a\x00c", 0},
		{nocase, "a\x00b", "a\x00bc", -1},
		{rtrim, "a", "a  ", 0},
		{rtrim, "a", "a\t", -1},
	} {
		assert.Equal(t, tc.want, tc.c.Compare(tc.a, tc.b), "%s: %q vs %q", tc.c.Name(), tc.a, tc.b)
		assert.Equal(t, -tc.want, tc.c.Compare(tc.b, tc.a), "%s: %q vs %q", tc.c.Name(), tc.b, tc.a)
		assert.Equal(t, tc.want == 0, bytes.Equal(tc.c.Key(nil, tc.a), tc.c.Key(nil, tc.b)), "%s keys: %q vs %q", tc.c.Name(), tc.a, tc.b)
	}
}

// TestKeyMatchesCompare checks the Key contract on pairs of the corpus for
// every native collation, and that Key appends to dst.
func TestKeyMatchesCompare(t *testing.T) {
	values := append(corpus(600, nil), nulCorpus...)
	for _, c := range nativeCollations(t) {
		for i, a := range values {
			ka := c.Key(nil, a)
			for _, b := range values[i:] {
				eq := bytes.Equal(ka, c.Key(nil, b))
				cmp := c.Compare(a, b)
				if eq != (cmp == 0) || cmp != -c.Compare(b, a) {
					t.Fatalf("%s: Compare(%s, %s) = %d, keys equal %t", c.Name(), hexq(a), hexq(b), cmp, eq)
				}
			}
		}
		assert.Equal(t, append([]byte("x"), c.Key(nil, "Ab")...), c.Key([]byte("x"), "Ab"), c.Name())
	}
}

func nativeCollations(t *testing.T) []Collation {
	var out []Collation
	for _, s := range []struct {
		dialect string
		spec    Spec
	}{
		{Postgres, Spec{Name: "C"}},
		{Postgres, Spec{Name: "C", Type: "bpchar"}},
		{MySQL, Spec{Name: "binary"}},
		{MySQL, Spec{Name: "utf8mb4_bin"}},
		{MySQL, Spec{Name: "utf8mb4_general_ci"}},
		{MySQL, Spec{Name: "utf8mb4_general_nopad_ci"}},
		{SQLite, Spec{Name: "NOCASE"}},
		{SQLite, Spec{Name: "RTRIM"}},
	} {
		c := resolve(t, s.dialect, s.spec)
		require.True(t, c.Native(), "%s %+v", s.dialect, s.spec)
		out = append(out, c)
	}
	return out
}

func TestResolve(t *testing.T) {
	for _, tc := range []struct {
		dialect string
		spec    Spec
		name    string
		native  bool
	}{
		{Postgres, Spec{Name: "default", Schema: "pg_catalog", Provider: "c", Locale: "C.UTF-8"}, "C.UTF-8", true},
		{Postgres, Spec{Name: "default", Provider: "c", Locale: "en_US.UTF-8"}, "en_US.UTF-8", false},
		{Postgres, Spec{Name: "default", Provider: "i", Locale: "en"}, "en", false},
		{Postgres, Spec{Name: "pg_c_utf8", Provider: "b", Locale: "C.UTF-8"}, "pg_c_utf8", true},
		{Postgres, Spec{Name: "ucs_basic", Provider: "c", Locale: "C"}, "ucs_basic", true},
		{Postgres, Spec{Name: "en-x-icu", Provider: "i", Locale: "en"}, "en-x-icu", false},
		{Postgres, Spec{Name: "C", Provider: "c", Locale: "C", Nondeterministic: true}, "C", false},
		{Postgres, Spec{Name: "C", Provider: "c", Locale: "C", Type: "public.citext"}, "C", false},
		{Postgres, Spec{Name: "C", Provider: "c", Locale: "C", Type: "character varying(20)"}, "C", true},
		{MySQL, Spec{Name: "utf8mb4_unicode_ci"}, "utf8mb4_unicode_ci", false},
		{MySQL, Spec{Name: "latin1_bin"}, "latin1_bin", false},
		{MySQL, Spec{Name: "utf8mb4_general_ci"}, "utf8mb4_general_ci", true},
		{SQLite, Spec{Name: "nocase"}, "NOCASE", true},
		{SQLite, Spec{Name: "my_collation"}, "my_collation", false},
	} {
		c := resolve(t, tc.dialect, tc.spec)
		assert.Equal(t, tc.name, c.Name(), "%+v", tc.spec)
		assert.Equal(t, tc.native, c.Native(), "%+v", tc.spec)
	}

	for _, tc := range []struct {
		dialect string
		spec    Spec
	}{
		{"oracle", Spec{Name: "BINARY"}},
		{MySQL, Spec{}},
		{MySQL, Spec{Name: "utf8mb4_bin; DROP TABLE x"}},
		{Postgres, Spec{Name: "C", Type: `text"; --`}},
	} {
		_, err := Resolve(tc.dialect, tc.spec)
		assert.Error(t, err, "%s %+v", tc.dialect, tc.spec)
	}

	icu := resolve(t, Postgres, Spec{Name: "en-x-icu", Provider: "i", Locale: "en"})
	assert.Panics(t, func() { icu.Compare("a", "b") })
	assert.Panics(t, func() { icu.Key(nil, "a") })
}

func TestWithType(t *testing.T) {
	c := resolve(t, Postgres, Spec{Name: "C", Provider: "c", Locale: "C"})
	assert.Equal(t, -1, c.Compare("a", "a "))
	b, err := WithType(c, "bpchar")
	require.NoError(t, err)
	assert.Equal(t, 0, b.Compare("a", "a "))
	_, err = WithType(c, "bad type")
	assert.Error(t, err)

	m := resolve(t, MySQL, Spec{Name: "utf8mb4_bin"})
	same, err := WithType(m, "char(5)")
	require.NoError(t, err)
	assert.Same(t, m, same)
}
