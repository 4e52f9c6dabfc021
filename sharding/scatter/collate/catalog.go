package collate

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// ErrNoTable is wrapped by LoadTable's error for a table that does not
// exist.
var ErrNoTable = errors.New("no such table")

// Column is one column of a table, as the merge needs it.
type Column struct {
	// Name is the column's name as the catalog spells it.
	Name string
	// Type is the SQL type: PostgreSQL's type name with its modifiers
	// ("text", "varchar(20)", "bpchar(5)", "int4", "numeric(10,2)"; a
	// domain is reported as its base type), MariaDB's COLUMN_TYPE
	// ("varchar(20)", "int(11)", "decimal(10,2)", "enum('a','b')"), or
	// SQLite's declared type ("VARCHAR(20)", "" when none).
	Type string
	// Text reports a character type, compared under Collation. It is false
	// for MariaDB's ENUM and SET, which sort by their position in the
	// type's list rather than by collation, and for binary types. On
	// SQLite it is true for TEXT affinity or an explicit COLLATE clause.
	Text bool
	// Collation is nil unless Text.
	Collation Collation
}

// Table is what LoadTable learned.
type Table struct {
	// Name is the table's name as LoadTable was given it.
	Name string
	// Columns are in table order.
	Columns []Column
	// Literal is the collation of string literals and of text expressions
	// that derive from no column (PostgreSQL: the database's default
	// collation; MariaDB: @@collation_connection; SQLite: BINARY).
	Literal Collation
	// DivPrecisionIncrement is MariaDB's @@div_precision_increment (4
	// elsewhere).
	DivPrecisionIncrement int

	dialect string
}

// Column returns the column called name, matched as the dialect matches an
// unquoted name: on PostgreSQL the exact name or, failing that, name with
// ASCII letters folded to lower case; on MariaDB case-insensitively; on
// SQLite with ASCII letters case-insensitive.
// It does not modify t, so concurrent calls are safe.
func (t *Table) Column(name string) (Column, bool) {
	for _, c := range t.Columns {
		if c.Name == name {
			return c, true
		}
	}
	if t.dialect == Postgres {
		folded := toLowerASCII(name)
		for _, c := range t.Columns {
			if c.Name == folded {
				return c, true
			}
		}
		return Column{}, false
	}
	for _, c := range t.Columns {
		// MariaDB folds column names fully, SQLite only ASCII letters.
		if t.dialect == MySQL && strings.EqualFold(c.Name, name) || equalFoldASCII(c.Name, name) {
			return c, true
		}
	}
	return Column{}, false
}

// LoadTable reads the table's columns from the database's catalog:
// PostgreSQL's pg_attribute, pg_type and pg_collation with "default"
// resolved through pg_database; MariaDB's information_schema.columns of the
// current database (or of "db.table"); SQLite's CREATE TABLE text in
// sqlite_schema, whose COLLATE clauses name the collations (BINARY when
// none). Table names are resolved as the database resolves an unquoted
// name ("public.items" or the search path on PostgreSQL). A table that
// does not exist is an error wrapping ErrNoTable and naming it; so is,
// on SQLite, a view or virtual table, whose column collations the schema
// text does not tell. LoadTable runs a few catalog queries on q and is
// safe for concurrent use as far as q is.
func LoadTable(ctx context.Context, q Querier, dialect string, table string) (*Table, error) {
	cat, ok := catalogs[dialect]
	if !ok {
		return nil, fmt.Errorf("collate: unknown dialect %q", dialect)
	}
	t, err := cat.loadTable(ctx, q, table)
	if err != nil {
		return nil, fmt.Errorf("collate: %s: table %q: %w", dialect, table, err)
	}
	t.Name, t.dialect = table, dialect
	return t, nil
}

// appendText appends col as text under c, or returns err.
func (t *Table) appendText(col Column, c Collation, err error) error {
	if err != nil {
		return err
	}
	col.Text, col.Collation = true, c
	t.Columns = append(t.Columns, col)
	return nil
}

// Lookup returns the collation for a name on a dialect ("utf8mb4_unicode_ci"
// on mysql, "en-x-icu" on postgres, "NOCASE" on sqlite), as used by an
// explicit COLLATE clause: name is the identifier after the dialect's
// quoting rules (PostgreSQL's is case-sensitive, "C" not "c"). On
// PostgreSQL the collation applies to text (see WithType for char(n)). It
// asks the catalog (SQLite's built-in collations need no query); an
// unknown name is an error wrapping ErrUnknownCollation. Lookup is safe for
// concurrent use as far as q is.
func Lookup(ctx context.Context, q Querier, dialect string, name string) (Collation, error) {
	cat, ok := catalogs[dialect]
	if !ok {
		return nil, fmt.Errorf("collate: unknown dialect %q", dialect)
	}
	c, err := cat.lookup(ctx, q, name)
	if err != nil {
		return nil, fmt.Errorf("collate: %s: collation %q: %w", dialect, name, err)
	}
	return c, nil
}

// catalog reads one dialect's catalog. Errors need not name the table or
// collation: LoadTable and Lookup add that.
type catalog struct {
	loadTable func(ctx context.Context, q Querier, table string) (*Table, error)
	lookup    func(ctx context.Context, q Querier, name string) (Collation, error)
}

var catalogs = map[string]catalog{
	Postgres: {pgLoadTable, pgLookup},
	MySQL:    {mysqlLoadTable, mysqlLookup},
	SQLite:   {sqliteLoadTable, sqliteLookup},
}

// queryRows runs query and calls scan for every row.
func queryRows(ctx context.Context, q Querier, query string, args []any, scan func(scan func(...any) error) error) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

// toLowerASCII folds only ASCII letters, as PostgreSQL folds unquoted
// names in UTF-8 and SQLite matches them.
func toLowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		b[i] = lowerASCII(c)
	}
	return string(b)
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}
