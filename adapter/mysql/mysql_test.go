package mysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"net/url"
	"strings"
	"syscall"
	"testing"

	mysqldriver "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	gormmysql "gorm.io/driver/mysql"
	"gorm.io/gorm"

	"github.com/grant-go/grant/internal/noopdriver"
	"github.com/grant-go/grant/topology"
)

// Nothing listens on port 1: a connection attempt there is refused at
// once, after the credentials hook has run.
const closedDSN = "app:dsn-s3cret@tcp(127.0.0.1:1)/app?timeout=5s"

func TestRegistered(t *testing.T) {
	for _, name := range []string{"mysql", "mariadb"} {
		a, ok := topology.LookupDialectAdapter(name)
		require.True(t, ok, name)
		assert.Equal(t, Adapter{}, a)
	}
	d := (Adapter{}).Open(closedDSN)
	assert.Equal(t, "mysql", d.Name())
	assert.True(t, d.(*gormmysql.Dialector).SkipInitializeWithVersion, "opening asks the server nothing")
}

// redactCases are MySQL driver DSNs with each secret marked ‹thus›:
// grant's redaction, with this adapter registered, replaces each marked
// span and keeps the rest.
var redactCases = []string{
	"alice:‹s3cret›@tcp(127.0.0.1:3306)/app?parseTime=true",
	"u:‹p@ss›@tcp(h:3306)/db",
	"u:‹a/b?c:d%e f'g›@tcp(h:3306)/db?parseTime=true&loc=UTC",
	"u:‹s3cret›@tcp([::1]:3306)/db",
	"u:‹s3cret›@unix(/tmp/mysql.sock)/db",
	"u:‹s3cret›@tcp(h)/db?x=1&sslpassword=‹other›",
	"u:@tcp(h:3306)/db",
	"root@tcp(127.0.0.1:3306)/test?parseTime=true",
}

func unmark(marked string) (dsn, want string, raws []string) {
	var in, out strings.Builder
	for rest := marked; rest != ""; {
		before, after, ok := strings.Cut(rest, "‹")
		in.WriteString(before)
		out.WriteString(before)
		if !ok {
			break
		}
		raw, tail, _ := strings.Cut(after, "›")
		in.WriteString(raw)
		out.WriteString("xxxxx")
		raws = append(raws, raw)
		rest = tail
	}
	return in.String(), out.String(), raws
}

func TestRedactDSN(t *testing.T) {
	for _, marked := range redactCases {
		in, want, raws := unmark(marked)
		assert.Equal(t, want, topology.RedactDSN(in))
		pw := ""
		if len(raws) > 0 {
			pw = raws[0]
		}
		assert.Equal(t, pw, topology.PasswordOf(in), in)
	}
	// A password the driver reads elsewhere than where it is written: the
	// DSN is hidden whole.
	r := (Adapter{}).DSNSecrets("u:p@ss@tcp(h)/db@x")
	if r.Parses && r.Unsure {
		assert.Equal(t, "<unparsable DSN redacted>", topology.RedactDSN("u:p@ss@tcp(h)/db@x"))
	}
	assert.Equal(t, topology.DSNReading{}, (Adapter{}).DSNSecrets("not a mysql dsn"))
}

// FuzzRedactDSN checks that for any text mysql.ParseDSN accepts with a
// password, the redaction shows that password neither as written nor
// percent-encoded, unless the text also holds it elsewhere.
func FuzzRedactDSN(f *testing.F) {
	for _, marked := range redactCases {
		dsn, _, _ := unmark(marked)
		f.Add(dsn)
	}
	f.Fuzz(func(t *testing.T, dsn string) {
		cfg, err := mysqldriver.ParseDSN(dsn)
		if err != nil || cfg.Passwd == "" {
			return
		}
		out := topology.RedactDSN(dsn)
		for _, form := range []string{cfg.Passwd, url.QueryEscape(cfg.Passwd), url.PathEscape(cfg.Passwd)} {
			if strings.Contains("xxxxx<unparsable DSN redacted>", form) || strings.Count(dsn, form) > 1 {
				continue
			}
			if strings.Contains(out, form) {
				t.Fatalf("RedactDSN(%q) = %q shows the password %q as %q", dsn, out, cfg.Passwd, form)
			}
		}
	})
}

// version answers SELECT VERSION() with v.
func version(t *testing.T, v string) *sql.DB {
	db := noopdriver.Open(noopdriver.Options{Columns: []string{"version"}, Row: []driver.Value{v}})
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestReadOnlyDSNAsksTheServerWhichVariable(t *testing.T) {
	a := Adapter{}
	ctx := context.Background()
	got, err := a.ReadOnlyDSN(ctx, "u:p@tcp(h:3306)/db?parseTime=true", version(t, "10.11.6-MariaDB-log"))
	require.NoError(t, err)
	assert.Equal(t, "u:p@tcp(h:3306)/db?parseTime=true&tx_read_only=1", got)
	got, err = a.ReadOnlyDSN(ctx, "u:p@tcp(h:3306)/db", version(t, "8.4.0"))
	require.NoError(t, err)
	assert.Equal(t, "u:p@tcp(h:3306)/db?transaction_read_only=1", got)

	got, err = a.ReadOnlyDSN(ctx, "u:p@tcp(h:3306)/db", nil)
	require.NoError(t, err, "checking only: no server to ask")
	assert.Equal(t, "u:p@tcp(h:3306)/db", got)
	_, err = a.ReadOnlyDSN(ctx, "u:p@tcp(h:3306", nil)
	assert.ErrorContains(t, err, "does not parse")
}

func TestDSNOfAndWithDSN(t *testing.T) {
	a := Adapter{}
	d := a.Open("u:p@tcp(a)/db")
	dsn, err := a.DSNOf(d)
	require.NoError(t, err)
	assert.Equal(t, "u:p@tcp(a)/db", dsn)
	c, err := a.WithDSN(d, "u:p@tcp(b)/db")
	require.NoError(t, err)
	assert.Equal(t, "u:p@tcp(b)/db", c.(*gormmysql.Dialector).DSN)
	assert.Equal(t, "b:3306", c.(*gormmysql.Dialector).DSNConfig.Addr)
	assert.True(t, c.(*gormmysql.Dialector).SkipInitializeWithVersion, "the rest of the configuration is kept")

	cfg, err := mysqldriver.ParseDSN("u:p@tcp(c)/db")
	require.NoError(t, err)
	dsn, err = a.DSNOf(&gormmysql.Dialector{Config: &gormmysql.Config{DSNConfig: cfg}})
	require.NoError(t, err)
	assert.Equal(t, cfg.FormatDSN(), dsn, "a DSNConfig without a DSN string")
	_, err = a.DSNOf(gormmysql.New(gormmysql.Config{Conn: &sql.DB{}}))
	assert.ErrorContains(t, err, "wraps an open pool")
}

type otherDialector struct{ gorm.Dialector }

func (otherDialector) Name() string { return "mysql" }

func TestCredentialsNeedGoSQLDriverOverADSN(t *testing.T) {
	a := Adapter{}
	for d, want := range map[gorm.Dialector]string{
		gormmysql.New(gormmysql.Config{Conn: &sql.DB{}}):                     "wraps an open pool (Conn)",
		gormmysql.New(gormmysql.Config{DSN: "u@tcp(h)/db", DriverName: "x"}): `database/sql driver "x"; credentials need go-sql-driver/mysql`,
		gormmysql.New(gormmysql.Config{}):                                    "has no DSN",
		otherDialector{}:                                                     "credentials work with gorm's mysql dialector",
	} {
		_, err := a.Credentials(d)
		assert.ErrorContains(t, err, want)
	}
	_, err := a.Credentials(gormmysql.New(gormmysql.Config{DSN: "u@tcp(h)/db", DriverName: "mysql"}))
	assert.NoError(t, err)
}

// The hook gets go-sql-driver's copy of the connection's user and
// password; it runs for each connection attempt, before the dial.
func TestCredentialsHookRunsBeforeEachConnection(t *testing.T) {
	h, err := (Adapter{}).Credentials((Adapter{}).Open(closedDSN))
	require.NoError(t, err)
	var seen []string
	connector, err := h.Connector(func(_ context.Context, user, password *string) error {
		seen = append(seen, *user+":"+*password)
		*user, *password = "other", "rotated"
		return nil
	})
	require.NoError(t, err)
	for range 2 {
		_, err = connector.Connect(context.Background())
		require.ErrorIs(t, err, syscall.ECONNREFUSED)
	}
	assert.Equal(t, []string{"app:dsn-s3cret", "app:dsn-s3cret"}, seen, "each attempt starts from the DSN's")

	hookErr := errors.New("secret store down")
	connector, err = h.Connector(func(context.Context, *string, *string) error { return hookErr })
	require.NoError(t, err)
	_, err = connector.Connect(context.Background())
	assert.ErrorIs(t, err, hookErr)

	pool := sql.OpenDB(connector)
	t.Cleanup(func() { _ = pool.Close() })
	assert.Same(t, pool, h.Dialector(pool).(*gormmysql.Dialector).Conn)
}

func TestClassify(t *testing.T) {
	a := Adapter{}
	for err, want := range map[error]topology.ErrorClass{
		&mysqldriver.MySQLError{Number: 1045}: topology.LoginRefused,
		&mysqldriver.MySQLError{Number: 1049}: 0,
		&mysqldriver.MySQLError{Number: 1290}: topology.ReadOnlyServer,
		&mysqldriver.MySQLError{Number: 1792}: topology.ReadOnlyServer,
		&mysqldriver.MySQLError{Number: 1053}: topology.ConnectionLost,
		&mysqldriver.MySQLError{Number: 1077}: topology.ConnectionLost,
		&mysqldriver.MySQLError{Number: 1927}: topology.ConnectionLost,
		&mysqldriver.MySQLError{Number: 4031}: topology.ConnectionLost,
		mysqldriver.ErrInvalidConn:            topology.ConnectionLost,
		errors.New("other"):                   0,
	} {
		assert.Equal(t, want, a.Classify(err), "%v", err)
	}
}
