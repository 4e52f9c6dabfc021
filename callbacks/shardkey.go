package callbacks

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"

	"github.com/grant-go/grant/resolver"
	"github.com/grant-go/grant/sharding"
)

// errSplit tells decideShard that a create's rows belong to several shards
// and are to be split; it never reaches the caller.
var errSplit = errors.New("grant: internal: split create")

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
}

// declareShardKey validates a model's shard key against its schema and cluster.
func declareShardKey(s *schema.Schema, spec sharding.ShardKey, cluster *resolver.Cluster, databases sharding.DatabaseResolver) (*shardKey, error) {
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
	if b, ok := spec.Strategy.(sharding.DatabaseBinder); ok {
		if err := b.BindDatabases(databases); err != nil {
			return nil, fail("shard key %q: %v", field.DBName, err)
		}
	}
	key := &shardKey{field: field, strategy: spec.Strategy, scatterReads: spec.ScatterReads, ids: spec.IDs}
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

// shardByKey finds the one shard the statement's keys map to: the values
// being created, or the key's equality and IN conditions in WHERE.
//
// It returns the shard, and for a read whose keys span several shards all of
// them (allocated only then: a point query costs nothing here).
//
// onlyKey reports that the WHERE is the key condition alone, so it holds no
// subquery to check.
func (r *Router) shardByKey(db *gorm.DB, kind statement, c *resolver.Cluster, key *shardKey) (_ *resolver.Database, _ []*resolver.Database, onlyKey bool, _ error) {
	first, shards, err := r.shardByKeyOf(db, kind, c, key, &onlyKey)
	return first, shards, onlyKey, err
}

func (r *Router) shardByKeyOf(db *gorm.DB, kind statement, c *resolver.Cluster, key *shardKey, onlyKey *bool) (*resolver.Database, []*resolver.Database, error) {
	stmt := db.Statement
	var values []any
	var err error
	if kind.create {
		values, err = keysFromValues(stmt, key.field)
	} else if values, *onlyKey = keysAndRest(stmt, key.field); len(values) == 0 {
		values = keysFromModel(stmt, key.field)
	}
	route := resolver.Route{Database: c.Name()}
	if err != nil {
		return nil, nil, &resolver.RouteError{Err: err, Route: route}
	}
	if len(values) == 0 && key.ids != nil && !kind.create {
		if shards, err := shardsByID(stmt, key, c); err != nil || shards != nil {
			if err != nil {
				return nil, nil, err
			}
			if len(shards) > 1 && (kind.writes || kind.wantsWriter) {
				return nil, nil, &resolver.RouteError{Err: resolver.ErrSpansShards, Route: route,
					Detail: "the primary keys belong to several shards"}
			}
			if len(shards) == 1 {
				return shards[0], nil, nil
			}
			return shards[0], shards, nil
		}
	}
	if len(values) == 0 && key.scatterReads && !kind.writes && !kind.wantsWriter {
		return c.Shards()[0], c.Shards(), nil
	}
	if len(values) == 0 {
		return nil, nil, &resolver.RouteError{Err: resolver.ErrShardKeyMissing, Route: route,
			Detail: fmt.Sprintf("model %s has shard key %q, but the statement neither sets it nor filters on it with = or IN; name the shard with grant.Shard or grant.ConnectedTo",
				stmt.Schema.Name, key.field.DBName)}
	}
	names, err := r.mapKeys(stmt, key, c, values)
	if err != nil {
		return nil, nil, err
	}
	if len(names) > 1 && kind.create {
		return nil, nil, errSplit
	}
	if len(names) > 1 && (kind.writes || kind.wantsWriter) {
		return nil, nil, &resolver.RouteError{Err: resolver.ErrSpansShards, Route: route,
			Detail: fmt.Sprintf("shard key %q values belong to shards %s", key.field.DBName, strings.Join(names, ", "))}
	}
	if kind.update {
		if err := checkKeyChange(stmt, key, c, names[0]); err != nil {
			return nil, nil, err
		}
	}
	first, err := c.Shard(names[0])
	if err == nil && kind.create && key.ids != nil {
		err = assignIDs(stmt, key, c.Index(names[0]))
	}
	if err != nil || len(names) == 1 {
		return first, nil, err
	}
	shards := make([]*resolver.Database, len(names))
	for i, name := range names {
		if shards[i], err = c.Shard(name); err != nil {
			return nil, nil, err
		}
	}
	return first, shards, nil
}

// mapKeys maps key values to the shards holding them, each once, sorted. A
// single value (a point query, a one-row create) takes the strategy's
// allocation-free path.
func (r *Router) mapKeys(stmt *gorm.Statement, key *shardKey, c *resolver.Cluster, values []any) ([]string, error) {
	route := resolver.Route{Database: c.Name()}
	wrap := func(err error) error {
		return &resolver.RouteError{Err: err, Route: route, Detail: fmt.Sprintf("shard key %q", key.field.DBName)}
	}
	if len(values) == 1 {
		k, err := sharding.Normalize(values[0])
		if err != nil {
			return nil, wrap(err)
		}
		name, err := sharding.MapOne(stmt.Context, key.strategy, c.ShardNames(), k)
		if err != nil {
			return nil, wrap(err)
		}
		i := c.Index(name)
		if i < 0 {
			return nil, wrap(fmt.Errorf("%w: strategy %s chose %q, which is not a shard of %q", sharding.ErrNoShardForKey, key.strategy.Name(), name, c.Name()))
		}
		return c.ShardNames()[i : i+1], nil // no copy: a point query allocates nothing here
	}
	names, err := shardOfEach(stmt, key, c, values)
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// shardOfEach maps every key value to its shard, in order.
func shardOfEach(stmt *gorm.Statement, key *shardKey, c *resolver.Cluster, values []any) ([]string, error) {
	route := resolver.Route{Database: c.Name()}
	keys := make([]sharding.Key, len(values))
	for i, v := range values {
		var err error
		if keys[i], err = sharding.Normalize(v); err != nil {
			return nil, &resolver.RouteError{Err: err, Route: route, Detail: fmt.Sprintf("shard key %q of value %d", key.field.DBName, i)}
		}
		// One column holds one type: a list mixing 7 and "7" is a mistake,
		// and the two would hash to different shards.
		if keys[i].Kind() != keys[0].Kind() {
			return nil, &resolver.RouteError{Err: sharding.ErrKeyType, Route: route, Detail: fmt.Sprintf(
				"shard key %q: the values mix kinds (value 0 is %s %s, value %d is %s %s)",
				key.field.DBName, keys[0].Kind(), keys[0], i, keys[i].Kind(), keys[i])}
		}
	}
	names, err := key.strategy.Map(stmt.Context, c.ShardNames(), keys)
	if err != nil {
		return nil, &resolver.RouteError{Err: err, Route: route, Detail: fmt.Sprintf("shard key %q", key.field.DBName)}
	}
	return names, nil
}

// checkKeyChange refuses an update that assigns the shard key a value
// belonging to another shard than the row's: the row would sit on the wrong
// shard, unreachable by its key.
func checkKeyChange(stmt *gorm.Statement, key *shardKey, c *resolver.Cluster, shard string) error {
	assigned, ok := assignedKey(stmt, key.field)
	if !ok {
		return nil
	}
	route := resolver.Route{Database: c.Name(), Shard: shard}
	k, err := sharding.Normalize(assigned)
	if err != nil {
		return &resolver.RouteError{Err: err, Route: route, Detail: fmt.Sprintf("new value of shard key %q", key.field.DBName)}
	}
	target, err := sharding.MapOne(stmt.Context, key.strategy, c.ShardNames(), k)
	if err != nil {
		return &resolver.RouteError{Err: err, Route: route, Detail: fmt.Sprintf("new value of shard key %q", key.field.DBName)}
	}
	if target != shard {
		return &resolver.RouteError{Err: resolver.ErrShardKeyChange, Route: route,
			Detail: fmt.Sprintf("setting %q to %s would move the row from shard %q to shard %q", key.field.DBName, k, shard, target)}
	}
	return nil
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
func shardsByID(stmt *gorm.Statement, key *shardKey, c *resolver.Cluster) ([]*resolver.Database, error) {
	ids := keysFromWhere(stmt, key.primary)
	if len(ids) == 0 {
		ids = keysFromModel(stmt, key.primary)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	seen := make([]bool, len(c.Shards()))
	var shards []*resolver.Database
	for _, v := range ids {
		k, err := sharding.Normalize(v)
		if err != nil || k.Kind() != sharding.KindInt {
			return nil, &resolver.RouteError{Err: sharding.ErrKeyType, Route: resolver.Route{Database: c.Name()},
				Detail: fmt.Sprintf("primary key %v is not an ID", v)}
		}
		index, ok := key.ids.Shard(k.Int())
		if !ok || index >= len(seen) {
			return nil, &resolver.RouteError{Err: sharding.ErrNoShardForKey, Route: resolver.Route{Database: c.Name()},
				Detail: fmt.Sprintf("ID %d encodes no shard of cluster %q", k.Int(), c.Name())}
		}
		if !seen[index] {
			seen[index] = true
			shards = append(shards, c.Shards()[index])
		}
	}
	return shards, nil
}

// hasOwnKey reports whether a read names its own shard key values, which
// then win over an inherited shard.
func (r *Router) hasOwnKey(db *gorm.DB, kind statement) bool {
	stmt := db.Statement
	if stmt.Schema == nil {
		return false
	}
	m := r.model(stmt.Schema)
	return m.key != nil && len(keysFromWhere(stmt, m.key.field)) > 0
}

// checkNamedShard refuses a statement that names a shard its shard key
// values do not map to: a created row would sit where reads by its key
// never look, and a read or write by key would miss the rows. Every row of
// a create is checked; an update may not assign a key of another shard.
// Without key values the named shard stands, as in Rails.
func (r *Router) checkNamedShard(db *gorm.DB, kind statement, c *resolver.Cluster, key *shardKey, named string) error {
	stmt := db.Statement
	var values []any
	if kind.create {
		var err error
		if values, err = keysFromValues(stmt, key.field); err != nil {
			return &resolver.RouteError{Err: err, Route: resolver.Route{Database: c.Name(), Shard: named}}
		}
	} else if values = keysFromWhere(stmt, key.field); len(values) == 0 {
		values = keysFromModel(stmt, key.field)
	}
	if len(values) > 0 {
		names, err := shardOfEach(stmt, key, c, values)
		if err != nil {
			return err
		}
		for i, shard := range names {
			if shard != named {
				return &resolver.RouteError{Err: resolver.ErrShardMismatch, Route: resolver.Route{Database: c.Name(), Shard: named},
					Detail: fmt.Sprintf("shard %q is named, but %s %q = %v belongs on shard %q; drop the named shard and let the key route, or fix the key",
						named, pick(kind.create, fmt.Sprintf("row %d has", i), "the statement filters on"), key.field.DBName, values[i], shard)}
			}
		}
	}
	if kind.update {
		return checkKeyChange(stmt, key, c, named)
	}
	return nil
}

func pick[T any](cond bool, yes, no T) T {
	if cond {
		return yes
	}
	return no
}
