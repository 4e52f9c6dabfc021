package collate

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant/internal/testdb"
)

// wantColumn is what LoadTable should say of a column: its type, and for
// text its collation's name and nativeness.
type wantColumn struct {
	name, typ  string
	text       bool
	collation  string
	native     bool
	ignoresPad bool // Compare("a", "a ") == 0
}

func checkTable(t *testing.T, tbl *Table, want []wantColumn) {
	t.Helper()
	require.Len(t, tbl.Columns, len(want))
	for i, w := range want {
		c := tbl.Columns[i]
		assert.Equal(t, w.name, c.Name)
		assert.Equal(t, w.typ, c.Type, c.Name)
		assert.Equal(t, w.text, c.Text, c.Name)
		if !w.text {
			assert.Nil(t, c.Collation, c.Name)
			continue
		}
		require.NotNil(t, c.Collation, c.Name)
		assert.Equal(t, w.collation, c.Collation.Name(), c.Name)
		assert.Equal(t, w.native, c.Collation.Native(), c.Name)
		if w.native {
			assert.Equal(t, w.ignoresPad, c.Collation.Compare("a", "a ") == 0, c.Name)
		}
	}
}

func TestLoadTablePostgres(t *testing.T) {
	ctx := context.Background()
	s := openServer(t, testdb.Postgres(t), "catalog")
	s.exec(t, `CREATE EXTENSION citext`)
	s.exec(t, `CREATE SCHEMA app`)
	s.exec(t, `CREATE DOMAIN short_text AS varchar(20) COLLATE "en-x-icu"`)
	s.exec(t, `CREATE DOMAIN shorter_text AS short_text`)
	s.exec(t, `CREATE TABLE app.items (
		id int4 PRIMARY KEY,
		"Name" text,
		title varchar(20) COLLATE "C",
		code char(5),
		icu text COLLATE "en-x-icu",
		label shorter_text,
		ci citext,
		data bytea,
		dropped int,
		price numeric(10,2),
		tags text[])`)
	s.exec(t, `ALTER TABLE app.items DROP COLUMN dropped`)

	tbl, err := LoadTable(ctx, s.db, Postgres, "app.items")
	require.NoError(t, err)
	assert.Equal(t, "app.items", tbl.Name)
	assert.Equal(t, 4, tbl.DivPrecisionIncrement)
	checkTable(t, tbl, []wantColumn{
		{name: "id", typ: "int4"},
		{name: "Name", typ: "text", text: true, collation: "C.UTF-8", native: true},
		{name: "title", typ: "varchar(20)", text: true, collation: "C", native: true},
		{name: "code", typ: "bpchar(5)", text: true, collation: "C.UTF-8", native: true, ignoresPad: true},
		{name: "icu", typ: "text", text: true, collation: "en-x-icu"},
		{name: "label", typ: "varchar(20)", text: true, collation: "en-x-icu"},
		{name: "ci", typ: "citext", text: true, collation: "C.UTF-8"},
		{name: "data", typ: "bytea"},
		{name: "price", typ: "numeric(10,2)"},
		{name: "tags", typ: "_text"},
	})
	assert.Equal(t, "C.UTF-8", tbl.Literal.Name())
	assert.True(t, tbl.Literal.Native())

	// Unquoted names fold to lower case; a quoted mixed-case one does not.
	_, ok := tbl.Column("Name")
	assert.True(t, ok)
	_, ok = tbl.Column("name")
	assert.False(t, ok)
	col, ok := tbl.Column("TITLE")
	assert.True(t, ok)
	assert.Equal(t, "title", col.Name)

	// citext is ranked through the database under its own comparison.
	ci, _ := tbl.Column("ci")
	ranks, err := Rank(ctx, s.db, ci.Collation, []string{"b", "A", "a"})
	require.NoError(t, err)
	assert.Equal(t, []int64{2, 1, 1}, ranks)

	// The search path: app is not on it, public is.
	_, err = LoadTable(ctx, s.db, Postgres, "items")
	assert.ErrorIs(t, err, ErrNoTable)
	s.exec(t, `CREATE TABLE things (x text)`)
	tbl, err = LoadTable(ctx, s.db, Postgres, "things")
	require.NoError(t, err)
	assert.Len(t, tbl.Columns, 1)
	s.exec(t, `CREATE VIEW thing_view AS SELECT x COLLATE "en-x-icu" AS x FROM things`)
	tbl, err = LoadTable(ctx, s.db, Postgres, "public.thing_view")
	require.NoError(t, err)
	checkTable(t, tbl, []wantColumn{{name: "x", typ: "text", text: true, collation: "en-x-icu"}})

	_, err = LoadTable(ctx, s.db, Postgres, "no_such_table")
	assert.ErrorIs(t, err, ErrNoTable)
	assert.ErrorContains(t, err, "no_such_table")
	_, err = LoadTable(ctx, s.db, Postgres, "things_pkey") // not a relation with rows
	assert.ErrorIs(t, err, ErrNoTable)
}

func TestLoadTableMariaDB(t *testing.T) {
	ctx := context.Background()
	b := testdb.MariaDB(t)
	d := b.CreateDatabase(t, "catalog")
	db, err := d.Open(t).DB()
	require.NoError(t, err)
	s := server{dialect: MySQL, db: db}
	s.exec(t, `CREATE TABLE items (
		id INT PRIMARY KEY,
		Name VARCHAR(20),
		title VARCHAR(20) COLLATE utf8mb4_general_ci,
		code CHAR(5) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
		nopad VARCHAR(5) COLLATE utf8mb4_nopad_bin,
		body TEXT CHARACTER SET latin1,
		data VARBINARY(10),
		blobby BLOB,
		kind ENUM('b','a'),
		price DECIMAL(10,2),
		doc JSON)`)

	want := []wantColumn{
		{name: "id", typ: "int(11)"},
		{name: "Name", typ: "varchar(20)", text: true, collation: "utf8mb4_unicode_ci"},
		{name: "title", typ: "varchar(20)", text: true, collation: "utf8mb4_general_ci", native: true, ignoresPad: true},
		{name: "code", typ: "char(5)", text: true, collation: "utf8mb4_bin", native: true, ignoresPad: true},
		{name: "nopad", typ: "varchar(5)", text: true, collation: "utf8mb4_nopad_bin", native: true},
		{name: "body", typ: "text", text: true, collation: "latin1_swedish_ci"},
		{name: "data", typ: "varbinary(10)"},
		{name: "blobby", typ: "blob"},
		{name: "kind", typ: "enum('b','a')"},
		{name: "price", typ: "decimal(10,2)"},
		{name: "doc", typ: "longtext", text: true, collation: "utf8mb4_bin", native: true, ignoresPad: true},
	}
	tbl, err := LoadTable(ctx, s.db, MySQL, "items")
	require.NoError(t, err)
	checkTable(t, tbl, want)
	assert.Equal(t, 4, tbl.DivPrecisionIncrement)
	assert.Equal(t, "utf8mb4_general_ci", tbl.Literal.Name(), "the driver's connection collation")
	col, ok := tbl.Column("NAME")
	assert.True(t, ok)
	assert.Equal(t, "Name", col.Name)

	tbl, err = LoadTable(ctx, s.db, MySQL, d.Name+".items")
	require.NoError(t, err)
	checkTable(t, tbl, want)

	// Session settings are read from the connection LoadTable is given.
	conn, err := s.db.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(ctx, "SET div_precision_increment = 7, collation_connection = utf8mb4_unicode_520_ci")
	require.NoError(t, err)
	tbl, err = LoadTable(ctx, conn, MySQL, "items")
	require.NoError(t, err)
	assert.Equal(t, 7, tbl.DivPrecisionIncrement)
	assert.Equal(t, "utf8mb4_unicode_520_ci", tbl.Literal.Name())
	assert.False(t, tbl.Literal.Native())

	_, err = LoadTable(ctx, s.db, MySQL, "no_such_table")
	assert.ErrorIs(t, err, ErrNoTable)
	assert.ErrorContains(t, err, "no_such_table")
}

func TestLoadTableSQLite(t *testing.T) {
	ctx := context.Background()
	s := openServer(t, testdb.SQLite(t), "catalog")
	s.exec(t, `CREATE TABLE "Items" (
		id INTEGER PRIMARY KEY,
		name TEXT COLLATE NOCASE,
		"title" VARCHAR(20) COLLATE rtrim CHECK (title COLLATE binary <> ''),
		code CHAR(5),
		[weird, name] TEXT DEFAULT ('x' COLLATE NOCASE),
		n INT COLLATE "nocase",
		data BLOB,
		price DECIMAL(10,2), -- a comment that says COLLATE NOCASE
		g TEXT COLLATE nocase /* , x TEXT */ GENERATED ALWAYS AS (upper(name)),
		CONSTRAINT u UNIQUE (name COLLATE binary))`)
	want := []wantColumn{
		{name: "id", typ: "INTEGER"},
		{name: "name", typ: "TEXT", text: true, collation: "NOCASE", native: true},
		{name: "title", typ: "VARCHAR(20)", text: true, collation: "RTRIM", native: true, ignoresPad: true},
		{name: "code", typ: "CHAR(5)", text: true, collation: "BINARY", native: true},
		{name: "weird, name", typ: "TEXT", text: true, collation: "BINARY", native: true},
		{name: "n", typ: "INT", text: true, collation: "NOCASE", native: true},
		{name: "data", typ: "BLOB"},
		{name: "price", typ: "DECIMAL(10,2)"},
		{name: "g", typ: "TEXT", text: true, collation: "NOCASE", native: true},
	}
	for _, name := range []string{"Items", "items", "main.items"} {
		tbl, err := LoadTable(ctx, s.db, SQLite, name)
		require.NoError(t, err, name)
		checkTable(t, tbl, want)
		assert.Equal(t, "BINARY", tbl.Literal.Name())
		assert.Equal(t, 4, tbl.DivPrecisionIncrement)
		_, ok := tbl.Column("TITLE")
		assert.True(t, ok)
	}

	s.exec(t, `CREATE VIEW v AS SELECT name FROM items`)
	_, err := LoadTable(ctx, s.db, SQLite, "v")
	assert.ErrorIs(t, err, ErrNoTable)
	_, err = LoadTable(ctx, s.db, SQLite, "no_such_table")
	assert.ErrorIs(t, err, ErrNoTable)
	assert.ErrorContains(t, err, "no_such_table")
}

func TestLookup(t *testing.T) {
	ctx := context.Background()
	cases := map[string][]struct {
		name, want string
		native     bool
	}{
		Postgres: {{"C", "C", true}, {"POSIX", "POSIX", true}, {"ucs_basic", "ucs_basic", true},
			{"C.utf8", "C.utf8", true}, {"default", "C.UTF-8", true}, {"en-x-icu", "en-x-icu", false}},
		MySQL: {{"utf8mb4_unicode_ci", "utf8mb4_unicode_ci", false}, {"UTF8MB4_GENERAL_CI", "utf8mb4_general_ci", true},
			{"utf8_general_ci", "utf8mb3_general_ci", true}, {"binary", "binary", true}, {"latin1_bin", "latin1_bin", false}},
		SQLite: {{"nocase", "NOCASE", true}, {"BINARY", "BINARY", true}, {"RTRIM", "RTRIM", true}},
	}
	unknown := map[string][]string{
		Postgres: {"c", "no-such-icu", `C" COLLATE "POSIX`},
		MySQL:    {"utf8mb4_nope_ci", "utf8mb4_bin'"},
		SQLite:   {"nope"},
	}
	testdb.Each(t, func(t *testing.T, b *testdb.Backend) {
		s := openServer(t, b, "lookup")
		for _, tc := range cases[s.dialect] {
			c, err := Lookup(ctx, s.db, s.dialect, tc.name)
			require.NoError(t, err, tc.name)
			assert.Equal(t, tc.want, c.Name(), tc.name)
			assert.Equal(t, tc.native, c.Native(), tc.name)
		}
		for _, name := range unknown[s.dialect] {
			_, err := Lookup(ctx, s.db, s.dialect, name)
			assert.ErrorIs(t, err, ErrUnknownCollation, name)
		}
	})
	_, err := Lookup(ctx, nil, "oracle", "BINARY")
	assert.Error(t, err)
}
