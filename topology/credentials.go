package topology

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"
)

// Credentials per connection (NodeConfig.Credentials, NodeConfig.PasswordFile)
// go through the drivers' own hooks: pgx's stdlib.OptionBeforeConnect and
// go-sql-driver's BeforeConnect, each called by database/sql's connector
// for every new connection of the pool, with a private copy of the
// connection's configuration to change. A node with credentials gets a
// credentialsDialector in place of its adapter's dialector. Building it
// costs one small allocation and opens nothing; the pool, with the hook,
// is made in Initialize, which runs when the node's pool opens (and again
// for the node's read-only pool, and whenever a closed pool reopens).

// maxPasswordFile bounds what a password file may hold: a password or a
// token (an AWS RDS IAM token is about 1.5 KB), not a misnamed log file.
const maxPasswordFile = 64 << 10

// hookable is what grant can give a per-connection hook: gorm's postgres
// (pgx) and mysql (go-sql-driver) dialectors, opening their pools from a
// DSN. Both implement every optional interface GORM looks for, so the
// wrapper can too.
type hookable interface {
	gorm.Dialector
	gorm.SavePointerDialectorInterface
	gorm.ErrorTranslator
	Apply(*gorm.Config) error
}

// credentialsDialector opens its inner dialector's pool so that every new
// connection asks get for its user and password. Once initialized it is,
// for GORM, the initialized inner dialector (SQL building, migrator,
// savepoints, error translation), so it can also be a handle's dialector.
type credentialsDialector struct {
	inner hookable // as the adapter made it: a DSN, no pool
	node  string   // "database/role/name", for errors
	get   func(context.Context) (Credentials, error)
	// opened is the inner dialector's copy that opened the last pool: GORM
	// dialectors record what Initialize learns (the datetime precision,
	// the server's version) in their Config.
	opened atomic.Pointer[hookable]
}

// withCredentials returns d unchanged for a node without credentials, and
// otherwise d wrapped so that its pools call them for every new
// connection. node names the node in errors. Config.Validate has checked
// that d is one grant can wrap; if it is not, the wrapper's Initialize
// says so.
func withCredentials(d gorm.Dialector, node string, nc NodeConfig) gorm.Dialector {
	get := credentialsSource(nc)
	if get == nil || d == nil {
		return d
	}
	h, ok := d.(hookable)
	if !ok {
		h = unhookable{d}
	}
	return &credentialsDialector{inner: h, node: node, get: get}
}

// credentialsSource is the node's Credentials, or a reader of its
// PasswordFile; nil when it has neither.
func credentialsSource(nc NodeConfig) func(context.Context) (Credentials, error) {
	switch {
	case nc.Credentials != nil:
		return nc.Credentials
	case nc.PasswordFile != "":
		path := nc.PasswordFile
		return func(context.Context) (Credentials, error) {
			pw, err := readPasswordFile(path)
			return Credentials{Password: pw}, err
		}
	}
	return nil
}

// readPasswordFile reads a password file as NodeConfig.PasswordFile
// describes: its content without trailing line breaks, which must leave
// something. Errors name the file, never its content.
func readPasswordFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("reading password file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPasswordFile+1))
	if err != nil {
		return "", fmt.Errorf("reading password file %s: %w", path, err)
	}
	if len(data) > maxPasswordFile {
		return "", fmt.Errorf("password file %s holds more than %d KiB: not a password", path, maxPasswordFile>>10)
	}
	pw := strings.TrimRight(string(data), "\r\n")
	if pw == "" {
		// An empty file is most often one being rewritten in place: failing
		// the connection is better than trying an empty password.
		return "", fmt.Errorf("password file %s is empty (replace a password file by renaming a complete one over it)", path)
	}
	return pw, nil
}

// credentials calls the node's source for one new connection. Its error is
// a *NodeError naming the node, wrapping the source's error.
func (d *credentialsDialector) credentials(ctx context.Context) (Credentials, error) {
	c, err := d.get(ctx)
	if err != nil {
		return Credentials{}, d.fail(fmt.Errorf("credentials for a new connection: %w", err))
	}
	return c, nil
}

// fail makes err a *NodeError naming the node, with its DSN redacted and
// the DSN's password scrubbed from the message.
func (d *credentialsDialector) fail(err error) error {
	dsn, _ := innerDSN(d.inner)
	msg := err.Error()
	if pw := PasswordOf(dsn); pw != "" {
		msg = strings.ReplaceAll(msg, pw, redactedPassword)
	}
	return &NodeError{Node: d.node, DSN: RedactDSN(dsn), message: msg, cause: err}
}

// beforePostgres is pgx's BeforeConnect: c is this connection's copy of the
// configuration. An empty User or Password keeps the DSN's.
func (d *credentialsDialector) beforePostgres(ctx context.Context, c *pgx.ConnConfig) error {
	return d.fill(ctx, &c.User, &c.Password)
}

// beforeMySQL is go-sql-driver's BeforeConnect, with the same rules.
func (d *credentialsDialector) beforeMySQL(ctx context.Context, c *mysqldriver.Config) error {
	return d.fill(ctx, &c.User, &c.Passwd)
}

// fill asks for the credentials and sets those given.
func (d *credentialsDialector) fill(ctx context.Context, user, password *string) error {
	cred, err := d.credentials(ctx)
	if err != nil {
		return err
	}
	if cred.User != "" {
		*user = cred.User
	}
	if cred.Password != "" {
		*password = cred.Password
	}
	return nil
}

// Initialize opens the pool with the hook on a copy of the inner
// dialector, handed to it as its Conn: pgx's connector as the dialector
// would build it (postgresConnector), with stdlib.OptionBeforeConnect next
// to the dialector's own options; MySQL's from mysql.NewConnector with
// BeforeConnect. Either connector is wrapped so that a connection the
// server refuses for its credentials is retried (authRetryConnector).
// Nothing connects here.
func (d *credentialsDialector) Initialize(db *gorm.DB) error {
	if err := credentialsProblem(d.inner); err != nil {
		return err
	}
	var (
		connector driver.Connector
		refused   func(error) bool
		opened    hookable
	)
	switch in := d.inner.(type) {
	case *postgres.Dialector:
		c, err := postgresConnector(*in.Config, stdlib.OptionBeforeConnect(d.beforePostgres))
		if err != nil {
			return err
		}
		connector, refused = c, postgresRefused
		cfg := *in.Config
		opened = &postgres.Dialector{Config: &cfg}
	case *mysql.Dialector:
		dsnConfig, err := mysqldriver.ParseDSN(in.DSN)
		if err != nil {
			return err
		}
		if err := dsnConfig.Apply(mysqldriver.BeforeConnect(d.beforeMySQL)); err != nil {
			return err
		}
		c, err := mysqldriver.NewConnector(dsnConfig)
		if err != nil {
			return err
		}
		connector, refused = c, mysqlRefused
		cfg := *in.Config
		opened = &mysql.Dialector{Config: &cfg}
	}
	pool := sql.OpenDB(retryingAuth(connector, refused))
	switch o := opened.(type) {
	case *postgres.Dialector:
		o.Conn = pool
	case *mysql.Dialector:
		o.Conn = pool
	}
	if err := opened.Initialize(db); err != nil {
		if db.ConnPool != pool { // gorm.Open closes db's pool itself
			_ = pool.Close()
		}
		return err
	}
	d.opened.Store(&opened)
	return nil
}

// postgresConnector builds the pgx connector gorm's postgres dialector
// (gorm.io/driver/postgres v1.6.3, Initialize) opens its pool from when it
// has a DSN and no DriverName, with extra options after the dialector's:
// the DSN parsed by pgx, PreferSimpleProtocol, and a time zone in the DSN
// as the session's and for scanning timestamps.
func postgresConnector(cfg postgres.Config, extra ...stdlib.OptionOpenDB) (driver.Connector, error) {
	config, err := pgx.ParseConfig(cfg.DSN)
	if err != nil {
		return nil, err
	}
	if cfg.PreferSimpleProtocol {
		config.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	}
	opts := append(slices.Clip(cfg.OptionOpenDB), extra...)
	if m := pgTimeZone.FindStringSubmatch(cfg.DSN); len(m) > 2 {
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

// pgTimeZone is gorm's postgres dialector's time zone matcher.
var pgTimeZone = regexp.MustCompile("(time_zone|TimeZone|timezone)=(.*?)($|&| )")

// current is the dialector GORM should see: the copy that opened the last
// pool, or the adapter's before any did.
func (d *credentialsDialector) current() hookable {
	if o := d.opened.Load(); o != nil {
		return *o
	}
	return d.inner
}

// with returns a dialector like d over another inner dialector (the same
// node's DSN with a setting added, for its read-only pool).
func (d *credentialsDialector) with(inner gorm.Dialector) (gorm.Dialector, error) {
	h, ok := inner.(hookable)
	if !ok {
		return nil, fmt.Errorf("%w: a copy of the %s dialector (%T) cannot take credentials", ErrNoReadOnlySession, inner.Name(), inner)
	}
	return &credentialsDialector{inner: h, node: d.node, get: d.get}, nil
}

// The rest of gorm.Dialector and the optional interfaces GORM looks for are
// the inner dialector's.

func (d *credentialsDialector) Name() string                       { return d.inner.Name() }
func (d *credentialsDialector) Apply(c *gorm.Config) error         { return d.current().Apply(c) }
func (d *credentialsDialector) Migrator(db *gorm.DB) gorm.Migrator { return d.current().Migrator(db) }
func (d *credentialsDialector) DataTypeOf(f *schema.Field) string  { return d.current().DataTypeOf(f) }
func (d *credentialsDialector) QuoteTo(w clause.Writer, s string)  { d.current().QuoteTo(w, s) }
func (d *credentialsDialector) Translate(err error) error          { return d.current().Translate(err) }
func (d *credentialsDialector) SavePoint(tx *gorm.DB, n string) error {
	return d.current().SavePoint(tx, n)
}
func (d *credentialsDialector) RollbackTo(tx *gorm.DB, n string) error {
	return d.current().RollbackTo(tx, n)
}
func (d *credentialsDialector) DefaultValueOf(f *schema.Field) clause.Expression {
	return d.current().DefaultValueOf(f)
}
func (d *credentialsDialector) BindVarTo(w clause.Writer, stmt *gorm.Statement, v any) {
	d.current().BindVarTo(w, stmt, v)
}
func (d *credentialsDialector) Explain(sql string, vars ...any) string {
	return d.current().Explain(sql, vars...)
}

// innerDSN is the DSN the inner dialector opens its pool from.
func innerDSN(d gorm.Dialector) (string, bool) {
	switch d := d.(type) {
	case *postgres.Dialector:
		return d.DSN, true
	case *mysql.Dialector:
		return d.DSN, true
	}
	return "", false
}

// credentialsProblem says why grant cannot give d's pools a per-connection
// hook, or nil when it can: d must be gorm's postgres or mysql dialector
// opening its pool from a DSN through pgx or go-sql-driver.
func credentialsProblem(d gorm.Dialector) error {
	switch d := d.(type) {
	case *postgres.Dialector:
		switch {
		case d.Conn != nil:
			return errors.New("the postgres dialector wraps an open pool (Conn), which grant cannot give a per-connection hook")
		case d.DriverName != "":
			return fmt.Errorf("the postgres dialector opens its pool through the database/sql driver %s; credentials need pgx, used directly (DriverName empty)", quoteValue(d.DriverName))
		case d.DSN == "":
			return errors.New("the postgres dialector has no DSN")
		}
		return nil
	case *mysql.Dialector:
		switch {
		case d.Conn != nil:
			return errors.New("the mysql dialector wraps an open pool (Conn), which grant cannot give a per-connection hook")
		case d.DriverName != "" && d.DriverName != mysql.DefaultDriverName:
			return fmt.Errorf("the mysql dialector opens its pool through the database/sql driver %s; credentials need go-sql-driver/mysql (DriverName empty or \"mysql\")", quoteValue(d.DriverName))
		case d.DSN == "":
			return errors.New("the mysql dialector has no DSN")
		}
		return nil
	case unhookable:
		return credentialsProblem(d.Dialector)
	}
	return fmt.Errorf("a %s dialector (%T) opens its own pool, which grant cannot give a per-connection hook: credentials work with gorm's postgres (pgx) and mysql (go-sql-driver) dialectors", d.Name(), d)
}

// validateCredentials checks, for Config.Validate, that a node's
// credentials can be honoured: its adapter must make a dialector grant can
// hook. The built-in adapters always do; a custom one is called (an Adapter
// does not connect) and its dialector inspected. An adapter that returns
// nil is one not registered yet (config.Parse's stand-ins): Build checks
// again with the real one.
func (c *Config) validateCredentials(path string, n NodeConfig) error {
	if n.Credentials == nil && n.PasswordFile == "" || n.Dialector != nil {
		return nil
	}
	a, custom := c.Adapters[n.Adapter]
	if !custom || a == nil {
		return nil
	}
	d := a(n.DSN)
	if d == nil {
		return nil
	}
	if err := credentialsProblem(d); err != nil {
		key := "credentials"
		if n.PasswordFile != "" {
			key = "password_file"
		}
		return &ConfigError{Path: path + ".adapter", Problem: fmt.Sprintf("adapter %s cannot take %s: %v", quoteValue(n.Adapter), key, err)}
	}
	return nil
}

// NodeDialector returns the dialector a node's pools open through: its
// Dialector if it has one, else its adapter's for its DSN, which with
// Credentials or PasswordFile calls them for every new connection. node
// names the node in errors ("primary/writing/writer"). It opens nothing;
// nil means the adapter is unknown. Tools that open a node's pool
// themselves (the grant CLI's handle) use it, so that they log in as
// grant does.
func (c *Config) NodeDialector(node string, n NodeConfig) gorm.Dialector {
	if n.Dialector != nil {
		return n.Dialector
	}
	a := c.adapter(n.Adapter)
	if a == nil {
		return nil
	}
	return withCredentials(a(n.DSN), node, n)
}

// unhookable stands for a dialector grant cannot wrap, so that the
// wrapper's Initialize reports why instead of a node panicking; Validate
// refuses such nodes first.
type unhookable struct{ gorm.Dialector }

func (unhookable) SavePoint(*gorm.DB, string) error  { return nil }
func (unhookable) RollbackTo(*gorm.DB, string) error { return nil }
func (unhookable) Translate(err error) error         { return err }
func (unhookable) Apply(*gorm.Config) error          { return nil }
