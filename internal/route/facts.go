// Package route decides where one statement goes: a pure function from
// what is known about the statement (its Facts) and the topology to a
// Decision. It performs no I/O and changes nothing: the GORM glue in
// package callbacks gathers the facts, calls Resolve and Decide, and applies
// the decision (swaps the pool, assigns IDs, splits a create, plans a
// scatter). One path serves statements outside transactions, inside a
// transaction grant begins lazily, and on a transaction or connection
// pinned elsewhere, so the rules cannot drift apart.
//
// Precedence, first match wins, field by field: the statement's scope, its
// context, its model's declaration, the configured table mapping, the
// default database. In a cluster: the shard the key values map to, the one
// an ID encodes, a named shard (scope, context) — and a named shard that
// contradicts the key values fails with ErrShardMismatch.
package route

import (
	"github.com/grant-go/grant/sharding"
	"github.com/grant-go/grant/topology"
)

// Kind is what a statement does, as routing needs it.
type Kind uint16

// Kind bits.
const (
	// Writes: the statement changes data or locks rows; refused under
	// prevent-writes.
	Writes Kind = 1 << iota
	// WantsWriter: with no role asked for, the statement goes to the writer.
	WantsWriter
	// SessionControl: SAVEPOINT, SET and the like, which follow a
	// transaction instead of choosing its database.
	SessionControl
	// Create: the shard key comes from the values being inserted.
	Create
	// Update: an assignment must not move a row to another shard.
	Update
	// FanOut: an update or delete, which AllShards may run on every shard.
	FanOut
	// Raw: the statement is SQL text (db.Raw, db.Exec).
	Raw
)

// Has reports whether every bit of b is set in k.
func (k Kind) Has(b Kind) bool { return k&b == b }

// Model is what a statement's model declares, computed once per schema.
type Model struct {
	// Name is the model's Go name, for errors.
	Name string
	// Conn is its ConnectsTo, or the database or cluster Config.Tables maps
	// its table to.
	Conn topology.Connection
	// Keyed: the model declares a shard key for the cluster it lives in.
	Keyed bool
	// KeyColumn names the key, for errors.
	KeyColumn string
	// ScatterReads: keyless reads run on every shard instead of failing.
	ScatterReads bool
	// IDs: created rows get IDs that encode their shard (when the
	// decision names one shard, the IDs are assigned as it is applied).
	IDs bool
	// Err is what is wrong with the declaration; statements of the model
	// fail with it.
	Err error
}

// Keys are what the statement's shard key values say. The caller fills
// them (Resolve tells it which cluster they are for) when the statement's
// model is keyed in that cluster; the zero value means "not looked at".
type Keys struct {
	// Declared: the model's key belongs to the cluster; the fields below
	// were gathered.
	Declared bool
	// One: the values map to one shard, Shard (its index).
	One   bool
	Shard int
	// Shards lists the indexes when the values map to several (sorted,
	// unique); nil otherwise.
	Shards []int
	// Each maps every value to its shard index when there are several
	// values (the rows of a create, an IN list); nil for one value.
	Each []int
	// Values are the key values, in order, for errors; a single value read
	// without boxing it (a one-row create) is Key instead.
	Values []any
	Key    sharding.Key
	// FromWhere: the values came from WHERE conditions (a statement with
	// its own key does not inherit a preload's shard).
	FromWhere bool
	// OnlyKey: the WHERE is the key condition alone, so it holds no
	// subquery that would need checking.
	OnlyKey bool
	// ByID: the shards came from IDs that encode them, not key values.
	ByID bool
	// Assigns: the update assigns the key. Assigned is the shard index the
	// assigned value maps to (when Err is nil).
	Assigns  bool
	Assigned int
	// AssignedValue is that key value, for the error.
	AssignedValue any
	// Err is why the values could not be mapped (type, NULL, no shard).
	Err error
}

// TxState is where a statement stands with respect to a transaction.
type TxState uint8

// Transaction states.
const (
	// NoTx: the statement runs on its own.
	NoTx TxState = iota
	// Unbegun: inside a transaction grant begins on the first statement
	// that chooses a database.
	Unbegun
	// Begun: inside a transaction grant began on Tx.Database's writer.
	Begun
	// Pinned: on a transaction or connection grant did not begin (GORM's
	// default write transaction, db.Connection); Tx.Node is where it is,
	// nil when grant does not know the pool.
	Pinned
)

// Tx is the statement's transaction, if any.
type Tx struct {
	State    TxState
	Database *topology.Database // Begun
	Node     *topology.Node     // Pinned, when known
}

// Facts are what the GORM glue learned of one statement.
type Facts struct {
	Kind Kind
	// Scope is the statement's own connection (grant.Shard, Role, …), and
	// Context the one its context carries (grant.ConnectedTo); nil when
	// there is none. Decide never modifies them.
	Scope, Context *topology.Connection
	// Model is the statement's model, nil when it has none (raw SQL whose
	// destination declares nothing counts as none).
	Model *Model
	// Table is the statement's table, for Config.Tables; "" when unknown.
	Table string
	// Keys are the shard key values (see Keys); zero when not gathered.
	Keys Keys
	// Inherit is the shard of the statement a read was started by (a
	// co-located preload runs where its parent ran); nil when none.
	Inherit *topology.Database
	// Lock is the shard the request is locked to (grant.LockShard), when
	// Locked.
	Lock   string
	Locked bool
	Tx     Tx
}
