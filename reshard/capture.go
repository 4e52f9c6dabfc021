package reshard

import "context"

// Table is one sharded table a workflow moves rows of.
type Table struct {
	// Name is the table's name on every shard.
	Name string
	// PK lists the primary-key columns in key order. Every moved table
	// needs a primary key: rows are copied, synced and compared by it.
	PK []string
	// Key is the shard-key column the cluster's strategy maps.
	Key string
	// Columns lists every column, PK and Key included, in table order.
	Columns []string
}

// Change names one row that changed on a shard. The capture reports which
// rows changed, not how: the applier re-reads each changed row on every
// shard involved and makes the placement agree, which is idempotent, so a
// change delivered twice (after a crash, before its Ack) is harmless.
type Change struct {
	Table string   // Table.Name
	PK    []string // primary-key values in Table.PK order, as text
}

// Lag is how much captured work a shard has not applied yet.
type Lag struct {
	Pending int64  // amount in Unit
	Unit    string // "bytes" of WAL (PostgreSQL) or "changes" (MariaDB's changelog)
}

// Capture is one shard's change stream. A workflow keeps one per shard of
// the source and target placements, all of it in the shard's own database,
// so that it survives the process that reads it. Methods are called by one
// goroutine at a time.
type Capture interface {
	// Install prepares capture of tables on the shard. It is idempotent: a
	// call after a crash finds what an earlier call made and keeps it,
	// including the position it reads from.
	Install(ctx context.Context, tables []Table) error
	// Read returns changes committed since the last Ack, in commit order,
	// about limit of them (more to finish a transaction), and a cursor to
	// pass to Ack once they are applied. An empty batch means nothing was
	// pending when Read looked. Every transaction Read returns is visible
	// to reads that start after it returns: the changes are applied by
	// re-reading their rows, which must not find them as they were before.
	Read(ctx context.Context, limit int) (changes []Change, cursor Cursor, err error)
	// Ack records durably that everything Read returned with cursor has
	// been applied, so that it is not returned again.
	Ack(ctx context.Context, cursor Cursor) error
	// Mark returns the shard's current position. Reached reports whether
	// every change committed before the Mark was taken has been Acked.
	Mark(ctx context.Context) (Mark, error)
	Reached(ctx context.Context, m Mark) (bool, error)
	// Lag reports the captured work not yet Acked.
	Lag(ctx context.Context) (Lag, error)
	// Uninstall removes everything Install made (slot, publication,
	// triggers, changelog). It is idempotent.
	Uninstall(ctx context.Context) error
}

// Cursor is a Capture's own record of what one Read returned.
type Cursor any

// Mark is a position in a shard's change stream: a WAL LSN on PostgreSQL,
// a changelog id on MariaDB.
type Mark uint64

// Snapshotter is a Capture that can start at a snapshot: the copy reads
// the shard as of the capture's first position, so that no change is
// missed or applied twice (PostgreSQL: a logical replication slot created
// with an exported snapshot).
type Snapshotter interface {
	// InstallAt installs capture as Install does and, when it creates the
	// stream's starting point now, returns a snapshot name that
	// transactions may import (SET TRANSACTION SNAPSHOT) until release is
	// called. When the stream already existed (a resumed workflow),
	// snapshot is "" and release is a no-op: the copy then reads the
	// current rows, which the re-reading applier makes equally correct.
	InstallAt(ctx context.Context, tables []Table) (snapshot string, release func(), err error)
}
