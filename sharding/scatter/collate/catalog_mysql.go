package collate

import (
	"context"
	"database/sql"
	"strings"
)

// mysqlColumns lists a table's columns after the session's settings; the
// settings row stands alone when the table does not exist.
const mysqlColumns = `SELECT s.cc, s.cs, s.dpi, c.COLUMN_NAME, c.COLUMN_TYPE, c.DATA_TYPE,
		c.CHARACTER_SET_NAME, c.COLLATION_NAME
	FROM (SELECT @@collation_connection AS cc, @@character_set_connection AS cs,
		@@div_precision_increment AS dpi) AS s
	LEFT JOIN information_schema.COLUMNS c
		ON c.TABLE_SCHEMA = COALESCE(?, DATABASE()) AND c.TABLE_NAME = ?
	ORDER BY c.ORDINAL_POSITION`

func mysqlLoadTable(ctx context.Context, q Querier, table string) (*Table, error) {
	var schema sql.NullString
	name := table
	if db, tbl, ok := strings.Cut(table, "."); ok {
		schema = sql.NullString{String: strings.Trim(db, "`"), Valid: true}
		name = tbl
	}
	name = strings.Trim(name, "`")
	t := &Table{}
	var literal, literalCharset string
	err := queryRows(ctx, q, mysqlColumns, []any{schema, name}, func(scan func(...any) error) error {
		var colName, colType, dataType, charset, coll sql.NullString
		if err := scan(&literal, &literalCharset, &t.DivPrecisionIncrement, &colName, &colType, &dataType, &charset, &coll); err != nil {
			return err
		}
		if !colName.Valid {
			return nil
		}
		col := Column{Name: colName.String, Type: colType.String}
		switch strings.ToLower(dataType.String) {
		case "enum", "set":
			// Ordered by position in the type's list, not by collation.
		default:
			if coll.Valid {
				c, err := Resolve(MySQL, Spec{Name: coll.String, Charset: charset.String})
				return t.appendText(col, c, err)
			}
		}
		t.Columns = append(t.Columns, col)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(t.Columns) == 0 {
		return nil, ErrNoTable
	}
	if t.Literal, err = Resolve(MySQL, Spec{Name: literal, Charset: literalCharset}); err != nil {
		return nil, err
	}
	return t, nil
}

// mysqlLookupSQL finds a collation by name (case-insensitively, as
// MariaDB matches them) or by its utf8mb3 spelling when the name uses the
// "utf8_" alias.
const mysqlLookupSQL = `SELECT COLLATION_NAME, CHARACTER_SET_NAME FROM information_schema.COLLATIONS
	WHERE COLLATION_NAME IN (?, ?) ORDER BY COLLATION_NAME = ? DESC LIMIT 1`

func mysqlLookup(ctx context.Context, q Querier, name string) (Collation, error) {
	alias := name
	if rest, ok := cutPrefixFold(name, "utf8_"); ok {
		alias = "utf8mb3_" + rest
	}
	var s Spec
	found := false
	err := queryRows(ctx, q, mysqlLookupSQL, []any{name, alias, name}, func(scan func(...any) error) error {
		found = true
		return scan(&s.Name, &s.Charset)
	})
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, ErrUnknownCollation
	}
	return Resolve(MySQL, s)
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && equalFoldASCII(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}
