package topology

import (
	"context"
	"fmt"
	"github.com/grant-go/grant/internal/dsnredact"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/plugin/dbresolver"
)

// DefaultDatabase is the name of the default database when Config.Default is empty.
const DefaultDatabase = "primary"

// Policy picks one pool among a role's nodes. It is dbresolver's interface, so
// dbresolver.RandomPolicy, RoundRobinPolicy, StrictRoundRobinPolicy and
// PolicyFunc values work unchanged. grant calls a Policy it did not write
// under a mutex, because it cannot know the Policy is safe for concurrent use
// (dbresolver's RoundRobinPolicy is not); grant's own policies run lock-free.
type Policy = dbresolver.Policy

// Adapter turns a DSN into a gorm.Dialector. Opening the dialector is lazy:
// an Adapter must not connect. Config.Adapters holds Adapters of a
// configuration's own; the registered adapters (RegisterAdapter, by
// importing grant's adapter packages) are DialectAdapters, which know more
// of their dialect than how to open it: a node of an Adapter in
// Config.Adapters gets the rest from the adapter registered for its
// dialector's dialect.
type Adapter func(dsn string) gorm.Dialector

// Config is the whole topology: named databases, each with a writer, replicas
// and custom roles. The zero Config is valid: it routes everything to the
// *gorm.DB grant is installed on, as if grant were absent.
type Config struct {
	// Default names the database for statements nothing routes elsewhere.
	// Empty means "primary". If Databases has no entry by that name, it is the
	// *gorm.DB the plugin is installed on, with no replicas.
	Default string
	// Databases maps names to databases. Names are [A-Za-z0-9_-]+ and must
	// differ in more than letter case.
	Databases map[string]DatabaseConfig
	// Clusters maps names to sharded clusters. Cluster and database names
	// share one namespace.
	Clusters map[string]ClusterConfig
	// Tables maps table names to database names, for models the user cannot
	// add a ConnectsTo method to, and for raw SQL.
	Tables map[string]string
	// Policy chooses among replicas (and custom role nodes) for databases that
	// set none. Nil means grant.RandomPolicy.
	Policy Policy
	// Adapters adds adapter names for Node.Adapter beyond the registered
	// ones (e.g. "sqlite"); a name here wins over a registered one.
	// PostgreSQL and MySQL/MariaDB are registered by importing
	// github.com/grant-go/grant/adapter/postgres and …/adapter/mysql.
	Adapters map[string]Adapter
	// TraceRoutes prefixes every statement GORM logs with its route,
	// "[primary/reading#1] SELECT ...". It costs two allocations per statement.
	TraceRoutes bool
	// Health turns on background health checks of replicas and custom-role
	// nodes, for every database and shard that does not set its own. The
	// zero value checks nothing and opens nothing in the background.
	Health HealthConfig
	// Models are checked when the plugin initializes: each one's ConnectsTo
	// must name a known database or cluster, and its shard key a column of
	// the model and a strategy valid for the cluster's shards. Models not
	// listed are checked on their first statement, which then fails with the
	// same error. Pointers to zero values are enough: []any{&Order{}}.
	Models []any
	// Consistency is the read-your-writes mode for statements whose context
	// carries a Session (see ConsistencyConfig); the zero value is Eventual.
	Consistency ConsistencyConfig
	// Log is the routing log (off unless Log.Logger is set).
	Log LogConfig
	// Metrics configures the metrics observers of packages observe/prometheus
	// and observe/otel; the plugin reads none of it.
	Metrics MetricsConfig
	// Observers receive every statement's Observation, after the routing
	// log's (Log), in order; see Observer for the optional interfaces they
	// may implement (the topology at Initialize, pools as they open, where
	// each statement runs while its span is open). A nil entry is an error.
	Observers []Observer
	// MaxDistinctValues bounds how many distinct values a scatter-gather
	// COUNT(DISTINCT …) holds in memory while merging the shards' answers,
	// summed over groups; past it the query fails with an error matching
	// ErrSpansShards. 0 means 1,000,000.
	MaxDistinctValues int
	// StrictPreventWrites has the servers enforce write prevention too:
	// statements under prevention (PreventWrites, the reading role) run on
	// sessions the server keeps read only, and a transaction whose context
	// prevents writes begins on one, so a write grant cannot see in SQL
	// text (a function that writes) fails on the server. Each node then
	// opens a second pool for those sessions, on first use; the statement
	// itself costs no extra round trip. PostgreSQL, MySQL/MariaDB and
	// SQLite; every node needs a DSN (checked at Initialize).
	StrictPreventWrites bool
	// MaxOpenPools caps how many node pools grant keeps open at once, for
	// topologies with more databases than a server has connections for
	// (thousands of shards, a database per tenant). When opening one more
	// pool would pass the cap, the least recently used idle pool is closed
	// first; a pool with a connection in use (a statement, an open
	// transaction or open rows) is never closed, and an evicted pool reopens
	// on its next statement. A cluster with its own
	// ClusterConfig.MaxOpenPools counts its pools against that cap instead.
	// The handle's own pool is never counted or closed. 0 means no cap.
	MaxOpenPools int
	// Reshard turns on watching the placement of every cluster in the
	// default database (tables grant_placement and grant_instance), which
	// online resharding (package reshard, grant reshard) changes while
	// the application runs. Nil: placements are static, taken from the
	// configuration. Every instance of the application must set it before
	// a reshard starts: an instance that does not watch keeps routing by
	// its configuration, and the reshard cannot see it to wait for it.
	Reshard *ReshardConfig
}

// ReshardConfig is how this process follows placement changes (see
// Config.Reshard). Zero fields take their defaults.
type ReshardConfig struct {
	// PollInterval is how often the placement is read from the default
	// database, and this instance's heartbeat written; 0 means 200ms.
	PollInterval time.Duration
	// Lease: an instance not seen for Lease is considered gone by a
	// reshard; an instance that has not read the placement for Lease/2
	// while a reshard is active refuses its writes to that cluster
	// (ErrPlacementStale) until it reads it again. 0 means 5s. Lease/2
	// must exceed PollInterval.
	Lease time.Duration
	// FreezeWait bounds how long a write outside a transaction whose rows
	// are moving waits for the freeze to end before failing with
	// ErrWritesFrozen; 0 means 1s.
	FreezeWait time.Duration
	// Instance names this process in grant_instance; "" means
	// "<hostname>-<pid>-<4 random hex digits>".
	Instance string
}

// Default reshard settings.
const (
	DefaultPollInterval = 200 * time.Millisecond
	DefaultLease        = 5 * time.Second
	DefaultFreezeWait   = time.Second
)

// Resolved returns r with its defaults filled in, except Instance, which
// the watcher makes when it starts.
func (r ReshardConfig) Resolved() ReshardConfig {
	if r.PollInterval == 0 {
		r.PollInterval = DefaultPollInterval
	}
	if r.Lease == 0 {
		r.Lease = DefaultLease
	}
	if r.FreezeWait == 0 {
		r.FreezeWait = DefaultFreezeWait
	}
	return r
}

func (r *ReshardConfig) validate() error {
	for _, f := range []struct {
		path string
		d    time.Duration
	}{{"reshard.poll_interval", r.PollInterval}, {"reshard.lease", r.Lease}, {"reshard.freeze_wait", r.FreezeWait}} {
		if f.d < 0 {
			return &ConfigError{Path: f.path, Problem: fmt.Sprintf("must be 0 (the default) or more, got %s", f.d)}
		}
	}
	if r.Instance != "" && len(r.Instance) > 100 {
		return &ConfigError{Path: "reshard.instance", Problem: "at most 100 characters"}
	}
	res := r.Resolved()
	if res.Lease/2 <= res.PollInterval {
		return &ConfigError{Path: "reshard.lease", Problem: fmt.Sprintf("half the lease (%s) must exceed poll_interval (%s), or an instance fences itself between two polls", res.Lease/2, res.PollInterval)}
	}
	return nil
}

// DatabaseConfig is one logical database: one writer and any number of replicas and
// custom-role nodes, which hold the same data.
type DatabaseConfig struct {
	// Writer serves the writing role. Nil only for the default database, whose
	// writer is then the *gorm.DB grant is installed on.
	Writer *NodeConfig
	// Replicas serve the reading role. With none, reads go to the writer
	// (still with writes prevented when the reading role is asked for).
	Replicas []NodeConfig
	// Roles maps custom role names (not "writing" or "reading") to nodes.
	Roles map[string][]NodeConfig
	// Pool settings for every node of this database; a Node's own Pool wins.
	Pool PoolConfig
	// Policy overrides Config.Policy for this database.
	Policy Policy
	// Migrations tells grant's migrator where this database's migrations
	// are, whether to run them and over which connection; routing ignores
	// it.
	Migrations MigrationsConfig
	// Health overrides Config.Health for this database (for a shard, it
	// overrides its cluster's ClusterConfig.Health).
	Health *HealthConfig
}

// MigrationsConfig is what the migrator (package migrator, grant migrate)
// needs to know about a database or cluster. The zero value means: no SQL
// directory (Go migrations only), the default version table, migrate.
type MigrationsConfig struct {
	// Dir holds the SQL migrations (NNN_name.sql or timestamped, with
	// "-- +goose Up" / "-- +goose Down" sections).
	Dir string
	// Table is the version table; "" means DefaultMigrationsTable.
	Table string
	// Disabled marks a database grant connects to but never migrates (the
	// YAML file's "tasks: false"), like Rails' database_tasks: false.
	Disabled bool
	// DSN, when set, is the connection the migrator uses for this database
	// (a shard's own, in its ShardConfig) instead of the writer's: a direct
	// connection to the server when the writer's DSN goes through a
	// transaction-pooling PgBouncer, whose pooling drops the session
	// advisory lock the migrator holds. Its adapter is the writer's.
	DSN string
}

// DefaultMigrationsTable is the version table when MigrationsConfig.Table
// is empty.
const DefaultMigrationsTable = "grant_schema_migrations"

// NodeConfig is one physical server: a Dialector, or a DSN with an adapter name.
type NodeConfig struct {
	// Name labels the node in Stats keys ("primary/reading/NAME"), trace
	// tags ("primary/reading#NAME") and errors; defaults to "writer" for a
	// writer and to the node's 1-based position in its role otherwise.
	Name      string
	Dialector gorm.Dialector
	DSN       string
	Adapter   string // a registered adapter ("postgres", "mysql" once imported) or a name in Config.Adapters
	// Weight for WeightedPolicy; 0 means 1.
	Weight int
	// Pool overrides the database's pool settings for this node.
	Pool *PoolConfig
	// Credentials, if set, is called for every new connection the node's
	// pools open, and its answer replaces the DSN's user and password:
	// rotating passwords, IAM tokens, Vault leases. Connections already
	// open keep the credentials they were opened with. PostgreSQL (pgx)
	// and MySQL/MariaDB nodes given by DSN and adapter only.
	Credentials CredentialsFunc
	// PasswordFile names a file whose content (trailing newline removed) is
	// the password of every new connection, re-read each time: a secret
	// mounted as a file and rotated in place. Exclusive with Credentials.
	// A file that cannot be read, is empty or holds more than 64 KiB fails
	// that connection with a *NodeError naming the file and the node.
	// Replace the file by renaming a complete one over it (as Kubernetes
	// does), never by rewriting it in place. In grant.yml, a relative path
	// is relative to the file's directory.
	PasswordFile string
}

// Credentials are the user and password of one new connection. An empty
// field keeps the DSN's value, so a function may supply only a password;
// to log in without a password, leave it out of the DSN too.
type Credentials struct {
	User     string // "" keeps the DSN's user
	Password string // "" keeps the DSN's password, if it has one
}

// CredentialsFunc supplies the credentials of one new connection of the
// node it is configured on. It is called concurrently, from whichever
// goroutine needs a connection: ctx is the statement's when the statement
// opens the connection itself, but database/sql opens some in the
// background for statements waiting on a pool at MaxOpenConns, with a
// context only closing the pool cancels, so bound slow work (a call to a
// secret store) with a timeout of its own. An error fails the connection
// attempt (and the statement) with the error wrapped in a *NodeError
// naming the node; errors.Is and errors.As reach the function's error.
// A connection the server refuses for its credentials is retried, calling
// the function again (CredentialsAttempts, CredentialsRefused).
type CredentialsFunc func(ctx context.Context) (Credentials, error)

// PoolConfig is database/sql pool tuning. Zero fields keep database/sql's defaults;
// negative values are rejected.
type PoolConfig struct {
	MaxOpenConns    int
	MaxIdleConns    int
	ConnMaxLifetime time.Duration
	ConnMaxIdleTime time.Duration
	// CheckoutTimeout bounds how long a statement waits for a connection of
	// a pool at its MaxOpenConns: past it the statement fails with an error
	// matching ErrPoolExhausted that names the node, and nothing is sent.
	// A context deadline that comes sooner wins. Statements already
	// running are not affected. 0 means wait as long as the context allows.
	CheckoutTimeout time.Duration
}

// merge returns p with zero fields taken from base.
func (p PoolConfig) merge(base PoolConfig) PoolConfig {
	if p.MaxOpenConns == 0 {
		p.MaxOpenConns = base.MaxOpenConns
	}
	if p.MaxIdleConns == 0 {
		p.MaxIdleConns = base.MaxIdleConns
	}
	if p.ConnMaxLifetime == 0 {
		p.ConnMaxLifetime = base.ConnMaxLifetime
	}
	if p.ConnMaxIdleTime == 0 {
		p.ConnMaxIdleTime = base.ConnMaxIdleTime
	}
	if p.CheckoutTimeout == 0 {
		p.CheckoutTimeout = base.CheckoutTimeout
	}
	return p
}

func (p PoolConfig) validate(path string) error {
	for _, f := range []struct {
		name  string
		value int64
		shown any // as written: a time.Duration prints "-5s"
	}{
		{"max_open_conns", int64(p.MaxOpenConns), p.MaxOpenConns},
		{"max_idle_conns", int64(p.MaxIdleConns), p.MaxIdleConns},
		{"conn_max_lifetime", int64(p.ConnMaxLifetime), p.ConnMaxLifetime},
		{"conn_max_idle_time", int64(p.ConnMaxIdleTime), p.ConnMaxIdleTime},
		{"checkout_timeout", int64(p.CheckoutTimeout), p.CheckoutTimeout},
	} {
		if f.value < 0 {
			return &ConfigError{Path: path + "." + f.name, Problem: fmt.Sprintf("must not be negative, got %v", f.shown)}
		}
	}
	return nil
}

// Validate checks everything that can be checked without the *gorm.DB grant
// will be installed on: names, node sources, adapters, pool settings and
// table mappings. It opens no connection. The first problem found is
// returned as a *ConfigError.
func (c *Config) Validate() error {
	if err := c.Consistency.validate(); err != nil {
		return err
	}
	if c.MaxOpenPools < 0 {
		return &ConfigError{Path: "max_open_pools", Problem: fmt.Sprintf("must be 0 (no cap) or more, got %d", c.MaxOpenPools)}
	}
	if c.MaxDistinctValues < 0 {
		return &ConfigError{Path: "max_distinct_values", Problem: fmt.Sprintf("must be 0 (the default, 1,000,000) or more, got %d", c.MaxDistinctValues)}
	}
	if c.Reshard != nil {
		if err := c.Reshard.validate(); err != nil {
			return err
		}
	}
	if c.Default != "" {
		if err := checkName("default", c.Default); err != nil {
			return err
		}
	}
	seen := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(c.Databases)) {
		path := dsnredact.JoinKey("databases", name)
		if err := checkName(path, name); err != nil {
			return err
		}
		if other, dup := seen[strings.ToLower(name)]; dup {
			return &ConfigError{Path: path, Problem: fmt.Sprintf("duplicates database %q (names must differ in more than letter case)", other)}
		}
		seen[strings.ToLower(name)] = name
		if err := c.validateDatabase(path, name, c.Databases[name]); err != nil {
			return err
		}
	}
	if err := c.Health.validate("health"); err != nil {
		return err
	}
	if err := c.validateClusters(); err != nil {
		return err
	}
	for _, table := range slices.Sorted(maps.Keys(c.Tables)) {
		db := c.Tables[table]
		if table == "" {
			return &ConfigError{Path: "tables", Problem: "empty table name"}
		}
		_, isCluster := c.Clusters[db]
		if _, ok := c.Databases[db]; !ok && !isCluster && db != c.DefaultName() {
			return &ConfigError{Path: dsnredact.JoinKey("tables", table), Problem: fmt.Sprintf("database %s is not configured (have: %s)", dsnredact.Quote(db), strings.Join(c.DatabaseNames(), ", "))}
		}
	}
	for name, a := range c.Adapters {
		if name == "" || a == nil {
			return &ConfigError{Path: dsnredact.JoinKey("adapters", name), Problem: "adapter needs a name and a function"}
		}
	}
	return nil
}

func (c *Config) validateDatabase(path, name string, d DatabaseConfig) error {
	if d.Writer == nil && name != c.DefaultName() {
		return &ConfigError{Path: path + ".writer", Problem: "missing: only the default database may omit its writer (it then uses the *gorm.DB grant is installed on)"}
	}
	if err := d.Pool.validate(path + ".pool"); err != nil {
		return err
	}
	if d.Health != nil {
		if err := d.Health.validate(path + ".health"); err != nil {
			return err
		}
	}
	names := map[string]bool{}
	check := func(p, role string, n NodeConfig, defaultName string) error {
		if n.Name == "" {
			n.Name = defaultName
		}
		if err := checkName(p+".name", n.Name); err != nil {
			return err
		}
		if names[role+"/"+n.Name] {
			return &ConfigError{Path: p + ".name", Problem: fmt.Sprintf("duplicate node name %q in role %q of database %q", n.Name, role, name)}
		}
		names[role+"/"+n.Name] = true
		return c.validateNode(p, n)
	}
	if d.Writer != nil {
		if err := check(path+".writer", Writing, *d.Writer, "writer"); err != nil {
			return err
		}
	}
	for i, n := range d.Replicas {
		if err := check(fmt.Sprintf("%s.replicas[%d]", path, i), Reading, n, strconv.Itoa(i+1)); err != nil {
			return err
		}
	}
	for _, role := range slices.Sorted(maps.Keys(d.Roles)) {
		rp := dsnredact.JoinKey(path+".roles", role)
		if err := checkName(rp, role); err != nil {
			return err
		}
		if role == Writing || role == Reading {
			return &ConfigError{Path: rp, Problem: fmt.Sprintf("%q is a built-in role: use writer/replicas instead", role)}
		}
		if len(d.Roles[role]) == 0 {
			return &ConfigError{Path: rp, Problem: "a custom role needs at least one node"}
		}
		for i, n := range d.Roles[role] {
			if err := check(fmt.Sprintf("%s[%d]", rp, i), role, n, strconv.Itoa(i+1)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *Config) validateNode(path string, n NodeConfig) error {
	switch {
	case n.Dialector != nil && (n.DSN != "" || n.Adapter != ""):
		return &ConfigError{Path: path, Problem: "give either a dialector or a DSN with an adapter, not both"}
	case n.Dialector == nil && n.DSN == "":
		return &ConfigError{Path: path, Problem: "needs a dialector or a DSN with an adapter"}
	case n.Dialector == nil && n.Adapter == "":
		return &ConfigError{Path: path + ".adapter", Problem: fmt.Sprintf("missing for DSN %s (known adapters: %s)", RedactDSN(n.DSN), c.knownAdapters())}
	case n.Dialector == nil && c.adapter(n.Adapter) == nil:
		return &ConfigError{Path: path + ".adapter", Problem: c.unknownAdapter(n.Adapter)}
	case n.Weight < 0:
		return &ConfigError{Path: path + ".weight", Problem: fmt.Sprintf("must not be negative, got %d", n.Weight)}
	case n.Credentials != nil && n.PasswordFile != "":
		return &ConfigError{Path: path + ".password_file", Problem: "give either a credentials function or a password file, not both"}
	case (n.Credentials != nil || n.PasswordFile != "") && n.Dialector != nil:
		return &ConfigError{Path: path, Problem: "credentials need a DSN with an adapter: grant cannot reach inside a dialector to set them"}
	}
	if err := c.validateCredentials(path, n); err != nil {
		return err
	}
	if n.Pool != nil {
		return n.Pool.validate(path + ".pool")
	}
	return nil
}

// DefaultName is Config.Default, or "primary" when empty.
func (c *Config) DefaultName() string {
	if c.Default == "" {
		return DefaultDatabase
	}
	return c.Default
}

// DatabaseNames lists configured database and cluster names and the
// default, sorted.
func (c *Config) DatabaseNames() []string {
	names := append(slices.Sorted(maps.Keys(c.Databases)), slices.Sorted(maps.Keys(c.Clusters))...)
	if _, ok := c.Databases[c.DefaultName()]; !ok {
		names = append(names, c.DefaultName())
	}
	sort.Strings(names)
	return names
}

// LookupAdapter returns the adapter known under name: Config.Adapters
// first, then the registered adapters (RegisterAdapter); nil if there is
// none. Tools that open a node's dialector themselves (the grant CLI) use
// it.
func (c *Config) LookupAdapter(name string) Adapter { return c.adapter(name) }

func (c *Config) adapter(name string) Adapter {
	if a, ok := c.Adapters[name]; ok {
		return a
	}
	if a, ok := LookupDialectAdapter(name); ok {
		return a.Open
	}
	return nil
}

// checkName accepts [A-Za-z0-9_-]+: names appear in labels joined by '/' and '#'.
// A rejected name is redacted in the message and wherever path holds it
// (callers build path from the name): a DSN pasted as a name must not leak.
func checkName(path, name string) error {
	if name == "" {
		return &ConfigError{Path: path, Problem: "empty name"}
	}
	if !dsnredact.IsPlainName(name) {
		if r := dsnredact.Name(name); r != name {
			path = strings.ReplaceAll(path, name, r)
		}
		return &ConfigError{Path: path, Problem: fmt.Sprintf("name %s may only hold letters, digits, '_' and '-'", dsnredact.Quote(name))}
	}
	return nil
}
