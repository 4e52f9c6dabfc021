package testdb

// Running the PostgreSQL tests through PgBouncer (scripts/pgbouncer.sh,
// docs/pgbouncer.md). With GRANT_PGBOUNCER set, the Databases that Postgres
// and PostgresReplica hand out connect through PgBouncer in transaction
// pooling mode: their DSN and Dialector go through it, the way an
// application's would. Everything testdb does itself stays direct: the admin
// pools that create and drop databases, Open and Count (which tests use to
// seed and to check physical state) and the replica sets' lock, pause and
// catch-up queries. DirectDSN is each Database's direct DSN.
//
// Environment:
//
//	GRANT_PGBOUNCER                  the bouncer in front of the main server, host:port
//	                                 (scripts/pgbouncer.sh: 127.0.0.1:6432); unset or empty: direct
//	GRANT_PGBOUNCER_REPLICA_PRIMARY  the bouncer in front of the replica set's primary [127.0.0.1:6433]
//	GRANT_PGBOUNCER_REPLICA          the bouncer in front of the replica set's replica [127.0.0.1:6434]
//	GRANT_PGBOUNCER_EXEC_MODE        pgx's default_query_exec_mode on those DSNs [exec]
//
// PgBouncer 1.18 keeps no prepared statement across transactions in
// transaction pooling, so pgx's default mode (cache_statement, named
// prepared statements) fails through it; exec and simple_protocol work (see
// docs/pgbouncer.md).

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
)

// Environment variables and defaults of the PgBouncer switch.
const (
	EnvPgBouncer               = "GRANT_PGBOUNCER"
	EnvPgBouncerReplicaPrimary = "GRANT_PGBOUNCER_REPLICA_PRIMARY"
	EnvPgBouncerReplica        = "GRANT_PGBOUNCER_REPLICA"
	EnvPgBouncerExecMode       = "GRANT_PGBOUNCER_EXEC_MODE"

	// Defaults: the listeners scripts/pgbouncer.sh starts.
	DefaultPgBouncerReplicaPrimary = "127.0.0.1:6433"
	DefaultPgBouncerReplica        = "127.0.0.1:6434"
	DefaultPgBouncerExecMode       = "exec"
)

// PgBouncer returns the address (host:port) of the PgBouncer the PostgreSQL
// Databases connect through, from GRANT_PGBOUNCER; "" when they connect
// directly.
func PgBouncer() string { return strings.TrimSpace(os.Getenv(EnvPgBouncer)) }

// pgBouncerReplica returns the bouncer addresses of the PostgreSQL replica
// set's primary and replica, "" when GRANT_PGBOUNCER is unset.
func pgBouncerReplica() (primary, replica string) {
	if PgBouncer() == "" {
		return "", ""
	}
	return envOr(EnvPgBouncerReplicaPrimary, DefaultPgBouncerReplicaPrimary), envOr(EnvPgBouncerReplica, DefaultPgBouncerReplica)
}

func pgBouncerExecMode() string { return envOr(EnvPgBouncerExecMode, DefaultPgBouncerExecMode) }

// ThroughPgBouncer reports whether d's DSN goes through PgBouncer.
func (d *Database) ThroughPgBouncer() bool { return d.DSN != d.DirectDSN }

// DirectDSN returns the direct DSN of a Database whose DSN (through
// PgBouncer) is dsn, or dsn itself when no Database of this process handed
// it out through PgBouncer. Tests use it to fill MigrationsConfig.DSN for
// configurations they build from Dialectors.
func DirectDSN(dsn string) string {
	if v, ok := bouncedDSNs.Load(dsn); ok {
		return v.(string)
	}
	return dsn
}

var bouncedDSNs sync.Map // DSN through PgBouncer -> direct DSN

// viaPgBouncer returns dsn (pgx key=value or URL form) pointed at the
// bouncer at addr (host:port), with default_query_exec_mode set to mode.
func viaPgBouncer(dsn, addr, mode string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("%s=%q: want host:port: %v", EnvPgBouncer, addr, err)
	}
	if isPostgresURL(dsn) {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("cannot parse PostgreSQL URL DSN %s", redactDSN(NamePostgres, dsn))
		}
		u.Host = net.JoinHostPort(host, port)
		q := u.Query()
		q.Del("host")
		q.Del("hostaddr")
		q.Del("port")
		q.Set("default_query_exec_mode", mode)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	kvs, err := parseKeyValue(dsn)
	if err != nil {
		return "", fmt.Errorf("cannot parse PostgreSQL DSN %s: %v", redactDSN(NamePostgres, dsn), err)
	}
	out := make([]string, 0, len(kvs)+3)
	for _, kv := range kvs {
		switch kv[0] {
		case "host", "hostaddr", "port", "default_query_exec_mode":
		default:
			out = append(out, kv[0]+"="+quoteValue(kv[1]))
		}
	}
	out = append(out, "host="+quoteValue(host), "port="+quoteValue(port), "default_query_exec_mode="+quoteValue(mode))
	return strings.Join(out, " "), nil
}

// bounce returns the DSN through the bouncer at addr for the direct DSN of
// a database, and remembers the pair for DirectDSN; with addr "" it returns
// direct.
func bounce(direct, addr string) (string, error) {
	if addr == "" {
		return direct, nil
	}
	dsn, err := viaPgBouncer(direct, addr, pgBouncerExecMode())
	if err != nil {
		return "", err
	}
	bouncedDSNs.Store(dsn, direct)
	return dsn, nil
}

// pingPgBouncer checks that a PostgreSQL server answers through the bouncer
// at addr (dsn is its direct admin DSN).
func pingPgBouncer(dsn, addr string) error {
	bounced, err := viaPgBouncer(dsn, addr, pgBouncerExecMode())
	if err != nil {
		return err
	}
	db, err := openPgx(bounced)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), reachTimeout)
	defer cancel()
	var one int
	if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("through PgBouncer at %s (%s; start it with: sudo bash scripts/pgbouncer.sh start): %v", addr, EnvPgBouncer, err)
	}
	return nil
}
