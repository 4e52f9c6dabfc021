package callbacks

import (
	"fmt"
	"slices"

	"gorm.io/gorm"

	"github.com/grant-go/grant/internal/route"
	"github.com/grant-go/grant/sharding"
	"github.com/grant-go/grant/topology"
)

// The callbacks gather what a statement's routing depends on into
// route.Facts — its kind, scopes, context, model, table, shard key values
// and transaction — and route.Decide does the rest. Gathering is the only
// part that reads the *gorm.Statement, and the only part that may do I/O
// (a lookup strategy mapping a key).

// gatherKeys fills f.Keys when the statement's model is keyed in cluster c:
// the values being created, or the key's = and IN conditions in WHERE, or
// the model value's key, or the IDs that encode a shard; then maps them to
// shard indexes. Under AllShards only an update's assigned key matters; a
// read that may inherit its parent's shard (f.Inherit) looks at WHERE
// alone, so that a lookup strategy is not asked about values that do not
// route it. A point query allocates nothing here.
func (r *Router) gatherKeys(db *gorm.DB, m *modelRoute, f *route.Facts, c *topology.Cluster, p *topology.ShardPlacement, allShards bool) {
	stmt := db.Statement
	if m == nil {
		return
	}
	space := readSpace(p)
	if f.Kind.Has(route.Writes) {
		space = writeSpace(p)
	}
	key := m.key
	if key == nil || m.conn.Database != c.Name() {
		return
	}
	k := &f.Keys
	k.Declared = true
	if f.Kind.Has(route.Update) {
		if v, ok := assignedKey(stmt, key.field); ok {
			k.Assigns, k.AssignedValue = true, v
			if k.Assigned, k.Err = r.indexOf(stmt, key, c, space, v); k.Err != nil {
				return
			}
		}
	}
	if allShards {
		return
	}
	var values []any
	if f.Kind.Has(route.Create) {
		if one, ok := oneCreatedKey(stmt, key); ok { // a one-row create allocates nothing here
			k.Key = one
			k.Shard, k.Err = r.indexOfKey(stmt, key, c, space, one)
			k.One = k.Err == nil
			return
		}
		var err error
		if values, err = keysFromValues(stmt, key.field); err != nil {
			k.Err = &topology.RouteError{Err: err, Route: topology.Route{Database: c.Name()}}
			return
		}
	} else if values, k.OnlyKey = keysAndRest(stmt, key.field); len(values) > 0 {
		k.FromWhere = true
	} else if f.Inherit != nil {
		return
	} else {
		values = keysFromModel(stmt, key.field)
	}
	if len(values) == 0 && key.ids != nil && !f.Kind.Has(route.Create) {
		r.keysByID(stmt, key, c, k)
		return
	}
	k.Values = values
	switch len(values) {
	case 0:
	case 1:
		k.Shard, k.Err = r.indexOf(stmt, key, c, space, values[0])
		k.One = k.Err == nil
	default:
		k.Each, k.Err = r.indexOfEach(stmt, key, c, space, values)
		if k.Err == nil {
			k.Shards = slices.Compact(slices.Sorted(slices.Values(k.Each)))
			if len(k.Shards) == 1 {
				k.One, k.Shard, k.Shards = true, k.Shards[0], nil
			}
		}
	}
}

// keySpace is the shards keys map over under a placement: their names in
// order, and each one's index among the cluster's configured shards.
type keySpace struct {
	names []string
	at    []int
}

func readSpace(p *topology.ShardPlacement) keySpace {
	return keySpace{names: p.ReadNames(), at: p.ReadIndexes()}
}

func writeSpace(p *topology.ShardPlacement) keySpace {
	return keySpace{names: p.WriteNames(), at: p.WriteIndexes()}
}

// indexOf maps one key value to its shard's index, through the strategy's
// allocation-free path when it has one.
func (r *Router) indexOf(stmt *gorm.Statement, key *shardKey, c *topology.Cluster, space keySpace, value any) (int, error) {
	k, err := sharding.Normalize(value)
	if err != nil {
		return -1, keyError(c, key, err)
	}
	return r.indexOfKey(stmt, key, c, space, k)
}

// indexOfKey maps one normalized key over space to its shard's index
// among the configured shards: by position when the strategy can (the
// cost is then the same for any shard count), else by the name it
// returns.
func (r *Router) indexOfKey(stmt *gorm.Statement, key *shardKey, c *topology.Cluster, space keySpace, k sharding.Key) (int, error) {
	if m, ok := key.strategy.(sharding.IndexMapper); ok {
		i, err := m.MapKeyIndex(stmt.Context, len(space.names), k)
		if err != nil {
			return -1, keyError(c, key, err)
		}
		return space.at[i], nil
	}
	name, err := sharding.MapOne(stmt.Context, key.strategy, space.names, k)
	if err != nil {
		return -1, keyError(c, key, err)
	}
	i := c.Index(name)
	if i < 0 {
		return -1, keyError(c, key, fmt.Errorf("%w: strategy %s chose %q, which is not a shard of %q", sharding.ErrNoShardForKey, key.strategy.Name(), name, c.Name()))
	}
	return i, nil
}

func keyError(c *topology.Cluster, key *shardKey, err error) error {
	return &topology.RouteError{Err: err, Route: topology.Route{Database: c.Name()}, Detail: fmt.Sprintf("shard key %q", key.field.DBName)}
}

// indexOfEach maps every value over space to its shard's index, in order.
func (r *Router) indexOfEach(stmt *gorm.Statement, key *shardKey, c *topology.Cluster, space keySpace, values []any) ([]int, error) {
	names, err := shardOfEach(stmt, key, c, space.names, values)
	if err != nil {
		return nil, err
	}
	out := make([]int, len(names))
	for i, name := range names {
		if out[i] = c.Index(name); out[i] < 0 {
			return nil, &topology.RouteError{Err: sharding.ErrNoShardForKey, Route: topology.Route{Database: c.Name()},
				Detail: fmt.Sprintf("strategy %s chose %q, which is not a shard of %q", key.strategy.Name(), name, c.Name())}
		}
	}
	return out, nil
}

// keysByID routes by IDs that encode their shard, when the statement has
// no key value.
func (r *Router) keysByID(stmt *gorm.Statement, key *shardKey, c *topology.Cluster, k *route.Keys) {
	shards, err := shardsByID(stmt, key, c)
	if err != nil {
		k.Err = err
		return
	}
	k.ByID = len(shards) > 0
	for _, s := range shards {
		k.Shards = append(k.Shards, c.Index(s.Shard()))
	}
	slices.Sort(k.Shards)
	if len(k.Shards) == 1 {
		k.One, k.Shard, k.Shards = true, k.Shards[0], nil
	}
}
