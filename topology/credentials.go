package topology

import (
	"context"
	"database/sql"
	"fmt"
	"github.com/grant-go/grant/internal/dsnredact"
	"io"
	"os"
	"strings"
	"sync/atomic"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"
)

// Credentials per connection (NodeConfig.Credentials, NodeConfig.PasswordFile)
// go through the drivers' own hooks, which the node's adapter knows
// (DialectAdapter.Credentials): pgx's stdlib.OptionBeforeConnect and
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

// hookable is what a dialector that takes a per-connection hook offers
// GORM: gorm's postgres (pgx) and mysql (go-sql-driver) dialectors
// implement every optional interface GORM looks for, so the wrapper can
// too.
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
	inner   hookable       // as the adapter made it: a DSN, no pool
	adapter DialectAdapter // the dialect's; nil when none is registered
	node    string         // "database/role/name", for errors
	dsn     string         // the node's DSN, whose password errors never show
	get     func(context.Context) (Credentials, error)
	// opened is the inner dialector's copy that opened the last pool: GORM
	// dialectors record what Initialize learns (the datetime precision,
	// the server's version) in their Config.
	opened atomic.Pointer[hookable]
}

// withCredentials returns d unchanged for a node without credentials, and
// otherwise d wrapped so that its pools call them for every new
// connection, through a, the adapter of d's dialect. node names the node
// in errors. Config.Validate has checked that d is one a can hook; if it
// is not, the wrapper's Initialize says so.
func withCredentials(a DialectAdapter, d gorm.Dialector, node string, nc NodeConfig) gorm.Dialector {
	get := credentialsSource(nc)
	if get == nil || d == nil {
		return d
	}
	h, ok := d.(hookable)
	if !ok {
		h = unhookable{d}
	}
	dsn := nc.DSN
	if dsn == "" && a != nil {
		dsn, _ = a.DSNOf(d)
	}
	return &credentialsDialector{inner: h, adapter: a, node: node, dsn: dsn, get: get}
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
	msg := err.Error()
	if pw := PasswordOf(d.dsn); pw != "" {
		msg = strings.ReplaceAll(msg, pw, redactedPassword)
	}
	return &NodeError{Node: d.node, DSN: RedactDSN(d.dsn), message: msg, cause: err}
}

// fill is the hook the adapter's connector calls before each connection
// logs in, with that connection's copy of the user and password: it asks
// for the credentials and sets those given (an empty User or Password
// keeps the DSN's).
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

// Initialize opens the pool with the hook: the adapter's connector for
// the inner dialector with fill as its hook, wrapped so that a connection
// the server refuses for its credentials is retried (authRetryConnector),
// under a copy of the inner dialector handed the pool. Nothing connects
// here.
func (d *credentialsDialector) Initialize(db *gorm.DB) error {
	raw, _ := unwrapCredentials(d)
	if d.adapter == nil {
		return fmt.Errorf("%s: %s", d.node, needsAdapter(raw.Name(), "credentials (password_file, Credentials)"))
	}
	hook, err := d.adapter.Credentials(raw)
	if err != nil {
		return err
	}
	connector, err := hook.Connector(d.fill)
	if err != nil {
		return err
	}
	refused := func(err error) bool { return d.adapter.Classify(err).Has(LoginRefused) }
	pool := sql.OpenDB(retryingAuth(connector, refused))
	opened, ok := hook.Dialector(pool).(hookable)
	if !ok {
		_ = pool.Close()
		return fmt.Errorf("the %s adapter's copy of the dialector over the hooked pool lacks what GORM looks for (savepoints, error translation)", d.adapter.Dialect())
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
	return &credentialsDialector{inner: h, adapter: d.adapter, node: d.node, dsn: d.dsn, get: d.get}, nil
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

// validateCredentials checks, for Config.Validate, that a node's
// credentials can be honoured: the adapter of its dialect must be
// registered and able to hook its dialector, which is made for the check
// (an Adapter does not connect). An adapter that returns nil is one not
// registered yet (config.Parse's stand-ins): Build checks again with the
// real one.
func (c *Config) validateCredentials(path string, n NodeConfig) error {
	if n.Credentials == nil && n.PasswordFile == "" || n.Dialector != nil {
		return nil
	}
	d := c.dsnDialector(n)
	if d == nil {
		return nil
	}
	key := "credentials"
	if n.PasswordFile != "" {
		key = "password_file"
	}
	a := c.adapterFor(n, d.Name())
	if a == nil {
		return &ConfigError{Path: path + ".adapter", Problem: fmt.Sprintf("adapter %s cannot take %s: %s", dsnredact.Quote(n.Adapter), key, needsAdapter(d.Name(), "a per-connection credentials hook"))}
	}
	if _, err := a.Credentials(d); err != nil {
		return &ConfigError{Path: path + ".adapter", Problem: fmt.Sprintf("adapter %s cannot take %s: %v", dsnredact.Quote(n.Adapter), key, err)}
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
	d := c.dsnDialector(n)
	if d == nil {
		return nil
	}
	return withCredentials(c.adapterFor(n, d.Name()), d, node, n)
}

// dsnDialector is the dialector n's adapter makes of its DSN, without
// credentials; nil when the adapter is unknown or makes none (config.Parse's
// stand-ins).
func (c *Config) dsnDialector(n NodeConfig) gorm.Dialector {
	if open := c.adapter(n.Adapter); open != nil {
		return open(n.DSN)
	}
	return nil
}

// unhookable stands for a dialector that lacks what GORM looks for beyond
// gorm.Dialector, so that the wrapper's Initialize reports why the adapter
// cannot hook it instead of a node panicking; Validate refuses such nodes
// first.
type unhookable struct{ gorm.Dialector }

func (unhookable) SavePoint(*gorm.DB, string) error  { return nil }
func (unhookable) RollbackTo(*gorm.DB, string) error { return nil }
func (unhookable) Translate(err error) error         { return err }
func (unhookable) Apply(*gorm.Config) error          { return nil }
