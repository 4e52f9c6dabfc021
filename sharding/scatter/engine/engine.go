// Package engine links grant's scatter-gather engine into a program: the
// planner that proves a query across shards mergeable and the merge that
// answers it as one database holding every row would. Import it for its
// side effect wherever statements run on every shard of a cluster
// (grant.AllShards, an update or delete for all shards):
//
//	import _ "github.com/grant-go/grant/sharding/scatter/engine"
//
// Without it such statements fail with grant.ErrNoScatterEngine, naming
// this import, and nothing is sent. The engine is half of grant's code, so
// a program that only routes to one node per statement does not carry it.
package engine

import (
	"github.com/grant-go/grant/internal/callbacks"
	"github.com/grant-go/grant/sharding/scatter"
)

func init() {
	callbacks.RegisterScatterEngine(callbacks.ScatterEngine{PlanQuery: scatter.PlanQuery, NewDB: scatter.NewDB})
}
