package withoutadapters_test

import (
	"context"
	"database/sql/driver"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/noopdriver"
	"github.com/grant-go/grant/topology"
)

const mysqlImport = `import _ "github.com/grant-go/grant/adapter/mysql"`

// The premise: nothing in this test binary imports an adapter.
func TestNoAdapterIsRegistered(t *testing.T) {
	assert.Empty(t, topology.RegisteredAdapters())
}

// server is a no-op database answering every query with its name.
func server(name string) (gorm.Dialector, func() int64) {
	db := noopdriver.Open(noopdriver.Options{Columns: []string{"node"}, Row: []driver.Value{name}})
	return noopdriver.Dialector(db), func() int64 { return noopdriver.Statements(db) }
}

// use installs grant with cfg on a handle over a no-op "writer" (GORM's
// mysql dialector over an open pool: the adapter is not needed to open it).
func use(t *testing.T, cfg grant.Config) (*gorm.DB, error) {
	t.Helper()
	writer, _ := server("writer")
	db, err := gorm.Open(writer, &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err)
	p := grant.New(cfg)
	t.Cleanup(func() { _ = p.Close() })
	return db, db.Use(p)
}

// Nodes given by Dialector need no adapter to route: reads go to the
// replica, writes to the writer, a named database to its own node.
func TestDialectorsRouteWithoutAnAdapter(t *testing.T) {
	replica, replicaStatements := server("replica")
	analytics, _ := server("analytics")
	db, err := use(t, grant.Config{Databases: map[string]grant.DatabaseConfig{
		"primary":   {Replicas: []grant.NodeConfig{{Dialector: replica}}},
		"analytics": {Writer: &grant.NodeConfig{Dialector: analytics}},
	}})
	require.NoError(t, err)
	var node string
	require.NoError(t, db.Raw("SELECT node").Scan(&node).Error)
	assert.Equal(t, "replica", node)
	assert.Equal(t, int64(1), replicaStatements())
	require.NoError(t, db.Scopes(grant.Role(grant.Writing)).Raw("SELECT node").Scan(&node).Error)
	assert.Equal(t, "writer", node)
	require.NoError(t, db.WithContext(grant.ConnectedTo(context.Background(), grant.Database("analytics"))).Raw("SELECT node").Scan(&node).Error)
	assert.Equal(t, "analytics", node)
	require.NoError(t, db.Exec("UPDATE t SET x = 1").Error)
	assert.Equal(t, int64(1), replicaStatements(), "the write went to the writer")
}

// What only the adapter knows fails at Use, naming the node and the
// import, instead of running without it.
func TestFeaturesNeedingTheAdapterFailAtUse(t *testing.T) {
	replica, _ := server("replica")
	checks := &grant.HealthConfig{Interval: time.Hour}
	for name, tc := range map[string]struct {
		cfg  grant.Config
		want []string
	}{
		"a DSN node": {grant.Config{Databases: map[string]grant.DatabaseConfig{"primary": {Replicas: []grant.NodeConfig{{DSN: "app:s3cret@tcp(db:3306)/app", Adapter: "mariadb"}}}}},
			[]string{`databases.primary.replicas[0].adapter: unknown adapter "mariadb"`, mysqlImport}},
		"strict write prevention": {grant.Config{StrictPreventWrites: true, Databases: map[string]grant.DatabaseConfig{"primary": {Replicas: []grant.NodeConfig{{Dialector: replica}}}}},
			[]string{"primary/writing/writer", "strict write prevention", mysqlImport}},
		"health checks": {grant.Config{Databases: map[string]grant.DatabaseConfig{"primary": {Health: checks, Replicas: []grant.NodeConfig{{Dialector: replica}}}}},
			[]string{"databases.primary.replicas[0]: health checks", mysqlImport}},
		"causal consistency": {grant.Config{Consistency: grant.ConsistencyConfig{Mode: grant.Causal}},
			[]string{"databases.primary.writer: consistency mode causal", mysqlImport}},
		"credentials through Config.Adapters": {grant.Config{
			Adapters:  map[string]grant.Adapter{"my": func(dsn string) gorm.Dialector { return mysql.Open(dsn) }},
			Databases: map[string]grant.DatabaseConfig{"primary": {Replicas: []grant.NodeConfig{{DSN: "app@tcp(db:3306)/app", Adapter: "my", PasswordFile: "/run/secrets/db"}}}}},
			[]string{`adapter "my" cannot take password_file`, mysqlImport}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := use(t, tc.cfg)
			require.ErrorIs(t, err, grant.ErrInvalidConfig)
			for _, want := range tc.want {
				assert.ErrorContains(t, err, want)
			}
			assert.NotContains(t, err.Error(), "s3cret")
		})
	}
}

// The DSNs of an adapter that is not registered never show a password:
// the generic forms are redacted in place, the driver's own form whole.
func TestRedactingTheDSNOfAnUnregisteredAdapter(t *testing.T) {
	for dsn, want := range map[string]string{
		"sqlserver://sa:s3cret@db:1433?database=app":       "sqlserver://sa:xxxxx@db:1433?database=app",
		"oracle://app:s3cret@db/orcl":                      "oracle://app:xxxxx@db/orcl",
		"host=db user=app password=s3cret dbname=app":      "host=db user=app password=xxxxx dbname=app",
		"Server=db;User ID=sa;Password=s3cret;Database=x":  "Server=db;User ID=sa;Password=xxxxx;Database=x",
		"DRIVER={ODBC};SERVER=db;UID=sa;PWD={s3;cr}}et}":   "DRIVER={ODBC};SERVER=db;UID=sa;PWD=xxxxx",
		"app:s3cret@tcp(db:3306)/app?parseTime=true":       "<unparsable DSN redacted>",
		"server=db;pwd='s3cret":                            "<unparsable DSN redacted>",
		"a driver's form we do not know, password: s3cret": "<unparsable DSN redacted>",
	} {
		assert.Equal(t, want, topology.RedactDSN(dsn), dsn)
	}
	assert.Empty(t, topology.PasswordOf("app:s3cret@tcp(db:3306)/app"), "the MySQL form is read by adapter/mysql")
}

// Order lives on the two shards of "orders", keyed by customer_id.
type Order struct {
	ID         int64
	CustomerID int64
}

func (Order) ConnectsTo() grant.Connection { return grant.Cluster("orders") }
func (Order) ShardKey() grant.ShardKey {
	return grant.ShardKey{Column: "customer_id", Strategy: grant.Modulo()}
}

const engineImport = `import _ "github.com/grant-go/grant/sharding/scatter/engine"`

// Without the scatter-gather engine linked, a statement on every shard is
// refused before any shard is contacted, naming the import; statements for
// one shard route as always.
func TestStatementsOnEveryShardNeedTheEngine(t *testing.T) {
	shard1, shard1Statements := server("shard1")
	shard2, shard2Statements := server("shard2")
	db, err := use(t, grant.Config{Clusters: map[string]grant.ClusterConfig{"orders": {Shards: []grant.ShardConfig{
		{Name: "shard1", DatabaseConfig: grant.DatabaseConfig{Writer: &grant.NodeConfig{Dialector: shard1}}},
		{Name: "shard2", DatabaseConfig: grant.DatabaseConfig{Writer: &grant.NodeConfig{Dialector: shard2}}},
	}}}})
	require.NoError(t, err)
	all := func() *gorm.DB { return db.Scopes(grant.AllShards()) }

	var orders []Order
	err = all().Find(&orders).Error
	require.ErrorIs(t, err, grant.ErrNoScatterEngine)
	assert.ErrorContains(t, err, engineImport)
	assert.ErrorContains(t, err, "orders/*")

	err = all().Where("id > ?", 0).Delete(&Order{}).Error
	require.ErrorIs(t, err, grant.ErrNoScatterEngine, "an update or delete on every shard too")

	var n int64
	err = all().Model(&Order{}).Select("count(*)").Row().Scan(&n)
	require.ErrorIs(t, err, grant.ErrNoScatterEngine, "Row() carries the refusal to Scan")

	assert.Zero(t, shard1Statements()+shard2Statements(), "no shard was contacted")

	var nodes []string
	require.NoError(t, db.Model(&Order{}).Where("customer_id = ?", 3).Pluck("node", &nodes).Error, "one shard by its key needs no engine")
	assert.Equal(t, []string{"shard2"}, nodes)
	assert.Equal(t, int64(1), shard2Statements())
	assert.Zero(t, shard1Statements())
}
