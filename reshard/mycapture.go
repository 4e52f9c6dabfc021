package reshard

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ackBatch bounds the ids one DELETE names, keeping statements small.
const ackBatch = 1000

// defaultReadLimit is what Read uses for a limit below 1.
const defaultReadLimit = 1000

// MySQLCapture is the MariaDB Capture: AFTER INSERT/UPDATE/DELETE triggers
// on each moved table write the changed row's primary key into a changelog
// table, <name>_changelog, in the writing transaction itself, so a change
// is in the changelog exactly when its row change commits (the technique
// pt-online-schema-change uses; no binlog access is needed).
//
// Each changelog row holds a JSON array with one element per primary-key
// column, in Table.PK order. A Change's PK is, per column, text the server
// parses back to the same value when it is bound as a query parameter:
//   - integers, DECIMAL (scale digits kept, "12.50"), CHAR/VARCHAR/TEXT,
//     ENUM, SET, DATE, DATETIME (fraction digits as declared), TIME, YEAR,
//     UUID, INET4, INET6: the value CAST to utf8mb4 CHAR, stored as a JSON
//     string;
//   - BINARY, VARBINARY, BLOB: the value's bytes, stored as
//     {"hex": "<HEX(value)>"} because they need not be valid text.
//
// Install refuses other key types (FLOAT and DOUBLE lose digits, TIMESTAMP's
// text depends on the writing session's time_zone, BIT).
//
// Rows changed without firing triggers are not captured: TRUNCATE, and the
// rows a foreign key's ON DELETE/UPDATE CASCADE changes. With the binary
// log enabled, creating triggers needs SUPER or log_bin_trust_function_creators.
type MySQLCapture struct {
	db        *sql.DB
	name      string
	changelog string
	schema    string // DATABASE(), once known; for error messages
}

// mysqlCursor is the ids one Read returned. The changelog's ids are
// assigned when a row is inserted, not when its transaction commits, so a
// lower id can become visible after a higher one was read: consumption
// deletes exactly the ids applied instead of advancing a position.
type mysqlCursor []int64

// NewMySQLCapture returns the capture named name on the shard database db
// (a go-sql-driver/mysql pool). name must be unique to the workflow, match
// [a-z0-9_] and be at most 40 bytes; every object the capture makes starts
// with it. Nothing is contacted until a method is called.
func NewMySQLCapture(db *sql.DB, name string) *MySQLCapture {
	return &MySQLCapture{db: db, name: name, changelog: name + "_changelog"}
}

var _ Capture = (*MySQLCapture)(nil)

// Install creates the changelog table and each table's three triggers,
// replacing triggers an earlier Install made and keeping the changelog and
// its rows. A table with no primary key, or whose primary key differs from
// Table.PK or has a type the capture cannot render as text, is an error
// naming it; triggers made for earlier tables of the same call stay, and
// Uninstall removes them.
func (c *MySQLCapture) Install(ctx context.Context, tables []Table) error {
	_, err := c.db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+quoteIdent(c.changelog)+` (
		id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
		tbl VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
		pk LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL
	) ENGINE=InnoDB`)
	if err != nil {
		return c.errorf(ctx, c.changelog, "creating the changelog: %w", err)
	}
	for _, t := range tables {
		cols, err := c.pkColumns(ctx, t)
		if err != nil {
			return err
		}
		for _, ev := range triggerEvents {
			trig := triggerName(c.name, t.Name, ev.suffix)
			exists, err := c.checkOwn(ctx, trig, t.Name)
			if err != nil {
				return err
			}
			if exists {
				// Replacing a live trigger is not atomic for the
				// application's statements (seen on MariaDB 10.11: an
				// UPDATE failing with "changelog doesn't exist" while a
				// resumed workflow re-installed): keep ours as it is.
				continue
			}
			q := triggerSQL(trig, c.changelog, t.Name, ev.event, cols)
			if _, err := c.db.ExecContext(ctx, q); err != nil {
				return c.errorf(ctx, t.Name, "creating trigger %s: %w", trig, err)
			}
		}
	}
	return nil
}

// checkOwn refuses to replace a trigger named trig that does not feed this
// changelog: capture "wf" on table "a_b" and capture "wf_a" on table "b"
// derive the same name, and replacing the other's trigger would silently
// stop its capture.
func (c *MySQLCapture) checkOwn(ctx context.Context, trig, table string) (bool, error) {
	var stmt string
	err := c.db.QueryRowContext(ctx, `SELECT ACTION_STATEMENT FROM information_schema.TRIGGERS
		WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME = ?`, trig).Scan(&stmt)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, c.errorf(ctx, table, "looking up trigger %s: %w", trig, err)
	case !strings.Contains(stmt, c.insertPrefix()):
		return false, c.errorf(ctx, table, "trigger %s exists and does not feed %s: %w", trig, c.changelog, ErrTriggerTaken)
	}
	return true, nil
}

// insertPrefix tells this capture's triggers from others sharing the name
// prefix.
func (c *MySQLCapture) insertPrefix() string { return changelogInsert(c.changelog) }

// ErrTriggerTaken is wrapped by Install's error when a trigger name it
// derives already belongs to something else (another capture whose name
// and table combine to the same name, or an application trigger).
var ErrTriggerTaken = errors.New("trigger name already in use")

// pkColumns reads t's primary key from the database and checks it against
// t.PK, returning the columns in t.PK order (the database's order when t.PK
// is empty).
func (c *MySQLCapture) pkColumns(ctx context.Context, t Table) ([]pkColumn, error) {
	rows, err := c.db.QueryContext(ctx, `
		SELECT s.COLUMN_NAME, LOWER(col.DATA_TYPE)
		FROM information_schema.STATISTICS s
		JOIN information_schema.COLUMNS col
		  ON col.TABLE_SCHEMA = s.TABLE_SCHEMA AND col.TABLE_NAME = s.TABLE_NAME
		 AND col.COLUMN_NAME = s.COLUMN_NAME
		WHERE s.TABLE_SCHEMA = DATABASE() AND s.TABLE_NAME = ? AND s.INDEX_NAME = 'PRIMARY'
		ORDER BY s.SEQ_IN_INDEX`, t.Name)
	if err != nil {
		return nil, c.errorf(ctx, t.Name, "reading the primary key: %w", err)
	}
	defer rows.Close()
	types := map[string]string{}
	var order []string
	for rows.Next() {
		var col, typ string
		if err := rows.Scan(&col, &typ); err != nil {
			return nil, c.errorf(ctx, t.Name, "reading the primary key: %w", err)
		}
		types[col] = typ
		order = append(order, col)
	}
	if err := rows.Err(); err != nil {
		return nil, c.errorf(ctx, t.Name, "reading the primary key: %w", err)
	}
	if len(order) == 0 {
		var n int
		err := c.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.TABLES
			WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?`, t.Name).Scan(&n)
		switch {
		case err != nil:
			return nil, c.errorf(ctx, t.Name, "looking the table up: %w", err)
		case n == 0:
			return nil, c.errorf(ctx, t.Name, "no such table")
		}
		return nil, c.errorf(ctx, t.Name, "%w", ErrNoPrimaryKey)
	}
	want := t.PK
	if len(want) == 0 {
		want = order
	}
	if len(want) != len(order) || !sameSet(want, order) {
		return nil, c.errorf(ctx, t.Name, "Table.PK %v is not the primary key %v", t.PK, order)
	}
	cols := make([]pkColumn, len(want))
	for i, name := range want {
		typ := types[name]
		switch {
		case binaryTypes[typ]:
			cols[i] = pkColumn{name: name, binary: true}
		case textTypes[typ]:
			cols[i] = pkColumn{name: name}
		default:
			return nil, c.errorf(ctx, t.Name, "primary-key column %s has type %s, whose text does not identify the row", name, typ)
		}
	}
	return cols, nil
}

// ErrNoPrimaryKey is wrapped by Install's error for a table without a
// primary key: changes are captured, and rows re-read, by primary key.
var ErrNoPrimaryKey = errors.New("table has no primary key")

func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

// Read returns up to limit changelog rows in id order (not commit order:
// the applier re-reads rows, so order does not matter to it). A row whose
// transaction commits after a higher id was read is returned by a later
// Read, since only acked ids are removed.
func (c *MySQLCapture) Read(ctx context.Context, limit int) ([]Change, Cursor, error) {
	if limit < 1 {
		limit = defaultReadLimit
	}
	rows, err := c.db.QueryContext(ctx,
		"SELECT id, tbl, pk FROM "+quoteIdent(c.changelog)+" ORDER BY id LIMIT ?", limit)
	if err != nil {
		return nil, nil, c.errorf(ctx, c.changelog, "reading: %w", err)
	}
	defer rows.Close()
	var changes []Change
	var ids mysqlCursor
	for rows.Next() {
		var id int64
		var tbl, pk string
		if err := rows.Scan(&id, &tbl, &pk); err != nil {
			return nil, nil, c.errorf(ctx, c.changelog, "reading: %w", err)
		}
		vals, err := decodePK(pk)
		if err != nil {
			return nil, nil, c.errorf(ctx, c.changelog, "row %d: %w", id, err)
		}
		changes = append(changes, Change{Table: tbl, PK: vals})
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, c.errorf(ctx, c.changelog, "reading: %w", err)
	}
	return changes, ids, nil
}

// Ack deletes exactly the changelog rows Read returned with cursor. Acking
// the same cursor again, or a nil cursor, does nothing.
func (c *MySQLCapture) Ack(ctx context.Context, cursor Cursor) error {
	if cursor == nil {
		return nil
	}
	ids, ok := cursor.(mysqlCursor)
	if !ok {
		return c.errorf(ctx, c.changelog, "Ack: cursor %T is not from MySQLCapture.Read", cursor)
	}
	for chunk := range slices.Chunk([]int64(ids), ackBatch) {
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		q := "DELETE FROM " + quoteIdent(c.changelog) + " WHERE id IN (?" +
			strings.Repeat(", ?", len(chunk)-1) + ")"
		if _, err := c.db.ExecContext(ctx, q, args...); err != nil {
			return c.errorf(ctx, c.changelog, "acking %d ids: %w", len(chunk), err)
		}
	}
	return nil
}

// Mark returns the highest changelog id visible now, 0 for an empty
// changelog: every change committed before the call has an id at most
// that, or has been acked already.
func (c *MySQLCapture) Mark(ctx context.Context) (Mark, error) {
	var m int64
	err := c.db.QueryRowContext(ctx, "SELECT COALESCE(MAX(id), 0) FROM "+quoteIdent(c.changelog)).Scan(&m)
	if err != nil {
		return 0, c.errorf(ctx, c.changelog, "Mark: %w", err)
	}
	return Mark(m), nil
}

// Reached reports whether no changelog row with an id at most m remains.
// A transaction that committed after m was taken may still add such a row
// (its id was assigned earlier), turning Reached false again until it is
// acked: that waits longer than the contract needs, never shorter.
func (c *MySQLCapture) Reached(ctx context.Context, m Mark) (bool, error) {
	var one int
	err := c.db.QueryRowContext(ctx,
		"SELECT 1 FROM "+quoteIdent(c.changelog)+" WHERE id <= ? LIMIT 1", uint64(m)).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return true, nil
	case err != nil:
		return false, c.errorf(ctx, c.changelog, "Reached: %w", err)
	}
	return false, nil
}

// Lag counts the changelog rows not yet acked, in Unit "changes".
func (c *MySQLCapture) Lag(ctx context.Context) (Lag, error) {
	var n int64
	if err := c.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+quoteIdent(c.changelog)).Scan(&n); err != nil {
		return Lag{}, c.errorf(ctx, c.changelog, "Lag: %w", err)
	}
	return Lag{Pending: n, Unit: "changes"}, nil
}

// Uninstall drops every trigger of this capture in the current database,
// then the changelog. Triggers are found in information_schema by their
// name prefix and by inserting into this changelog, not from the tables
// Install was given, so those left by an Install that crashed half way are
// dropped too, and another workflow's are not.
func (c *MySQLCapture) Uninstall(ctx context.Context) error {
	prefix := c.name + "_"
	rows, err := c.db.QueryContext(ctx, `
		SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS
		WHERE TRIGGER_SCHEMA = DATABASE() AND LEFT(TRIGGER_NAME, ?) = ?
		  AND LOCATE(?, ACTION_STATEMENT) > 0`,
		len(prefix), prefix, c.insertPrefix())
	if err != nil {
		return c.errorf(ctx, c.changelog, "listing triggers: %w", err)
	}
	var names, tables []string
	for rows.Next() {
		var n, t string
		if err := rows.Scan(&n, &t); err != nil {
			rows.Close()
			return c.errorf(ctx, c.changelog, "listing triggers: %w", err)
		}
		names = append(names, n)
		if !slices.Contains(tables, t) {
			tables = append(tables, t)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return c.errorf(ctx, c.changelog, "listing triggers: %w", err)
	}
	for _, n := range names {
		if _, err := c.db.ExecContext(ctx, "DROP TRIGGER IF EXISTS "+quoteIdent(n)); err != nil {
			return c.errorf(ctx, c.changelog, "dropping trigger %s: %w", n, err)
		}
	}
	// A statement that opened its table before DROP TRIGGER may still run
	// the trigger (seen under load on MariaDB 10.11: "changelog doesn't
	// exist" from an application's UPDATE). FLUSH TABLES waits for those
	// statements and closes the tables, so none can reach the changelog
	// once it is dropped.
	for _, t := range tables {
		if _, err := c.db.ExecContext(ctx, "FLUSH TABLES "+quoteIdent(t)); err != nil {
			return c.errorf(ctx, t, "flushing the table after dropping its triggers: %w", err)
		}
	}
	if _, err := c.db.ExecContext(ctx, "DROP TABLE IF EXISTS "+quoteIdent(c.changelog)); err != nil {
		return c.errorf(ctx, c.changelog, "dropping the changelog: %w", err)
	}
	return nil
}

// errorf wraps an error with the database and table it concerns, so that a
// workflow spanning many shards says which one failed. The database name is
// looked up once, on the first error, since the pool's DSN is not at hand.
func (c *MySQLCapture) errorf(ctx context.Context, table, format string, args ...any) error {
	if c.schema == "" {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		var s sql.NullString
		if err := c.db.QueryRowContext(lctx, "SELECT DATABASE()").Scan(&s); err == nil && s.Valid {
			c.schema = s.String
		}
		cancel()
	}
	db := c.schema
	if db == "" {
		db = "(unknown)"
	}
	return fmt.Errorf("reshard: mariadb capture %s: database %s, table %s: %w",
		c.name, db, table, fmt.Errorf(format, args...))
}
