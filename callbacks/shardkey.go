package callbacks

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"

	"github.com/grant-go/grant/resolver"
	"github.com/grant-go/grant/sharding"
)

// ShardKeyed is implemented by models in a cluster that route by the data:
// `func (Order) ShardKey() grant.ShardKey`.
type ShardKeyed interface {
	ShardKey() sharding.ShardKey
}

// shardKey is a model's validated shard key, computed once per schema.
type shardKey struct {
	field    *schema.Field
	strategy sharding.Strategy
}

// declareShardKey validates a model's ShardKey against its schema and cluster.
func declareShardKey(s *schema.Schema, decl ShardKeyed, cluster *resolver.Cluster) (*shardKey, error) {
	spec := decl.ShardKey()
	fail := func(format string, args ...any) error {
		return &resolver.RouteError{Err: resolver.ErrInvalidConfig, Table: s.Table,
			Detail: fmt.Sprintf("model %s: ", s.Name) + fmt.Sprintf(format, args...)}
	}
	if cluster == nil {
		return nil, fail("declares a shard key but does not live in a cluster (return grant.Cluster(name) from ConnectsTo)")
	}
	field := s.LookUpField(spec.Column)
	if field == nil || field.DBName == "" {
		columns := make([]string, 0, len(s.DBNames))
		columns = append(columns, s.DBNames...)
		return nil, fail("shard key column %q is not a column of the model (columns: %s)", spec.Column, strings.Join(columns, ", "))
	}
	if spec.Strategy == nil {
		return nil, fail("shard key %q has no strategy", field.DBName)
	}
	if err := spec.Strategy.Validate(cluster.ShardNames()); err != nil {
		return nil, fail("shard key %q: %v", field.DBName, err)
	}
	return &shardKey{field: field, strategy: spec.Strategy}, nil
}

// shardByKey finds the one shard the statement's keys map to: the values
// being created, or the key's equality and IN conditions in WHERE.
func (r *Router) shardByKey(db *gorm.DB, kind statement, c *resolver.Cluster, key *shardKey) (*resolver.Database, error) {
	stmt := db.Statement
	var values []any
	var err error
	if kind.create {
		values, err = keysFromValues(stmt, key.field)
	} else {
		values = keysFromWhere(stmt, key.field)
	}
	route := resolver.Route{Database: c.Name()}
	if err != nil {
		return nil, &resolver.RouteError{Err: err, Route: route}
	}
	if len(values) == 0 {
		return nil, &resolver.RouteError{Err: resolver.ErrShardKeyMissing, Route: route,
			Detail: fmt.Sprintf("model %s has shard key %q, but the statement neither sets it nor filters on it with = or IN; name the shard with grant.Shard or grant.ConnectedTo",
				stmt.Schema.Name, key.field.DBName)}
	}
	keys := make([]sharding.Key, len(values))
	for i, v := range values {
		if keys[i], err = sharding.Normalize(v); err != nil {
			return nil, &resolver.RouteError{Err: err, Route: route, Detail: fmt.Sprintf("shard key %q", key.field.DBName)}
		}
	}
	names, err := key.strategy.Map(stmt.Context, c.ShardNames(), keys)
	if err != nil {
		return nil, &resolver.RouteError{Err: err, Route: route, Detail: fmt.Sprintf("shard key %q", key.field.DBName)}
	}
	first := names[0]
	for _, name := range names[1:] {
		if name != first {
			slices.Sort(names)
			return nil, &resolver.RouteError{Err: resolver.ErrSpansShards, Route: route,
				Detail: fmt.Sprintf("shard key %q values belong to shards %s", key.field.DBName, strings.Join(slices.Compact(names), ", "))}
		}
	}
	return c.Shard(first)
}

// keysFromValues reads the key from every row being created.
func keysFromValues(stmt *gorm.Statement, field *schema.Field) ([]any, error) {
	rv := reflect.Indirect(stmt.ReflectValue)
	switch rv.Kind() {
	case reflect.Struct:
		v, _ := field.ValueOf(stmt.Context, rv)
		return []any{v}, nil
	case reflect.Slice, reflect.Array:
		values := make([]any, 0, rv.Len())
		for i := 0; i < rv.Len(); i++ {
			elem := reflect.Indirect(rv.Index(i))
			if elem.Kind() != reflect.Struct {
				return nil, fmt.Errorf("%w: cannot read shard key %q from a %s", resolver.ErrShardKeyMissing, field.DBName, elem.Type())
			}
			v, _ := field.ValueOf(stmt.Context, elem)
			values = append(values, v)
		}
		return values, nil
	case reflect.Map:
		for _, name := range []string{field.DBName, field.Name} {
			if v := rv.MapIndex(reflect.ValueOf(name)); v.IsValid() {
				return []any{v.Interface()}, nil
			}
		}
	}
	return nil, nil
}
