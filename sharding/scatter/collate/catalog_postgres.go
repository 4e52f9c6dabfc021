package collate

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
)

// pgDatabase is the current database as JSON: to_jsonb of the pg_database
// row, so that columns renamed between releases (daticulocale in 15-16,
// datlocale from 17) are read by whichever name exists.
const pgDatabase = `(SELECT to_jsonb(d) FROM pg_database d WHERE d.datname = current_database())`

// pgColumns lists a relation's columns with their base types (domains
// followed down to the type they constrain, keeping the innermost type
// modifier) and collations as JSON (to_jsonb of the pg_collation row, for
// the same reason as pgDatabase). A relation that does not exist yields
// one row with a NULL relkind; one without columns, one row with a NULL
// attname.
const pgColumns = `SELECT c.relkind, a.attname, bt.typname, btn.nspname, bt.typcategory,
		format_type(base.oid, base.typmod), to_jsonb(co), con.nspname, ` + pgDatabase + `
	FROM (SELECT to_regclass($1) AS rel) r
	LEFT JOIN pg_class c ON c.oid = r.rel
	LEFT JOIN pg_attribute a ON a.attrelid = r.rel AND a.attnum > 0 AND NOT a.attisdropped
	LEFT JOIN LATERAL (
		WITH RECURSIVE b(oid, typmod, depth) AS (
			SELECT a.atttypid, a.atttypmod, 0
			UNION ALL
			SELECT t.typbasetype, t.typtypmod, b.depth + 1
			FROM b JOIN pg_type t ON t.oid = b.oid WHERE t.typtype = 'd')
		SELECT oid, typmod FROM b ORDER BY depth DESC LIMIT 1) base ON true
	LEFT JOIN pg_type bt ON bt.oid = base.oid
	LEFT JOIN pg_namespace btn ON btn.oid = bt.typnamespace
	LEFT JOIN pg_collation co ON co.oid = a.attcollation
	LEFT JOIN pg_namespace con ON con.oid = co.collnamespace
	ORDER BY a.attnum`

func pgLoadTable(ctx context.Context, q Querier, table string) (*Table, error) {
	t := &Table{DivPrecisionIncrement: 4}
	found := false
	var db []byte
	err := queryRows(ctx, q, pgColumns, []any{table}, func(scan func(...any) error) error {
		var relkind, attname, typname, typschema, category, formatted, coll, collschema sql.NullString
		if err := scan(&relkind, &attname, &typname, &typschema, &category, &formatted, &coll, &collschema, &db); err != nil {
			return err
		}
		switch relkind.String {
		case "r", "v", "m", "f", "p":
			found = true
		default:
			return nil
		}
		if !attname.Valid {
			return nil
		}
		col := Column{Name: attname.String, Type: typname.String + typeModifiers(formatted.String)}
		if category.String != "S" || !coll.Valid {
			t.Columns = append(t.Columns, col)
			return nil
		}
		typ := typname.String
		if typschema.String != "pg_catalog" {
			typ = typschema.String + "." + typ
		}
		c, err := pgCollation([]byte(coll.String), collschema.String, db, typ)
		return t.appendText(col, c, err)
	})
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, ErrNoTable
	}
	if t.Literal, err = pgCollation([]byte(`{"collname":"default","collprovider":"d"}`), "pg_catalog", db, "text"); err != nil {
		return nil, err
	}
	return t, nil
}

// pgLookupSQL finds a collation by name for the database's encoding,
// preferring the one the search path sees.
const pgLookupSQL = `SELECT to_jsonb(c), n.nspname, ` + pgDatabase + `
	FROM pg_collation c JOIN pg_namespace n ON n.oid = c.collnamespace
	WHERE c.collname = $1
	  AND c.collencoding IN (-1, (SELECT encoding FROM pg_database WHERE datname = current_database()))
	ORDER BY pg_collation_is_visible(c.oid) DESC, n.nspname = 'pg_catalog' DESC
	LIMIT 1`

func pgLookup(ctx context.Context, q Querier, name string) (Collation, error) {
	var coll, db []byte
	var schema string
	found := false
	err := queryRows(ctx, q, pgLookupSQL, []any{name}, func(scan func(...any) error) error {
		found = true
		return scan(&coll, &schema, &db)
	})
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, ErrUnknownCollation
	}
	return pgCollation(coll, schema, db, "text")
}

// pgCollation builds a collation from to_jsonb rows of pg_collation and
// pg_database, resolving "default" to the database's locale.
func pgCollation(collJSON []byte, schema string, dbJSON []byte, typ string) (Collation, error) {
	var coll, db map[string]any
	if err := json.Unmarshal(collJSON, &coll); err != nil {
		return nil, fmt.Errorf("reading pg_collation: %w", err)
	}
	if err := json.Unmarshal(dbJSON, &db); err != nil {
		return nil, fmt.Errorf("reading pg_database: %w", err)
	}
	s := Spec{
		Name:             jsonString(coll, "collname"),
		Schema:           schema,
		Provider:         jsonString(coll, "collprovider"),
		Nondeterministic: coll["collisdeterministic"] == false,
		Type:             typ,
	}
	if s.Provider == "c" {
		s.Locale = jsonString(coll, "collcollate")
	} else {
		s.Locale = jsonString(coll, "colllocale", "colliculocale")
	}
	if s.Provider == "d" {
		s.Provider = jsonString(db, "datlocprovider")
		switch s.Provider {
		case "", "c":
			s.Provider, s.Locale = "c", jsonString(db, "datcollate")
		default:
			s.Locale = jsonString(db, "datlocale", "daticulocale")
		}
	}
	return Resolve(Postgres, s)
}

// jsonString returns the first of keys that m has as a string.
func jsonString(m map[string]any, keys ...string) string {
	for _, k := range keys {
		if s, ok := m[k].(string); ok {
			return s
		}
	}
	return ""
}

// typeModifiers returns the parenthesized modifiers of a type as
// format_type spells it: "(20)" of "character varying(20)", "" of "text".
func typeModifiers(formatted string) string {
	i := strings.IndexByte(formatted, '(')
	j := strings.IndexByte(formatted, ')')
	if i < 0 || j < i {
		return ""
	}
	return formatted[i : j+1]
}
