package mysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"
	gormmysql "gorm.io/driver/mysql"
	"gorm.io/gorm"

	"github.com/grant-go/grant/internal/dsnredact"
	"github.com/grant-go/grant/topology"
)

func init() {
	topology.RegisterAdapter("mysql", Adapter{})
	topology.RegisterAdapter("mariadb", Adapter{})
}

// Adapter is grant's MySQL and MariaDB adapter (topology.DialectAdapter);
// its zero value is ready to use. The package's init registers it as
// "mysql" and "mariadb".
type Adapter struct{}

var _ topology.DialectAdapter = Adapter{}

// Dialect is "mysql", the name GORM's mysql dialector reports.
func (Adapter) Dialect() string { return "mysql" }

// Open returns GORM's mysql dialector for dsn. SkipInitializeWithVersion
// keeps opening lazy: otherwise the dialector asks the server its version
// as the pool opens. grant builds SQL with the handle's dialector, never
// the node's.
func (Adapter) Open(dsn string) gorm.Dialector {
	return gormmysql.New(gormmysql.Config{DSN: dsn, SkipInitializeWithVersion: true})
}

// dialector is d as GORM's mysql dialector.
func dialector(d gorm.Dialector) (*gormmysql.Dialector, error) {
	md, ok := d.(*gormmysql.Dialector)
	if !ok || md.Config == nil {
		return nil, fmt.Errorf("the %s dialector (%T) is not gorm.io/driver/mysql's", d.Name(), d)
	}
	return md, nil
}

// DSNOf returns the DSN d opens its pool from (its DSNConfig's, formatted,
// when it has no DSN string).
func (Adapter) DSNOf(d gorm.Dialector) (string, error) {
	md, err := dialector(d)
	if err != nil {
		return "", err
	}
	dsn := md.DSN
	if dsn == "" && md.DSNConfig != nil {
		dsn = md.DSNConfig.FormatDSN()
	}
	if md.Conn != nil || dsn == "" {
		return "", fmt.Errorf("the mysql dialector (%T) wraps an open pool, not a DSN to open sessions from", d)
	}
	return dsn, nil
}

// WithDSN returns a copy of d that opens its own pool from dsn.
func (Adapter) WithDSN(d gorm.Dialector, dsn string) (gorm.Dialector, error) {
	md, err := dialector(d)
	if err != nil {
		return nil, err
	}
	cfg := *md.Config
	cfg.DSN, cfg.DSNConfig, cfg.Conn = dsn, nil, nil
	return gormmysql.New(cfg), nil
}

// ReadOnlyDSN adds the session variable that makes transactions read
// only, which the driver sets on every new connection: MariaDB kept
// tx_read_only (transaction_read_only came in 11.1), MySQL 8 has only
// transaction_read_only. So it asks the server its version (on server,
// the node's own pool); with server nil it only checks that the DSN
// parses.
func (Adapter) ReadOnlyDSN(ctx context.Context, dsn string, server topology.Querier) (string, error) {
	cfg, err := mysqldriver.ParseDSN(dsn)
	if err != nil {
		return "", errors.New("the DSN does not parse")
	}
	if server == nil {
		return dsn, nil
	}
	var version string
	if err := server.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version); err != nil {
		return "", fmt.Errorf("asking the server its version: %v", err)
	}
	variable := "transaction_read_only"
	if strings.Contains(strings.ToLower(version), "mariadb") {
		variable = "tx_read_only"
	}
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params[variable] = "1"
	return cfg.FormatDSN(), nil
}

// Credentials hooks d's pools through go-sql-driver's BeforeConnect: d
// must open its pool from a DSN, through go-sql-driver.
func (Adapter) Credentials(d gorm.Dialector) (topology.CredentialsHook, error) {
	md, err := dialector(d)
	if err != nil {
		return nil, fmt.Errorf("%w: credentials work with gorm's mysql dialector", err)
	}
	switch {
	case md.Conn != nil:
		return nil, errors.New("the mysql dialector wraps an open pool (Conn), which grant cannot give a per-connection hook")
	case md.DriverName != "" && md.DriverName != gormmysql.DefaultDriverName:
		return nil, fmt.Errorf("the mysql dialector opens its pool through the database/sql driver %q; credentials need go-sql-driver/mysql (DriverName empty or \"mysql\")", md.DriverName)
	case md.DSN == "":
		return nil, errors.New("the mysql dialector has no DSN")
	}
	return hook{cfg: *md.Config}, nil
}

// hook is a mysql dialector's configuration, to be opened with a hook.
type hook struct{ cfg gormmysql.Config }

// Connector is go-sql-driver's connector for the DSN, with BeforeConnect.
func (h hook) Connector(before func(ctx context.Context, user, password *string) error) (driver.Connector, error) {
	dsnConfig, err := mysqldriver.ParseDSN(h.cfg.DSN)
	if err != nil {
		return nil, err
	}
	if err := dsnConfig.Apply(mysqldriver.BeforeConnect(func(ctx context.Context, c *mysqldriver.Config) error {
		return before(ctx, &c.User, &c.Passwd)
	})); err != nil {
		return nil, err
	}
	return mysqldriver.NewConnector(dsnConfig)
}

// Dialector is a copy of the dialector over pool.
func (h hook) Dialector(pool *sql.DB) gorm.Dialector {
	cfg := h.cfg
	cfg.Conn = pool
	return &gormmysql.Dialector{Config: &cfg}
}

// Classify reads go-sql-driver's errors:
//
//   - ConnectionLost: mysql.ErrInvalidConn; errors 1053 (server
//     shutdown), 1077 (normal shutdown), 1927 (connection killed,
//     MariaDB), 4031 (disconnected by the server);
//   - LoginRefused: error 1045 (ER_ACCESS_DENIED_ERROR);
//   - ReadOnlyServer: errors 1290 (the server runs with --read-only) and
//     1792 (a read-only transaction).
func (Adapter) Classify(err error) topology.ErrorClass {
	var c topology.ErrorClass
	if errors.Is(err, mysqldriver.ErrInvalidConn) {
		c |= topology.ConnectionLost
	}
	var myErr *mysqldriver.MySQLError
	if errors.As(err, &myErr) {
		switch myErr.Number {
		case 1053, 1077, 1927, 4031:
			c |= topology.ConnectionLost
		case 1045:
			c |= topology.LoginRefused
		case 1290, 1792:
			c |= topology.ReadOnlyServer
		}
	}
	return c
}

// DSNSecrets reads user:password@net(address)/dbname?params with
// mysql.ParseDSN, and places the password as it does: before the last '@'
// that precedes the last '/', after the first ':'. A password the driver
// reads elsewhere than where it is written makes the reading unsure (the
// DSN is then hidden whole).
func (Adapter) DSNSecrets(s string) topology.DSNReading {
	var r topology.DSNReading
	cfg, err := mysqldriver.ParseDSN(s)
	slash := strings.LastIndexByte(s, '/')
	if err != nil || slash < 0 {
		return r
	}
	r.Parses = true
	if at := strings.LastIndexByte(s[:slash], '@'); at >= 0 {
		if c := strings.IndexByte(s[:at], ':'); c >= 0 && c+1 < at {
			r.Secrets = append(r.Secrets, topology.DSNSecret{Start: c + 1, End: at, Value: cfg.Passwd, Login: true})
			r.Unsure = s[c+1:at] != cfg.Passwd // the driver read it elsewhere
		}
	}
	if q := strings.IndexByte(s[slash:], '?'); q >= 0 {
		start := slash + q + 1
		r.Secrets = append(r.Secrets, dsnredact.QuerySecrets(s[start:], start)...)
	}
	return r
}

// Replication reads MySQL's and MariaDB's replication state (SHOW SLAVE
// STATUS, SHOW REPLICA STATUS) and MariaDB's GTID positions.
func (Adapter) Replication() topology.ReplicationReader { return replication{} }

type replication struct{}

// NewProbe returns the probe: MySQL's lag is the server's own figure, so
// nothing is measured and nothing carried between checks.
func (replication) NewProbe(time.Duration) topology.ReplicationProbe { return probe{} }

// Position is MariaDB's binlog GTID position (it includes the commit just
// made); ErrNoPosition on a server without one (MySQL, or GTIDs off).
func (replication) Position(ctx context.Context, writer topology.Querier) (topology.Position, error) {
	var gtid sql.NullString
	if err := writer.QueryRowContext(ctx, "SELECT @@gtid_binlog_pos").Scan(&gtid); err != nil {
		return topology.Position{}, err
	}
	if gtid.String == "" {
		return topology.Position{}, topology.ErrNoPosition
	}
	return topology.Position{GTID: gtid.String}, nil
}

// Replayed waits on the replica itself (MASTER_GTID_WAIT), for up to
// wait, for it to reach pos.GTID.
func (replication) Replayed(ctx context.Context, replica topology.Querier, pos topology.Position, wait time.Duration) (bool, error) {
	if pos.GTID == "" {
		return false, topology.ErrNoPosition
	}
	var result sql.NullInt64
	if err := replica.QueryRowContext(ctx, "SELECT MASTER_GTID_WAIT(?, ?)", pos.GTID, wait.Seconds()).Scan(&result); err != nil {
		return false, err
	}
	return result.Valid && result.Int64 == 0, nil
}

type probe struct{}

// Probe reads SHOW SLAVE STATUS (SHOW REPLICA STATUS on MySQL 8.4, which
// dropped the older statement) and MariaDB's @@gtid_slave_pos. No status
// row means the node replicates from nobody: lag 0. A NULL
// Seconds_Behind_Master means replication is broken.
func (probe) Probe(ctx context.Context, db topology.Querier) (topology.ReplicaState, error) {
	lag, ok, replica, err := replicaStatus(ctx, db, "SHOW SLAVE STATUS", "Seconds_Behind_Master")
	if err != nil {
		if ctx.Err() != nil {
			return topology.ReplicaState{}, err
		}
		var err2 error
		if lag, ok, replica, err2 = replicaStatus(ctx, db, "SHOW REPLICA STATUS", "Seconds_Behind_Source"); err2 != nil {
			return topology.ReplicaState{}, err
		}
	}
	res := topology.ReplicaState{Lag: lag, LagKnown: ok || !replica, Stale: replica && !ok, Replica: replica}
	var gtid sql.NullString
	// MySQL has no @@gtid_slave_pos: its error only means "no GTID".
	if err := db.QueryRowContext(ctx, "SELECT @@gtid_slave_pos").Scan(&gtid); err == nil {
		res.Position.GTID = gtid.String
	} else if ctx.Err() != nil {
		return topology.ReplicaState{}, err
	}
	return res, nil
}
