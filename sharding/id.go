package sharding

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync/atomic"
	"time"
)

// Sentinel errors of the ID generator; test them with errors.Is.
var (
	// ErrInvalidIDLayout: NewIDGenerator refused the layout. The wrapping
	// error says which rule it broke.
	ErrInvalidIDLayout = errors.New("grant: invalid ID layout")
	// ErrInvalidWorker: NewIDGenerator was given a worker number the
	// layout's worker field cannot hold.
	ErrInvalidWorker = errors.New("grant: ID worker out of range")
	// ErrInvalidShardIndex: Next was given a shard index the layout's shard
	// field cannot hold. It always arrives wrapped in an *IDError.
	ErrInvalidShardIndex = errors.New("grant: shard index out of range")
	// ErrIDSpaceExhausted: the clock has passed Epoch + 2^TimestampBits ms, so
	// no further ID fits the timestamp field. Retrying does not help; the
	// layout must change (which changes every ID's meaning, so plan ahead).
	ErrIDSpaceExhausted = errors.New("grant: ID timestamp field exhausted")
)

// IDError reports a shard index Next cannot encode. Err is ErrInvalidShardIndex.
type IDError struct {
	Shard     int // the index passed to Next
	MaxShards int // 1 << ShardBits: valid indexes are 0..MaxShards-1
	Err       error
}

// Error names the shard and how many shards the layout holds.
func (e *IDError) Error() string {
	return fmt.Sprintf("%v: shard %d, layout holds %d shards (0..%d)", e.Err, e.Shard, e.MaxShards, e.MaxShards-1)
}

// Unwrap returns Err, so errors.Is(err, ErrInvalidShardIndex) holds.
func (e *IDError) Unwrap() error { return e.Err }

// IDLayout is how an ID's 63 usable bits split (the sign bit stays 0 so IDs
// are positive int64s that sort by time). From the most significant bit down
// an ID is: timestamp | worker | sequence | shard. The worker field tells
// generators apart (one number per process), so generators with distinct
// workers never issue the same ID. The shard sits in the lowest bits, below
// the sequence, so that IDs issued by one generator for different shards
// still sort in issue order, and Shard is a mask.
//
// A layout is part of the meaning of every stored ID: changing any field
// (Epoch included) after IDs were written makes Shard and Time decode them
// wrongly and can repeat IDs.
type IDLayout struct {
	Epoch         time.Time // start of the timestamp field; default 2024-01-01T00:00:00Z
	TimestampBits uint8     // milliseconds since Epoch; default 41 (~69 years)
	WorkerBits    uint8     // default 6 (64 generating processes); may be 0 (one process)
	SequenceBits  uint8     // default 8 (256 IDs per millisecond per process)
	ShardBits     uint8     // default 8 (256 shards)
}

// DefaultIDLayout returns Epoch 2024-01-01T00:00:00Z, 41 timestamp bits
// (IDs until 2093), 6 worker bits (64 processes), 8 sequence bits (256,000
// IDs per second per process) and 8 shard bits (256 shards).
func DefaultIDLayout() IDLayout {
	return IDLayout{
		Epoch:         time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		TimestampBits: 41,
		WorkerBits:    6,
		SequenceBits:  8,
		ShardBits:     8,
	}
}

// IDGenerator issues snowflake-style int64 primary keys that carry the shard
// they belong to, so a lookup by ID alone can be routed (see Shard).
//
// It is safe for concurrent use and takes no lock: the last timestamp and
// sequence live in one atomic word advanced by compare-and-swap, which is
// also what makes its IDs strictly increasing across goroutines and shards.
//
// IDs of generators with different workers never collide. Two generators
// with the same worker (two processes given the same number, or two in one
// process) can issue the same ID for the same shard in the same millisecond;
// on a table whose primary key it is, the second insert then fails with a
// duplicate-key error rather than overwriting anything. Give every process
// its own worker number (a StatefulSet ordinal, a deploy-time setting) and
// share one generator within a process.
type IDGenerator struct {
	state       atomic.Uint64 // last timestamp << SequenceBits | last sequence
	layout      IDLayout
	worker      uint64 // already shifted into place
	epochMs     int64
	maxTs       int64  // largest timestamp field value: 2^TimestampBits - 1
	seqMask     uint64 // largest sequence: 2^SequenceBits - 1
	shards      int    // 2^ShardBits
	shiftWorker uint8  // ShardBits + SequenceBits
	shiftTime   uint8  // ShardBits + SequenceBits + WorkerBits
	now         func() time.Time
}

// NewIDGenerator validates the layout and returns a generator for the given
// worker (0..2^WorkerBits-1). The timestamp, sequence and shard fields need
// at least one bit each, the four bit counts must sum to 63, Epoch must not
// be in the future, the timestamp field must not already be exhausted, and
// every shard index must fit an int; such errors wrap ErrInvalidIDLayout. A
// worker the layout cannot hold gives an error wrapping ErrInvalidWorker.
func NewIDGenerator(layout IDLayout, worker int) (*IDGenerator, error) {
	l, now := layout, time.Now()
	bad := func(format string, args ...any) (*IDGenerator, error) {
		return nil, fmt.Errorf("%w: "+format, append([]any{ErrInvalidIDLayout}, args...)...)
	}
	sum := int(l.TimestampBits) + int(l.WorkerBits) + int(l.SequenceBits) + int(l.ShardBits) // int: uint8 sums wrap
	switch {
	case l.TimestampBits == 0 || l.ShardBits == 0 || l.SequenceBits == 0:
		return bad("timestamp, sequence and shard need at least one bit each (timestamp %d, sequence %d, shard %d)",
			l.TimestampBits, l.SequenceBits, l.ShardBits)
	case sum != 63:
		return bad("bits sum to %d, want 63 (timestamp %d + worker %d + sequence %d + shard %d)",
			sum, l.TimestampBits, l.WorkerBits, l.SequenceBits, l.ShardBits)
	case uint64(1)<<l.ShardBits > math.MaxInt: // only reachable where int is 32 bits
		return bad("%d shard bits give shard indexes that do not fit an int", l.ShardBits)
	case l.Epoch.After(now):
		return bad("epoch %s is in the future", l.Epoch.Format(time.RFC3339Nano))
	case worker < 0 || uint64(worker) >= uint64(1)<<l.WorkerBits:
		return nil, fmt.Errorf("%w: worker %d, layout holds %d workers (0..%d)",
			ErrInvalidWorker, worker, uint64(1)<<l.WorkerBits, uint64(1)<<l.WorkerBits-1)
	}
	g := &IDGenerator{
		layout:      l,
		worker:      uint64(worker) << (l.ShardBits + l.SequenceBits),
		epochMs:     l.Epoch.UnixMilli(),
		maxTs:       1<<l.TimestampBits - 1,
		seqMask:     1<<l.SequenceBits - 1,
		shards:      1 << l.ShardBits,
		shiftWorker: l.ShardBits + l.SequenceBits,
		shiftTime:   l.ShardBits + l.SequenceBits + l.WorkerBits,
		now:         time.Now,
	}
	// A zero Epoch (year 1) is the usual way to get here: refuse it now
	// rather than fail every Next.
	if now.UnixMilli()-g.epochMs > g.maxTs {
		return bad("timestamp field ended at %s (epoch %s + 2^%d ms)",
			g.end().Format(time.RFC3339), l.Epoch.Format(time.RFC3339), l.TimestampBits)
	}
	return g, nil
}

// Next returns a new ID for the shard with the given index (0-based position
// of the shard in its cluster); Shard(id) returns that index.
//
// IDs from one generator are strictly increasing across all shards and
// goroutines, so they never repeat; the worker field keeps them apart from
// other workers' IDs. At most 2^SequenceBits IDs are issued per
// millisecond; past that Next waits for the next millisecond. If the wall
// clock goes backwards Next keeps the last timestamp and continues its
// sequence, so IDs never go back; once that sequence runs out Next waits
// until the clock passes the last timestamp again (sleeping, not spinning,
// if it is far behind).
//
// Errors: an index outside 0..2^ShardBits-1 gives an *IDError wrapping
// ErrInvalidShardIndex; a clock past Epoch + 2^TimestampBits ms gives an error
// wrapping ErrIDSpaceExhausted. Next does not allocate unless it fails.
func (g *IDGenerator) Next(shard int) (int64, error) {
	if shard < 0 || shard >= g.shards {
		return 0, &IDError{Shard: shard, MaxShards: g.shards, Err: ErrInvalidShardIndex}
	}
	seqBits := g.layout.SequenceBits
	for {
		old := g.state.Load() // starts at 0: timestamp 0 sequence 0 counts as used, so no ID is 0
		last := int64(old >> seqBits)
		now := g.now().UnixMilli() - g.epochMs
		var next uint64
		switch {
		case now > last:
			if now > g.maxTs {
				return 0, fmt.Errorf("%w: it ended at %s", ErrIDSpaceExhausted, g.end().Format(time.RFC3339))
			}
			next = uint64(now) << seqBits
		case old&g.seqMask != g.seqMask: // same millisecond, or clock behind: borrow from the sequence
			next = old + 1
		default: // sequence exhausted: wait for the clock to pass last
			if behind := last - now; behind > 1 {
				time.Sleep(time.Duration(behind-1) * time.Millisecond)
			} else {
				runtime.Gosched() // less than a millisecond to go
			}
			continue
		}
		if g.state.CompareAndSwap(old, next) {
			ts, seq := next>>seqBits, next&g.seqMask
			return int64(ts<<g.shiftTime | g.worker | seq<<g.layout.ShardBits | uint64(shard)), nil
		}
	}
}

// Shard returns the shard index encoded in id; ok is false for ids ≤ 0,
// which no generator issues. It trusts id: for an ID made under another
// layout it returns a meaningless index.
func (g *IDGenerator) Shard(id int64) (shard int, ok bool) {
	if id <= 0 {
		return 0, false
	}
	return int(id & int64(g.shards-1)), true
}

// Worker returns the worker number encoded in id (0 when the layout has no
// worker bits); ok is false for ids ≤ 0.
func (g *IDGenerator) Worker(id int64) (worker int, ok bool) {
	if id <= 0 {
		return 0, false
	}
	return int(uint64(id) >> g.shiftWorker & (1<<g.layout.WorkerBits - 1)), true
}

// Time returns the creation time encoded in id, in UTC, truncated to the
// millisecond. For ids ≤ 0 it returns the zero time.Time.
func (g *IDGenerator) Time(id int64) time.Time {
	if id <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(g.epochMs + id>>g.shiftTime).UTC()
}

// Layout returns the generator's layout, as given to NewIDGenerator.
// (The generator's own worker is Worker of any ID it issued.)
func (g *IDGenerator) Layout() IDLayout { return g.layout }

// end is the first instant the timestamp field cannot hold.
func (g *IDGenerator) end() time.Time { return time.UnixMilli(g.epochMs + g.maxTs + 1).UTC() }
