package collate

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSQLiteColumnCollations(t *testing.T) {
	for _, tc := range []struct {
		sql  string
		want map[string]string
	}{
		{`CREATE TABLE t(a, b TEXT COLLATE NOCASE)`, map[string]string{"a": "", "b": "NOCASE"}},
		{"CREATE TABLE \"t(\"\"x\" (`a``b` TEXT COLLATE 'rtrim', [c d] COLLATE x COLLATE y)",
			map[string]string{"a`b": "rtrim", "c d": "y"}},
		{`CREATE TABLE t (
			"collate" TEXT, -- COLLATE NOCASE, x TEXT
			e TEXT /* COLLATE NOCASE, */ DEFAULT ('(' || ',') CHECK (e COLLATE NOCASE > 'a'),
			PRIMARY KEY (e COLLATE NOCASE),
			CONSTRAINT c FOREIGN KEY (e) REFERENCES u(x)
		) WITHOUT ROWID`, map[string]string{"collate": "", "e": ""}},
		{`CREATE TABLE T (Mixed TEXT COLLATE NoCase)`, map[string]string{"mixed": "NoCase"}},
	} {
		got, err := sqliteColumnCollations(tc.sql)
		require.NoError(t, err, tc.sql)
		assert.Equal(t, tc.want, got, tc.sql)
	}
	for _, bad := range []string{`CREATE TABLE t`, `CREATE TABLE t (a TEXT`, `CREATE TABLE t (a "TEXT)`} {
		_, err := sqliteColumnCollations(bad)
		assert.Error(t, err, bad)
	}
}

func TestSQLiteTextAffinity(t *testing.T) {
	for decl, want := range map[string]bool{
		"TEXT": true, "VARCHAR(20)": true, "CLOB": true, "character varying": true, "nchar(5)": true,
		"": false, "INT": false, "CHARINT": false, "BLOB": false, "REAL": false, "DECIMAL(10,2)": false,
	} {
		assert.Equal(t, want, sqliteTextAffinity(decl), decl)
	}
}
