// Package grant is a GORM plugin that gives one *gorm.DB many databases:
// named databases with writer, reading and custom roles, automatic
// read/write splitting, context and scope switching, write prevention,
// horizontal shards, and transactions that begin where their statements
// belong.
//
//	db, _ := gorm.Open(postgres.Open(primaryDSN), &gorm.Config{})
//	db.Use(grant.New(cfg))
//	db.WithContext(grant.ConnectedTo(ctx, grant.Connection{Role: grant.Reading})).Find(&users)
//	db.Scopes(grant.Shard("shard1")).Find(&orders)
//
// Models declare where they live with methods: ConnectsTo returns a
// Connection (grant.Database("analytics"), grant.Cluster("orders")), and a
// sharded model's ShardKey names its column and Strategy.
//
// # What to import
//
// Package grant links no database driver, no YAML, HTTP, Prometheus or
// OpenTelemetry. Import what the program uses:
//
//   - github.com/grant-go/grant/adapter/postgres or .../adapter/mysql, for
//     nodes given by DSN (NodeConfig.Adapter "postgres", "mysql");
//   - github.com/grant-go/grant/sharding/scatter/engine, for statements on
//     several shards (AllShards, IN lists across shards);
//   - github.com/grant-go/grant/config, to read a grant.yml file;
//   - github.com/grant-go/grant/web, for the read-your-writes session
//     middleware and the status page;
//   - github.com/grant-go/grant/observe/prometheus and .../observe/otel,
//     observers installed through Config.Observers.
//
// Configuration types (Config, DatabaseConfig, NodeConfig, ...) are aliases
// of package topology's, so either name works. The guides are in the
// repository's docs directory: architecture, configuration, sharding,
// replicas and consistency, connections at scale, PgBouncer, migrations,
// observability.
package grant

// This file is the facade: the types users write are defined in topology
// and aliased here; routing lives in callbacks.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"gorm.io/gorm"

	"github.com/grant-go/grant/internal/callbacks"
	"github.com/grant-go/grant/observe"
	"github.com/grant-go/grant/topology"
)

// Configuration types. See package topology for field documentation.
type (
	// Config is the whole topology; the zero Config routes everything to the
	// *gorm.DB grant is installed on.
	Config = topology.Config
	// DatabaseConfig is one logical database: writer, replicas, custom roles.
	DatabaseConfig = topology.DatabaseConfig
	// NodeConfig is one physical server: a Dialector, or a DSN and adapter.
	NodeConfig = topology.NodeConfig
	// PoolConfig tunes a node's database/sql pool.
	PoolConfig = topology.PoolConfig
	// Credentials are the user and password of one new connection, which
	// NodeConfig.Credentials supplies.
	Credentials = topology.Credentials
	// CredentialsFunc is called for every new connection of a node
	// (NodeConfig.Credentials): rotating passwords, IAM tokens, Vault.
	CredentialsFunc = topology.CredentialsFunc
	// MigrationsConfig says where a database's or cluster's migrations are
	// and whether grant's migrator runs them.
	MigrationsConfig = topology.MigrationsConfig
	// ClusterConfig is a sharded cluster: shards in order, each a database.
	ClusterConfig = topology.ClusterConfig
	// ShardConfig is one shard: a name and a database configuration.
	ShardConfig = topology.ShardConfig
	// Policy chooses among a role's nodes; dbresolver's policies fit.
	Policy = topology.Policy
	// Adapter turns a DSN into a gorm.Dialector without connecting.
	Adapter = topology.Adapter
	// Route is where a statement went.
	Route = topology.Route
	// RouteError is a statement grant refused or could not send, with its
	// route and table; it wraps one of the Err values below.
	RouteError = topology.RouteError
	// ConfigError is one problem in a Config, located by its key path.
	ConfigError = topology.ConfigError
	// NodeError is a node whose pool could not be opened (DSN redacted).
	NodeError = topology.NodeError
	// ReadTimeoutError is a read that got no first row within its role's
	// HealthConfig.ReadTimeout, naming the node; it matches ErrReadTimeout
	// and context.DeadlineExceeded.
	ReadTimeoutError = topology.ReadTimeoutError
	// HealthConfig turns on background health checks of replicas, lag-aware
	// rotation and read failover (Config.Health, DatabaseConfig.Health,
	// ClusterConfig.Health).
	HealthConfig = topology.HealthConfig
	// NodeHealth is a node's last health check result (Node.Health).
	NodeHealth = topology.NodeHealth
	// LogConfig turns on the routing log (Config.Log): one slog record per
	// statement. See docs/observability.md.
	LogConfig = topology.LogConfig
	// MetricsConfig configures the metrics observers of packages
	// observe/prometheus and observe/otel (Config.Metrics); the plugin
	// itself reads none of it. See docs/observability.md.
	MetricsConfig = topology.MetricsConfig
	// Observer receives every statement's Observation (Config.Observers):
	// grant's one extension point for logs, metrics and traces.
	Observer = topology.Observer
	// Observation is one statement once it has run: route, operation,
	// table, duration, rows, error.
	Observation = topology.Observation
	// TopologyObserver is an Observer given the topology at Initialize.
	TopologyObserver = topology.TopologyObserver
	// PoolObserver is an Observer told when each node's pool opens.
	PoolObserver = topology.PoolObserver
	// PlacementObserver is an Observer told where each statement runs
	// while it runs (while its OpenTelemetry span is open).
	PlacementObserver = topology.PlacementObserver
	// Placement is where a statement runs, for PlacementObserver.
	Placement = topology.Placement
	// Selective is an Observer that may want no Observations.
	Selective = topology.Selective
	// ReshardConfig turns on following placement changes (Config.Reshard):
	// online resharding.
	ReshardConfig = topology.ReshardConfig
	// PlacementRecord is a cluster's placement as the default database
	// keeps it (grant_placement).
	PlacementRecord = topology.PlacementRecord
	// ShardPlacement is a cluster's current placement (Cluster.Placement).
	ShardPlacement = topology.ShardPlacement
	// PlacementStatus is what the placement watcher knows of one cluster
	// (Plugin.PlacementStatus).
	PlacementStatus = topology.PlacementStatus
	// FrozenError is a write refused while its cluster switches placement
	// (ErrWritesFrozen); retry it.
	FrozenError = topology.FrozenError
	// ReshardInProgressError is a statement spanning shards that hold rows
	// not theirs mid-reshard (ErrReshardInProgress).
	ReshardInProgressError = topology.ReshardInProgressError
	// PlacementStaleError is a write refused because this instance could
	// not read its cluster's placement (ErrPlacementStale); retry it.
	PlacementStaleError = topology.PlacementStaleError
	// PoolCounts are the node pools open, opened and evicted
	// (Plugin.PoolCounts; Config.MaxOpenPools).
	PoolCounts = topology.PoolCounts
)

// Built-in role names.
const (
	Writing = topology.Writing
	Reading = topology.Reading
)

// Errors grant returns; test them with errors.Is. The errors wrapping them
// name the table, database, role or node concerned.
var (
	ErrReadOnly                 = topology.ErrReadOnly
	ErrCrossDatabaseTransaction = topology.ErrCrossDatabaseTransaction
	ErrUnknownDatabase          = topology.ErrUnknownDatabase
	ErrUnknownRole              = topology.ErrUnknownRole
	ErrInvalidConfig            = topology.ErrInvalidConfig
	ErrNodeUnavailable          = topology.ErrNodeUnavailable
	ErrUnknownShard             = topology.ErrUnknownShard
	ErrShardKeyMissing          = topology.ErrShardKeyMissing
	ErrCrossShardTransaction    = topology.ErrCrossShardTransaction
	// ErrNoHealthyReplica: no replica is in rotation and
	// HealthConfig.FailWithoutReplica keeps reads off the writer.
	ErrNoHealthyReplica = topology.ErrNoHealthyReplica
	// ErrReadTimeout: a read on a replica or custom-role node got no first
	// row within HealthConfig.ReadTimeout, and neither did its one retry.
	ErrReadTimeout = topology.ErrReadTimeout
	// ErrNoReadOnlySession: Config.StrictPreventWrites cannot open a
	// node's read-only sessions (no DSN, or a dialect grant cannot make
	// read only); Use fails with it, naming the node.
	ErrNoReadOnlySession = topology.ErrNoReadOnlySession
	// ErrPoolExhausted: a statement waited PoolConfig.CheckoutTimeout for a
	// connection and none came free; nothing was sent. The *NodeError
	// wrapping it names the node.
	ErrPoolExhausted = topology.ErrPoolExhausted
	// ErrWritesFrozen: a write whose rows are moving came while its
	// cluster switches placement and was not sent; retry it (*FrozenError).
	ErrWritesFrozen = topology.ErrWritesFrozen
	// ErrReshardInProgress: a statement spanning several shards includes
	// one holding rows that are not its own mid-reshard; nothing was sent
	// (*ReshardInProgressError).
	ErrReshardInProgress = topology.ErrReshardInProgress
	// ErrPlacementStale: this instance has not read its cluster's
	// placement for half the lease during a reshard; writes to the
	// cluster are refused until it does (*PlacementStaleError).
	ErrPlacementStale = topology.ErrPlacementStale
)

// PluginName is the name grant registers under in gorm.Config.Plugins.
const PluginName = "grant"

// Plugin is grant installed on one *gorm.DB. Its methods are safe for
// concurrent use once Initialize has returned.
type Plugin struct {
	config Config

	mu     sync.Mutex
	router *callbacks.Router
}

// New returns the plugin to pass to db.Use. It opens no connection and
// does no work: Initialize validates cfg, and reports an invalid cfg (that
// is, db.Use does)
// as an error matching ErrInvalidConfig that names the offending key.
func New(cfg Config) *Plugin {
	return &Plugin{config: cfg} // validated by Initialize, once
}

// Name implements gorm.Plugin.
func (p *Plugin) Name() string { return PluginName }

// Initialize implements gorm.Plugin: it builds the topology around db's own
// pool (the default database's writer unless the config gives it one),
// rejects nodes whose SQL dialect differs from db's, registers grant's
// callbacks and makes GORM's prepared-statement cache (db.ConnPool under
// PrepareStmt, and PrepareStmt sessions') show every node's statements.
// Observers (Config.Log's, then Config.Observers) are installed here: a
// TopologyObserver is given the topology (an error from its Attach fails
// Initialize), a PoolObserver the handle's pool and later each pool as it
// opens. It opens no connection, except that with health checks
// configured (HealthConfig.Interval > 0) it starts them: goroutines that
// open and check replicas in the background until Close. A Plugin can be
// installed on one *gorm.DB only.
func (p *Plugin) Initialize(db *gorm.DB) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.router != nil {
		return fmt.Errorf("grant: this Plugin is already installed on a *gorm.DB; call grant.New again for another")
	}
	var observers []Observer // the routing log's first, then Config.Observers in order
	if p.config.Log.Logger != nil {
		observers = append(observers, observe.NewLogger(p.config.Log))
	}
	var pools []PoolObserver
	for i, o := range p.config.Observers {
		if o == nil {
			return fmt.Errorf("%w: observers[%d] is nil", ErrInvalidConfig, i)
		}
		observers = append(observers, o)
		if po, ok := o.(PoolObserver); ok {
			pools = append(pools, po)
		}
	}
	pool := db.Config.ConnPool
	if prepared, ok := pool.(*gorm.PreparedStmtDB); ok {
		pool = prepared.ConnPool
	}
	sqlDB, _ := pool.(*sql.DB)
	handle := topology.Handle{
		Dialect:    db.Dialector.Name(),
		Dialector:  db.Dialector,
		Pool:       pool,
		SQLDB:      sqlDB,
		Logger:     db.Config.Logger,
		NowFunc:    db.Config.NowFunc,
		PrepareMax: db.Config.PrepareStmtMaxSize,
		PrepareTTL: db.Config.PrepareStmtTTL,
	}
	if len(pools) > 0 {
		handle.OnOpen = func(n *topology.Node, db *sql.DB) {
			for _, po := range pools {
				po.PoolOpened(n, db)
			}
		}
	}
	topology, err := topology.Build(p.config, handle)
	if err != nil {
		return err
	}
	if p.config.StrictPreventWrites {
		if err := topology.CheckReadOnlySessions(); err != nil {
			_ = topology.Close()
			return fmt.Errorf("%w: strict_prevent_writes: %w", ErrInvalidConfig, err)
		}
	}
	router := callbacks.NewRouter(topology, callbacks.Options{
		TraceRoutes:         p.config.TraceRoutes,
		Consistency:         p.config.Consistency,
		Observers:           observers,
		MaxDistinctValues:   p.config.MaxDistinctValues,
		StrictPreventWrites: p.config.StrictPreventWrites,
	})
	for i, model := range p.config.Models {
		stmt := &gorm.Statement{DB: db}
		err := stmt.Parse(model)
		if err == nil {
			err = router.CheckModel(stmt.Schema)
		}
		if err != nil { // both sentinels hold: ErrInvalidConfig and the model's own
			_ = topology.Close()
			return fmt.Errorf("%w: models[%d] (%T): %w", ErrInvalidConfig, i, model, err)
		}
	}
	for i, o := range p.config.Observers {
		if to, ok := o.(TopologyObserver); ok {
			if err := to.Attach(topology); err != nil {
				_ = topology.Close()
				return fmt.Errorf("grant: observers[%d] (%T): %w", i, o, err)
			}
		}
	}
	if err := router.Install(db); err != nil {
		_ = topology.Close()
		return err
	}
	p.router = router
	topology.StartHealthChecks()
	topology.StartPlacementWatch()
	return nil
}

// PlacementStatus reports, per cluster, the placement this instance
// routes by and what its watcher knows (version installed and
// acknowledged, fenced, last read, why a published placement was not
// installed); nil unless Config.Reshard is set.
func (p *Plugin) PlacementStatus() []PlacementStatus {
	if r := p.routerOrNil(); r != nil {
		return r.Topology().PlacementStatus()
	}
	return nil
}

// Stats returns database/sql statistics for every pool opened so far, keyed
// by "database/role/node" (e.g. "primary/reading/1"). Nodes not used
// yet have no pool and no entry.
func (p *Plugin) Stats() map[string]sql.DBStats {
	if r := p.routerOrNil(); r != nil {
		return r.Topology().Stats()
	}
	return map[string]sql.DBStats{}
}

// PoolCounts reports how many node pools grant has open, has opened and
// has evicted (Config.MaxOpenPools); zero before Initialize.
func (p *Plugin) PoolCounts() PoolCounts {
	if r := p.routerOrNil(); r != nil {
		return r.Topology().PoolCounts()
	}
	return PoolCounts{}
}

// Close stops the health checks and the placement watcher (waiting for
// their goroutines to exit) and
// closes every pool grant opened. The *gorm.DB's own pool is left to its
// owner (close it with db.DB()). Nodes reopen if used again, but health
// checks do not restart. Call Close when done with a handle whose config
// turns health checks on, or their goroutines run for the life of the
// process.
func (p *Plugin) Close() error {
	if r := p.routerOrNil(); r != nil {
		return errors.Join(r.Close(), r.Topology().Close())
	}
	return nil
}

// Topology returns the runtime topology (databases, clusters, shards and
// their nodes) for tools built on grant, such as package migrator; nil
// before Initialize. Its methods are safe for concurrent use.
func (p *Plugin) Topology() *topology.Topology {
	if r := p.routerOrNil(); r != nil {
		return r.Topology()
	}
	return nil
}

func (p *Plugin) routerOrNil() *callbacks.Router {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.router
}

// errNotInstalled is returned by helpers given a *gorm.DB without grant.
var errNotInstalled = errors.New("grant: plugin not installed on this *gorm.DB (call db.Use(grant.New(cfg)) first)")

// From returns the Plugin installed on db, for Stats and Close where only
// the *gorm.DB is at hand. ok is false when grant is not installed.
func From(db *gorm.DB) (p *Plugin, ok bool) {
	p, ok = db.Config.Plugins[PluginName].(*Plugin)
	return p, ok && p.routerOrNil() != nil
}

func pluginOf(db *gorm.DB) (*Plugin, error) {
	if p, ok := From(db); ok {
		return p, nil
	}
	return nil, errNotInstalled
}

// CredentialsRefused tells a CredentialsFunc how many times the server has
// refused the credentials of the connection being opened: 0 on its first
// attempt, 1 or more when grant retries it (a password rotated in place;
// CredentialsAttempts in all), when a function that caches its secret
// should fetch it anew.
func CredentialsRefused(ctx context.Context) int { return topology.CredentialsRefused(ctx) }

// CredentialsAttempts bounds the attempts of one new connection of a node
// with credentials that the server refuses for them; the retries sleep 50,
// 100, 200 and 400 ms.
const CredentialsAttempts = topology.CredentialsAttempts
