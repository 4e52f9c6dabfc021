package route

import (
	"fmt"
	"strings"

	"github.com/grant-go/grant/topology"
)

func keyColumn(f *Facts) string {
	if f.Model != nil {
		return f.Model.KeyColumn
	}
	return ""
}

// keyMissing: a statement for a cluster named no shard, and carried no key
// value grant could route by.
func keyMissing(f *Facts, c *topology.Cluster) error {
	route := topology.Route{Database: c.Name()}
	if f.Model != nil && f.Model.Keyed && f.Keys.Declared {
		return &topology.RouteError{Err: topology.ErrShardKeyMissing, Route: route,
			Detail: fmt.Sprintf("model %s has shard key %q, but the statement neither sets it nor filters on it with = or IN; name the shard with grant.Shard or grant.ConnectedTo",
				f.Model.Name, f.Model.KeyColumn)}
	}
	what := "the statement"
	if f.Model != nil {
		what = "model " + f.Model.Name
	}
	return &topology.RouteError{Err: topology.ErrShardKeyMissing, Route: route,
		Detail: fmt.Sprintf("%s lives in cluster %q (shards: %s); name the shard with grant.Shard or grant.ConnectedTo",
			what, c.Name(), strings.Join(c.ShardNames(), ", "))}
}

// keyChange: an update assigns a key that belongs on another shard than
// the row's; rows never move between shards.
func keyChange(f *Facts, c *topology.Cluster, from, to int) error {
	return &topology.RouteError{Err: topology.ErrShardKeyChange, Route: topology.Route{Database: c.Name(), Shard: c.ShardNames()[from]},
		Detail: fmt.Sprintf("setting %q to %v would move the row from shard %q to shard %q",
			keyColumn(f), f.Keys.AssignedValue, c.ShardNames()[from], c.ShardNames()[to])}
}

func readOnly(route topology.Route) error {
	route.PreventWrites = true
	return &topology.RouteError{Err: topology.ErrReadOnly, Route: route}
}

// spanning refuses a statement for several shards inside a transaction,
// which lives on one.
func spanning(route topology.Route) error {
	route.Shard = topology.AllShards
	return &topology.RouteError{Err: topology.ErrCrossShardTransaction, Route: route,
		Detail: "a transaction lives on one shard; a statement inside it cannot span several"}
}

// crossTransaction is the error for a statement routed to database inside a
// transaction on txDatabase: another shard of the same cluster, or another
// database altogether.
func crossTransaction(route topology.Route, database, txDatabase *topology.Database) error {
	err := topology.ErrCrossDatabaseTransaction
	if database.Cluster() != nil && database.Cluster() == txDatabase.Cluster() {
		err = topology.ErrCrossShardTransaction
	}
	what := "database"
	if txDatabase.Shard() != "" {
		what = "shard"
	}
	return &topology.RouteError{Err: err, Route: route,
		Detail: fmt.Sprintf("the transaction is on %s %q", what, txDatabase.Qualified())}
}
