package collate

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant/internal/testdb"
)

// corpusSize is how many strings each collation is verified on.
const corpusSize = 3000

// collationCase is a column holding the corpus under one collation.
type collationCase struct {
	name    string            // table suffix
	colType string            // the column's type and collation
	pgType  string            // PostgreSQL: the type whose send function gives the bytes
	keep    func(string) bool // corpus filter (nil: all of it)
	native  bool
	lookup  string // compare under Lookup(lookup) rather than the column's collation
}

// runCollationCases loads the corpus into a column per case and checks the
// collation LoadTable reports for it: Compare, Key and Rank for a native
// one, Rank for the others.
func runCollationCases(t *testing.T, s server, extra []string, cases []collationCase) {
	ctx := context.Background()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if s.dialect != SQLite {
				t.Parallel()
			}
			values := corpus(corpusSize, tc.keep)
			values = append(values, extra...)
			table := "t_" + tc.name
			s.loadCorpus(t, table, tc.colType, values)
			var c Collation
			if tc.lookup != "" {
				var err error
				c, err = Lookup(ctx, s.db, s.dialect, tc.lookup)
				require.NoError(t, err)
			} else {
				tbl, err := LoadTable(ctx, s.db, s.dialect, table)
				require.NoError(t, err)
				col, ok := tbl.Column("v")
				require.True(t, ok)
				require.True(t, col.Text, "column %+v", col)
				c = col.Collation
			}
			a := s.answers(t, table, tc.pgType)
			if tc.native {
				verifyNative(t, s, c, values, a)
			} else {
				require.False(t, c.Native(), "%s", c.Name())
				verifyRank(t, s, c, values, a)
			}
			t.Logf("%s: %d strings, %d groups, %d equal pairs", c.Name(), len(values), a.groups, len(a.equal))
		})
	}
}

func TestPostgresCollations(t *testing.T) {
	s := openServer(t, testdb.Postgres(t), "collate")
	s.exec(t, `CREATE COLLATION ci_nd (provider = icu, locale = 'und-u-ks-level2', deterministic = false)`)
	runCollationCases(t, s, nil, []collationCase{
		{name: "c", colType: `text COLLATE "C"`, pgType: "text", native: true},
		{name: "posix", colType: `varchar(300) COLLATE "POSIX"`, pgType: "text", native: true},
		{name: "ucs_basic", colType: `text COLLATE ucs_basic`, pgType: "text", native: true},
		{name: "c_utf8", colType: `text COLLATE "C.utf8"`, pgType: "text", native: true},
		// The database's default collation, C.UTF-8 on the test server.
		{name: "default", colType: `text`, pgType: "text", native: true},
		{name: "bpchar_c", colType: `bpchar COLLATE "C"`, pgType: "bpchar", native: true},
		{name: "bpchar_default", colType: `bpchar`, pgType: "bpchar", native: true},
		{name: "icu_en", colType: `text COLLATE "en-x-icu"`, pgType: "text"},
		{name: "icu_und", colType: `varchar(300) COLLATE "und-x-icu"`, pgType: "text"},
		{name: "bpchar_icu", colType: `bpchar COLLATE "en-x-icu"`, pgType: "bpchar"},
		{name: "nondeterministic", colType: `text COLLATE ci_nd`, pgType: "text"},
	})
}

func TestMariaDBCollations(t *testing.T) {
	s := openServer(t, testdb.MariaDB(t), "collate")
	runCollationCases(t, s, nulCorpus, []collationCase{
		{name: "binary", colType: "VARBINARY(1200)", native: true, lookup: "binary"},
		{name: "mb4_bin", colType: "VARCHAR(300) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", native: true},
		{name: "mb4_nopad_bin", colType: "VARCHAR(300) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin", native: true},
		{name: "mb4_general", colType: "VARCHAR(300) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci", native: true},
		{name: "mb4_general_nopad", colType: "VARCHAR(300) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_nopad_ci", native: true},
		{name: "mb3_bin", colType: "VARCHAR(300) CHARACTER SET utf8mb3 COLLATE utf8mb3_bin", keep: bmpOnly, native: true},
		{name: "mb3_nopad_bin", colType: "VARCHAR(300) CHARACTER SET utf8mb3 COLLATE utf8mb3_nopad_bin", keep: bmpOnly, native: true},
		{name: "mb3_general", colType: "VARCHAR(300) CHARACTER SET utf8mb3 COLLATE utf8mb3_general_ci", keep: bmpOnly, native: true},
		{name: "mb3_general_nopad", colType: "VARCHAR(300) CHARACTER SET utf8mb3 COLLATE utf8mb3_general_nopad_ci", keep: bmpOnly, native: true},
		{name: "unicode", colType: "VARCHAR(300) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"},
		{name: "unicode_520", colType: "VARCHAR(300) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci"},
		{name: "latin1_swedish", colType: "VARCHAR(300) CHARACTER SET latin1 COLLATE latin1_swedish_ci", keep: latin1Only},
	})
}

func TestSQLiteCollations(t *testing.T) {
	s := openServer(t, testdb.SQLite(t), "collate")
	runCollationCases(t, s, nulCorpus, []collationCase{
		{name: "binary", colType: "TEXT", native: true},
		{name: "nocase", colType: "TEXT COLLATE NOCASE", native: true},
		{name: "rtrim", colType: "VARCHAR(300) COLLATE rtrim", native: true},
	})
}
