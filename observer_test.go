package grant_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/glebarez/sqlite"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/internal/testdb"
	grantprom "github.com/grant-go/grant/observe/prometheus"
	"github.com/grant-go/grant/topology"
)

// recorder is an observer an application could write: it implements
// Observer and every optional interface, and records what it is told.
type recorder struct {
	mu       sync.Mutex
	observed []seen
	placed   []grant.Placement
	attached []*topology.Topology
	pools    []string
}

// seen is the part of an Observation the tests compare.
type seen struct {
	Database, Shard, Role, Node string
	Operation, Table            string
	Rows                        int64
	Refused                     bool
	Shards                      int
	Err                         string
}

func (r *recorder) Observe(_ context.Context, o *grant.Observation) {
	s := seen{Database: o.Route.Database, Shard: o.Route.Shard, Role: o.Route.Role, Node: o.Route.Node,
		Operation: o.Operation, Table: o.Table, Rows: o.Rows, Refused: o.Refused, Shards: o.Shards}
	if o.Err != nil {
		s.Err = o.Err.Error()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.observed = append(r.observed, s)
}

func (r *recorder) Attach(t *topology.Topology) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attached = append(r.attached, t)
	return nil
}

func (r *recorder) PoolOpened(n *topology.Node, _ *sql.DB) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pools = append(r.pools, n.Key())
}

func (r *recorder) Placed(_ context.Context, p grant.Placement) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.placed = append(r.placed, p)
}

// take returns and forgets what was observed and placed so far.
func (r *recorder) take() ([]seen, []grant.Placement) {
	r.mu.Lock()
	defer r.mu.Unlock()
	observed, placed := r.observed, r.placed
	r.observed, r.placed = nil, nil
	return observed, placed
}

// silent wants no observations: grant must never call its Observe.
type silent struct{ calls int }

func (s *silent) Observe(context.Context, *grant.Observation) { s.calls++ }
func (s *silent) WantsObservations() bool                     { return false }

var (
	_ grant.TopologyObserver  = (*recorder)(nil)
	_ grant.PoolObserver      = (*recorder)(nil)
	_ grant.PlacementObserver = (*recorder)(nil)
	_ grant.Selective         = (*silent)(nil)
)

// TestObserverSeesEveryStatement: an Observer installed through
// Config.Observers receives every kind of statement — create, query,
// update, delete, row, raw, refused, on a shard and on every shard — with
// the route it took; its optional interfaces are told the topology, each
// pool as it opens and where each statement runs.
func TestObserverSeesEveryStatement(t *testing.T) {
	b := testdb.SQLite(t)
	primary, replica := b.CreateDatabase(t, "primary"), b.CreateDatabase(t, "replica")
	shard1, shard2 := b.CreateDatabase(t, "shard1"), b.CreateDatabase(t, "shard2")
	for _, d := range []*testdb.Database{primary, replica} {
		require.NoError(t, d.Open(t).AutoMigrate(&User{}))
	}
	require.NoError(t, replica.Open(t).Create(&User{Name: "replica-user"}).Error)
	for _, d := range []*testdb.Database{shard1, shard2} {
		require.NoError(t, d.Open(t).AutoMigrate(&KeyedOrder{}))
	}
	rec, quiet := &recorder{}, &silent{}
	db, err := gorm.Open(primary.Dialector(), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err)
	plugin := grant.New(grant.Config{
		Databases: map[string]grant.DatabaseConfig{"primary": {Replicas: []grant.NodeConfig{{Dialector: replica.Dialector()}}}},
		Clusters: map[string]grant.ClusterConfig{"orders": {Shards: []grant.ShardConfig{
			{Name: "shard1", DatabaseConfig: grant.DatabaseConfig{Writer: &grant.NodeConfig{Dialector: shard1.Dialector()}}},
			{Name: "shard2", DatabaseConfig: grant.DatabaseConfig{Writer: &grant.NodeConfig{Dialector: shard2.Dialector()}}},
		}}},
		Observers: []grant.Observer{quiet, rec},
	})
	require.NoError(t, db.Use(plugin))
	t.Cleanup(func() { _ = plugin.Close(); exClose(db) })

	assert.Equal(t, []*topology.Topology{plugin.Topology()}, rec.attached, "attached once, to the plugin's topology")
	assert.Equal(t, []string{"primary/writing/writer"}, rec.pools, "the handle's pool, at Initialize")

	writer := grant.Placement{Pool: "primary/writing/writer", Database: "primary", Role: "writing", Node: "primary/writing"}
	reader := grant.Placement{Pool: "primary/reading/1", Database: "primary", Role: "reading", Node: "primary/reading#1"}
	routeOf := func(p grant.Placement) seen {
		return seen{Database: p.Database, Shard: p.Shard, Role: p.Role, Node: p.Node}
	}
	with := func(s seen, operation, table string, rows int64) seen {
		s.Operation, s.Table, s.Rows = operation, table, rows
		return s
	}
	var n int64
	var users []User
	var orders []KeyedOrder
	cases := []struct {
		name  string
		run   func() error
		want  seen
		place []grant.Placement // nil: not placed
	}{
		{"create", func() error { return db.Create(&User{Name: "a"}).Error },
			with(routeOf(writer), "create", "users", 1), []grant.Placement{writer}},
		{"query", func() error { return db.Find(&users).Error },
			with(routeOf(reader), "query", "users", 1), []grant.Placement{reader}},
		{"update", func() error { return db.Model(&User{}).Where("name = ?", "a").Update("name", "b").Error },
			with(routeOf(writer), "update", "users", 1), []grant.Placement{writer}},
		{"delete", func() error { return db.Where("name = ?", "b").Delete(&User{}).Error },
			with(routeOf(writer), "delete", "users", 1), []grant.Placement{writer}},
		{"row", func() error { return db.Model(&User{}).Select("count(*)").Row().Scan(&n) },
			with(routeOf(reader), "row", "users", -1), []grant.Placement{reader}}, // GORM leaves RowsAffected -1 for a row
		{"raw", func() error { return db.Exec("UPDATE users SET name = name WHERE name = ?", "none").Error },
			with(routeOf(writer), "raw", "users", 0), []grant.Placement{writer}},
		{"refused", func() error {
			err := db.WithContext(grant.PreventWrites(context.Background())).Create(&User{Name: "x"}).Error
			if !errors.Is(err, grant.ErrReadOnly) {
				return errors.Join(errors.New("want ErrReadOnly"), err)
			}
			return nil
		}, seen{Database: "primary", Role: "writing", Operation: "create", Table: "users", Refused: true}, nil},
		{"on a shard", func() error { return db.Create(&KeyedOrder{CustomerID: 3, Note: "three"}).Error },
			seen{Database: "orders", Shard: "shard2", Role: "writing", Node: "orders/shard2/writing", Operation: "create", Table: "orders", Rows: 1},
			[]grant.Placement{{Pool: "orders/shard2/writing/writer", Database: "orders", Shard: "shard2", Role: "writing", Node: "orders/shard2/writing"}}},
		{"on every shard", func() error { return db.Scopes(grant.AllShards()).Find(&orders).Error },
			seen{Database: "orders", Shard: "*", Role: "reading", Operation: "query", Table: "orders", Rows: 1, Shards: 2},
			[]grant.Placement{{Database: "orders", Shard: "*", Role: "reading"}}},
	}
	rec.take()
	for _, c := range cases {
		require.NoError(t, c.run(), c.name)
		observed, placed := rec.take()
		if c.want.Refused {
			require.Len(t, observed, 1, c.name)
			assert.Contains(t, observed[0].Err, "prevents writes", c.name)
			observed[0].Err = ""
		}
		assert.Equal(t, []seen{c.want}, observed, c.name)
		assert.Equal(t, c.place, placed, c.name)
	}
	assert.Zero(t, quiet.calls, "a Selective observer wanting no observations is never called")
	assert.ElementsMatch(t, []string{"primary/writing/writer", "primary/reading/1", "orders/shard2/writing/writer", "orders/shard1/writing/writer"}, rec.pools,
		"every pool, as it opened")
}

// Observers are checked at Initialize: a nil one is a configuration error,
// and one whose Attach fails (a Metrics already serving another plugin)
// fails db.Use, naming it.
func TestObserversCheckedAtInitialize(t *testing.T) {
	b := testdb.SQLite(t)
	open := func() *gorm.DB {
		db, err := gorm.Open(b.CreateDatabase(t, "primary").Dialector(), &gorm.Config{Logger: logger.Discard})
		require.NoError(t, err)
		t.Cleanup(func() { exClose(db) })
		return db
	}
	err := open().Use(grant.New(grant.Config{Observers: []grant.Observer{nil}}))
	require.ErrorIs(t, err, grant.ErrInvalidConfig)
	assert.Contains(t, err.Error(), "observers[0]")

	metrics := grantprom.New(grant.MetricsConfig{Enabled: true})
	first := grant.New(grant.Config{Observers: []grant.Observer{metrics}})
	require.NoError(t, open().Use(first))
	t.Cleanup(func() { _ = first.Close() })
	err = open().Use(grant.New(grant.Config{Observers: []grant.Observer{metrics}}))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "observers[0] (*prometheus.Metrics)")
	assert.Contains(t, err.Error(), "one Metrics per plugin")
}

// whereWent is an observer: it prints where each statement went.
type whereWent struct{}

func (whereWent) Observe(_ context.Context, o *grant.Observation) {
	fmt.Printf("%s %s on %s", o.Operation, o.Table, o.Route)
	if o.Refused {
		fmt.Print(" (refused)")
	}
	fmt.Println()
}

// Install an observer of your own with Config.Observers: it sees every
// statement, with its route, once it has run.
func ExampleObserver() {
	dir := exTempDir()
	defer os.RemoveAll(dir)
	primaryDSN := exSQLiteFile(dir, "primary")
	replicaDSN := exSQLiteFile(dir, "replica")

	db := exOpen(primaryDSN, grant.Config{
		Databases: map[string]grant.DatabaseConfig{"primary": {Replicas: []grant.NodeConfig{{Dialector: sqlite.Open(replicaDSN)}}}},
		Observers: []grant.Observer{whereWent{}},
	})
	defer exClose(db)

	db.Create(&ExUser{Name: "ada"})
	db.Find(&[]ExUser{})
	db.WithContext(grant.PreventWrites(context.Background())).Delete(&ExUser{}, 1)
	// Output:
	// create ex_users on primary/writing
	// query ex_users on primary/reading#1
	// delete ex_users on primary/writing (refused)
}
