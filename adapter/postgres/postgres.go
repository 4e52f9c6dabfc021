package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
	gormpg "gorm.io/driver/postgres"
	"gorm.io/gorm"

	"github.com/grant-go/grant/topology"
)

func init() {
	topology.RegisterAdapter("postgres", Adapter{})
	topology.RegisterAdapter("postgresql", Adapter{})
}

// Adapter is grant's PostgreSQL adapter (topology.DialectAdapter); its
// zero value is ready to use. The package's init registers it as
// "postgres" and "postgresql".
type Adapter struct{}

var (
	_ topology.DialectAdapter  = Adapter{}
	_ topology.CancelKeyReader = Adapter{}
)

// Dialect is "postgres", the name GORM's postgres dialector reports.
func (Adapter) Dialect() string { return "postgres" }

// Open returns GORM's postgres dialector for dsn; it does not connect.
func (Adapter) Open(dsn string) gorm.Dialector { return gormpg.Open(dsn) }

// dialector is d as GORM's postgres dialector.
func dialector(d gorm.Dialector) (*gormpg.Dialector, error) {
	pd, ok := d.(*gormpg.Dialector)
	if !ok || pd.Config == nil {
		return nil, fmt.Errorf("the %s dialector (%T) is not gorm.io/driver/postgres's", d.Name(), d)
	}
	return pd, nil
}

// DSNOf returns the DSN d opens its pool from.
func (Adapter) DSNOf(d gorm.Dialector) (string, error) {
	pd, err := dialector(d)
	if err != nil {
		return "", err
	}
	if pd.Conn != nil || pd.DSN == "" {
		return "", fmt.Errorf("the postgres dialector (%T) wraps an open pool, not a DSN to open sessions from", d)
	}
	return pd.DSN, nil
}

// WithDSN returns a copy of d that opens its own pool from dsn.
func (Adapter) WithDSN(d gorm.Dialector, dsn string) (gorm.Dialector, error) {
	pd, err := dialector(d)
	if err != nil {
		return nil, err
	}
	cfg := *pd.Config
	cfg.DSN, cfg.Conn = dsn, nil
	return gormpg.New(cfg), nil
}

// ReadOnlyDSN adds default_transaction_read_only=on, which pgx sends as a
// startup parameter, to a URL or key=value DSN. It asks the server
// nothing.
func (Adapter) ReadOnlyDSN(_ context.Context, dsn string, _ topology.Querier) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", errors.New("the DSN does not parse as a URL")
		}
		q := u.Query()
		q.Set("default_transaction_read_only", "on")
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return strings.TrimSpace(dsn) + " default_transaction_read_only=on", nil
}

// Credentials hooks d's pools through pgx's stdlib.OptionBeforeConnect: d
// must open its pool from a DSN, through pgx used directly.
func (Adapter) Credentials(d gorm.Dialector) (topology.CredentialsHook, error) {
	pd, err := dialector(d)
	if err != nil {
		return nil, fmt.Errorf("%w: credentials work with gorm's postgres dialector", err)
	}
	switch {
	case pd.Conn != nil:
		return nil, errors.New("the postgres dialector wraps an open pool (Conn), which grant cannot give a per-connection hook")
	case pd.DriverName != "":
		return nil, fmt.Errorf("the postgres dialector opens its pool through the database/sql driver %q; credentials need pgx, used directly (DriverName empty)", pd.DriverName)
	case pd.DSN == "":
		return nil, errors.New("the postgres dialector has no DSN")
	}
	return hook{cfg: *pd.Config}, nil
}

// hook is a postgres dialector's configuration, to be opened with a hook.
type hook struct{ cfg gormpg.Config }

// Connector is pgx's connector as the dialector would build it
// (connector), with stdlib.OptionBeforeConnect next to the dialector's own
// options.
func (h hook) Connector(before func(ctx context.Context, user, password *string) error) (driver.Connector, error) {
	return connector(h.cfg, stdlib.OptionBeforeConnect(func(ctx context.Context, c *pgx.ConnConfig) error {
		return before(ctx, &c.User, &c.Password)
	}))
}

// Dialector is a copy of the dialector over pool.
func (h hook) Dialector(pool *sql.DB) gorm.Dialector {
	cfg := h.cfg
	cfg.Conn = pool
	return &gormpg.Dialector{Config: &cfg}
}

// connector builds the pgx connector gorm's postgres dialector
// (gorm.io/driver/postgres v1.6.3, Initialize) opens its pool from when it
// has a DSN and no DriverName, with extra options after the dialector's:
// the DSN parsed by pgx, PreferSimpleProtocol, and a time zone in the DSN
// as the session's and for scanning timestamps.
func connector(cfg gormpg.Config, extra ...stdlib.OptionOpenDB) (driver.Connector, error) {
	config, err := pgx.ParseConfig(cfg.DSN)
	if err != nil {
		return nil, err
	}
	if cfg.PreferSimpleProtocol {
		config.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	}
	opts := append(slices.Clip(cfg.OptionOpenDB), extra...)
	if m := timeZone.FindStringSubmatch(cfg.DSN); len(m) > 2 {
		zone := m[2]
		config.RuntimeParams["timezone"] = zone
		opts = append(opts, stdlib.OptionAfterConnect(func(_ context.Context, conn *pgx.Conn) error {
			loc, err := time.LoadLocation(zone)
			if err != nil {
				return err
			}
			conn.TypeMap().RegisterType(&pgtype.Type{Name: "timestamp", OID: pgtype.TimestampOID, Codec: &pgtype.TimestampCodec{ScanLocation: loc}})
			return nil
		}))
	}
	return stdlib.GetConnector(*config, opts...), nil
}

// timeZone is gorm's postgres dialector's time zone matcher.
var timeZone = regexp.MustCompile("(time_zone|TimeZone|timezone)=(.*?)($|&| )")

// Classify reads pgx's errors:
//
//   - ConnectionLost: a connection that could not be made
//     (*pgconn.ConnectError), was closed, or that pgx says is safe to
//     retry; SQLSTATE class 08 (connection exception) and 57P01-57P03
//     (the server is shutting down, crashed, or not accepting connections
//     yet);
//   - LoginRefused: SQLSTATE 28P01 (invalid_password) or 28000
//     (invalid_authorization_specification: no such role, or no
//     pg_hba.conf entry for it);
//   - ReadOnlyServer: SQLSTATE 25006 (read_only_sql_transaction: a
//     read-only session, or a standby).
func (Adapter) Classify(err error) topology.ErrorClass {
	var c topology.ErrorClass
	var (
		connectErr *pgconn.ConnectError
		pgErr      *pgconn.PgError
	)
	if errors.Is(err, pgconn.ErrConnClosed) || errors.As(err, &connectErr) || pgconn.SafeToRetry(err) {
		c |= topology.ConnectionLost
	}
	if errors.As(err, &pgErr) {
		switch code := pgErr.Code; {
		case strings.HasPrefix(code, "08"), code == "57P01", code == "57P02", code == "57P03":
			c |= topology.ConnectionLost
		case code == "28P01", code == "28000":
			c |= topology.LoginRefused
		case code == "25006":
			c |= topology.ReadOnlyServer
		}
	}
	return c
}

// DSNSecrets finds nothing of its own: PostgreSQL's URL and key=value DSNs
// are forms grant reads itself, with pgx's rules.
func (Adapter) DSNSecrets(string) topology.DSNReading { return topology.DSNReading{} }

// CancelKeyPID returns the backend process id of a pgx connection's cancel
// key.
func (Adapter) CancelKeyPID(driverConn any) (uint32, bool) {
	if c, ok := driverConn.(interface{ Conn() *pgx.Conn }); ok && c.Conn() != nil {
		return c.Conn().PgConn().PID(), true
	}
	return 0, false
}
