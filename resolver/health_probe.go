package resolver

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strconv"
	"time"
)

// probeNode is the real check: open the node's pool, ping it, and read its
// replication state in the node's dialect.
func probeNode(ctx context.Context, n *Node) (probeResult, error) {
	db, err := n.DB()
	if err != nil {
		return probeResult{}, err
	}
	if err := db.PingContext(ctx); err != nil {
		return probeResult{}, err
	}
	switch n.Dialect() {
	case "postgres":
		return probePostgres(ctx, db)
	case "mysql":
		return probeMySQL(ctx, db)
	}
	return probeResult{}, nil // SQLite and others: the ping is the check
}

// Replication is what one look at a node's replication state found.
type Replication struct {
	Replica  bool          // the server replays another's changes
	Lag      time.Duration // how far behind, when LagKnown
	LagKnown bool
}

// Probe opens the node's pool if needed, pings it and reads its replication
// state, as a health check does, within ctx. Tools (grant status) use it;
// errors are the driver's or a *NodeError, never with a password.
func (n *Node) Probe(ctx context.Context) (Replication, error) {
	res, err := probeNode(ctx, n)
	return Replication{Replica: res.replica, Lag: res.lag, LagKnown: res.lagKnown && res.replica}, err
}

// pgHealthQuery reads a PostgreSQL node's replication state. A standby
// whose replay has reached what it received is caught up: its lag is 0
// however old its last replayed transaction is (an idle primary sends
// nothing to replay). Otherwise the lag is the age of the last replayed
// transaction, as the primary's clock stamped it.
const pgHealthQuery = `SELECT pg_is_in_recovery(),
	EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8,
	pg_last_wal_replay_lsn()::text,
	COALESCE(pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn(), false)`

func probePostgres(ctx context.Context, db *sql.DB) (probeResult, error) {
	var (
		inRecovery, caughtUp bool
		age                  sql.NullFloat64
		lsn                  sql.NullString
	)
	if err := db.QueryRowContext(ctx, pgHealthQuery).Scan(&inRecovery, &age, &lsn, &caughtUp); err != nil {
		return probeResult{}, err
	}
	if !inRecovery {
		return probeResult{lagKnown: true}, nil // a primary: not behind anything
	}
	res := probeResult{replica: true}
	if lsn.Valid {
		v, err := ParseLSN(lsn.String)
		if err != nil {
			return probeResult{}, err
		}
		res.replayLSN = v
	}
	switch {
	case caughtUp:
		res.lagKnown = true
	case age.Valid:
		res.lag, res.lagKnown = secondsToDuration(age.Float64), true
	default:
		res.stale = true
	}
	return res, nil
}

// probeMySQL reads SHOW SLAVE STATUS (SHOW REPLICA STATUS on MySQL 8.4,
// which dropped the older statement) and MariaDB's @@gtid_slave_pos. No
// status row means the node replicates from nobody: lag 0. A NULL
// Seconds_Behind_Master means replication is broken.
func probeMySQL(ctx context.Context, db *sql.DB) (probeResult, error) {
	lag, ok, replica, err := mysqlReplicaStatus(ctx, db, "SHOW SLAVE STATUS", "Seconds_Behind_Master")
	if err != nil {
		if ctx.Err() != nil {
			return probeResult{}, err
		}
		var err2 error
		if lag, ok, replica, err2 = mysqlReplicaStatus(ctx, db, "SHOW REPLICA STATUS", "Seconds_Behind_Source"); err2 != nil {
			return probeResult{}, err
		}
	}
	res := probeResult{lag: lag, lagKnown: ok || !replica, stale: replica && !ok, replica: replica}
	var gtid sql.NullString
	// MySQL has no @@gtid_slave_pos: its error only means "no GTID".
	if err := db.QueryRowContext(ctx, "SELECT @@gtid_slave_pos").Scan(&gtid); err == nil {
		res.gtid = gtid.String
	} else if ctx.Err() != nil {
		return probeResult{}, err
	}
	return res, nil
}

// mysqlReplicaStatus runs a replica status statement and reads its lag
// column: ok is false when the column is NULL; replica is false when the
// statement returned no row.
func mysqlReplicaStatus(ctx context.Context, db *sql.DB, query, column string) (lag time.Duration, ok, replica bool, err error) {
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
	return secondsToDuration(seconds), true, true, rows.Close()
}

func secondsToDuration(s float64) time.Duration {
	switch {
	case s <= 0 || math.IsNaN(s):
		return 0
	case s >= math.MaxInt64/float64(time.Second):
		return math.MaxInt64
	}
	return time.Duration(s * float64(time.Second))
}
