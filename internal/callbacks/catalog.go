package callbacks

import (
	"context"
	"sync"

	"gorm.io/gorm"

	"github.com/grant-go/grant/sharding/scatter"
	"github.com/grant-go/grant/sharding/scatter/collate"
	"github.com/grant-go/grant/topology"
)

// The scatter-gather planner compares text as the database does, so it
// must know each column's collation. grant reads it from the catalog of the
// cluster's first shard, once per table and process (shards of a cluster
// share their schema; migrations that change a collation need a restart),
// and keeps only successful reads, so that a shard that was down is asked
// again.

type catalogKey struct{ cluster, table string }

// catalogs caches what the catalog said, per cluster and table.
type catalogs struct {
	mu     sync.Mutex
	tables map[catalogKey]*collate.Table
	named  map[catalogKey]collate.Collation // COLLATE names, per cluster
}

// catalog returns the table's catalog, reading it on first use.
func (r *Router) catalog(ctx context.Context, c *topology.Cluster, table string, pool gorm.ConnPool, dialect string) (scatter.TableCatalog, error) {
	key := catalogKey{c.Name(), table}
	r.catalogs.mu.Lock()
	t, ok := r.catalogs.tables[key]
	r.catalogs.mu.Unlock()
	if !ok {
		var err error
		if t, err = collate.LoadTable(ctx, pool, dialect, table); err != nil {
			return scatter.TableCatalog{}, &topology.RouteError{Err: topology.ErrNodeUnavailable, Table: table, Route: topology.Route{Database: c.Name()},
				Detail: "reading the table's columns and collations for the scatter-gather merge: " + err.Error()}
		}
		r.catalogs.mu.Lock()
		if r.catalogs.tables == nil {
			r.catalogs.tables = map[catalogKey]*collate.Table{}
		}
		r.catalogs.tables[key] = t
		r.catalogs.mu.Unlock()
	}
	named := func(name string) (collate.Collation, error) {
		return r.namedCollation(ctx, c.Name(), pool, dialect, name)
	}
	return scatter.TableCatalog{Table: t, Dialect: dialect, Named: named}, nil
}

// namedCollation resolves a COLLATE clause's name through the shard's
// catalog, once per cluster.
func (r *Router) namedCollation(ctx context.Context, cluster string, pool gorm.ConnPool, dialect, name string) (collate.Collation, error) {
	key := catalogKey{cluster, name}
	cs := &r.catalogs
	cs.mu.Lock()
	coll, ok := cs.named[key]
	cs.mu.Unlock()
	if ok {
		return coll, nil
	}
	coll, err := collate.Lookup(ctx, pool, dialect, name)
	if err != nil {
		return nil, err
	}
	cs.mu.Lock()
	if cs.named == nil {
		cs.named = map[catalogKey]collate.Collation{}
	}
	cs.named[key] = coll
	cs.mu.Unlock()
	return coll, nil
}
