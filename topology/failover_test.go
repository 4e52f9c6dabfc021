package topology

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
)

// refused is a dial error as net.Dial returns it.
var refused = &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}

func TestIsConnectionErrorOnRealErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Real errors from dialing a port nobody listens on.
	_, dialErr := (&net.Dialer{}).DialContext(ctx, "tcp", "127.0.0.1:1")
	require.Error(t, dialErr)
	_, pgErr := pgconn.Connect(ctx, "host=127.0.0.1 port=1 user=x dbname=x sslmode=disable connect_timeout=2")
	require.Error(t, pgErr)
	mysqlDB, err := sql.Open("mysql", "u:p@tcp(127.0.0.1:1)/x?timeout=2s")
	require.NoError(t, err)
	defer mysqlDB.Close()
	mysqlErr := mysqlDB.PingContext(ctx)
	require.Error(t, mysqlErr)
	pgDB, err := sql.Open("pgx", "host=127.0.0.1 port=1 user=x dbname=x sslmode=disable connect_timeout=2")
	require.NoError(t, err)
	defer pgDB.Close()
	_, pgStdlibErr := pgDB.QueryContext(ctx, "SELECT 1")
	require.Error(t, pgStdlibErr)

	connection := map[string]error{
		"net.Dial refused":             dialErr,
		"pgconn.Connect refused":       pgErr,
		"pgx stdlib query refused":     pgStdlibErr,
		"go-sql-driver ping refused":   mysqlErr,
		"driver.ErrBadConn":            driver.ErrBadConn,
		"wrapped io.EOF":               fmt.Errorf("reading: %w", io.EOF),
		"io.ErrUnexpectedEOF":          io.ErrUnexpectedEOF,
		"ECONNRESET":                   &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)},
		"bare ECONNREFUSED":            syscall.ECONNREFUSED,
		"broken pipe":                  os.NewSyscallError("write", syscall.EPIPE),
		"net.ErrClosed":                fmt.Errorf("use of conn: %w", net.ErrClosed),
		"mysql.ErrInvalidConn":         mysql.ErrInvalidConn,
		"MariaDB connection killed":    &mysql.MySQLError{Number: 1927, Message: "Connection was killed"},
		"MariaDB server shutdown":      &mysql.MySQLError{Number: 1053, Message: "Server shutdown in progress"},
		"PostgreSQL admin shutdown":    &pgconn.PgError{Severity: "FATAL", Code: "57P01", Message: "terminating connection due to administrator command"},
		"PostgreSQL starting up":       &pgconn.PgError{Severity: "FATAL", Code: "57P03", Message: "the database system is starting up"},
		"PostgreSQL connection lost":   &pgconn.PgError{Code: "08006"},
		"pgconn.ErrConnClosed wrapped": fmt.Errorf("query: %w", pgconn.ErrConnClosed),
		"node that cannot open":        &NodeError{Node: "primary/reading/1", message: "bad DSN", cause: errors.New("bad DSN")},
	}
	for name, err := range connection {
		assert.True(t, isConnectionError(err), "%s: %T %v", name, err, err)
	}
	statement := map[string]error{
		"nil":                     nil,
		"syntax error":            &pgconn.PgError{Severity: "ERROR", Code: "42601", Message: "syntax error"},
		"undefined table":         &pgconn.PgError{Severity: "ERROR", Code: "42P01"},
		"serialization failure":   &pgconn.PgError{Code: "40001"},
		"MariaDB no such table":   &mysql.MySQLError{Number: 1146, Message: "Table 'x.y' doesn't exist"},
		"MariaDB duplicate key":   &mysql.MySQLError{Number: 1062},
		"context canceled":        context.Canceled,
		"deadline exceeded":       context.DeadlineExceeded,
		"sql.ErrNoRows":           sql.ErrNoRows,
		"gorm.ErrRecordNotFound":  gorm.ErrRecordNotFound,
		"plain error":             errors.New("pq: permission denied"),
		"ErrNoHealthyReplica":     ErrNoHealthyReplica,
		"grant route error":       &RouteError{Err: ErrReadOnly},
		"scan conversion failure": fmt.Errorf("sql: Scan error on column index 0: %w", errors.New("converting")),
	}
	for name, err := range statement {
		assert.False(t, isConnectionError(err), "%s: %T %v", name, err, err)
	}
}

// failoverFixture is a database with a writer and two replicas on fake
// servers, health checks marked running (no goroutine: nothing checks them).
func failoverFixture(t *testing.T, hc HealthConfig) (d *Database, w, r1, r2 *fakeServer) {
	w, r1, r2 = newFakeServer("writer"), newFakeServer("r1"), newFakeServer("r2")
	hc.Interval = time.Hour
	_, d = fakeTopology(t, hc, w, r1, r2)
	checksOn(t, d)
	return d, w, r1, r2
}

func TestPoolHandsOutFailoverOnlyWhileChecksRun(t *testing.T) {
	d, _, _, _ := failoverFixture(t, HealthConfig{})
	r1 := d.Replicas()[0]
	for _, prepared := range []bool{false, true} {
		pool, err := r1.Pool(prepared)
		require.NoError(t, err)
		fp, ok := pool.(interface{ Node() *Node })
		require.True(t, ok, "%T", pool)
		assert.Same(t, r1, fp.Node())
		again, _ := r1.Pool(prepared)
		assert.Same(t, pool, again, "one wrapper per node, made at Build")
	}
	allocs := testing.AllocsPerRun(1000, func() { _, _ = r1.Pool(true) })
	assert.Zero(t, allocs)

	w, _ := d.Writer().Pool(false)
	assert.IsType(t, &sql.DB{}, w, "writers never get a failover wrapper")

	d.checking.Store(false)
	pool, err := r1.Pool(false)
	require.NoError(t, err)
	assert.IsType(t, &sql.DB{}, pool, "with checks stopped nothing would bring a failed replica back: no failover")
	prepared, err := r1.Pool(true)
	require.NoError(t, err)
	assert.IsType(t, &gorm.PreparedStmtDB{}, prepared)
}

func TestFailoverRetriesAReadOnAnotherReplica(t *testing.T) {
	ctx := context.Background()
	for _, prepared := range []bool{false, true} {
		t.Run(fmt.Sprintf("prepared=%v", prepared), func(t *testing.T) {
			d, w, r1, r2 := failoverFixture(t, HealthConfig{})
			r1.failQueries(io.ErrUnexpectedEOF)
			pool, err := d.Replicas()[0].Pool(prepared)
			require.NoError(t, err)

			name, err := serving(ctx, pool)
			require.NoError(t, err)
			assert.Equal(t, "r2", name, "the read ran again on the other replica")
			assert.Equal(t, int64(1), r1.queries.Load())
			assert.Equal(t, int64(1), r2.queries.Load())
			assert.Zero(t, w.queries.Load())
			if prepared {
				assert.Positive(t, r2.prepares.Load(), "the retry used r2's own prepared statements")
			}
			h := d.Replicas()[0].Health()
			assert.False(t, h.Healthy, "the failed replica left the rotation at once")
			assert.ErrorIs(t, h.Err, io.ErrUnexpectedEOF)
			assert.Equal(t, map[string]bool{"r2": true}, picks(t, d, Reading))
		})
	}
}

func TestFailoverOnConnectErrorAndQueryRow(t *testing.T) {
	ctx := context.Background()
	d, _, r1, _ := failoverFixture(t, HealthConfig{})
	r1.failConnect(refused)
	pool, _ := d.Replicas()[0].Pool(false)
	var name string
	require.NoError(t, pool.QueryRowContext(ctx, "SELECT node").Scan(&name))
	assert.Equal(t, "r2", name, "QueryRowContext fails over too")
	assert.False(t, d.Replicas()[0].Health().Healthy)
}

func TestFailoverGoesToTheWriterWhenNoOtherReplicaIsHealthy(t *testing.T) {
	ctx := context.Background()
	d, w, r1, r2 := failoverFixture(t, HealthConfig{})
	r2.failConnect(refused)
	d.markDown(d.Replicas()[1], refused)
	r1.failConnect(refused)
	pool, _ := d.Replicas()[0].Pool(false)
	name, err := serving(ctx, pool)
	require.NoError(t, err)
	assert.Equal(t, "writer", name)
	assert.Equal(t, int64(1), w.queries.Load())
	assert.Empty(t, d.HealthyReplicas())
}

func TestFailoverUnderFailWithoutReplica(t *testing.T) {
	ctx := context.Background()
	d, w, r1, _ := failoverFixture(t, HealthConfig{FailWithoutReplica: true})
	d.markDown(d.Replicas()[1], refused)
	r1.failQueries(io.ErrUnexpectedEOF)
	pool, _ := d.Replicas()[0].Pool(false)
	_, err := serving(ctx, pool)
	require.ErrorIs(t, err, ErrNoHealthyReplica)
	assert.Contains(t, err.Error(), "primary/reading/r1 failed")
	assert.Contains(t, err.Error(), "unexpected EOF")
	assert.Zero(t, w.queries.Load(), "reads stay off the writer")

	var name string
	err = pool.QueryRowContext(ctx, "SELECT node").Scan(&name)
	assert.ErrorIs(t, err, ErrNoHealthyReplica, "a row carries the error to Scan")
}

func TestFailoverRetriesOnlyOnce(t *testing.T) {
	ctx := context.Background()
	d, w, r1, r2 := failoverFixture(t, HealthConfig{})
	r1.failQueries(io.ErrUnexpectedEOF)
	r2.failQueries(io.ErrUnexpectedEOF)
	pool, _ := d.Replicas()[0].Pool(false)
	_, err := serving(ctx, pool)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.Equal(t, int64(1), r1.queries.Load())
	assert.Equal(t, int64(1), r2.queries.Load())
	assert.Zero(t, w.queries.Load())
	assert.Empty(t, d.HealthyReplicas(), "both failed replicas left the rotation")
	n, err := d.Pick(Reading)
	require.NoError(t, err)
	assert.Same(t, d.Writer(), n)
}

func TestFailoverNeverRetriesWrites(t *testing.T) {
	ctx := context.Background()
	for _, prepared := range []bool{false, true} {
		d, w, r1, r2 := failoverFixture(t, HealthConfig{})
		r1.failExecs(io.ErrUnexpectedEOF)
		pool, _ := d.Replicas()[0].Pool(prepared)
		_, err := pool.ExecContext(ctx, "SELECT pg_advisory_lock(1)")
		require.ErrorIs(t, err, io.ErrUnexpectedEOF)
		assert.Equal(t, int64(1), r1.execs.Load())
		assert.Zero(t, r2.execs.Load()+w.execs.Load(), "an Exec is never sent twice")

		r1.failBegins(io.ErrUnexpectedEOF)
		switch b := pool.(type) {
		case gorm.TxBeginner:
			_, err = b.BeginTx(ctx, nil)
		case gorm.ConnPoolBeginner:
			_, err = b.BeginTx(ctx, nil)
		default:
			t.Fatalf("%T begins no transaction", pool)
		}
		require.ErrorIs(t, err, io.ErrUnexpectedEOF)
		assert.Zero(t, r2.begins.Load()+w.begins.Load(), "a BEGIN is never retried elsewhere")
		assert.True(t, d.Replicas()[0].Health().Healthy, "writes do not judge a replica; the checks do")
	}
}

func TestFailoverLeavesStatementErrorsAndCancellationAlone(t *testing.T) {
	d, w, r1, r2 := failoverFixture(t, HealthConfig{})
	pool, _ := d.Replicas()[0].Pool(false)

	r1.failQueries(&mysql.MySQLError{Number: 1146, Message: "Table 'x.y' doesn't exist"})
	_, err := serving(context.Background(), pool)
	var myErr *mysql.MySQLError
	require.ErrorAs(t, err, &myErr)

	ctx, cancel := context.WithCancel(context.Background())
	r1.failQueries(io.ErrUnexpectedEOF)
	cancel()
	_, err = pool.QueryContext(ctx, "SELECT node")
	require.Error(t, err)

	assert.Zero(t, r2.queries.Load()+w.queries.Load())
	assert.True(t, d.Replicas()[0].Health().Healthy)
}

func TestFailoverBeginTxAndDBConn(t *testing.T) {
	ctx := context.Background()
	d, _, _, _ := failoverFixture(t, HealthConfig{})
	plain, _ := d.Replicas()[0].Pool(false)
	tx, err := plain.(gorm.TxBeginner).BeginTx(ctx, nil)
	require.NoError(t, err)
	require.NoError(t, tx.Rollback())
	prepared, _ := d.Replicas()[0].Pool(true)
	ptx, err := prepared.(gorm.ConnPoolBeginner).BeginTx(ctx, nil)
	require.NoError(t, err)
	assert.IsType(t, &gorm.PreparedStmtTX{}, ptx)
	require.NoError(t, ptx.(gorm.TxCommitter).Rollback())

	sqlDB, err := plain.(gorm.GetDBConnector).GetDBConn()
	require.NoError(t, err)
	own, _ := d.Replicas()[0].SQLDB()
	assert.Same(t, own, sqlDB)
}

func TestMarkDownWithoutRunningChecksDoesNothing(t *testing.T) {
	_, d := fakeTopology(t, HealthConfig{Interval: time.Hour}, newFakeServer("writer"), newFakeServer("r1"))
	d.markDown(d.Replicas()[0], refused)
	assert.True(t, d.Replicas()[0].Health().Healthy, "no check would bring it back")
}
