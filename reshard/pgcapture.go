package reshard

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/grant-go/grant/internal/dsnredact"
	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// PostgresCapture is a PostgreSQL shard's change stream: a logical
// replication slot decoded with the built-in pgoutput plugin, filtered by a
// publication of the same name. Slot and publication live in the shard's
// database, so the position survives the process; Read peeks at the slot
// (it never consumes) and Ack advances it.
type PostgresCapture struct {
	dsn      string         // redacted in errors
	config   *pgconn.Config // the replication connection's; nil when dsn did not parse
	db       *sql.DB
	name     string
	database string // for errors: the DSN's, then current_database()

	tables    map[string]Table       // by Name, from Install
	relations map[uint32]*pgRelation // pgoutput relation id -> how to find its key
}

var (
	_ Capture     = (*PostgresCapture)(nil)
	_ Snapshotter = (*PostgresCapture)(nil)
)

// NewPostgresCapture returns the capture of the shard that dsn (for the
// replication connection InstallAt opens; never through PgBouncer) and db
// (an open "pgx" pool on the same database) reach. name names both the
// slot and the publication: it must match [a-z0-9_]+, be at most 63 bytes
// and be unique on the server per workflow and shard. Nothing is contacted
// until a method is called.
func NewPostgresCapture(dsn string, db *sql.DB, name string) *PostgresCapture {
	c := &PostgresCapture{dsn: dsn, db: db, name: name, relations: map[uint32]*pgRelation{}}
	if cfg, err := pgconn.ParseConfig(dsn); err == nil {
		c.config, c.database = cfg, cfg.Database
	}
	return c
}

// newPostgresCapture is NewPostgresCapture from connection settings
// rather than a DSN: a grant node keeps no DSN in the clear, and its
// connections may take their password from a hook.
func newPostgresCapture(cfg *pgconn.Config, db *sql.DB, name string) *PostgresCapture {
	return &PostgresCapture{config: cfg, database: cfg.Database, db: db, name: name, relations: map[uint32]*pgRelation{}}
}

// errorf prefixes what failed with the slot and the database, the two
// things an operator needs to find it on a server with many shards.
func (c *PostgresCapture) errorf(format string, args ...any) error {
	return fmt.Errorf("reshard: PostgreSQL capture %s on database %s: "+format,
		append([]any{dsnredact.Name(c.name), dsnredact.Name(c.database)}, args...)...)
}

// walLevelError is what Install says on a server that cannot decode: the
// fix needs a restart, so the message gives both ways to do it.
func walLevelError(database, level string) error {
	return fmt.Errorf("reshard: database %s: change capture needs PostgreSQL's wal_level = logical, "+
		"the server has wal_level = %s: run scripts/pg-logical.sh on the server's host, "+
		"or ALTER SYSTEM SET wal_level = logical and restart PostgreSQL",
		dsnredact.Name(database), level)
}

// Install creates the publication (or sets its tables to tables) and the
// slot, unless they exist, keeping an existing slot's position. It fails,
// naming the setting and the fix, when wal_level is not logical, and
// naming the table when one has no primary key.
func (c *PostgresCapture) Install(ctx context.Context, tables []Table) error {
	_, _, err := c.install(ctx, tables, false)
	return err
}

// InstallAt is Install that, when it creates the slot, does so over a
// replication connection exporting a snapshot: the snapshot's name is
// returned, and transactions importing it (REPEATABLE READ, SET
// TRANSACTION SNAPSHOT) see exactly the rows the slot's first change
// follows. The connection stays open, idle, until release (safe to call
// more than once). When the slot already exists, snapshot is "" and release
// does nothing.
func (c *PostgresCapture) InstallAt(ctx context.Context, tables []Table) (snapshot string, release func(), err error) {
	return c.install(ctx, tables, true)
}

func noRelease() {}

func (c *PostgresCapture) install(ctx context.Context, tables []Table, export bool) (string, func(), error) {
	if err := c.checkName(); err != nil {
		return "", noRelease, err
	}
	if len(tables) == 0 {
		return "", noRelease, c.errorf("no tables to capture")
	}
	var level string
	if err := c.db.QueryRowContext(ctx, "SELECT current_database(), current_setting('wal_level')").Scan(&c.database, &level); err != nil {
		return "", noRelease, c.errorf("reading wal_level: %w", err)
	}
	if level != "logical" {
		return "", noRelease, walLevelError(c.database, level)
	}
	byName := make(map[string]Table, len(tables))
	idents := make([]string, len(tables))
	for i, t := range tables {
		if err := c.checkTable(ctx, t); err != nil {
			return "", noRelease, err
		}
		byName[t.Name] = t
		idents[i] = quoteTable(t.Name)
	}
	// The publication comes first: pgoutput reads it as of each change's
	// position, and a slot older than its publication fails to decode
	// ("publication does not exist") until it has passed the creation.
	exists, err := c.publicationExists(ctx)
	if err != nil {
		return "", noRelease, err
	}
	verb := "CREATE PUBLICATION %s FOR TABLE %s"
	if exists {
		verb = "ALTER PUBLICATION %s SET TABLE %s"
	}
	if _, err := c.db.ExecContext(ctx, fmt.Sprintf(verb, c.name, strings.Join(idents, ", "))); err != nil {
		return "", noRelease, c.errorf("publishing %s: %w", strings.Join(idents, ", "), err)
	}
	c.tables = byName
	c.relations = map[uint32]*pgRelation{}

	var plugin, database sql.NullString
	err = c.db.QueryRowContext(ctx, "SELECT plugin, database FROM pg_replication_slots WHERE slot_name = $1", c.name).Scan(&plugin, &database)
	switch {
	case err == nil:
		if plugin.String != "pgoutput" || database.String != c.database {
			return "", noRelease, c.errorf("a slot of that name exists with plugin %q on database %q, not pgoutput on this one",
				plugin.String, dsnredact.Name(database.String))
		}
		return "", noRelease, nil
	case !errors.Is(err, sql.ErrNoRows):
		return "", noRelease, c.errorf("looking up the slot: %w", err)
	case export:
		return c.createExporting(ctx)
	}
	if _, err := c.db.ExecContext(ctx, "SELECT pg_create_logical_replication_slot($1, 'pgoutput')", c.name); err != nil {
		return "", noRelease, c.errorf("creating the slot: %w", err)
	}
	return "", noRelease, nil
}

// checkName guards the statements that cannot take the name as a
// parameter (CREATE_REPLICATION_SLOT, CREATE PUBLICATION).
func (c *PostgresCapture) checkName() error {
	if c.name == "" || len(c.name) > 63 || strings.Trim(c.name, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
		return c.errorf("the name must match [a-z0-9_]+ and be at most 63 bytes")
	}
	return nil
}

// checkTable refuses tables pgoutput cannot give keys for: without a
// primary key, or with a replica identity other than it (or FULL), the old
// key of an update or delete is not the PK, and with identity NOTHING the
// application's own updates would fail once the table is published.
func (c *PostgresCapture) checkTable(ctx context.Context, t Table) error {
	if len(t.PK) == 0 {
		return c.errorf("table %s has no primary key: every captured table needs one", dsnredact.Name(t.Name))
	}
	var found, hasPK bool
	var ident string
	err := c.db.QueryRowContext(ctx, `SELECT r.oid IS NOT NULL,
		EXISTS (SELECT FROM pg_index i WHERE i.indrelid = r.oid AND i.indisprimary),
		coalesce((SELECT relreplident::text FROM pg_class WHERE oid = r.oid), '')
		FROM (SELECT to_regclass($1) AS oid) r`, quoteTable(t.Name)).Scan(&found, &hasPK, &ident)
	switch {
	case err != nil:
		return c.errorf("looking up table %s: %w", dsnredact.Name(t.Name), err)
	case !found:
		return c.errorf("table %s does not exist", dsnredact.Name(t.Name))
	case !hasPK:
		return c.errorf("table %s has no primary key: every captured table needs one", dsnredact.Name(t.Name))
	case ident != "d" && ident != "f":
		return c.errorf("table %s has REPLICA IDENTITY %s: capture needs DEFAULT (its primary key) or FULL",
			dsnredact.Name(t.Name), map[string]string{"n": "NOTHING", "i": "USING INDEX"}[ident])
	}
	return nil
}

// quoteTable quotes a table name, "schema.table" as two identifiers.
func quoteTable(name string) string {
	return pgx.Identifier(strings.Split(name, ".")).Sanitize()
}

// createExporting creates the slot on a replication connection, the only
// way to get a snapshot that matches the slot's start; the snapshot lives
// only as long as that connection runs nothing else.
func (c *PostgresCapture) createExporting(ctx context.Context) (string, func(), error) {
	if c.config == nil {
		_, err := pgconn.ParseConfig(c.dsn)
		return "", noRelease, c.errorf("parsing the DSN %s: %w", dsnredact.Redact(c.dsn), err)
	}
	cfg := c.config.Copy()
	cfg.RuntimeParams["replication"] = "database"
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return "", noRelease, c.errorf("opening a replication connection: %w", err)
	}
	res, err := pglogrepl.CreateReplicationSlot(ctx, conn, c.name, "pgoutput",
		pglogrepl.CreateReplicationSlotOptions{Mode: pglogrepl.LogicalReplication, SnapshotAction: "EXPORT_SNAPSHOT"})
	if err != nil {
		closeConn(conn)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42710" { // duplicate_object: another installer won the race
			return "", noRelease, nil
		}
		return "", noRelease, c.errorf("creating the slot with an exported snapshot: %w", err)
	}
	var once sync.Once
	return res.SnapshotName, func() { once.Do(func() { closeConn(conn) }) }, nil
}

// closeConn does not take the caller's context: a release after the
// workflow's context ended must still close the connection.
func closeConn(conn *pgconn.PgConn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = conn.Close(ctx)
}

// Ack advances the slot to cursor, which Read returned, so that neither
// this process nor a later one is given those changes again. A cursor at
// or before the slot's position is ignored: the server refuses to move a
// slot backwards.
func (c *PostgresCapture) Ack(ctx context.Context, cursor Cursor) error {
	lsn, ok := cursor.(pglogrepl.LSN)
	if !ok {
		return c.errorf("Ack: cursor %T is not one of PostgresCapture.Read's", cursor)
	}
	confirmed, err := c.confirmed(ctx)
	if err != nil || lsn <= confirmed {
		return err
	}
	if _, err := c.db.ExecContext(ctx, "SELECT pg_replication_slot_advance($1, $2::pg_lsn)", c.name, lsn.String()); err != nil {
		return c.errorf("advancing the slot to %s: %w", lsn, err)
	}
	return nil
}

// confirmed is the slot's confirmed_flush_lsn: everything committed before
// it has been Acked.
func (c *PostgresCapture) confirmed(ctx context.Context) (pglogrepl.LSN, error) {
	var s sql.NullString
	err := c.db.QueryRowContext(ctx, "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1", c.name).Scan(&s)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, c.errorf("the slot does not exist (not installed, or uninstalled)")
	}
	if err != nil {
		return 0, c.errorf("reading the slot's position: %w", err)
	}
	if !s.Valid {
		return 0, c.errorf("the slot has no confirmed_flush_lsn: not a logical slot")
	}
	return pglogrepl.ParseLSN(s.String)
}

// Mark writes a logical message to the WAL in a transaction of its own,
// committed synchronously, and returns the message's position. Every
// commit made before Mark was called lies below it, including commits
// with synchronous_commit=off that are not flushed yet; and the WAL is
// flushed past it when Mark returns. Not pg_current_wal_insert_lsn: on an
// idle server it can point past a page header that no record ends at, and
// the slot could not reach it until something else wrote WAL (seen: a
// drain that took 10 s on a quiet cluster).
func (c *PostgresCapture) Mark(ctx context.Context) (Mark, error) {
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, c.errorf("writing a mark: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	var s string
	if _, err := tx.ExecContext(ctx, "SET LOCAL synchronous_commit = on"); err != nil {
		return 0, c.errorf("writing a mark: %w", err)
	}
	if err := tx.QueryRowContext(ctx, "SELECT pg_logical_emit_message(true, 'grant_reshard_mark', '')::text").Scan(&s); err != nil {
		return 0, c.errorf("writing a mark: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, c.errorf("writing a mark: %w", err)
	}
	lsn, err := pglogrepl.ParseLSN(s)
	return Mark(lsn), err
}

// Reached reports whether the slot has been Acked up to m.
func (c *PostgresCapture) Reached(ctx context.Context, m Mark) (bool, error) {
	confirmed, err := c.confirmed(ctx)
	return err == nil && uint64(confirmed) >= uint64(m), err
}

// Lag is the WAL, in bytes, written since the slot's Acked position. It
// counts the whole server's WAL, other databases' too: on a busy server
// an idle slot shows lag until its next Read and Ack.
func (c *PostgresCapture) Lag(ctx context.Context) (Lag, error) {
	var n sql.NullInt64
	err := c.db.QueryRowContext(ctx, `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint
		FROM pg_replication_slots WHERE slot_name = $1`, c.name).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return Lag{}, c.errorf("the slot does not exist (not installed, or uninstalled)")
	}
	if err != nil {
		return Lag{}, c.errorf("measuring the lag: %w", err)
	}
	return Lag{Pending: max(n.Int64, 0), Unit: "bytes"}, nil
}

func (c *PostgresCapture) walLSN(ctx context.Context, fn string) (pglogrepl.LSN, error) {
	var s string
	if err := c.db.QueryRowContext(ctx, "SELECT "+fn+"::text").Scan(&s); err != nil {
		return 0, c.errorf("reading %s: %w", fn, err)
	}
	return pglogrepl.ParseLSN(s)
}

// Uninstall drops the slot and the publication when they exist. A slot in
// use (a Read in another process, or an InstallAt snapshot not released)
// is not dropped: the error names the process.
func (c *PostgresCapture) Uninstall(ctx context.Context) error {
	if err := c.checkName(); err != nil {
		return err
	}
	var pid sql.NullInt64
	err := c.db.QueryRowContext(ctx, "SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1", c.name).Scan(&pid)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return c.errorf("looking up the slot: %w", err)
	case pid.Valid:
		return c.errorf("the slot is in use by server process %d: stop its reader (or release the snapshot) first", pid.Int64)
	default:
		if _, err := c.db.ExecContext(ctx, "SELECT pg_drop_replication_slot($1)", c.name); err != nil {
			return c.errorf("dropping the slot: %w", err)
		}
	}
	if err := c.emptyPublication(ctx); err != nil {
		return err
	}
	if _, err := c.db.ExecContext(ctx, "DROP PUBLICATION IF EXISTS "+c.name); err != nil {
		return c.errorf("dropping the publication: %w", err)
	}
	return nil
}

func (c *PostgresCapture) publicationExists(ctx context.Context) (bool, error) {
	var exists bool
	if err := c.db.QueryRowContext(ctx, "SELECT EXISTS (SELECT FROM pg_publication WHERE pubname = $1)", c.name).Scan(&exists); err != nil {
		return false, c.errorf("looking up the publication: %w", err)
	}
	return exists, nil
}

// emptyPublication takes every table out of the publication, then waits
// until no transaction of the database holds a snapshot from before that,
// so that dropping the publication cannot fail the application's writes.
// A write lists its table's publications and then looks each one up; a
// DROP PUBLICATION committed between the two fails it with "cache lookup
// failed for publication" (seen once in the end-to-end test; 6–9 times per
// 300 drops under 8 writers in a stress loop, 0 in 4,000 this way). A
// transaction that starts after the tables left never lists it. Snapshots
// are found by backend_xmin, which pg_stat_activity shows to every role.
func (c *PostgresCapture) emptyPublication(ctx context.Context) error {
	if exists, err := c.publicationExists(ctx); err != nil || !exists {
		return err
	}
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return c.errorf("emptying the publication: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	var xid string
	if err := tx.QueryRowContext(ctx, "SELECT (txid_current() % 4294967296)::text").Scan(&xid); err != nil {
		return c.errorf("emptying the publication: %w", err)
	}
	rows, err := tx.QueryContext(ctx, "SELECT format('%I.%I', schemaname, tablename) FROM pg_publication_tables WHERE pubname = $1", c.name)
	if err != nil {
		return c.errorf("listing the publication's tables: %w", err)
	}
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return c.errorf("listing the publication's tables: %w", err)
		}
		tables = append(tables, t)
	}
	if err := rows.Err(); err != nil {
		return c.errorf("listing the publication's tables: %w", err)
	}
	if len(tables) > 0 {
		if _, err := tx.ExecContext(ctx, "ALTER PUBLICATION "+c.name+" DROP TABLE "+strings.Join(tables, ", ")); err != nil {
			return c.errorf("emptying the publication: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return c.errorf("emptying the publication: %w", err)
	}
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		var older int
		err := c.db.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND age(backend_xmin) >= age($1::xid)`, xid).Scan(&older)
		if err != nil {
			return c.errorf("waiting for transactions older than the emptied publication: %w", err)
		}
		if older == 0 {
			return nil
		}
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
}
