package reshard

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/grant-go/grant/internal/dsnredact"
	"github.com/jackc/pglogrepl"
)

// pgRelation is what pgoutput's relation message tells about a table,
// reduced to where its primary key is in a tuple.
type pgRelation struct {
	table string
	key   []int // tuple column index of each PK column, in Table.PK order
	err   error // set instead of key when the key cannot be found
}

// Read peeks at the slot up to the WAL flushed when it starts and returns
// the changed rows' keys, whole transactions only. The cursor is the end
// of the last transaction returned, or the flushed position when the peek
// ran out before limit: then everything up to it has been seen, and Acking
// it moves an idle slot on. limit counts pgoutput's messages (begin,
// relation and commit included), not rows; 0 or less reads everything.
func (c *PostgresCapture) Read(ctx context.Context, limit int) ([]Change, Cursor, error) {
	// The flushed position, not pg_current_wal_lsn (written): the peek
	// decodes only flushed WAL, and slot advance stops at the flushed
	// position, so a written but unflushed commit below a written upto
	// would be Acked without having been read.
	upto, err := c.walLSN(ctx, "pg_current_wal_flush_lsn()")
	if err != nil {
		return nil, nil, err
	}
	var n sql.NullInt64
	if limit > 0 {
		n = sql.NullInt64{Int64: int64(limit), Valid: true}
	}
	rows, err := c.db.QueryContext(ctx, `SELECT data FROM pg_logical_slot_peek_binary_changes($1, $2::pg_lsn, $3::int,
		'proto_version', '1', 'publication_names', $4)`, c.name, upto.String(), n, c.name)
	if err != nil {
		return nil, nil, c.errorf("reading the slot: %w", err)
	}
	defer rows.Close()
	var (
		changes, txn []Change
		last         pglogrepl.LSN // end of the last transaction returned
		count        int
		xid          uint32   // the transaction being decoded
		xids         []uint32 // the transactions returned
	)
	for rows.Next() {
		count++
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return nil, nil, c.errorf("reading the slot: %w", err)
		}
		var end pglogrepl.LSN
		if txn, end, err = c.decode(data, txn, &xid); err != nil {
			return nil, nil, err
		}
		if end != 0 {
			if len(txn) > 0 {
				xids = append(xids, xid)
			}
			changes = append(changes, txn...)
			txn = txn[:0]
			last = end
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, c.errorf("reading the slot: %w", err)
	}
	cursor := Cursor(last)
	switch {
	case limit <= 0 || count < limit:
		// The peek reads the record that crosses upto whole, so a commit
		// may end just past it.
		cursor = max(upto, last)
	case last == 0:
		// The peek stops only after a commit once it has limit rows; a
		// batch without one would leave the slot where it is forever.
		return nil, nil, c.errorf("%d messages without a commit (streamed transactions are not expected with proto_version 1)", count)
	}
	if err := c.awaitVisible(ctx, xids); err != nil {
		return nil, nil, err
	}
	return changes, cursor, nil
}

// decode appends the keys data (one pgoutput message) changes to txn, sets
// *xid at a transaction's begin, and returns the transaction's end when
// data is its commit.
func (c *PostgresCapture) decode(data []byte, txn []Change, xid *uint32) ([]Change, pglogrepl.LSN, error) {
	msg, err := pglogrepl.Parse(data)
	if err != nil {
		return nil, 0, c.errorf("decoding pgoutput: %w", err)
	}
	switch m := msg.(type) {
	case *pglogrepl.CommitMessage:
		return txn, m.TransactionEndLSN, nil
	case *pglogrepl.BeginMessage:
		*xid = m.Xid
	}
	txn, err = c.decodeChange(msg, txn)
	return txn, 0, err
}

// awaitVisible returns once every transaction in xids is visible to new
// snapshots. A commit is in the WAL, and may be flushed there by another
// backend, a moment before its backend takes it out of the running
// transactions; re-reading its rows in that moment would find them as
// they were before it, and the change would be Acked unapplied (seen: a
// delete lost, its row left on the target).
func (c *PostgresCapture) awaitVisible(ctx context.Context, xids []uint32) error {
	if len(xids) == 0 {
		return nil
	}
	for wait := 100 * time.Microsecond; ; wait = min(2*wait, 20*time.Millisecond) {
		var snapshot string
		if err := c.db.QueryRowContext(ctx, "SELECT pg_current_snapshot()::text").Scan(&snapshot); err != nil {
			return c.errorf("reading the current snapshot: %w", err)
		}
		running, err := runningIn(snapshot, xids)
		if err != nil {
			return c.errorf("%w", err)
		}
		if !running {
			return nil
		}
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// runningIn reports whether any of xids is still running in snapshot, a
// pg_snapshot's text "xmin:xmax:xip,…" of 64-bit ids. xids are 32-bit, as
// pgoutput gives them; each is taken as the 64-bit id nearest xmax, the
// way the server compares 32-bit ids (a transaction in the WAL is within
// 2^31 of the next id).
func runningIn(snapshot string, xids []uint32) (bool, error) {
	parts := strings.Split(snapshot, ":")
	if len(parts) != 3 {
		return false, fmt.Errorf("unexpected snapshot %q", snapshot)
	}
	xmax, err := strconv.ParseUint(parts[1], 10, 64)
	if err != nil {
		return false, fmt.Errorf("unexpected snapshot %q: %w", snapshot, err)
	}
	running := map[uint64]bool{}
	if parts[2] != "" {
		for _, s := range strings.Split(parts[2], ",") {
			x, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return false, fmt.Errorf("unexpected snapshot %q: %w", snapshot, err)
			}
			running[x] = true
		}
	}
	for _, xid := range xids {
		full := xmax + uint64(int64(int32(xid-uint32(xmax))))
		if full >= xmax || running[full] {
			return true, nil
		}
	}
	return false, nil
}

func (c *PostgresCapture) decodeChange(msg pglogrepl.Message, txn []Change) (_ []Change, err error) {
	switch m := msg.(type) {
	case *pglogrepl.RelationMessage:
		c.relations[m.RelationID] = c.relation(m)
	case *pglogrepl.BeginMessage:
		txn = txn[:0]
	case *pglogrepl.InsertMessage:
		return c.appendKey(txn, m.RelationID, m.Tuple)
	case *pglogrepl.UpdateMessage:
		if txn, err = c.appendKey(txn, m.RelationID, m.NewTuple); err != nil || m.OldTuple == nil {
			return txn, err
		}
		// An old key comes only when the key changed (or with REPLICA
		// IDENTITY FULL): the row left its old key, which must be synced
		// too.
		return c.appendKey(txn, m.RelationID, m.OldTuple)
	case *pglogrepl.DeleteMessage:
		return c.appendKey(txn, m.RelationID, m.OldTuple)
	case *pglogrepl.TruncateMessage:
		names := make([]string, len(m.RelationIDs))
		for i, id := range m.RelationIDs {
			names[i] = dsnredact.Name(c.relations[id].name(id))
		}
		return nil, c.errorf("TRUNCATE of table %s: a truncate cannot be synced row by row; restart the workflow's copy", strings.Join(names, ", "))
	}
	return txn, nil
}

// name is the relation's table for messages, or its id when unknown.
func (r *pgRelation) name(id uint32) string {
	if r == nil {
		return "id " + strconv.FormatUint(uint64(id), 10)
	}
	return r.table
}

// relation finds the key of m's table: the PK Install was given when the
// table is one of its tables, else the key columns pgoutput flags (a
// process that Reads without having called Install).
func (c *PostgresCapture) relation(m *pglogrepl.RelationMessage) *pgRelation {
	names := make([]string, len(m.Columns))
	for i, col := range m.Columns {
		names[i] = col.Name
	}
	r := &pgRelation{table: m.RelationName}
	if m.Namespace != "public" {
		r.table = m.Namespace + "." + m.RelationName
	}
	t, ok := c.tables[m.Namespace+"."+m.RelationName]
	if !ok {
		t, ok = c.tables[m.RelationName]
	}
	if ok {
		r.table = t.Name
		for _, pk := range t.PK {
			i := slices.Index(names, pk)
			if i < 0 {
				r.err = c.errorf("table %s: primary-key column %s is not in the change stream's columns %v",
					dsnredact.Name(t.Name), dsnredact.Name(pk), names)
				return r
			}
			r.key = append(r.key, i)
		}
		return r
	}
	for i, col := range m.Columns {
		if col.Flags&1 != 0 {
			r.key = append(r.key, i)
		}
	}
	if len(r.key) == 0 {
		r.err = c.errorf("table %s: the change stream flags no key columns", dsnredact.Name(r.table))
	}
	return r
}

// appendKey appends the change of tuple's row, its PK values as text.
func (c *PostgresCapture) appendKey(txn []Change, id uint32, tuple *pglogrepl.TupleData) ([]Change, error) {
	r := c.relations[id]
	if r == nil {
		return nil, c.errorf("a change of relation %d before its relation message", id)
	}
	if r.err != nil {
		return nil, r.err
	}
	pk := make([]string, len(r.key))
	for i, col := range r.key {
		if tuple == nil || col >= len(tuple.Columns) {
			return nil, c.errorf("table %s: a change without its key columns", dsnredact.Name(r.table))
		}
		switch d := tuple.Columns[col]; d.DataType {
		case pglogrepl.TupleDataTypeText:
			pk[i] = string(d.Data)
		default:
			// 'n' (null), 'u' (unchanged TOAST) or 'b' (binary, which
			// proto_version 1 does not send): none is a key as text.
			return nil, c.errorf("table %s: key column %d came as %q, not as text", dsnredact.Name(r.table), col, d.DataType)
		}
	}
	return append(txn, Change{Table: r.table, PK: pk}), nil
}
