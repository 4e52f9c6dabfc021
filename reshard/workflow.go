package reshard

import (
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/grant-go/grant/sharding"
	"github.com/grant-go/grant/topology"
)

// Options describe a workflow: which cluster, which placement it moves to,
// and how hard to work. Only Cluster and To are required.
type Options struct {
	// Workflow names the workflow in the default database; it defaults to
	// "<cluster>_reshard". One workflow per cluster at a time.
	Workflow string
	// Cluster is the cluster to reshard.
	Cluster string
	// To lists the target placement's shards in order: every one a
	// configured shard of the cluster (new ones marked pending). The
	// cluster's strategies map keys over it, as they map over the current
	// placement's shards now.
	To []string
	// Tables lists the sharded tables to move; by default every table the
	// cluster's configuration gives a shard key (ClusterConfig.ShardKeys).
	// Give it when models declare their keys with a ShardKey method.
	Tables []TableKey
	// BatchSize is the rows per copy batch [1000].
	BatchSize int
	// ApplyBatch is the changes read from a shard's stream at a time
	// [1000].
	ApplyBatch int
	// Parallel bounds the (table, source shard) pairs copied at once [4].
	Parallel int
	// Lease must match the applications' ReshardConfig.Lease: an instance
	// not seen for Lease is no longer waited for [5s].
	Lease time.Duration
	// AckTimeout bounds the wait for every live instance to acknowledge a
	// freeze; past it the switch aborts and nothing changes [10s].
	AckTimeout time.Duration
	// SettleTimeout bounds, during a freeze, the wait for open transactions
	// on the authoritative shards and for the change streams to drain;
	// past it the switch aborts and nothing changes [10s].
	SettleTimeout time.Duration
	// CopyRate, when > 0, caps the rows read per second by each (table,
	// source shard) copy, to keep the copy's load off the application.
	CopyRate int
	// Poll is how long an idle worker waits before reading the streams
	// again [50ms].
	Poll time.Duration
	// Log receives one line per step; nil logs nothing.
	Log func(format string, args ...any)
}

// TableKey names a table and its shard key.
type TableKey struct {
	Table string
	Key   sharding.ShardKey
}

func (o *Options) defaults() {
	if o.Workflow == "" {
		o.Workflow = o.Cluster + "_reshard"
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 1000
	}
	if o.ApplyBatch <= 0 {
		o.ApplyBatch = 1000
	}
	if o.Parallel <= 0 {
		o.Parallel = 4
	}
	if o.Lease <= 0 {
		o.Lease = topology.DefaultLease
	}
	if o.AckTimeout <= 0 {
		o.AckTimeout = 10 * time.Second
	}
	if o.SettleTimeout <= 0 {
		o.SettleTimeout = 10 * time.Second
	}
	if o.Poll <= 0 {
		o.Poll = 50 * time.Millisecond
	}
}

// Workflow is one reshard of one cluster. Its state lives in the
// cluster's default database; a Workflow value is a handle on it, and any
// number of processes may hold one. Run is the long-running worker; the
// other steps are short and may run from another process while it does.
// A Workflow's methods may be called from several goroutines.
type Workflow struct {
	opts    Options
	topo    *topology.Topology
	cluster *topology.Cluster
	state   *stateStore
	store   *topology.PlacementStore
	d       dialect
	tables  []*table
	shards  map[string]*shard
}

// shard is one shard's database and change stream.
type shard struct {
	name    string
	db      *sql.DB
	capture Capture
	dsn     string // redacted; "" when the node was given as a Dialector
}

var workflowName = regexp.MustCompile(`^[A-Za-z0-9_]{1,60}$`)

// open builds the handle: shards, tables and stores. It reads catalogs
// but changes nothing.
func open(ctx context.Context, topo *topology.Topology, opts Options) (*Workflow, error) {
	opts.defaults()
	if !workflowName.MatchString(opts.Workflow) {
		return nil, fmt.Errorf("%w: workflow name %q: use 1 to 60 letters, digits or underscores", ErrUnsupported, opts.Workflow)
	}
	cluster, ok := topo.Cluster(opts.Cluster)
	if !ok {
		return nil, fmt.Errorf("%w: no cluster %q in the configuration", ErrUnsupported, opts.Cluster)
	}
	def := topo.Default().Writer()
	defDB, err := def.DB()
	if err != nil {
		return nil, fmt.Errorf("grant/reshard: the default database: %w", err)
	}
	store, err := topo.PlacementStore()
	if err != nil {
		return nil, err
	}
	w := &Workflow{opts: opts, topo: topo, cluster: cluster, store: store, shards: map[string]*shard{},
		state: &stateStore{db: defDB, d: dialect{name: def.Dialect()}}}
	return w, nil
}

// connect opens every shard of both placements and describes the tables
// on each, refusing shards whose schemas differ.
func (w *Workflow) connect(ctx context.Context, r *record) error {
	names := union(r.From, r.To)
	for _, name := range names {
		db, err := w.cluster.Shard(name)
		if err != nil {
			return err
		}
		node := db.Writer()
		d, err := dialectOf(node.Dialect())
		if err != nil {
			return err
		}
		if w.d.name == "" {
			w.d = d
		} else if d != w.d {
			return fmt.Errorf("%w: shard %q is %s, others are %s", ErrUnsupported, name, d.name, w.d.name)
		}
		sqlDB, err := node.DB()
		if err != nil {
			return err
		}
		capture, err := newCapture(ctx, d, node, sqlDB, captureName(r.Workflow, name, d))
		if err != nil {
			return err
		}
		w.shards[name] = &shard{name: name, db: sqlDB, capture: capture, dsn: node.DSN()}
	}
	keys := map[string]sharding.ShardKey{}
	for _, tk := range w.opts.Tables {
		keys[tk.Table] = tk.Key
	}
	for _, spec := range r.Tables {
		key, ok := keys[spec.Name]
		if !ok {
			key, ok = w.cluster.ShardKeyFor(spec.Name)
		}
		if !ok || key.Strategy == nil {
			return fmt.Errorf("%w: table %q: no shard key in the configuration nor in Options.Tables", ErrUnsupported, spec.Name)
		}
		if key.Column != spec.Key || key.Strategy.Name() != spec.Strategy {
			return fmt.Errorf("%w: table %q: the workflow moves it by %s (%s), the configuration now says %s (%s)", ErrUnsupported, spec.Name, spec.Key, spec.Strategy, key.Column, key.Strategy.Name())
		}
		var first *table
		var firstTypes []string
		for _, name := range names {
			t, err := describe(ctx, w.shards[name].db, w.d, spec.Name, spec.Key, key.Strategy)
			if err != nil {
				return fmt.Errorf("shard %q: %w", name, err)
			}
			// Column names alone let shards whose columns have the same
			// names but other types through (a text column where the
			// others have an integer): the copy would then fail midway or
			// convert rows silently. Compare the types too.
			types, err := columnTypes(ctx, w.shards[name].db, w.d, spec.Name)
			if err != nil {
				return fmt.Errorf("shard %q: reading the column types of %q: %w", name, spec.Name, err)
			}
			if first == nil {
				first, firstTypes = t, types
			} else if diff := first.sameShape(t); diff != "" {
				return fmt.Errorf("%w: table %q differs between shards %q and %q: %s", ErrSchema, spec.Name, names[0], name, diff)
			} else if diff := sameTypes(first.Columns, firstTypes, types); diff != "" {
				return fmt.Errorf("%w: table %q differs between shards %q and %q: %s", ErrSchema, spec.Name, names[0], name, diff)
			}
		}
		w.tables = append(w.tables, first)
	}
	return nil
}

// specs lists the tables to move, from Options.Tables or the cluster's
// configured shard keys, refusing keys resharding cannot keep right.
func (w *Workflow) specs() ([]tableSpec, error) {
	var keys []TableKey
	if len(w.opts.Tables) > 0 {
		keys = w.opts.Tables
	} else {
		for _, table := range w.cluster.ShardKeyTables() {
			key, _ := w.cluster.ShardKeyFor(table)
			keys = append(keys, TableKey{Table: table, Key: key})
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: cluster %q declares no shard key by table: give Options.Tables (or shard_keys in grant.yml)", ErrUnsupported, w.opts.Cluster)
	}
	var out []tableSpec
	for _, k := range keys {
		if k.Key.Strategy == nil || k.Key.Column == "" {
			return nil, fmt.Errorf("%w: table %q needs a shard-key column and strategy", ErrUnsupported, k.Table)
		}
		if k.Key.IDs != nil {
			return nil, fmt.Errorf("%w: table %q has IDs that encode their shard's position; moving a row would make its ID lie", ErrUnsupported, k.Table)
		}
		out = append(out, tableSpec{Name: k.Table, Key: k.Key.Column, Strategy: k.Key.Strategy.Name()})
	}
	slices.SortFunc(out, func(a, b tableSpec) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// columnTypes lists a table's column types in column order, with their
// length or precision (varchar(64), numeric(10,2)).
func columnTypes(ctx context.Context, db *sql.DB, d dialect, name string) ([]string, error) {
	query := `SELECT COLUMN_TYPE FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`
	if d.postgres() {
		query = `SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
WHERE a.attrelid = to_regclass(quote_ident($1)) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`
	}
	rows, err := db.QueryContext(ctx, query, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var typ string
		if err := rows.Scan(&typ); err != nil {
			return nil, err
		}
		out = append(out, strings.ToLower(typ))
	}
	return out, rows.Err()
}

// sameTypes reports the columns whose types differ, "" when none does;
// columns are the same on both sides (sameShape said so).
func sameTypes(columns, a, b []string) string {
	if len(a) != len(columns) || len(b) != len(columns) {
		return fmt.Sprintf("column types (%s) against (%s)", strings.Join(a, ", "), strings.Join(b, ", "))
	}
	var diffs []string
	for i, c := range columns {
		if a[i] != b[i] {
			diffs = append(diffs, fmt.Sprintf("column %s is %s against %s", c, a[i], b[i]))
		}
	}
	return strings.Join(diffs, "; ")
}

func (w *Workflow) logf(format string, args ...any) {
	if w.opts.Log != nil {
		w.opts.Log(format, args...)
	}
}

// home is the shard of key under the placement shards.
func (w *Workflow) home(ctx context.Context, t *table, shards []string, key sharding.Key) (string, error) {
	return sharding.MapOne(ctx, t.strategy, shards, key)
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// captureName is a name unique to the workflow and shard on its server:
// PostgreSQL's slots are server-wide and shards often share a server.
func captureName(workflow, shard string, d dialect) string {
	limit := 63
	if !d.postgres() {
		limit = 40
	}
	name := strings.ToLower("grant_" + workflow + "_" + shard)
	clean := []byte(name)
	for i, c := range clean {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			clean[i] = '_'
		}
	}
	name = string(clean)
	if len(name) <= limit {
		return name
	}
	h := fnv.New32a()
	h.Write([]byte(workflow + "\x00" + shard))
	return fmt.Sprintf("%s_%08x", name[:limit-9], h.Sum32())
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
