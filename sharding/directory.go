package sharding

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"sync/atomic"
)

// Querier runs a query: *sql.DB, *sql.Conn and *sql.Tx have it, and so do
// grant's nodes (which open their pool on first use).
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// DatabaseResolver finds a database grant manages, by name: a Querier on its
// writer and its dialect name ("postgres", "mysql", "sqlite").
type DatabaseResolver func(database string) (q Querier, dialect string, err error)

// DatabaseBinder is implemented by strategies and lookup sources that read a
// database grant manages. grant calls BindDatabases when it validates a
// shard key (once per model, before the model's first statement); an error
// makes the model's statements fail with it. Binding again replaces the
// previous binding.
type DatabaseBinder interface {
	BindDatabases(resolve DatabaseResolver) error
}

// BindDatabases binds the strategy's source, if it reads a grant database.
func (l *lookupStrategy) BindDatabases(resolve DatabaseResolver) error {
	if b, ok := l.src.(DatabaseBinder); ok {
		return b.BindDatabases(resolve)
	}
	return nil
}

// DirectoryTable returns a LookupSource reading the directory table of a
// database grant manages, by the database's name (a key of Config.Databases,
// or the default database's name): SELECT keyColumn, shardColumn FROM table
// WHERE keyColumn IN (...) on that database's writer, read as SQLTableSource
// reads (same identifier rules, batching and answers). The directory lives
// beside the application's other data, so it is backed up and migrated with
// it, and reading the writer means a key moved in the directory is seen at
// once (after the Lookup cache's TTL).
//
// The source works once grant binds it, which happens when a model whose
// shard key uses it is validated; LookupShards before that fails. It is safe
// for concurrent use.
func DirectoryTable(database, table, keyColumn, shardColumn string) LookupSource {
	return &directoryTable{database: database, table: table, key: keyColumn, shard: shardColumn}
}

type directoryTable struct {
	database, table, key, shard string
	bound                       atomic.Pointer[sqlTableSource]
}

// Validate checks the names before anything is bound.
func (d *directoryTable) Validate() error {
	if d.database == "" {
		return fmt.Errorf("DirectoryTable: the database name is empty")
	}
	for _, id := range []string{d.table, d.key, d.shard} {
		if !plainIdentifier(id) {
			return fmt.Errorf("DirectoryTable: identifier %s must match [A-Za-z0-9_]+", quote(id))
		}
	}
	return nil
}

// BindDatabases finds the directory's database.
func (d *directoryTable) BindDatabases(resolve DatabaseResolver) error {
	if err := d.Validate(); err != nil {
		return err
	}
	q, dialect, err := resolve(d.database)
	if err != nil {
		return fmt.Errorf("DirectoryTable %s.%s: %w", d.database, d.table, err)
	}
	var placeholder func(int) string
	if dialect == "postgres" {
		placeholder = func(i int) string { return "$" + strconv.Itoa(i) }
	}
	src := SQLTableSource(nil, d.table, d.key, d.shard, placeholder).(*sqlTableSource)
	src.db = q
	d.bound.Store(src)
	return nil
}

// LookupShards queries the bound database.
func (d *directoryTable) LookupShards(ctx context.Context, keys []Key) (map[string]string, error) {
	src := d.bound.Load()
	if src == nil {
		return nil, fmt.Errorf("DirectoryTable %s.%s is not bound to a grant database: use it in the shard key of a model grant routes", d.database, d.table)
	}
	return src.LookupShards(ctx, keys)
}
