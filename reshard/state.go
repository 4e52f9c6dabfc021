package reshard

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/grant-go/grant/internal/ddl"
)

// Workflow states, in the order a workflow normally passes them.
const (
	StateCopying        = "copying"         // rows are being copied; nothing is routed differently
	StateRunning        = "running"         // copy done; the change streams keep the target current
	StateReadsSwitched  = "reads-switched"  // keyed reads use the target placement, writes the source
	StateWritesSwitched = "writes-switched" // both use the target; the old shards are kept current (reverse)
	StateCompleting     = "completing"      // moved rows are being deleted from their old shards
	StateCompleted      = "completed"       // done: captures removed, the target placement is the cluster's
)

// Directions the change streams apply in.
const (
	forward = "forward" // source placement authoritative, target kept current
	reverse = "reverse" // target authoritative, source kept current
	stopped = "none"
)

// record is what the default database holds for one workflow. Strategies
// are Go values and cannot be stored: tables record their strategy's name,
// and a resumed workflow checks that the configuration still agrees.
type record struct {
	Workflow     string      `json:"workflow"`
	Cluster      string      `json:"cluster"`
	State        string      `json:"state"`
	Direction    string      `json:"direction"`
	From         []string    `json:"from"`
	To           []string    `json:"to"`
	Tables       []tableSpec `json:"tables"`
	FreezeMillis int64       `json:"freeze_ms,omitempty"` // the last switch's freeze window
	Switches     int         `json:"switches,omitempty"`
}

type tableSpec struct {
	Name     string `json:"name"`
	Key      string `json:"key"`
	Strategy string `json:"strategy"`
}

// copyProgress is one (table, source shard) pair's copy checkpoint.
type copyProgress struct {
	Table, Shard string
	After        []any // the last copied primary key; nil: none yet
	Copied       int64 // rows read on the source so far
	Moved        int64 // of which written to another shard
	Done         bool
}

// stateStore keeps workflows in the cluster's default database, so that
// every step, from any process, resumes from what the last one recorded.
type stateStore struct {
	db *sql.DB
	d  dialect // placeholders and quoting; name "sqlite" is allowed here
}

func (s *stateStore) ensure(ctx context.Context) error {
	text := "TEXT"
	if !s.d.postgres() {
		text = "LONGTEXT"
		if s.d.name == "sqlite" {
			text = "TEXT"
		}
	}
	err := ddl.CreateTables(ctx, s.db, s.d.name,
		`CREATE TABLE IF NOT EXISTS grant_reshard (workflow VARCHAR(100) NOT NULL PRIMARY KEY, body `+text+` NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS grant_reshard_copy (workflow VARCHAR(100) NOT NULL, tbl VARCHAR(200) NOT NULL, shard VARCHAR(200) NOT NULL,
after_pk `+text+` NOT NULL, copied BIGINT NOT NULL, moved BIGINT NOT NULL, done INT NOT NULL, PRIMARY KEY (workflow, tbl, shard))`)
	if err != nil {
		return fmt.Errorf("grant/reshard: creating the workflow tables in the default database: %w", err)
	}
	return nil
}

func (s *stateStore) p(n int) string { return s.d.placeholder(n) }

// create stores a new workflow; it fails if one of that name exists.
func (s *stateStore) create(ctx context.Context, r *record) error {
	body, _ := json.Marshal(r)
	_, err := s.db.ExecContext(ctx, "INSERT INTO grant_reshard (workflow, body) VALUES ("+s.p(1)+", "+s.p(2)+")", r.Workflow, string(body))
	return err
}

func (s *stateStore) load(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, workflow string, lock bool) (*record, error) {
	query := "SELECT body FROM grant_reshard WHERE workflow = " + s.p(1)
	if lock && s.d.name != "sqlite" {
		query += " FOR UPDATE"
	}
	var body string
	if err := q.QueryRowContext(ctx, query, workflow).Scan(&body); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("%w %q: grant reshard start creates it", ErrUnknownWorkflow, workflow)
		}
		return nil, err
	}
	r := &record{}
	if err := json.Unmarshal([]byte(body), r); err != nil {
		return nil, fmt.Errorf("grant/reshard: workflow %q: its stored record is unreadable: %w", workflow, err)
	}
	return r, nil
}

func (s *stateStore) save(ctx context.Context, q querier, r *record) error {
	body, _ := json.Marshal(r)
	_, err := q.ExecContext(ctx, "UPDATE grant_reshard SET body = "+s.p(1)+" WHERE workflow = "+s.p(2), string(body), r.Workflow)
	return err
}

// locked runs fn holding the workflow's row lock, then saves the record fn
// may have changed. The lock is what keeps the long-running worker and a
// switch from another process from applying the same stream at once.
func (s *stateStore) locked(ctx context.Context, workflow string, fn func(tx *sql.Tx, r *record) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	r, err := s.load(ctx, tx, workflow, true)
	if err != nil {
		return err
	}
	if err := fn(tx, r); err != nil {
		return err
	}
	if err := s.save(ctx, tx, r); err != nil {
		return err
	}
	return tx.Commit()
}

func (s *stateStore) progress(ctx context.Context, q querier, workflow string) ([]copyProgress, error) {
	rows, err := q.QueryContext(ctx, "SELECT tbl, shard, after_pk, copied, moved, done FROM grant_reshard_copy WHERE workflow = "+s.p(1)+" ORDER BY tbl, shard", workflow)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []copyProgress
	for rows.Next() {
		var c copyProgress
		var after string
		var done int
		if err := rows.Scan(&c.Table, &c.Shard, &after, &c.Copied, &c.Moved, &done); err != nil {
			return nil, err
		}
		if after != "" {
			if err := json.Unmarshal([]byte(after), &c.After); err != nil {
				return nil, err
			}
		}
		c.Done = done != 0
		out = append(out, c)
	}
	return out, rows.Err()
}

func (s *stateStore) saveProgress(ctx context.Context, q querier, workflow string, c copyProgress) error {
	after := ""
	if c.After != nil {
		b, err := json.Marshal(textValues(c.After))
		if err != nil {
			return err
		}
		after = string(b)
	}
	done := 0
	if c.Done {
		done = 1
	}
	conflict := " ON CONFLICT (workflow, tbl, shard) DO UPDATE SET after_pk = EXCLUDED.after_pk, copied = EXCLUDED.copied, moved = EXCLUDED.moved, done = EXCLUDED.done"
	if s.d.name == "mysql" {
		conflict = " ON DUPLICATE KEY UPDATE after_pk = VALUES(after_pk), copied = VALUES(copied), moved = VALUES(moved), done = VALUES(done)"
	}
	_, err := q.ExecContext(ctx, "INSERT INTO grant_reshard_copy (workflow, tbl, shard, after_pk, copied, moved, done) VALUES ("+
		s.p(1)+", "+s.p(2)+", "+s.p(3)+", "+s.p(4)+", "+s.p(5)+", "+s.p(6)+", "+s.p(7)+")"+conflict, workflow, c.Table, c.Shard, after, c.Copied, c.Moved, done)
	return err
}

// remove deletes a workflow that never ran.
func (s *stateStore) remove(ctx context.Context, workflow string) error {
	if err := s.drop(ctx, workflow); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, "DELETE FROM grant_reshard WHERE workflow = "+s.p(1), workflow)
	return err
}

func (s *stateStore) drop(ctx context.Context, workflow string) error {
	_, err := s.db.ExecContext(ctx, "DELETE FROM grant_reshard_copy WHERE workflow = "+s.p(1), workflow)
	return err
}

// textValues stores a primary key as text: servers take text for any
// column type, and JSON would turn integers into floats.
func textValues(vs []any) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = text(v)
	}
	return out
}

// workerLock waits until no other process runs the workflow's worker and
// holds that until release: a session lock (PostgreSQL advisory lock,
// MariaDB GET_LOCK), which the server drops with a killed worker's
// connection, so a resumed worker never waits on a dead one.
func (s *stateStore) workerLock(ctx context.Context, workflow string) (func(), error) {
	if s.d.name == "sqlite" {
		return func() {}, nil
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	name := "grant_reshard_worker_" + workflow
	try, unlock := "SELECT GET_LOCK(?, 0)", "SELECT RELEASE_LOCK(?)"
	if s.d.postgres() {
		try, unlock = "SELECT pg_try_advisory_lock(hashtextextended($1, 0))::int", "SELECT pg_advisory_unlock(hashtextextended($1, 0))"
	}
	for {
		var got sql.NullInt64
		if err := conn.QueryRowContext(ctx, try, name).Scan(&got); err != nil {
			conn.Close()
			return nil, fmt.Errorf("grant/reshard: taking the worker lock of %q: %w", workflow, err)
		}
		if got.Int64 == 1 {
			break
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			conn.Close()
			return nil, err
		}
	}
	return func() {
		_, _ = conn.ExecContext(context.Background(), unlock, name)
		conn.Close()
	}, nil
}
