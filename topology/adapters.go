package topology

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/grant-go/grant/internal/dsnredact"
)

// A DialectAdapter is everything grant knows about one SQL dialect and the
// driver behind it, as one value: how to open a dialector from a DSN, how
// to give its pools credentials per connection or read-only sessions, what
// its driver's errors mean, how to find the password in its DSNs, and how
// to read its servers' replication state. grant itself links no driver:
// adapters are registered by importing them,
//
//	import _ "github.com/grant-go/grant/adapter/postgres" // "postgres", "postgresql"
//	import _ "github.com/grant-go/grant/adapter/mysql"    // "mysql", "mariadb"
//
// whose init calls RegisterAdapter, as database/sql drivers register
// themselves. A node given by DSN names its adapter (NodeConfig.Adapter);
// a node given by a Dialector, and the *gorm.DB grant is installed on, use
// the adapter registered first for their dialector's Name(). Such nodes
// work without one for plain routing; what needs the adapter (credentials,
// strict write prevention, health checks' lag and failover, causal
// consistency) then fails at Use, naming the import to add.
//
// An adapter must be safe for concurrent use, and none of its methods may
// connect unless it says so.
type DialectAdapter interface {
	// Dialect is the name the adapter's dialectors report
	// (gorm.Dialector.Name()): "postgres", "mysql".
	Dialect() string
	// Open returns a dialector for dsn. It must not connect: pools open
	// lazily.
	Open(dsn string) gorm.Dialector
	// DSNOf returns the DSN d, a dialector of this dialect (from Open or
	// made by the user), opens its pool from; an error when it has none
	// (it wraps an open pool).
	DSNOf(d gorm.Dialector) (string, error)
	// WithDSN returns a copy of d that opens a pool of its own from dsn
	// (a health check's probe pool, a node's read-only pool). It does not
	// connect.
	WithDSN(d gorm.Dialector, dsn string) (gorm.Dialector, error)
	// ReadOnlyDSN returns dsn with what makes the server keep its
	// sessions read only (strict write prevention). server is the node's
	// own pool, for an adapter that must ask the server which setting it
	// takes; it is nil when grant only checks, at Use, that read-only
	// sessions can be had, and the adapter must then not connect (and may
	// return dsn unchanged).
	ReadOnlyDSN(ctx context.Context, dsn string, server Querier) (string, error)
	// Credentials returns how to give d's pools a per-connection
	// credentials hook, or an error saying why d cannot take one (it wraps
	// an open pool, or opens through another driver). It opens nothing.
	Credentials(d gorm.Dialector) (CredentialsHook, error)
	// Classify tells what an error of the adapter's driver means to grant;
	// 0 for errors it does not know.
	Classify(err error) ErrorClass
	// DSNSecrets finds the secrets of a DSN in the driver's own form, for
	// RedactDSN and PasswordOf; a zero DSNReading for other texts. URLs,
	// libpq key=value and ADO-style strings are read by grant itself.
	DSNSecrets(dsn string) DSNReading
	// Replication reads the servers' replication state and positions; nil
	// for a dialect without replication grant can measure (health checks
	// then only ping).
	Replication() ReplicationReader
}

// CredentialsHook gives one dialector's pools a per-connection hook
// (NodeConfig.Credentials, NodeConfig.PasswordFile).
type CredentialsHook interface {
	// Connector returns a connector of the dialector's connections that
	// calls before with the user and password of each new connection,
	// which before may change. It does not connect.
	Connector(before func(ctx context.Context, user, password *string) error) (driver.Connector, error)
	// Dialector returns a copy of the dialector that uses pool, opened
	// from the Connector, instead of opening its own.
	Dialector(pool *sql.DB) gorm.Dialector
}

// ErrorClass is what an error means to grant (DialectAdapter.Classify):
// a set of the flags below.
type ErrorClass uint8

const (
	// ConnectionLost: the connection failed or the server is going away,
	// not the statement: a read may be retried on another node.
	ConnectionLost ErrorClass = 1 << iota
	// LoginRefused: the server refused the connection's credentials
	// (retried with fresh credentials, see CredentialsAttempts).
	LoginRefused
	// ReadOnlyServer: the server refused a write because the session,
	// transaction or server is read only (strict write prevention, or a
	// writer that became a standby).
	ReadOnlyServer
)

// Has reports whether c holds every flag of f.
func (c ErrorClass) Has(f ErrorClass) bool { return c&f == f && f != 0 }

// DSNReading is what an adapter makes of a DSN (DialectAdapter.DSNSecrets):
// whether it is in the driver's form, and where its secrets are.
type DSNReading = dsnredact.Reading

// DSNSecret is one secret in a DSN: DSN[Start:End] as written, Value as
// the driver decodes it, Login for the login password.
type DSNSecret = dsnredact.Secret

// Querier is what grant runs its own statements on (a probe session, a
// node's pool): *sql.DB and *sql.Conn are Queriers.
type Querier interface {
	PingContext(ctx context.Context) error
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// ReplicationReader reads a dialect's replication state: the health
// checks' lag, and the positions of causal consistency.
type ReplicationReader interface {
	// NewProbe returns the probe of one node, used by one goroutine at a
	// time, which may carry a measurement from one check to the next.
	// measure bounds the time a probe may spend measuring lag: > 0 at
	// most that long (HealthConfig.MaxReplicaLag); 0 one reading, lag
	// deciding nothing; < 0 as long as the context allows (Node.Probe).
	NewProbe(measure time.Duration) ReplicationProbe
	// Position reads a writer's replication position, at or past its last
	// commit; ErrNoPosition when the server has none to give.
	Position(ctx context.Context, writer Querier) (Position, error)
	// Replayed reports whether a replica has replayed pos, waiting up to
	// wait for it to; ErrNoPosition when pos or the server does not allow
	// telling.
	Replayed(ctx context.Context, replica Querier, pos Position, wait time.Duration) (bool, error)
}

// ReplicationProbe reads one node's replication state, after grant pinged
// it, on the session q.
type ReplicationProbe interface {
	Probe(ctx context.Context, q Querier) (ReplicaState, error)
}

// ReplicaState is what one look at a node's replication found.
type ReplicaState struct {
	Replica  bool          // the server replays another's changes
	Lag      time.Duration // how far behind, when LagKnown
	LagKnown bool
	// Stale: a replica that cannot tell its lag (replication broken, or
	// not streaming): it counts as lagging under MaxReplicaLag.
	Stale bool
	// Position is what the replica has replayed, when known.
	Position Position
}

// CancelKeyReader is implemented by adapters whose connections carry a
// cancel key naming their server process (PostgreSQL's BackendKeyData):
// the migrator compares it with the server's own answer to tell a direct
// session from a connection pooler's.
type CancelKeyReader interface {
	// CancelKeyPID returns the process id of the cancel key of
	// driverConn, what sql.Conn.Raw hands out; ok is false for a
	// connection of another driver.
	CancelKeyPID(driverConn any) (pid uint32, ok bool)
}

// adapterImports names the packages of the adapters grant ships, by
// adapter and dialect name, for the errors that say what to import.
var adapterImports = map[string]string{
	"postgres":   "github.com/grant-go/grant/adapter/postgres",
	"postgresql": "github.com/grant-go/grant/adapter/postgres",
	"mysql":      "github.com/grant-go/grant/adapter/mysql",
	"mariadb":    "github.com/grant-go/grant/adapter/mysql",
}

// registry holds the registered adapters. Lookups happen when a topology
// is built and on rare paths (failover), never per statement.
var registry struct {
	mu        sync.RWMutex
	byName    map[string]DialectAdapter
	byDialect map[string]DialectAdapter // the first registered for each dialect
	all       []DialectAdapter          // distinct values, in registration order
}

// RegisterAdapter makes a known as name, for NodeConfig.Adapter (and the
// adapter keys of grant.yml); register an adapter once per name, aliases
// included ("postgres" and "postgresql"). The first adapter registered for
// a dialect serves the nodes given by Dialector and the handle grant is
// installed on. It is meant for an adapter package's init, and is safe for
// concurrent use. It panics if name is empty, a is nil, or name is
// already registered, as database/sql.Register does.
func RegisterAdapter(name string, a DialectAdapter) {
	if name == "" {
		panic("grant: RegisterAdapter with an empty name")
	}
	if a == nil || reflect.ValueOf(a).Kind() == reflect.Pointer && reflect.ValueOf(a).IsNil() {
		panic("grant: RegisterAdapter adapter is nil for " + name)
	}
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if _, dup := registry.byName[name]; dup {
		panic("grant: RegisterAdapter called twice for adapter " + name)
	}
	if registry.byName == nil {
		registry.byName, registry.byDialect = map[string]DialectAdapter{}, map[string]DialectAdapter{}
	}
	registry.byName[name] = a
	if _, ok := registry.byDialect[a.Dialect()]; !ok {
		registry.byDialect[a.Dialect()] = a
	}
	for _, b := range registry.all {
		if sameAdapter(a, b) {
			return
		}
	}
	registry.all = append(registry.all, a)
	dsnredact.AddReader(a.DSNSecrets)
}

// sameAdapter reports whether a and b are one value (an alias); values
// of a type that cannot be compared count as distinct.
func sameAdapter(a, b DialectAdapter) bool {
	return reflect.TypeOf(a) == reflect.TypeOf(b) && reflect.TypeOf(a).Comparable() && a == b
}

// RegisteredAdapters lists the registered adapter names, sorted.
func RegisteredAdapters() []string {
	registry.mu.RLock()
	defer registry.mu.RUnlock()
	return slices.Sorted(maps.Keys(registry.byName))
}

// LookupDialectAdapter returns the adapter registered under name, if any.
func LookupDialectAdapter(name string) (DialectAdapter, bool) {
	registry.mu.RLock()
	defer registry.mu.RUnlock()
	a, ok := registry.byName[name]
	return a, ok
}

// dialectAdapter is the adapter for a dialect: the first registered for
// it, else grant's built-in one for a dialect that needs no driver of its
// own (SQLite's read-only sessions); nil when there is none.
func dialectAdapter(dialect string) DialectAdapter {
	registry.mu.RLock()
	a := registry.byDialect[dialect]
	registry.mu.RUnlock()
	if a == nil {
		a = builtinDialects[dialect]
	}
	return a
}

// registeredAdapters returns the distinct registered adapters.
func registeredAdapters() []DialectAdapter {
	registry.mu.RLock()
	defer registry.mu.RUnlock()
	return registry.all
}

// ClassifyError asks every registered adapter what err means: an error
// comes from one driver, and only the drivers of registered adapters are
// known. Tools use it to tell, say, a write the server refused under
// strict write prevention (ReadOnlyServer) from another failure.
func ClassifyError(err error) ErrorClass {
	if err == nil {
		return 0
	}
	var c ErrorClass
	for _, a := range registeredAdapters() {
		c |= a.Classify(err)
	}
	return c
}

// CancelKeyPID asks the registered adapters that read cancel keys
// (CancelKeyReader) for the server process id of driverConn's; ok is false
// when none knows the connection.
func CancelKeyPID(driverConn any) (pid uint32, ok bool) {
	for _, a := range registeredAdapters() {
		if r, is := a.(CancelKeyReader); is {
			if pid, ok := r.CancelKeyPID(driverConn); ok {
				return pid, true
			}
		}
	}
	return 0, false
}

// importHint says how to register the adapter for name (an adapter or a
// dialect name): the import of grant's package for it, or, for a name
// grant ships none for, RegisterAdapter.
func importHint(name string) string {
	if path, ok := adapterImports[name]; ok {
		return fmt.Sprintf("import _ %q to register it", path)
	}
	return "register one with topology.RegisterAdapter, or name a function in Config.Adapters"
}

// needsAdapter is the error of a node whose dialect has no registered
// adapter while a feature needs one; feature says which.
func needsAdapter(dialect, feature string) string {
	return fmt.Sprintf("%s needs the %s adapter, which is not registered: %s", feature, dsnredact.Quote(dialect), importHint(dialect))
}

// ErrNoPosition means a server has no replication position grant can read or
// compare (a dialect without a ReplicationReader, a MariaDB without GTID,
// a PostgreSQL server not in recovery); causal consistency then keeps the
// session's reads on the writer for ConsistencyConfig.Delay.
var ErrNoPosition = errors.New("grant: no replication position")

// adapterFor is the adapter of a node: the one its DSN names when that is
// a registered name (Config.Adapters wins over registered names), else the
// one for its dialect.
func (c *Config) adapterFor(nc NodeConfig, dialect string) DialectAdapter {
	if nc.Dialector == nil {
		if _, custom := c.Adapters[nc.Adapter]; !custom {
			if a, ok := LookupDialectAdapter(nc.Adapter); ok {
				return a
			}
		}
	}
	return dialectAdapter(dialect)
}

// checkAdapters fails closed when a feature that needs a dialect's adapter
// is configured and the adapter is not registered: the nodes given by
// Dialector, and the handle, work without one for plain routing, but
// their health checks (lag, failover), causal consistency and strict write
// prevention (see CheckReadOnlySessions) would silently lose what only the
// adapter knows. Every node of a topology has the handle's dialect
// (sameDialect), so when the handle's is known one lookup answers for all.
// Nodes of an adapter grant ships none for keep what they had: ping-only
// checks, Timed instead of Causal.
func (c *Config) checkAdapters(handleDialect string) error {
	dialects := map[string]string{} // adapter name → dialect, as checkDialect caches it
	dialectOf := func(nc NodeConfig) string {
		if handleDialect != "" {
			return handleDialect
		}
		if nc.Dialector != nil {
			return nc.Dialector.Name()
		}
		if d, ok := dialects[nc.Adapter]; ok {
			return d
		}
		var d string
		if a := c.adapter(nc.Adapter); a != nil {
			if dl := a(""); dl != nil {
				d = dl.Name()
			}
		}
		dialects[nc.Adapter] = d
		return d
	}
	check := func(path string, nc NodeConfig, feature string) error {
		dialect := dialectOf(nc)
		if _, shipped := adapterImports[dialect]; !shipped || c.adapterFor(nc, dialect) != nil {
			return nil
		}
		return &ConfigError{Path: path, Problem: needsAdapter(dialect, feature)}
	}
	// The handle: the default database's writer when it configures none.
	if _, shipped := adapterImports[handleDialect]; shipped && dialectAdapter(handleDialect) == nil && c.Consistency.Mode == Causal {
		if dc, ok := c.Databases[c.DefaultName()]; !ok || dc.Writer == nil {
			return &ConfigError{Path: dsnredact.JoinKey("databases", c.DefaultName()) + ".writer",
				Problem: needsAdapter(handleDialect, "consistency mode causal (replication positions) on the *gorm.DB grant is installed on")}
		}
	}
	health := func(path string, dc DatabaseConfig, inherited HealthConfig) error {
		h := inherited
		if dc.Health != nil {
			h = *dc.Health
		}
		if !h.enabled() {
			return nil
		}
		for i, n := range dc.Replicas {
			if err := check(fmt.Sprintf("%s.replicas[%d]", path, i), n, "health checks (health.interval: replica lag and read failover)"); err != nil {
				return err
			}
		}
		for _, role := range slices.Sorted(maps.Keys(dc.Roles)) {
			for i, n := range dc.Roles[role] {
				if err := check(fmt.Sprintf("%s[%d]", dsnredact.JoinKey(path+".roles", role), i), n, "health checks (health.interval: replica lag and read failover)"); err != nil {
					return err
				}
			}
		}
		return nil
	}
	causal := c.Consistency.Mode == Causal
	const causalFeature = "consistency mode causal (replication positions)"
	for _, name := range slices.Sorted(maps.Keys(c.Databases)) {
		path, dc := dsnredact.JoinKey("databases", name), c.Databases[name]
		if causal && dc.Writer != nil {
			if err := check(path+".writer", *dc.Writer, causalFeature); err != nil {
				return err
			}
		}
		if err := health(path, dc, c.Health); err != nil {
			return err
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.Clusters)) {
		cc := c.Clusters[name]
		inherited := c.Health
		if cc.Health != nil {
			inherited = *cc.Health
		}
		for i, sc := range cc.Shards {
			path := fmt.Sprintf("clusters.%s.shards[%d]", name, i)
			if causal && sc.Writer != nil {
				if err := check(path+".writer", *sc.Writer, causalFeature); err != nil {
					return err
				}
			}
			if err := health(path, sc.DatabaseConfig, inherited); err != nil {
				return err
			}
		}
	}
	return nil
}

// knownAdapterNames lists the adapter names a Config knows: its own
// Adapters and the registered ones, sorted.
func (c *Config) knownAdapterNames() []string {
	names := append(slices.Sorted(maps.Keys(c.Adapters)), RegisteredAdapters()...)
	sort.Strings(names)
	return slices.Compact(names)
}

// knownAdapters is knownAdapterNames for a message: "none" when empty.
func (c *Config) knownAdapters() string {
	if known := c.knownAdapterNames(); len(known) > 0 {
		return strings.Join(known, ", ")
	}
	return "none"
}

// unknownAdapter is the problem of a node naming an adapter nobody
// registered.
func (c *Config) unknownAdapter(name string) string {
	return fmt.Sprintf("unknown adapter %s (known adapters: %s): %s", dsnredact.Quote(name), c.knownAdapters(), importHint(name))
}
