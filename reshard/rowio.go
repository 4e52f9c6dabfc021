package reshard

import (
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/grant-go/grant/sharding"
)

// maxParams keeps a statement's parameters under both servers' limits
// (PostgreSQL 65535, MariaDB 65535) with room to spare.
const maxParams = 30000

// querier is what reading and writing rows needs: a *sql.DB or a *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func parseIntKey(s string) (sharding.Key, error) {
	i, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return sharding.Key{}, fmt.Errorf("shard key %q is not an integer: %w", s, err)
	}
	return sharding.IntKey(i), nil
}

// text is a value's canonical text: how rows are grouped by primary key
// and hashed for comparison. Both sides of a comparison are read by the
// same driver, so the form only has to be stable, not pretty.
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return "\x00NULL"
	case []byte:
		return string(x)
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprint(v)
}

// rowHash is an FNV-1a digest of a row's canonical text, column by column.
func rowHash(row []any) uint64 {
	h := fnv.New64a()
	for _, v := range row {
		if b, ok := v.([]byte); ok {
			h.Write(b) // text's own form of it, without the copy
		} else {
			h.Write([]byte(text(v)))
		}
		h.Write([]byte{0xff})
	}
	return h.Sum64()
}

func pkString(pk []string) string { return strings.Join(pk, "\x1f") }

// scanRows reads every row of rows as []any in column order.
func scanRows(rows *sql.Rows, width int) ([][]any, error) {
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		row := make([]any, width)
		ptrs := make([]any, width)
		for i := range row {
			ptrs[i] = &row[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		out = append(out, row)
	}
	return out, rows.Err()
}

// rowsByPK reads the rows of t whose primary key is one of pks; lock is
// appended to each statement ("", or a locking clause such as FOR SHARE).
func rowsByPK(ctx context.Context, q querier, d dialect, t *table, pks [][]string, lock string) ([][]any, error) {
	var out [][]any
	err := inChunks(pks, maxParams/len(t.PK), func(part [][]string) error {
		args := make([]any, 0, len(part)*len(t.PK))
		for _, pk := range part {
			for _, v := range pk {
				args = append(args, v)
			}
		}
		query := fmt.Sprintf("SELECT %s FROM %s WHERE %s%s", d.quoteAll(t.Columns), d.quote(t.Name), d.inList(t.PK, len(part)), lock)
		rows, err := q.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		got, err := scanRows(rows, len(t.Columns))
		out = append(out, got...)
		return err
	})
	return out, err
}

// rowsAfter reads up to limit rows of t in primary-key order after the key
// after (none: from the start).
func rowsAfter(ctx context.Context, q querier, d dialect, t *table, after []any, limit int) ([][]any, error) {
	query := fmt.Sprintf("SELECT %s FROM %s", d.quoteAll(t.Columns), d.quote(t.Name))
	var args []any
	if after != nil {
		cmp := d.placeholder(1)
		if len(t.PK) > 1 {
			cmp, _ = d.tuple(len(t.PK), 0)
		}
		query += " WHERE " + d.keyTuple(t.PK) + " > " + cmp
		args = after
	}
	query += " ORDER BY " + d.quoteAll(t.PK) + " LIMIT " + strconv.Itoa(limit)
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return scanRows(rows, len(t.Columns))
}

// scan hands fn the rows of t after the key after (nil: from the start),
// in primary-key order, batch rows at a time, until a batch comes back
// short: the one keyset walk that copying, planning, verifying and
// cleaning up share.
func scan(ctx context.Context, q querier, d dialect, t *table, after []any, batch int, fn func(rows [][]any) error) error {
	for {
		rows, err := rowsAfter(ctx, q, d, t, after, batch)
		if err != nil {
			return err
		}
		if len(rows) > 0 {
			if err := fn(rows); err != nil {
				return err
			}
		}
		if len(rows) < batch {
			return nil
		}
		after = t.pkValues(rows[len(rows)-1])
	}
}

// inChunks calls fn on consecutive parts of items, per long at most, so
// that no statement passes the servers' parameter limit.
func inChunks[T any](items []T, per int, fn func(part []T) error) error {
	per = max(1, per)
	for start := 0; start < len(items); start += per {
		if err := fn(items[start:min(len(items), start+per)]); err != nil {
			return err
		}
	}
	return nil
}

// pkValues is a row's primary key as values, for keyset pagination.
func (t *table) pkValues(row []any) []any {
	out := make([]any, len(t.pkAt))
	for i, at := range t.pkAt {
		out[i] = row[at]
	}
	return out
}

// upsertRows writes rows to t, overwriting rows with the same primary key.
func upsertRows(ctx context.Context, q querier, d dialect, t *table, rows [][]any) error {
	return inChunks(rows, maxParams/len(t.Columns), func(part [][]any) error {
		args := make([]any, 0, len(part)*len(t.Columns))
		for _, r := range part {
			args = append(args, r...)
		}
		_, err := q.ExecContext(ctx, d.upsert(t, len(part)), args...)
		return err
	})
}

// deleteRows deletes the rows of t with these primary keys.
func deleteRows(ctx context.Context, q querier, d dialect, t *table, pks [][]any) (int64, error) {
	var n int64
	err := inChunks(pks, maxParams/len(t.PK), func(part [][]any) error {
		args := make([]any, 0, len(part)*len(t.PK))
		for _, pk := range part {
			args = append(args, pk...)
		}
		res, err := q.ExecContext(ctx, fmt.Sprintf("DELETE FROM %s WHERE %s", d.quote(t.Name), d.inList(t.PK, len(part))), args...)
		if err != nil {
			return err
		}
		affected, _ := res.RowsAffected()
		n += affected
		return nil
	})
	return n, err
}
