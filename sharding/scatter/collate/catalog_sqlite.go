package collate

import (
	"context"
	"fmt"
	"strings"
)

// sqliteTableSQL finds a table by name (case-insensitively, as SQLite
// matches names) in the given schema, or else in the schemas SQLite
// searches for an unqualified name: temp first, then main.
const sqliteTableSQL = `SELECT schema, type FROM pragma_table_list
	WHERE name = ?1 COLLATE NOCASE AND (?2 = '' OR schema = ?2 COLLATE NOCASE)
	ORDER BY schema = 'temp' DESC, schema = 'main' DESC
	LIMIT 1`

func sqliteLoadTable(ctx context.Context, q Querier, table string) (*Table, error) {
	schema, name := "", table
	if s, n, ok := strings.Cut(table, "."); ok {
		schema, name = s, n
	}
	var foundSchema, kind string
	found := false
	err := queryRows(ctx, q, sqliteTableSQL, []any{name, schema}, func(scan func(...any) error) error {
		found = true
		return scan(&foundSchema, &kind)
	})
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, ErrNoTable
	}
	if kind != "table" {
		return nil, fmt.Errorf("a %s, whose column collations its schema does not tell: %w", kind, ErrNoTable)
	}
	createSQL, err := sqliteCreateSQL(ctx, q, foundSchema, name)
	if err != nil {
		return nil, err
	}
	colls, err := sqliteColumnCollations(createSQL)
	if err != nil {
		return nil, err
	}
	t := &Table{DivPrecisionIncrement: 4}
	t.Literal, _ = Resolve(SQLite, Spec{Name: "BINARY"})
	err = queryRows(ctx, q, `SELECT name, type FROM pragma_table_xinfo(?, ?) WHERE hidden <> 1 ORDER BY cid`,
		[]any{name, foundSchema}, func(scan func(...any) error) error {
			var col Column
			if err := scan(&col.Name, &col.Type); err != nil {
				return err
			}
			coll, ok := colls[toLowerASCII(col.Name)]
			if !ok {
				return fmt.Errorf("column %q is not in %q", col.Name, createSQL)
			}
			if coll == "" && !sqliteTextAffinity(col.Type) {
				t.Columns = append(t.Columns, col)
				return nil
			}
			if coll == "" {
				coll = "BINARY"
			}
			c, err := Resolve(SQLite, Spec{Name: coll})
			return t.appendText(col, c, err)
		})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// sqliteCreateSQL reads a table's CREATE statement from its schema's
// sqlite_schema.
func sqliteCreateSQL(ctx context.Context, q Querier, schema, name string) (string, error) {
	var createSQL string
	err := queryRows(ctx, q, `SELECT COALESCE(sql, '') FROM `+quoteIdent(schema)+`.sqlite_schema WHERE type = 'table' AND name = ? COLLATE NOCASE`,
		[]any{name}, func(scan func(...any) error) error { return scan(&createSQL) })
	if err != nil {
		return "", err
	}
	if createSQL == "" {
		return "", fmt.Errorf("no CREATE TABLE text in schema %q", schema)
	}
	return createSQL, nil
}

// sqliteLookup accepts SQLite's built-in collations and those registered
// on the connection (PRAGMA collation_list).
func sqliteLookup(ctx context.Context, q Querier, name string) (Collation, error) {
	if _, o := sqliteOrder(name); o != orderRank {
		return Resolve(SQLite, Spec{Name: name})
	}
	found := ""
	err := queryRows(ctx, q, `SELECT name FROM pragma_collation_list WHERE name = ? COLLATE NOCASE`,
		[]any{name}, func(scan func(...any) error) error { return scan(&found) })
	if err != nil {
		return nil, err
	}
	if found == "" {
		return nil, ErrUnknownCollation
	}
	return Resolve(SQLite, Spec{Name: found})
}
