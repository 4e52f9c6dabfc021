package topology

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/grant-go/grant/internal/ddl"
)

// PlacementStore keeps clusters' placements and the instances following
// them in a database (the default database's writer: Topology's
// PlacementStore), in two tables:
//
//	grant_placement(cluster PRIMARY KEY, version, record /* JSON PlacementRecord */)
//	grant_instance(instance, cluster, acked, seen_ms /* the database's clock */, host, pid; PRIMARY KEY(instance, cluster))
//
// Package reshard publishes placements and reads the instances'
// acknowledgements; the watcher of each instance (Config.Reshard) reads
// placements and writes its own row.
type PlacementStore struct {
	db      *sql.DB
	dialect string
	// exists: grant_placement was seen; from then on a failing read is a
	// failure (and fences an active cluster), never "nothing published".
	exists atomic.Bool
}

// NewPlacementStore returns a store on db, whose SQL dialect is dialect
// ("postgres", "mysql" or "sqlite").
func NewPlacementStore(db *sql.DB, dialect string) *PlacementStore {
	return &PlacementStore{db: db, dialect: dialect}
}

// PlacementStore returns the store on the default database's writer.
func (t *Topology) PlacementStore() (*PlacementStore, error) {
	w := t.Default().Writer()
	db, err := w.DB()
	if err != nil {
		return nil, err
	}
	return NewPlacementStore(db, w.Dialect()), nil
}

// q rewrites ? placeholders as the dialect wants them.
func (s *PlacementStore) q(query string) string {
	if s.dialect != "postgres" {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// nowMS is the database clock, in milliseconds since the epoch.
func (s *PlacementStore) nowMS() string {
	switch s.dialect {
	case "postgres":
		return "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"
	case "mysql":
		return "CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)"
	default:
		return "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
	}
}

// Ensure creates both tables if they do not exist.
func (s *PlacementStore) Ensure(ctx context.Context) error {
	err := ddl.CreateTables(ctx, s.db, s.dialect,
		`CREATE TABLE IF NOT EXISTS grant_placement (cluster VARCHAR(200) NOT NULL PRIMARY KEY, version BIGINT NOT NULL, record TEXT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS grant_instance (instance VARCHAR(100) NOT NULL, cluster VARCHAR(200) NOT NULL, acked BIGINT NOT NULL, seen_ms BIGINT NOT NULL, host VARCHAR(200) NOT NULL, pid INT NOT NULL, PRIMARY KEY (instance, cluster))`)
	if err != nil {
		return fmt.Errorf("grant: creating the placement tables: %w", err)
	}
	return nil
}

// published reports whether grant_placement exists, asking the catalog
// rather than reading the table: a watcher polls before any reshard has
// created it, and a failed SELECT every poll would fill the server's log
// (and telling "no such table" from other errors by their text is
// fragile). Once seen, it is taken to stay.
func (s *PlacementStore) published(ctx context.Context) (bool, error) {
	if s.exists.Load() {
		return true, nil
	}
	query := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'grant_placement'`
	switch s.dialect {
	case "postgres":
		query = `SELECT COUNT(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relname = 'grant_placement' AND n.nspname = ANY (current_schemas(false))`
	case "mysql":
		query = `SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'grant_placement'`
	}
	var n int
	if err := s.db.QueryRowContext(ctx, query).Scan(&n); err != nil {
		return false, fmt.Errorf("grant: looking for table grant_placement: %w", err)
	}
	if n > 0 {
		s.exists.Store(true)
	}
	return n > 0, nil
}

func decodeRecord(cluster string, version int64, text string) (PlacementRecord, error) {
	var rec PlacementRecord
	if err := json.Unmarshal([]byte(text), &rec); err != nil {
		return rec, fmt.Errorf("grant: placement of cluster %q (version %d) is not a JSON PlacementRecord: %w", cluster, version, err)
	}
	rec.Cluster, rec.Version = cluster, version
	return rec, nil
}

// Load returns the placement published for cluster; false when none is
// (or the table does not exist yet).
func (s *PlacementStore) Load(ctx context.Context, cluster string) (PlacementRecord, bool, error) {
	if ok, err := s.published(ctx); !ok || err != nil {
		return PlacementRecord{}, false, err
	}
	var version int64
	var text string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT version, record FROM grant_placement WHERE cluster = ?`), cluster).Scan(&version, &text)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return PlacementRecord{}, false, nil
	case err != nil:
		return PlacementRecord{}, false, err
	}
	rec, err := decodeRecord(cluster, version, text)
	return rec, err == nil, err
}

// loadAll returns every published placement by cluster; missing is true
// when the table does not exist.
func (s *PlacementStore) loadAll(ctx context.Context) (_ map[string]PlacementRecord, missing bool, _ error) {
	if ok, err := s.published(ctx); !ok || err != nil {
		return nil, err == nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT cluster, version, record FROM grant_placement`)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	out := map[string]PlacementRecord{}
	for rows.Next() {
		var cluster, text string
		var version int64
		if err := rows.Scan(&cluster, &version, &text); err != nil {
			return nil, false, err
		}
		rec, err := decodeRecord(cluster, version, text)
		if err != nil {
			return nil, false, err
		}
		out[cluster] = rec
	}
	return out, false, rows.Err()
}

// Publish stores rec as its cluster's placement with the next version
// (the previous one plus one, 1 if none), in one transaction that locks
// the cluster's row, and returns that version.
func (s *PlacementStore) Publish(ctx context.Context, rec PlacementRecord) (int64, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback() }()
	version, err := s.PublishTx(ctx, tx, rec)
	if err != nil {
		return 0, err
	}
	return version, tx.Commit()
}

// PublishTx is Publish inside the caller's transaction on the store's
// database, so that the placement changes in the same commit as the
// caller's own records (a reshard workflow's state): a crash can then
// leave neither without the other. Instances see it once tx commits.
func (s *PlacementStore) PublishTx(ctx context.Context, tx *sql.Tx, rec PlacementRecord) (int64, error) {
	if rec.Cluster == "" {
		return 0, fmt.Errorf("grant: publishing a placement without a cluster")
	}
	// The UPDATE locks the row (on every dialect) before the version is read.
	res, err := tx.ExecContext(ctx, s.q(`UPDATE grant_placement SET version = version + 1 WHERE cluster = ?`), rec.Cluster)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	if n == 0 {
		rec.Version = 1
		text, _ := json.Marshal(rec)
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO grant_placement (cluster, version, record) VALUES (?, ?, ?)`), rec.Cluster, 1, string(text)); err != nil {
			return 0, err
		}
		return 1, nil
	}
	if err := tx.QueryRowContext(ctx, s.q(`SELECT version FROM grant_placement WHERE cluster = ?`), rec.Cluster).Scan(&rec.Version); err != nil {
		return 0, err
	}
	text, _ := json.Marshal(rec)
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE grant_placement SET record = ? WHERE cluster = ?`), string(text), rec.Cluster); err != nil {
		return 0, err
	}
	return rec.Version, nil
}

// InstanceAck is one instance following a cluster's placement, as its
// heartbeat row says.
type InstanceAck struct {
	Instance, Host string
	PID            int
	// Acked is the placement version the instance routes by, with no write
	// under an older one still in flight.
	Acked int64
	// SeenAgo is how long ago (by the database's clock) it last wrote its
	// heartbeat.
	SeenAgo time.Duration
}

// Instances lists the instances following cluster seen within lease, by
// the database's clock.
func (s *PlacementStore) Instances(ctx context.Context, cluster string, lease time.Duration) ([]InstanceAck, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT instance, host, pid, acked, `+s.nowMS()+` - seen_ms FROM grant_instance WHERE cluster = ? AND seen_ms >= `+s.nowMS()+` - ? ORDER BY instance`),
		cluster, lease.Milliseconds())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []InstanceAck
	for rows.Next() {
		var a InstanceAck
		var ago int64
		if err := rows.Scan(&a.Instance, &a.Host, &a.PID, &a.Acked, &ago); err != nil {
			return nil, err
		}
		a.SeenAgo = time.Duration(ago) * time.Millisecond
		out = append(out, a)
	}
	return out, rows.Err()
}

// heartbeat writes instance's row for cluster: acked version, seen now.
func (s *PlacementStore) heartbeat(ctx context.Context, instance, cluster, host string, pid int, acked int64) error {
	var upsert string
	switch s.dialect {
	case "mysql":
		upsert = `INSERT INTO grant_instance (instance, cluster, acked, seen_ms, host, pid) VALUES (?, ?, ?, ` + s.nowMS() + `, ?, ?)
ON DUPLICATE KEY UPDATE acked = VALUES(acked), seen_ms = VALUES(seen_ms), host = VALUES(host), pid = VALUES(pid)`
	default:
		upsert = `INSERT INTO grant_instance (instance, cluster, acked, seen_ms, host, pid) VALUES (?, ?, ?, ` + s.nowMS() + `, ?, ?)
ON CONFLICT (instance, cluster) DO UPDATE SET acked = excluded.acked, seen_ms = excluded.seen_ms, host = excluded.host, pid = excluded.pid`
	}
	_, err := s.db.ExecContext(ctx, s.q(upsert), instance, cluster, acked, host, pid)
	return err
}
