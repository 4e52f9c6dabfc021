package route_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant/internal/route"
	"github.com/grant-go/grant/sharding/scatter"
	"github.com/grant-go/grant/topology"
)

// testTopology: the default database "primary" (the handle), "analytics" with
// one replica and a custom role, and the cluster "orders" of three shards.
// Config.Tables maps "legacy" to analytics and "events" to orders. Build
// opens no connection: no server is needed.
func testTopology(t testing.TB) *topology.Topology {
	node := func() *topology.NodeConfig { return &topology.NodeConfig{DSN: "host=x", Adapter: "mysql"} }
	shard := func(name string) topology.ShardConfig {
		return topology.ShardConfig{Name: name, DatabaseConfig: topology.DatabaseConfig{Writer: node()}}
	}
	top, err := topology.Build(topology.Config{
		Databases: map[string]topology.DatabaseConfig{"analytics": {Writer: node(),
			Replicas: []topology.NodeConfig{*node()}, Roles: map[string][]topology.NodeConfig{"reports": {*node()}}}},
		Clusters: map[string]topology.ClusterConfig{"orders": {Shards: []topology.ShardConfig{shard("s1"), shard("s2"), shard("s3")}}},
		Tables:   map[string]string{"legacy": "analytics", "events": "orders"},
	}, topology.Handle{Dialect: "mysql"})
	require.NoError(t, err)
	return top
}

// Models of the cases: Order lives in orders, keyed by user_id; Report in
// analytics; Plain declares nothing; Note lives in orders without a key.
var (
	order  = &route.Model{Name: "Order", Conn: topology.Connection{Database: "orders"}, Keyed: true, KeyColumn: "user_id"}
	report = &route.Model{Name: "Report", Conn: topology.Connection{Database: "analytics"}}
	plain  = &route.Model{Name: "Plain"}
	note   = &route.Model{Name: "Note", Conn: topology.Connection{Database: "orders"}}
)

func withIDs(m route.Model) *route.Model            { m.IDs = true; return &m }
func withScatter(m route.Model) *route.Model        { m.ScatterReads = true; return &m }
func withErr(m route.Model, err error) *route.Model { m.Err = err; return &m }

// key is the Keys of a statement whose key values map to shard index i.
func key(i int) route.Keys {
	return route.Keys{Declared: true, One: true, Shard: i, Values: []any{100 + i}}
}

// where is key(i) found in WHERE beside other conditions.
func where(i int) route.Keys {
	k := key(i)
	k.FromWhere = true
	return k
}

// onlyKey is where(i) when the WHERE is the key condition alone.
func onlyKey(i int) route.Keys {
	k := where(i)
	k.OnlyKey = true
	return k
}

// rows is the Keys of a create whose rows map to the given shard indexes.
func rows(each ...int) route.Keys {
	k := route.Keys{Declared: true, Each: each}
	seen := map[int]bool{}
	for i, s := range each {
		k.Values = append(k.Values, 100+i)
		if !seen[s] {
			seen[s] = true
			k.Shards = append(k.Shards, s)
		}
	}
	slices.Sort(k.Shards) // as Keys promises
	if len(k.Shards) == 1 {
		k.One, k.Shard, k.Shards = true, k.Shards[0], nil
	}
	return k
}

// several is the Keys of an IN list whose values map to several shards.
func several(shards ...int) route.Keys {
	k := where(shards[0])
	k.One, k.Shards = false, shards
	return k
}

// none is the Keys of a keyed statement that carries no key value.
func none() route.Keys { return route.Keys{Declared: true} }

// assigns is k for an update that sets the key to a value of shard i.
func assigns(k route.Keys, i int) route.Keys {
	k.Assigns, k.Assigned, k.AssignedValue = true, i, 200+i
	return k
}

const (
	read        route.Kind = 0
	write                  = route.Writes | route.WantsWriter
	create                 = write | route.Create
	update                 = write | route.Update | route.FanOut
	del                    = write | route.FanOut
	raw                    = route.Raw
	rawExecRead            = route.Raw | route.WantsWriter
	savepoint              = route.Raw | route.WantsWriter | route.SessionControl
)

func db(name string) *topology.Connection { return &topology.Connection{Database: name} }
func shard(name string) *topology.Connection {
	return &topology.Connection{Database: "orders", Shard: name}
}
func role(name string) *topology.Connection { return &topology.Connection{Role: name} }

var prevent = &topology.Connection{PreventWrites: true}

// outcome renders a decision as the table below spells it: where, the
// role, then the flags set ("prevent" only beyond the reading role, which
// always prevents writes outside transactions).
func outcome(d route.Decision) string {
	parts := []string{d.Database.Qualified(), d.Role}
	if d.Shards != nil {
		names := make([]string, len(d.Shards))
		for i, s := range d.Shards {
			names[i] = s.Shard()
		}
		parts[0] = "orders/{" + strings.Join(names, ",") + "}"
	}
	for _, flag := range []struct {
		on   bool
		name string
	}{{d.Split, "split"}, {d.PreventWrites && d.Role != topology.Reading, "prevent"}, {d.Explicit, "explicit"}, {d.AssignIDs, "ids"},
		{d.CheckSubqueries, "subqueries"}, {d.Defer, "defer"}, {d.Begin, "begin"}} {
		if flag.on {
			parts = append(parts, flag.name)
		}
	}
	return strings.Join(parts, " ")
}

func decide(top *topology.Topology, f route.Facts) (route.Decision, error) {
	var target route.Target
	if err := route.Resolve(&f, top, &target); err != nil {
		return route.Decision{}, err
	}
	return route.Decide(&f, &target)
}

// TestDecide is the routing rules as a table: each case is one statement's
// facts and where it must go, or the sentinel it must fail with.
func TestDecide(t *testing.T) {
	top := testTopology(t)
	analytics, err := top.Database("analytics")
	require.NoError(t, err)
	orders, _ := top.Cluster("orders")
	s1, s2 := orders.Shards()[0], orders.Shards()[1]
	begun := func(d *topology.Database) route.Tx { return route.Tx{State: route.Begun, Database: d} }
	pinned := func(n *topology.Node) route.Tx { return route.Tx{State: route.Pinned, Node: n} }
	unbegun := route.Tx{State: route.Unbegun}
	lock := func(f route.Facts, shard string) route.Facts { f.Lock, f.Locked = shard, true; return f }

	cases := []struct {
		name  string
		facts route.Facts
		want  string // outcome(decision), when err is nil
		err   error
	}{
		// Precedence: scope → context → model → table mapping → default.
		{"nothing named reads the default", route.Facts{Kind: read}, "primary reading", nil},
		{"a builder model's default database is explicit", route.Facts{Kind: read, Model: plain}, "primary reading explicit", nil},
		{"raw SQL's undeclared destination is not explicit", route.Facts{Kind: raw, Model: plain}, "primary reading", nil},
		{"the model's database", route.Facts{Kind: read, Model: report}, "analytics reading explicit", nil},
		{"the context over the model", route.Facts{Kind: read, Model: report, Context: db("primary")}, "primary reading explicit", nil},
		{"the scope over the context", route.Facts{Kind: read, Scope: db("analytics"), Context: db("primary")}, "analytics reading explicit", nil},
		{"the scope over the model", route.Facts{Kind: read, Model: report, Scope: db("primary")}, "primary reading explicit", nil},
		{"field by field: the scope's role, the context's database", route.Facts{Kind: read, Scope: role("reports"), Context: db("analytics")}, "analytics reports explicit", nil},
		{"field by field: the context's role, the model's database", route.Facts{Kind: read, Model: report, Context: role(topology.Writing)}, "analytics writing explicit", nil},
		{"prevention from the context survives the scope", route.Facts{Kind: read, Scope: role(topology.Writing), Context: prevent}, "primary writing prevent", nil},
		{"a table mapping without a model", route.Facts{Kind: raw, Table: "legacy"}, "analytics reading explicit", nil},
		{"a model's declaration over a table mapping", route.Facts{Kind: read, Model: report, Table: "events"}, "analytics reading explicit", nil},
		{"a named connection over a table mapping", route.Facts{Kind: read, Context: db("primary"), Table: "legacy"}, "primary reading explicit", nil},
		{"a table mapped to a cluster needs a shard", route.Facts{Kind: raw, Table: "events"}, "", topology.ErrShardKeyMissing},
		{"a table mapped to a cluster, shard named", route.Facts{Kind: raw, Table: "events", Scope: &topology.Connection{Shard: "s3"}}, "orders/s3 reading explicit", nil},
		{"an unknown database", route.Facts{Kind: read, Scope: db("nope")}, "", topology.ErrUnknownDatabase},
		{"an unknown shard", route.Facts{Kind: read, Model: order, Scope: shard("s9"), Keys: none()}, "", topology.ErrUnknownShard},
		{"a model's declaration error", route.Facts{Kind: read, Model: withErr(*order, topology.ErrInvalidConfig)}, "", topology.ErrInvalidConfig},

		// Roles outside transactions.
		{"writes go to the writer", route.Facts{Kind: write, Model: report}, "analytics writing explicit", nil},
		{"a write on the reading role is refused", route.Facts{Kind: write, Model: report, Scope: role(topology.Reading)}, "", topology.ErrReadOnly},
		{"a write under prevention is refused", route.Facts{Kind: write, Context: prevent}, "", topology.ErrReadOnly},
		{"an Exec of a read goes to the writer", route.Facts{Kind: rawExecRead}, "primary writing", nil},
		{"an Exec of a read is allowed under prevention", route.Facts{Kind: rawExecRead, Context: prevent}, "primary writing prevent", nil},
		{"a custom role reads", route.Facts{Kind: read, Model: report, Scope: role("reports")}, "analytics reports explicit", nil},

		// Shards by key.
		{"a point read goes to its key's shard", route.Facts{Kind: read, Model: order, Keys: onlyKey(1)}, "orders/s2 reading explicit", nil},
		{"a WHERE with more than the key checks its subqueries", route.Facts{Kind: read, Model: order, Keys: where(1)}, "orders/s2 reading explicit subqueries", nil},
		{"a create goes to its row's shard", route.Facts{Kind: create, Model: order, Keys: rows(2)}, "orders/s3 writing explicit", nil},
		{"a create gets IDs encoding its shard", route.Facts{Kind: create, Model: withIDs(*order), Keys: rows(2)}, "orders/s3 writing explicit ids", nil},
		{"a create of rows of several shards is split", route.Facts{Kind: create, Model: order, Keys: rows(1, 0, 1)}, "orders/s1 writing split explicit", nil},
		{"a read of keys of several shards scatters", route.Facts{Kind: read, Model: order, Keys: several(0, 2)}, "orders/{s1,s3} reading explicit", nil},
		{"a write of keys of several shards is refused", route.Facts{Kind: update, Model: order, Keys: several(0, 2)}, "", topology.ErrSpansShards},
		{"a delete of keys of several shards is refused", route.Facts{Kind: del, Model: order, Keys: several(0, 1)}, "", topology.ErrSpansShards},
		{"a locking read of keys of several shards is refused", route.Facts{Kind: write, Model: order, Keys: several(0, 1)}, "", topology.ErrSpansShards},
		{"a keyed read without a key fails", route.Facts{Kind: read, Model: order, Keys: none()}, "", topology.ErrShardKeyMissing},
		{"a keyless model without a shard fails", route.Facts{Kind: read, Model: note}, "", topology.ErrShardKeyMissing},
		{"scatter reads without a key read every shard", route.Facts{Kind: read, Model: withScatter(*order), Keys: none()}, "orders/{s1,s2,s3} reading explicit", nil},
		{"scatter reads do not let a write go everywhere", route.Facts{Kind: update, Model: withScatter(*order), Keys: none()}, "", topology.ErrShardKeyMissing},
		{"scatter reads do not plan raw SQL", route.Facts{Kind: raw, Model: withScatter(*order), Keys: none()}, "", topology.ErrSpansShards},
		{"a key that cannot be mapped fails", route.Facts{Kind: read, Model: order, Keys: func() route.Keys { k := none(); k.Err = errKey; return k }()}, "", errKey},
		{"an update keeping the key on its shard", route.Facts{Kind: update, Model: order, Keys: assigns(onlyKey(1), 1)}, "orders/s2 writing explicit", nil},
		{"an update moving the key to another shard", route.Facts{Kind: update, Model: order, Keys: assigns(onlyKey(1), 0)}, "", topology.ErrShardKeyChange},

		// Named shards: they stand without key values, and must agree with them.
		{"a named shard without key values", route.Facts{Kind: read, Model: order, Scope: shard("s3"), Keys: none()}, "orders/s3 reading explicit", nil},
		{"a named shard for a keyless model", route.Facts{Kind: write, Model: note, Context: shard("s1")}, "orders/s1 writing explicit", nil},
		{"a named shard agreeing with the key", route.Facts{Kind: read, Model: order, Scope: shard("s2"), Keys: where(1)}, "orders/s2 reading explicit", nil},
		{"a named shard contradicting a read's key", route.Facts{Kind: read, Model: order, Scope: shard("s1"), Keys: where(1)}, "", topology.ErrShardMismatch},
		{"a context's shard contradicting a create's row", route.Facts{Kind: create, Model: order, Context: shard("s1"), Keys: rows(0, 0, 2)}, "", topology.ErrShardMismatch},
		{"a named shard agreeing with every row", route.Facts{Kind: create, Model: withIDs(*order), Context: shard("s1"), Keys: rows(0, 0)}, "orders/s1 writing explicit ids", nil},
		{"a named shard and an assignment of another shard's key", route.Facts{Kind: update, Model: order, Scope: shard("s1"), Keys: assigns(none(), 1)}, "", topology.ErrShardKeyChange},
		{"the scope's shard over the context's", route.Facts{Kind: read, Model: order, Scope: &topology.Connection{Shard: "s2"}, Context: shard("s1"), Keys: none()}, "orders/s2 reading explicit", nil},

		// AllShards.
		{"AllShards scatters a read", route.Facts{Kind: read, Model: order, Scope: shard(topology.AllShards)}, "orders/{s1,s2,s3} reading explicit", nil},
		{"AllShards runs a delete on every shard", route.Facts{Kind: del, Model: order, Scope: shard(topology.AllShards)}, "orders/{s1,s2,s3} writing explicit", nil},
		{"AllShards runs an update on every shard", route.Facts{Kind: update, Model: order, Scope: shard(topology.AllShards), Keys: none()}, "orders/{s1,s2,s3} writing explicit", nil},
		{"AllShards refuses an update of the key", route.Facts{Kind: update, Model: order, Scope: shard(topology.AllShards), Keys: assigns(none(), 0)}, "", topology.ErrSpansShards},
		{"AllShards refuses a create", route.Facts{Kind: create, Model: order, Scope: shard(topology.AllShards)}, "", topology.ErrSpansShards},
		{"AllShards refuses a locking read", route.Facts{Kind: write, Model: order, Scope: shard(topology.AllShards)}, "", topology.ErrSpansShards},
		{"AllShards refuses raw SQL", route.Facts{Kind: raw, Scope: shard(topology.AllShards)}, "", topology.ErrSpansShards},

		// Inherited shards (a co-located preload runs where its parent ran).
		{"a read without a key inherits", route.Facts{Kind: read, Model: order, Keys: none(), Inherit: s2}, "orders/s2 reading explicit", nil},
		{"a read's own key wins over the inherited shard", route.Facts{Kind: read, Model: order, Keys: where(0), Inherit: s2}, "orders/s1 reading explicit subqueries", nil},
		{"a write never inherits", route.Facts{Kind: update, Model: order, Keys: none(), Inherit: s2}, "", topology.ErrShardKeyMissing},
		{"a named shard wins over the inherited one", route.Facts{Kind: read, Model: order, Scope: shard("s3"), Keys: none(), Inherit: s2}, "orders/s3 reading explicit", nil},
		{"a shard of another database is not inherited", route.Facts{Kind: read, Model: note, Inherit: analytics}, "", topology.ErrShardKeyMissing},

		// LockShard.
		{"a locked request on its shard", lock(route.Facts{Kind: read, Model: order, Keys: onlyKey(0)}, "s1"), "orders/s1 reading explicit", nil},
		{"a locked request leaving its shard", lock(route.Facts{Kind: read, Model: order, Keys: onlyKey(1)}, "s1"), "", topology.ErrShardLocked},
		{"a locked request scattering", lock(route.Facts{Kind: read, Model: order, Scope: shard(topology.AllShards)}, "s1"), "", topology.ErrShardLocked},
		{"a locked request splitting a create", lock(route.Facts{Kind: create, Model: order, Keys: rows(0, 1)}, "s1"), "", topology.ErrShardLocked},
		{"a lock does not bind unsharded databases", lock(route.Facts{Kind: read, Model: report}, "s1"), "analytics reading explicit", nil},

		// Transactions grant begins lazily.
		{"the first statement begins the transaction", route.Facts{Kind: read, Model: report, Tx: unbegun}, "analytics writing explicit begin", nil},
		{"a savepoint before the first statement waits", route.Facts{Kind: savepoint, Tx: unbegun}, "primary writing defer", nil},
		{"a savepoint naming its database begins there", route.Facts{Kind: savepoint, Scope: db("analytics"), Tx: unbegun}, "analytics writing explicit begin", nil},
		{"a statement on the transaction's database", route.Facts{Kind: write, Model: report, Tx: begun(analytics)}, "analytics writing explicit", nil},
		{"an unnamed statement follows the transaction", route.Facts{Kind: raw, Tx: begun(s2)}, "orders/s2 writing", nil},
		{"a statement for another database", route.Facts{Kind: read, Model: plain, Tx: begun(analytics)}, "", topology.ErrCrossDatabaseTransaction},
		{"a statement for another shard", route.Facts{Kind: read, Model: order, Keys: onlyKey(0), Tx: begun(s2)}, "", topology.ErrCrossShardTransaction},
		{"a scatter inside a transaction", route.Facts{Kind: read, Model: order, Scope: shard(topology.AllShards), Tx: unbegun}, "", topology.ErrCrossShardTransaction},
		{"a split create inside a transaction", route.Facts{Kind: create, Model: order, Keys: rows(0, 1), Tx: begun(s1)}, "", topology.ErrCrossShardTransaction},
		{"a write under prevention inside a transaction", route.Facts{Kind: write, Context: prevent, Tx: begun(top.Default())}, "", topology.ErrReadOnly},
		{"a read under prevention inside a transaction", route.Facts{Kind: read, Context: prevent, Tx: unbegun}, "primary writing prevent begin", nil},
		{"a named shard contradicting the key inside a transaction", route.Facts{Kind: create, Model: order, Scope: shard("s2"), Keys: rows(0), Tx: begun(s2)}, "", topology.ErrShardMismatch},

		// Transactions and connections grant did not begin.
		{"pinned to the statement's database", route.Facts{Kind: write, Model: report, Tx: pinned(analytics.Writer())}, "analytics writing explicit", nil},
		{"pinned elsewhere", route.Facts{Kind: write, Model: report, Tx: pinned(top.Default().Writer())}, "", topology.ErrCrossDatabaseTransaction},
		{"pinned to another shard", route.Facts{Kind: read, Model: order, Keys: onlyKey(0), Tx: pinned(s2.Writer())}, "", topology.ErrCrossShardTransaction},
		{"pinned to a replica refuses writes", route.Facts{Kind: write, Model: report, Tx: pinned(analytics.Replicas()[0])}, "", topology.ErrReadOnly},
		{"pinned to a replica reads", route.Facts{Kind: read, Model: report, Tx: pinned(analytics.Replicas()[0])}, "analytics reading explicit", nil},
		{"pinned to an unknown pool", route.Facts{Kind: write, Model: report, Tx: route.Tx{State: route.Pinned}}, "analytics writing explicit", nil},
		{"pinned, scattering", route.Facts{Kind: read, Model: order, Keys: several(0, 1), Tx: pinned(s1.Writer())}, "", topology.ErrCrossShardTransaction},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := decide(top, c.facts)
			if c.err != nil {
				require.Error(t, err, "decided %s", func() string {
					if d.Database == nil {
						return "nothing"
					}
					return outcome(d)
				}())
				assert.ErrorIs(t, err, c.err)
				var re *topology.RouteError
				if !errors.Is(c.err, errKey) && !errors.Is(c.err, topology.ErrInvalidConfig) {
					assert.True(t, errors.As(err, &re), "a routing refusal is a *topology.RouteError: %v", err)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.want, outcome(d))
		})
	}
}

var errKey = fmt.Errorf("%w: NULL shard key", errors.New("key type"))

// TestDecideErrorsNameTheWayOut: the refusals say what was found and what
// to do instead.
func TestDecideErrorsNameTheWayOut(t *testing.T) {
	top := testTopology(t)
	cases := []struct {
		facts route.Facts
		want  []string
	}{
		{route.Facts{Kind: create, Model: order, Context: shard("s1"), Keys: rows(0, 2)},
			[]string{`shard "s1" is named`, `row 1 has "user_id" = 101 belongs on shard "s3"`, "drop the named shard"}},
		{route.Facts{Kind: read, Model: order, Scope: shard("s2"), Keys: where(0)},
			[]string{`the statement filters on "user_id" = 100 belongs on shard "s1"`}},
		{route.Facts{Kind: read, Model: order, Keys: none()},
			[]string{`model Order has shard key "user_id"`, "grant.Shard or grant.ConnectedTo"}},
		{route.Facts{Kind: read, Model: note},
			[]string{`model Note lives in cluster "orders" (shards: s1, s2, s3)`}},
		{route.Facts{Kind: update, Model: order, Keys: assigns(onlyKey(0), 2)},
			[]string{`setting "user_id" to 202 would move the row from shard "s1" to shard "s3"`}},
		{route.Facts{Kind: update, Model: order, Keys: several(0, 1)},
			[]string{`shard key "user_id" values belong to shards s1, s2`, "grant.AllShards"}},
		{route.Facts{Kind: raw, Scope: shard(topology.AllShards)},
			[]string{"raw SQL", "grant.Shard(name)"}},
		{route.Facts{Kind: read, Model: order, Keys: onlyKey(2), Lock: "s1", Locked: true},
			[]string{`locked to shard "s1"`, "goes to s3"}},
	}
	for _, c := range cases {
		facts := c.facts
		_, err := decide(top, facts)
		require.Error(t, err)
		for _, want := range c.want {
			assert.Contains(t, err.Error(), want)
		}
	}
	var refusal *scatter.Refusal
	_, err := decide(top, route.Facts{Kind: create, Model: order, Scope: shard(topology.AllShards), Keys: route.Keys{}})
	require.ErrorAs(t, err, &refusal, "AllShards refusals carry the scatter-gather refusal")
	assert.Equal(t, scatter.ReasonClause, refusal.Reason)
}

// TestDecideIsPure: deciding changes neither the facts nor the topology,
// and the same facts decide the same way.
func TestDecideIsPure(t *testing.T) {
	top := testTopology(t)
	f := route.Facts{Kind: create, Model: withIDs(*order), Keys: rows(1, 0, 1)}
	before := fmt.Sprintf("%+v %+v", f, f.Keys)
	first, err := decide(top, f)
	require.NoError(t, err)
	second, err := decide(top, f)
	require.NoError(t, err)
	assert.Equal(t, before, fmt.Sprintf("%+v %+v", f, f.Keys))
	assert.Equal(t, outcome(first), outcome(second))
}

// A point query decides without allocating.
func TestDecideAllocatesNothingForAPointQuery(t *testing.T) {
	top := testTopology(t)
	f := route.Facts{Kind: read, Model: order, Keys: onlyKey(1)}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := decide(top, f); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
}

func BenchmarkDecide(b *testing.B) {
	top := testTopology(b)
	f := route.Facts{Kind: read, Model: order, Keys: onlyKey(1)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decide(top, f); err != nil {
			b.Fatal(err)
		}
	}
}
