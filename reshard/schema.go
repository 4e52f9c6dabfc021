package reshard

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/grant-go/grant/sharding"
)

// table is a Table as the workflow uses it: where the key and primary key
// sit in a row, and how to read the key the way the application's model
// hands it to the strategy.
type table struct {
	Table
	strategy sharding.Strategy
	keyAt    int   // index of Key in Columns
	pkAt     []int // indexes of PK in Columns
	keyInt   bool  // the key column is an integer type: MySQL hands it over as text
}

// describe reads a table's columns and primary key from the shard's
// catalog. A table the catalog does not know, or one without a primary
// key, is an error naming it: rows are copied, synced and compared by it.
func describe(ctx context.Context, db *sql.DB, d dialect, name, key string, strategy sharding.Strategy) (*table, error) {
	var colsQ, pkQ string
	if d.postgres() {
		colsQ = `SELECT column_name, data_type FROM information_schema.columns
WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`
		pkQ = `SELECT a.attname FROM pg_index i
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
WHERE i.indrelid = to_regclass(quote_ident($1)) AND i.indisprimary
ORDER BY array_position(i.indkey, a.attnum)`
	} else {
		colsQ = `SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`
		pkQ = `SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION`
	}
	t := &table{Table: Table{Name: name, Key: key}, strategy: strategy, keyAt: -1}
	types := map[string]string{}
	rows, err := db.QueryContext(ctx, colsQ, name)
	if err != nil {
		return nil, fmt.Errorf("reading the columns of %q: %w", name, err)
	}
	for rows.Next() {
		var c, typ string
		if err := rows.Scan(&c, &typ); err != nil {
			rows.Close()
			return nil, err
		}
		t.Columns = append(t.Columns, c)
		types[c] = strings.ToLower(typ)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if len(t.Columns) == 0 {
		return nil, fmt.Errorf("%w: table %q does not exist on this shard (migrate every shard of the target placement first: grant migrate up)", ErrSchema, name)
	}
	rows, err = db.QueryContext(ctx, pkQ, name)
	if err != nil {
		return nil, fmt.Errorf("reading the primary key of %q: %w", name, err)
	}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			rows.Close()
			return nil, err
		}
		t.PK = append(t.PK, c)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if len(t.PK) == 0 {
		return nil, fmt.Errorf("%w: table %q has no primary key; resharding copies, syncs and compares rows by it", ErrSchema, name)
	}
	for i, c := range t.Columns {
		if c == key {
			t.keyAt = i
		}
	}
	if t.keyAt < 0 {
		return nil, fmt.Errorf("%w: table %q has no column %q, its shard key", ErrSchema, name, key)
	}
	for _, p := range t.PK {
		for i, c := range t.Columns {
			if c == p {
				t.pkAt = append(t.pkAt, i)
			}
		}
	}
	switch types[key] {
	case "smallint", "integer", "bigint", "int", "tinyint", "mediumint":
		t.keyInt = true
	}
	return t, nil
}

// sameShape reports how two shards' descriptions of a table differ, ""
// when they agree: a copy between different schemas would lose columns.
func (t *table) sameShape(o *table) string {
	if strings.Join(t.Columns, ",") != strings.Join(o.Columns, ",") {
		return fmt.Sprintf("columns (%s) against (%s)", strings.Join(t.Columns, ", "), strings.Join(o.Columns, ", "))
	}
	if strings.Join(t.PK, ",") != strings.Join(o.PK, ",") {
		return fmt.Sprintf("primary key (%s) against (%s)", strings.Join(t.PK, ", "), strings.Join(o.PK, ", "))
	}
	return ""
}

// key returns a row's shard key as the application's model would hand it
// to the strategy.
func (t *table) key(row []any) (sharding.Key, error) {
	v := row[t.keyAt]
	if t.keyInt {
		switch x := v.(type) {
		case []byte:
			return parseIntKey(string(x))
		case string:
			return parseIntKey(x)
		}
	}
	return sharding.Normalize(v)
}

// pkText renders a row's primary key as text, the form Changes carry.
func (t *table) pkText(row []any) []string {
	out := make([]string, len(t.pkAt))
	for i, at := range t.pkAt {
		out[i] = text(row[at])
	}
	return out
}
