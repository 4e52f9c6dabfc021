package grant_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/testdb"
	"github.com/grant-go/grant/topology"
)

// grant behind a real PgBouncer in transaction pooling (docs/pgbouncer.md).
// These tests need GRANT_PGBOUNCER (scripts/pgbouncer.sh; .ci/run's second
// pass, which also runs the routing, transaction, consistency and health
// suites through the bouncer) and are skipped without it.

func needPgBouncer(t *testing.T) {
	t.Helper()
	if testdb.PgBouncer() == "" {
		t.Skipf("needs PgBouncer: start it with scripts/pgbouncer.sh and set %s=127.0.0.1:6432", testdb.EnvPgBouncer)
	}
}

// withExecMode returns a pgx key=value DSN with default_query_exec_mode set.
func withExecMode(dsn, mode string) string {
	var kept []string
	for _, kv := range strings.Fields(dsn) {
		if !strings.HasPrefix(kv, "default_query_exec_mode=") {
			kept = append(kept, kv)
		}
	}
	return strings.Join(append(kept, "default_query_exec_mode="+mode), " ")
}

// TestPgBouncerQueryExecModes: which pgx query modes and GORM PrepareStmt
// settings survive transaction pooling. A handle with one connection runs
// writes, reads, raw SQL and a transaction through grant; then another
// client holds the server session it used in an open transaction, so the
// same statements must run on another server session. Modes that keep
// named prepared statements on the session (pgx's default cache_statement,
// and GORM's PrepareStmt in any mode) then fail; exec, simple_protocol and
// cache_describe, whose every execution carries its own statement, work.
func TestPgBouncerQueryExecModes(t *testing.T) {
	needPgBouncer(t)
	b := testdb.Postgres(t)
	for _, tc := range []struct {
		mode    string
		prepare bool
		works   bool
	}{
		{"exec", false, true},
		{"simple_protocol", false, true},
		{"cache_describe", false, true},
		{"cache_statement", false, false},
		{"exec", true, false},
		{"simple_protocol", true, false},
	} {
		t.Run(fmt.Sprintf("mode=%s,PrepareStmt=%v", tc.mode, tc.prepare), func(t *testing.T) {
			d := b.CreateDatabase(t, "modes")
			require.NoError(t, d.Open(t).AutoMigrate(&Memo{}))
			dsn := withExecMode(d.DSN, tc.mode)
			db, err := gorm.Open(postgres.Open(dsn), &gorm.Config{Logger: logger.Discard, PrepareStmt: tc.prepare})
			require.NoError(t, err)
			require.NoError(t, db.Use(grant.New(grant.Config{
				Databases: map[string]grant.DatabaseConfig{"primary": {Replicas: []grant.NodeConfig{{DSN: dsn, Adapter: "postgres"}}}},
			})))
			t.Cleanup(func() { exClose(db) })
			sqlDB, err := db.DB()
			require.NoError(t, err)
			sqlDB.SetMaxOpenConns(1)

			statements := func(round int) error {
				ctx := context.Background()
				memo := Memo{Text: fmt.Sprintf("round %d", round)}
				if err := db.WithContext(ctx).Create(&memo).Error; err != nil {
					return fmt.Errorf("create: %w", err)
				}
				var n int64
				if err := db.WithContext(ctx).Scopes(grant.Role(grant.Writing)).Model(&Memo{}).Where("text = ?", memo.Text).Count(&n).Error; err != nil {
					return fmt.Errorf("count on the writer: %w", err)
				}
				if n != 1 {
					return fmt.Errorf("count on the writer: %d rows", n)
				}
				var got []Memo
				if err := db.WithContext(ctx).Where("id > ?", 0).Find(&got).Error; err != nil {
					return fmt.Errorf("read on the replica: %w", err)
				}
				return db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
					if err := tx.Exec("UPDATE memos SET text = ? WHERE id = ?", "updated", memo.ID).Error; err != nil {
						return fmt.Errorf("update in a transaction: %w", err)
					}
					return tx.First(&Memo{}, memo.ID).Error
				})
			}
			require.NoError(t, statements(1), "the first round runs on one server session")

			// Another client takes the session the handle used last
			// (PgBouncer hands out its idle sessions last-in first-out)
			// and keeps it in a transaction.
			other, err := sql.Open("pgx", withExecMode(d.DSN, "simple_protocol"))
			require.NoError(t, err)
			t.Cleanup(func() { _ = other.Close() })
			holder, err := other.BeginTx(context.Background(), nil)
			require.NoError(t, err)
			_, err = holder.Exec("SELECT 1")
			require.NoError(t, err)
			err = statements(2)
			require.NoError(t, holder.Rollback())
			if tc.works {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Regexp(t, `prepared statement "[a-z_0-9]+" does not exist`, err.Error())
		})
	}
}

// TestHealthChecksAndCausalReadsThroughPgBouncer: a health-checked replica
// behind PgBouncer is checked through it (the bouncer counts the probes),
// reports its replay position, and serves causal reads that are never stale.
func TestHealthChecksAndCausalReadsThroughPgBouncer(t *testing.T) {
	needPgBouncer(t)
	rs := testdb.PostgresReplica(t)
	require.True(t, rs.Replica.ThroughPgBouncer())
	require.NoError(t, rs.Primary.Open(t).AutoMigrate(&Memo{}))
	rs.WaitCaughtUp(t, 10*time.Second)

	queries := func() int64 { return bouncerQueries(t, rs.Replica.DSN, rs.Replica.Name) }
	before := queries()
	db := openReplicated(t, rs, grant.ConsistencyConfig{Mode: grant.Causal, CausalWait: 50 * time.Millisecond})
	p, ok := grant.From(db)
	require.True(t, ok)
	replica := p.Topology().Default().Replicas()[0]
	h := waitHealth(t, replica, 10*time.Second, "checked, healthy, with a replay position",
		func(h grant.NodeHealth) bool { return wasChecked(h) && h.Healthy && h.ReplayLSN > 0 })
	assert.True(t, h.LagKnown)
	require.Eventually(t, func() bool { return queries() > before }, 10*time.Second, 20*time.Millisecond,
		"the health probes reached the replica through PgBouncer")

	var onReplica int
	require.NoError(t, db.Callback().Query().After("gorm:query").Register("test:count_replica", func(tx *gorm.DB) {
		if n, ok := topology.NodeOf(tx.Statement.ConnPool); ok && n.Role() == grant.Reading {
			onReplica++
		}
	}))
	const trials = 200
	for i := range trials {
		ctx := grant.WithSession(context.Background(), grant.NewSession())
		memo := Memo{Text: "causal"}
		require.NoError(t, db.WithContext(ctx).Create(&memo).Error, "trial %d", i)
		err := db.WithContext(ctx).First(&Memo{}, memo.ID).Error
		require.False(t, errors.Is(err, gorm.ErrRecordNotFound), "trial %d: a causal read missed its own write", i)
		require.NoError(t, err, "trial %d", i)
	}
	t.Logf("%d causal reads through PgBouncer, %d served by the replica", trials, onReplica)
	assert.Positive(t, onReplica, "the caught-up replica serves causal reads through the bouncer")
}

// bouncerQueries is PgBouncer's total_query_count for database on the
// bouncer that dsn (a DSN through it) names, from its admin console.
func bouncerQueries(t *testing.T, dsn, database string) int64 {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	require.NoError(t, err)
	admin, err := sql.Open("pgx", fmt.Sprintf("host=%s port=%d user=postgres dbname=pgbouncer sslmode=disable default_query_exec_mode=simple_protocol", cfg.Host, cfg.Port))
	require.NoError(t, err)
	defer admin.Close()
	rows, err := admin.Query("SHOW STATS")
	require.NoError(t, err)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(t, err)
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		row := map[string]string{}
		for i, c := range cols {
			row[c] = vals[i].String
		}
		if row["database"] == database {
			var n int64
			_, err := fmt.Sscan(row["total_query_count"], &n)
			require.NoError(t, err)
			return n
		}
	}
	require.NoError(t, rows.Err())
	return 0
}

// TestStrictPreventionThroughPgBouncerFailsClosed: strict write prevention
// opens its read-only sessions with the startup parameter
// default_transaction_read_only=on, which PgBouncer 1.18 refuses. Every
// statement that needs one — under PreventWrites, and every read of the
// reading role, which always prevents writes under strict prevention —
// then fails; none runs on a writable session instead. The writer's
// statements are unaffected.
func TestStrictPreventionThroughPgBouncerFailsClosed(t *testing.T) {
	needPgBouncer(t)
	f := newFixture(t, testdb.Postgres(t), strict)
	guarded := f.db.WithContext(grant.PreventWrites(context.Background()))
	var users []User
	err := guarded.Find(&users).Error
	require.Error(t, err)
	assert.Contains(t, err.Error(), "unsupported startup parameter: default_transaction_read_only")
	require.Error(t, guarded.Exec("UPDATE users SET name = 'no'").Error)
	assert.Equal(t, seeded["users"], f.counts(t, "users"))

	err = f.db.Find(&users).Error
	require.Error(t, err, "a replica read needs a read-only session too")
	assert.Contains(t, err.Error(), "unsupported startup parameter: default_transaction_read_only")

	assert.Equal(t, []string{"writer-user"}, userNames(t, f.db.Scopes(grant.Role(grant.Writing))))
	require.NoError(t, f.db.Create(&User{Name: "written"}).Error)
	assert.Equal(t, seeded["users"]["primary"]+1, f.counts(t, "users")["primary"])
}
