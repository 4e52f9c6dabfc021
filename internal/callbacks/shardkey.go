package callbacks

import (
	"database/sql/driver"
	"fmt"
	"reflect"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"

	"github.com/grant-go/grant/sharding"
	"github.com/grant-go/grant/topology"
)

// ShardKeyed is implemented by models in a cluster that route by the data:
// `func (Order) ShardKey() grant.ShardKey`.
type ShardKeyed interface {
	ShardKey() sharding.ShardKey
}

// shardKey is a model's validated shard key, computed once per schema.
type shardKey struct {
	field        *schema.Field
	strategy     sharding.Strategy
	scatterReads bool
	ids          *sharding.IDGenerator
	primary      *schema.Field // set with ids: the primary key the IDs fill
	// plain: the key's Go type is a signed integer or a string with no
	// Value method, so a key is read from a row without boxing it.
	plain bool
}

// declareShardKey validates a model's shard key against its schema and cluster.
func declareShardKey(s *schema.Schema, spec sharding.ShardKey, cluster *topology.Cluster, databases sharding.DatabaseResolver) (*shardKey, error) {
	fail := func(format string, args ...any) error {
		return &topology.RouteError{Err: topology.ErrInvalidConfig, Table: s.Table,
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
	// Every configured shard, pending ones too (as topology does): which
	// of them keys map over is the placement's to say, per statement.
	if err := spec.Strategy.Validate(cluster.ShardNames()); err != nil {
		return nil, fail("shard key %q: %v", field.DBName, err)
	}
	if b, ok := spec.Strategy.(sharding.DatabaseBinder); ok {
		if err := b.BindDatabases(databases); err != nil {
			return nil, fail("shard key %q: %v", field.DBName, err)
		}
	}
	key := &shardKey{field: field, strategy: spec.Strategy, scatterReads: spec.ScatterReads, ids: spec.IDs, plain: isPlainKey(field.FieldType)}
	if spec.IDs != nil {
		key.primary = s.PrioritizedPrimaryField
		if key.primary == nil || len(s.PrimaryFields) != 1 || !isIntegerKind(key.primary.FieldType.Kind()) {
			return nil, fail("IDs need a single integer primary key")
		}
		if max := 1 << spec.IDs.Layout().ShardBits; len(cluster.ShardNames()) > max {
			return nil, fail("the ID layout holds %d shards, the cluster has %d", max, len(cluster.ShardNames()))
		}
	}
	return key, nil
}

// resolveDatabase gives strategies that read a grant database (a shard
// directory) its writer.
func (r *Router) resolveDatabase(name string) (sharding.Querier, string, error) {
	d, err := r.topology.Database(name)
	if err != nil {
		return nil, "", err
	}
	return d.Writer(), d.Writer().Dialect(), nil
}

// shardOfEach maps every key value over the shards named to its shard,
// in order.
func shardOfEach(stmt *gorm.Statement, key *shardKey, c *topology.Cluster, shards []string, values []any) ([]string, error) {
	route := topology.Route{Database: c.Name()}
	keys := make([]sharding.Key, len(values))
	for i, v := range values {
		var err error
		if keys[i], err = sharding.Normalize(v); err != nil {
			return nil, &topology.RouteError{Err: err, Route: route, Detail: fmt.Sprintf("shard key %q of value %d", key.field.DBName, i)}
		}
		// One column holds one type: a list mixing 7 and "7" is a mistake,
		// and the two would hash to different shards.
		if keys[i].Kind() != keys[0].Kind() {
			return nil, &topology.RouteError{Err: sharding.ErrKeyType, Route: route, Detail: fmt.Sprintf(
				"shard key %q: the values mix kinds (value 0 is %s %s, value %d is %s %s)",
				key.field.DBName, keys[0].Kind(), keys[0], i, keys[i].Kind(), keys[i])}
		}
	}
	names, err := key.strategy.Map(stmt.Context, shards, keys)
	if err != nil {
		return nil, &topology.RouteError{Err: err, Route: route, Detail: fmt.Sprintf("shard key %q", key.field.DBName)}
	}
	return names, nil
}

// assignedKey finds the key among an update's assignments: Update(col, v),
// Updates(map) or Updates/Save of a struct (whose zero key assigns nothing).
func assignedKey(stmt *gorm.Statement, field *schema.Field) (any, bool) {
	switch dest := stmt.Dest.(type) {
	case map[string]any:
		for _, name := range []string{field.DBName, field.Name} {
			if v, ok := dest[name]; ok {
				return v, true
			}
		}
		return nil, false
	}
	rv := reflect.Indirect(reflect.ValueOf(stmt.Dest))
	if rv.Kind() != reflect.Struct || rv.Type() != field.Schema.ModelType {
		return nil, false
	}
	v, zero := field.ValueOf(stmt.Context, rv)
	return v, !zero
}

// keysFromModel reads the key from the model value an update or delete was
// given (db.Model(&order), Delete(&order), Save(&order)). A zero key means
// the model is only naming the table (db.Model(&Order{})), not a row.
func keysFromModel(stmt *gorm.Statement, field *schema.Field) []any {
	rv := reflect.Indirect(reflect.ValueOf(stmt.Model))
	var values []any
	read := func(elem reflect.Value) bool {
		elem = reflect.Indirect(elem)
		if elem.Kind() != reflect.Struct || elem.Type() != field.Schema.ModelType {
			return false
		}
		v, zero := field.ValueOf(stmt.Context, elem)
		values = append(values, v)
		return !zero
	}
	switch rv.Kind() {
	case reflect.Struct:
		if read(rv) {
			return values
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < rv.Len(); i++ {
			if !read(rv.Index(i)) {
				return nil
			}
		}
		return values
	}
	return nil
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
				return nil, fmt.Errorf("%w: cannot read shard key %q from a %s", topology.ErrShardKeyMissing, field.DBName, elem.Type())
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

var valuerType = reflect.TypeFor[driver.Valuer]()

func isPlainKey(t reflect.Type) bool {
	if t.Implements(valuerType) || reflect.PointerTo(t).Implements(valuerType) {
		return false
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.String:
		return true
	}
	return false
}

// oneCreatedKey reads the key of a create of one struct row when the key
// is plain, without boxing it; ok is false otherwise (use keysFromValues).
func oneCreatedKey(stmt *gorm.Statement, key *shardKey) (_ sharding.Key, ok bool) {
	if !key.plain {
		return sharding.Key{}, false
	}
	rv := reflect.Indirect(stmt.ReflectValue)
	if rv.Kind() != reflect.Struct || rv.Type() != key.field.Schema.ModelType {
		return sharding.Key{}, false
	}
	v := key.field.ReflectValueOf(stmt.Context, rv)
	if v.Kind() == reflect.String {
		return sharding.StringKey(v.String()), true
	}
	return sharding.IntKey(v.Int()), true
}

func isIntegerKind(k reflect.Kind) bool {
	return k >= reflect.Int && k <= reflect.Uint64
}

// assignIDs gives every created row with a zero primary key an ID that
// encodes shard.
func assignIDs(stmt *gorm.Statement, key *shardKey, shard int) error {
	assign := func(row reflect.Value) error {
		row = reflect.Indirect(row)
		if _, zero := key.primary.ValueOf(stmt.Context, row); !zero {
			return nil
		}
		id, err := key.ids.Next(shard)
		if err != nil {
			return err
		}
		return key.primary.Set(stmt.Context, row, id)
	}
	rv := reflect.Indirect(stmt.ReflectValue)
	switch rv.Kind() {
	case reflect.Struct:
		return assign(rv)
	case reflect.Slice, reflect.Array:
		for i := 0; i < rv.Len(); i++ {
			if err := assign(rv.Index(i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// shardsByID routes by primary keys that encode their shard: from WHERE,
// else from the model value. It returns nil when there are none.
func shardsByID(stmt *gorm.Statement, key *shardKey, c *topology.Cluster) ([]*topology.Database, error) {
	ids := keysFromWhere(stmt, key.primary)
	if len(ids) == 0 {
		ids = keysFromModel(stmt, key.primary)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	seen := make([]bool, c.ShardCount())
	var shards []*topology.Database
	for _, v := range ids {
		k, err := sharding.Normalize(v)
		if err != nil || k.Kind() != sharding.KindInt {
			return nil, &topology.RouteError{Err: sharding.ErrKeyType, Route: topology.Route{Database: c.Name()},
				Detail: fmt.Sprintf("primary key %v is not an ID", v)}
		}
		index, ok := key.ids.Shard(k.Int())
		if !ok || index >= len(seen) {
			return nil, &topology.RouteError{Err: sharding.ErrNoShardForKey, Route: topology.Route{Database: c.Name()},
				Detail: fmt.Sprintf("ID %d encodes no shard of cluster %q", k.Int(), c.Name())}
		}
		if !seen[index] {
			seen[index] = true
			shards = append(shards, c.ShardAt(index))
		}
	}
	return shards, nil
}
