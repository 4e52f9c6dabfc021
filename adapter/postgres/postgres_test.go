package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	gormpg "gorm.io/driver/postgres"
	"gorm.io/gorm"

	"github.com/grant-go/grant/topology"
)

// Nothing listens on port 1: a connection attempt there is refused at
// once, after the credentials hook has run.
const closedDSN = "host=127.0.0.1 port=1 user=app password=dsn-s3cret dbname=app sslmode=disable connect_timeout=5"

func TestRegistered(t *testing.T) {
	for _, name := range []string{"postgres", "postgresql"} {
		a, ok := topology.LookupDialectAdapter(name)
		require.True(t, ok, name)
		assert.Equal(t, Adapter{}, a)
	}
	d := (Adapter{}).Open(closedDSN)
	assert.Equal(t, "postgres", d.Name())
	assert.IsType(t, &gormpg.Dialector{}, d)
}

func TestReadOnlyDSN(t *testing.T) {
	for dsn, want := range map[string]string{
		"postgres://u:p@h/db?sslmode=disable":  "postgres://u:p@h/db?default_transaction_read_only=on&sslmode=disable",
		"postgresql://u@h/db":                  "postgresql://u@h/db?default_transaction_read_only=on",
		"host=h dbname=db ":                    "host=h dbname=db default_transaction_read_only=on",
		"postgres://u@h/db?application_name=x": "postgres://u@h/db?application_name=x&default_transaction_read_only=on",
	} {
		got, err := (Adapter{}).ReadOnlyDSN(context.Background(), dsn, nil)
		require.NoError(t, err, dsn)
		assert.Equal(t, want, got)
	}
	_, err := (Adapter{}).ReadOnlyDSN(context.Background(), "postgres://u@h:bad port/db", nil)
	assert.ErrorContains(t, err, "does not parse as a URL")
}

func TestDSNOfAndWithDSN(t *testing.T) {
	a := Adapter{}
	d := gormpg.New(gormpg.Config{DSN: "host=a", PreferSimpleProtocol: true})
	dsn, err := a.DSNOf(d)
	require.NoError(t, err)
	assert.Equal(t, "host=a", dsn)
	c, err := a.WithDSN(d, "host=b")
	require.NoError(t, err)
	assert.Equal(t, "host=b", c.(*gormpg.Dialector).DSN)
	assert.True(t, c.(*gormpg.Dialector).PreferSimpleProtocol, "the rest of the configuration is kept")
	assert.Equal(t, "host=a", d.(*gormpg.Dialector).DSN, "the original is unchanged")

	_, err = a.DSNOf(gormpg.New(gormpg.Config{Conn: &sql.DB{}}))
	assert.ErrorContains(t, err, "wraps an open pool")
	_, err = a.DSNOf(otherDialector{})
	assert.ErrorContains(t, err, "is not gorm.io/driver/postgres's")
}

type otherDialector struct{ gorm.Dialector }

func (otherDialector) Name() string { return "postgres" }

func TestCredentialsNeedPgxOverADSN(t *testing.T) {
	a := Adapter{}
	for d, want := range map[gorm.Dialector]string{
		gormpg.New(gormpg.Config{Conn: &sql.DB{}}):                         "wraps an open pool (Conn)",
		gormpg.New(gormpg.Config{DSN: "host=h", DriverName: "cloudsqlpg"}): `database/sql driver "cloudsqlpg"; credentials need pgx`,
		gormpg.New(gormpg.Config{}):                                        "has no DSN",
		otherDialector{}:                                                   "credentials work with gorm's postgres dialector",
	} {
		_, err := a.Credentials(d)
		assert.ErrorContains(t, err, want)
	}
}

// The hook gets pgx's copy of the connection's user and password, and what
// it sets is what pgx logs in with; it runs for each connection attempt,
// before the dial.
func TestCredentialsHookRunsBeforeEachConnection(t *testing.T) {
	h, err := (Adapter{}).Credentials(gormpg.Open(closedDSN))
	require.NoError(t, err)
	var seen []string
	connector, err := h.Connector(func(_ context.Context, user, password *string) error {
		seen = append(seen, *user+":"+*password)
		*password = "rotated"
		return nil
	})
	require.NoError(t, err)
	_, err = connector.Connect(context.Background())
	require.ErrorIs(t, err, syscall.ECONNREFUSED)
	assert.NotContains(t, err.Error(), "rotated")
	_, err = connector.Connect(context.Background())
	require.Error(t, err)
	assert.Equal(t, []string{"app:dsn-s3cret", "app:dsn-s3cret"}, seen, "each attempt starts from the DSN's")

	hookErr := errors.New("secret store down")
	connector, err = h.Connector(func(context.Context, *string, *string) error { return hookErr })
	require.NoError(t, err)
	_, err = connector.Connect(context.Background())
	assert.ErrorIs(t, err, hookErr)

	pool := sql.OpenDB(connector)
	t.Cleanup(func() { _ = pool.Close() })
	over := h.Dialector(pool).(*gormpg.Dialector)
	assert.Same(t, pool, over.Conn)
	assert.Equal(t, closedDSN, over.DSN)
}

func TestClassify(t *testing.T) {
	a := Adapter{}
	refused := &pgconn.PgError{Severity: "FATAL", Code: "28P01"}
	for err, want := range map[error]topology.ErrorClass{
		refused:                                       topology.LoginRefused,
		&pgconn.PgError{Code: "28000"}:                topology.LoginRefused,
		&pgconn.PgError{Code: "3D000"}:                0,
		&pgconn.PgError{Code: "25006"}:                topology.ReadOnlyServer,
		&pgconn.PgError{Code: "57P01"}:                topology.ConnectionLost,
		&pgconn.PgError{Code: "57P03"}:                topology.ConnectionLost,
		&pgconn.PgError{Code: "08P01"}:                topology.ConnectionLost,
		fmt.Errorf("query: %w", pgconn.ErrConnClosed): topology.ConnectionLost,
		syscall.ECONNREFUSED:                          0, // the standard library's: topology knows them
		errors.New("other"):                           0,
	} {
		assert.Equal(t, want, a.Classify(err), "%v", err)
	}
}

func TestCancelKeyPID(t *testing.T) {
	_, ok := (Adapter{}).CancelKeyPID(struct{}{})
	assert.False(t, ok, "not a pgx connection")
}
