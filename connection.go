package grant

import (
	"context"
	"fmt"

	"gorm.io/gorm"

	"github.com/grant-go/grant/internal/callbacks"
	"github.com/grant-go/grant/sharding/scatter"
	"github.com/grant-go/grant/topology"
)

// Connection says where statements go: a database, a role, whether writes
// are prevented. Zero fields mean "not said here". Models return one from
// ConnectsTo; ConnectedTo puts one in a context; Connect applies one as a
// scope. Precedence, field by field: scope, then context, then model, then
// Config.Tables, then the default database and automatic role.
type Connection = topology.Connection

// Database returns a Connection naming a database, for model declarations:
//
//	func (Event) ConnectsTo() grant.Connection { return grant.Database("analytics") }
func Database(name string) Connection { return Connection{Database: name} }

// Cluster returns a Connection naming a sharded cluster, for model
// declarations. Statements for such a model need a shard: from grant.Shard,
// ConnectedTo, or (once the model declares a shard key) the data itself.
//
//	func (Order) ConnectsTo() grant.Connection { return grant.Cluster("orders") }
func Cluster(name string) Connection { return Connection{Database: name} }

// AllShards is a scope that runs a read on every shard of its model's
// cluster in parallel and merges the rows as one database would return them:
// Find concatenates, Order with Limit/Offset merges in order and cuts, Count
// sums, First/Last/Take/Pluck obey the order, SUM/COUNT/MIN/MAX selects (with
// an alias) and Group merge per group. An update or delete runs on every
// shard's writer, RowsAffected summed. Creates, shard-key updates, locking
// reads, raw SQL, Row/Rows, DISTINCT, HAVING and AVG fail with
// ErrSpansShards before anything is sent, as does any of them inside a
// transaction (ErrCrossShardTransaction).
func AllShards() func(*gorm.DB) *gorm.DB {
	return Connect(Connection{Shard: topology.AllShards})
}

// ScatterResult reports, after a scatter-gather read run with
// PartialResults, which shards failed and how many rows each returned.
// Its methods are safe for concurrent use.
type ScatterResult = scatter.Result

// Refusal says why a query that spans shards was refused: its Reason (a
// short category), the Fragment of SQL, a Detail and a Hint naming the way
// out. It is the cause of an error matching ErrSpansShards; reach it with
// errors.As. See docs/scatter-gather.md for what is merged and refused.
type Refusal = scatter.Refusal

// PartialResults is a scope for scatter-gather reads: a failing shard no
// longer fails the query (unless every shard fails); the rows of the others
// are returned and result says which shards failed (result.Partial(),
// result.Failures()). Without it a failing shard fails the query with an
// error naming the shard. Writes ignore it.
func PartialResults(result *ScatterResult) func(*gorm.DB) *gorm.DB {
	return func(db *gorm.DB) *gorm.DB { return callbacks.WithPartialResults(db, result) }
}

// Shard is a scope that sends the statement to the named shard of its
// model's cluster. Unsharded models ignore it.
func Shard(name string) func(*gorm.DB) *gorm.DB {
	if name == "" {
		return func(db *gorm.DB) *gorm.DB {
			_ = db.AddError(&topology.RouteError{Err: topology.ErrUnknownShard, Detail: "grant.Shard with an empty shard name"})
			return db
		}
	}
	return sharedScopes.get(Connection{Shard: name})
}

// ConnectedTo returns a context whose statements route by c, layered over any
// Connection ctx already carries (the innermost wins field by field; write
// prevention, once set, cannot be lifted by an inner layer). It changes
// nothing outside the returned context, so concurrent goroutines and requests
// never see each other's switches. Unknown names fail each statement with
// ErrUnknownDatabase or ErrUnknownRole.
func ConnectedTo(ctx context.Context, c Connection) context.Context {
	return topology.WithConnection(ctx, c)
}

// PreventWrites returns a context in which every write — builder or raw SQL
// — fails with ErrReadOnly before anything is sent. Reads still route as
// usual.
func PreventWrites(ctx context.Context) context.Context {
	return topology.WithConnection(ctx, Connection{PreventWrites: true})
}

// Role is a scope that sends the statement to the named role: Writing,
// Reading or a custom role of its database. Reading implies write
// prevention. It beats the context and the model.
//
//	db.Scopes(grant.Role(grant.Writing)).First(&user) // read your own write
func Role(name string) func(*gorm.DB) *gorm.DB {
	switch name {
	case Writing:
		return writingScope
	case Reading:
		return readingScope
	case "":
		return Connect(Connection{})
	}
	return sharedScopes.get(Connection{Role: name})
}

// UseDatabase is a scope that sends the statement to the named database.
func UseDatabase(name string) func(*gorm.DB) *gorm.DB {
	if name == "" {
		return Connect(Connection{})
	}
	return sharedScopes.get(Connection{Database: name})
}

// Connect is a scope that applies a whole Connection to the statement.
// Like Shard, Role and UseDatabase it returns a shared scope: applying it
// allocates nothing (see scopes.go). It is safe for concurrent use.
func Connect(c Connection) func(*gorm.DB) *gorm.DB {
	if c == (Connection{}) {
		return func(db *gorm.DB) *gorm.DB {
			_ = db.AddError(&topology.RouteError{Err: topology.ErrInvalidConfig, Detail: "grant scope with an empty database and role name"})
			return db
		}
	}
	return sharedScopes.get(c)
}

// RandomPolicy picks a node uniformly at random, from a per-thread source:
// no lock, no shared counter. It is the default policy.
func RandomPolicy() Policy { return topology.RandomPolicy() }

// RoundRobinPolicy cycles through a role's nodes with an atomic counter; safe
// for concurrent use, unlike dbresolver.RoundRobinPolicy.
func RoundRobinPolicy() Policy { return topology.RoundRobinPolicy() }

// WeightedPolicy shares reads among nodes in proportion to NodeConfig.Weight,
// exactly over every cycle of sum(weights) reads.
func WeightedPolicy() Policy { return topology.WeightedPolicy() }

// LeastInUsePolicy picks the node with the fewest connections in use (live
// sql.DBStats), rotating among ties.
func LeastInUsePolicy() Policy { return topology.LeastInUsePolicy() }

// AutoMigrate runs GORM's AutoMigrate for each model on the writer of the
// database the model lives in (its ConnectsTo, Config.Tables, or the
// default) — on every shard's writer for a model in a cluster — reading
// schema information from those writers too, never from a replica, which may
// lag. It stops at the first error, which names the model and database.
func AutoMigrate(db *gorm.DB, models ...any) error {
	p, err := pluginOf(db)
	if err != nil {
		return err
	}
	for _, model := range models {
		stmt := &gorm.Statement{DB: db}
		if err := stmt.Parse(model); err != nil {
			return err
		}
		databases, err := p.router.DatabasesOf(stmt.Schema)
		if err != nil {
			return err
		}
		for _, database := range databases {
			ctx := ConnectedTo(db.Statement.Context, Connection{Database: database.Name(), Shard: database.Shard(), Role: Writing})
			if err := db.WithContext(ctx).AutoMigrate(model); err != nil {
				return fmt.Errorf("grant: migrating %s on %s: %w", stmt.Schema.Name, database.Qualified(), err)
			}
		}
	}
	return nil
}
