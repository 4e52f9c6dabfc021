package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"github.com/grant-go/grant/adapter/internal/serverlag"
	"strconv"
	"time"

	"github.com/grant-go/grant/topology"
)

// replicaStatus runs a replica status statement and reads its lag
// column: ok is false when the column is NULL; replica is false when the
// statement returned no row.
func replicaStatus(ctx context.Context, db topology.Querier, query, column string) (lag time.Duration, ok, replica bool, err error) {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return 0, false, false, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, false, false, err
	}
	at := -1
	for i, c := range cols {
		if c == column {
			at = i
		}
	}
	if at < 0 {
		return 0, false, false, fmt.Errorf("%s returned no %s column", query, column)
	}
	if !rows.Next() {
		return 0, false, false, rows.Err()
	}
	values := make([]sql.RawBytes, len(cols))
	dest := make([]any, len(cols))
	for i := range values {
		dest[i] = &values[i]
	}
	if err := rows.Scan(dest...); err != nil {
		return 0, false, true, err
	}
	if values[at] == nil {
		return 0, false, true, rows.Close()
	}
	seconds, err := strconv.ParseFloat(string(values[at]), 64)
	if err != nil {
		return 0, false, true, fmt.Errorf("%s: %s is %q: %w", query, column, values[at], err)
	}
	return serverlag.FromSeconds(seconds), true, true, rows.Close()
}
