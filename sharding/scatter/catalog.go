package scatter

import (
	"errors"

	"github.com/grant-go/grant/sharding/scatter/collate"
)

// TableCatalog is a Catalog over what collate.LoadTable read of a table.
// It is safe for concurrent use if Named is.
type TableCatalog struct {
	Table *collate.Table
	// Dialect is gorm's dialect name: "postgres", "mysql" or "sqlite".
	Dialect string
	// Named resolves the name in a COLLATE clause, typically collate.Lookup
	// through one shard; nil refuses every explicit collation.
	Named func(name string) (collate.Collation, error)
}

var errNoNamed = errors.New("no lookup of COLLATE names")

// Column reports whether name is a column, and its collation when it holds
// text. A quoted name must match exactly on PostgreSQL, where quoting keeps
// case. On SQLite every column may hold text, compared under BINARY unless
// the column declares a collation.
func (c TableCatalog) Column(name string, quoted bool) (bool, collate.Collation) {
	col, ok := c.Table.Column(name)
	if ok && quoted && c.Dialect == collate.Postgres && col.Name != name {
		ok = false
	}
	switch {
	case !ok:
		return false, nil
	case col.Text:
		return true, col.Collation
	case c.Dialect == collate.SQLite:
		return true, c.Table.Literal
	}
	return true, nil
}

// Literal is the collation of string literals.
func (c TableCatalog) Literal() collate.Collation { return c.Table.Literal }

// Collation resolves a COLLATE clause's name.
func (c TableCatalog) Collation(name string) (collate.Collation, error) {
	if c.Named == nil {
		return nil, errNoNamed
	}
	return c.Named(name)
}
