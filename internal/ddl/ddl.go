// Package ddl creates grant's own bookkeeping tables in a user's database.
package ddl

import (
	"context"
	"database/sql"
	"fmt"
)

// lockKey is the transaction-level advisory lock that serializes
// CreateTables on a PostgreSQL server ("grantddl").
const lockKey = 0x6772616e7464646c

// CreateTables runs statements (CREATE TABLE IF NOT EXISTS …) on db, whose
// SQL dialect is dialect ("postgres", "mysql", "sqlite"). Several processes
// may call it at once: on PostgreSQL, IF NOT EXISTS does not make two
// concurrent creations of one table safe (the loser fails on
// pg_type_typname_nsp_index), so the statements run in one transaction
// under an advisory lock. MySQL and SQLite serialize them themselves.
func CreateTables(ctx context.Context, db *sql.DB, dialect string, statements ...string) error {
	if dialect != "postgres" {
		for _, stmt := range statements {
			if _, err := db.ExecContext(ctx, stmt); err != nil {
				return err
			}
		}
		return nil
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", lockKey)); err != nil {
		return err
	}
	for _, stmt := range statements {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	return tx.Commit()
}
