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

func (e *IDError) Error() string {
	return fmt.Sprintf("%v: shard %d, layout holds %d shards (0..%d)", e.Err, e.Shard, e.MaxShards, e.MaxShards-1)
}

// Unwrap returns Err, so errors.Is(err, ErrInvalidShardIndex) holds.
func (e *IDError) Unwrap() error { return e.Err }

// IDLayout is how an ID's 63 usable bits split (the sign bit stays 0 so IDs
// are positive int64s that sort by time). From the most significant bit down
// an ID is: timestamp | sequence | shard. The shard sits in the lowest bits,
// below the sequence, so that IDs issued by one generator for different
// shards still sort in issue order, and Shard is a mask.
//
// A layout is part of the meaning of every stored ID: changing any field
// (Epoch included) after IDs were written makes Shard and Time decode them
// wrongly and can repeat IDs.
type IDLayout struct {
	Epoch         time.Time // start of the timestamp field; default 2024-01-01T00:00:00Z
	TimestampBits uint8     // milliseconds since Epoch; default 41 (~69 years)
	ShardBits     uint8     // default 10 (1024 shards)
	SequenceBits  uint8     // default 12 (4096 IDs per millisecond per process)
}

// DefaultIDLayout returns Epoch 2024-01-01T00:00:00Z, 41 timestamp bits
// (IDs until 2093), 10 shard bits and 12 sequence bits.
func DefaultIDLayout() IDLayout {
	return IDLayout{
		Epoch:         time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		TimestampBits: 41,
		ShardBits:     10,
		SequenceBits:  12,
	}
}

// IDGenerator issues snowflake-style int64 primary keys that carry the shard
// they belong to, so a lookup by ID alone can be routed (see Shard).
//
// It is safe for concurrent use and takes no lock: the last timestamp and
// sequence live in one atomic word advanced by compare-and-swap, which is
// also what makes its IDs strictly increasing across goroutines and shards.
//
// IDs are unique per generator only: the layout has no field telling
// processes apart, so two generators (two processes, or two in one process)
// issuing IDs for the same shard in the same millisecond produce the same
// ID. Use one generator per process, and only one process per shard's ID
// space (or keep the ID spaces apart some other way).
type IDGenerator struct {
	state     atomic.Uint64 // last timestamp << SequenceBits | last sequence
	layout    IDLayout
	epochMs   int64
	maxTs     int64  // largest timestamp field value: 2^TimestampBits - 1
	seqMask   uint64 // largest sequence: 2^SequenceBits - 1
	shards    int    // 2^ShardBits
	shiftTime uint8  // ShardBits + SequenceBits
	now       func() time.Time
}

// NewIDGenerator validates the layout and returns a generator. The three bit
// counts must each be > 0 and sum to 63, Epoch must not be in the future, the
// timestamp field must not already be exhausted, and every shard index must
// fit an int. Errors wrap ErrInvalidIDLayout.
func NewIDGenerator(layout IDLayout) (*IDGenerator, error) {
	l, now := layout, time.Now()
	bad := func(format string, args ...any) (*IDGenerator, error) {
		return nil, fmt.Errorf("%w: "+format, append([]any{ErrInvalidIDLayout}, args...)...)
	}
	switch {
	case l.TimestampBits == 0 || l.ShardBits == 0 || l.SequenceBits == 0:
		return bad("every field needs at least one bit (timestamp %d, shard %d, sequence %d)",
			l.TimestampBits, l.ShardBits, l.SequenceBits)
	case int(l.TimestampBits)+int(l.ShardBits)+int(l.SequenceBits) != 63: // int: uint8 sums wrap
		return bad("bits sum to %d, want 63 (timestamp %d + shard %d + sequence %d)",
			int(l.TimestampBits)+int(l.ShardBits)+int(l.SequenceBits), l.TimestampBits, l.ShardBits, l.SequenceBits)
	case uint64(1)<<l.ShardBits > math.MaxInt: // only reachable where int is 32 bits
		return bad("%d shard bits give shard indexes that do not fit an int", l.ShardBits)
	case l.Epoch.After(now):
		return bad("epoch %s is in the future", l.Epoch.Format(time.RFC3339Nano))
	}
	g := &IDGenerator{
		layout:    l,
		epochMs:   l.Epoch.UnixMilli(),
		maxTs:     1<<l.TimestampBits - 1,
		seqMask:   1<<l.SequenceBits - 1,
		shards:    1 << l.ShardBits,
		shiftTime: l.ShardBits + l.SequenceBits,
		now:       time.Now,
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
// goroutines, so they never repeat. At most 2^SequenceBits IDs are issued per
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
			return int64(next<<g.layout.ShardBits | uint64(shard)), nil
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

// Time returns the creation time encoded in id, in UTC, truncated to the
// millisecond. For ids ≤ 0 it returns the zero time.Time.
func (g *IDGenerator) Time(id int64) time.Time {
	if id <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(g.epochMs + id>>g.shiftTime).UTC()
}

// Layout returns the generator's layout, as given to NewIDGenerator.
func (g *IDGenerator) Layout() IDLayout { return g.layout }

// end is the first instant the timestamp field cannot hold.
func (g *IDGenerator) end() time.Time { return time.UnixMilli(g.epochMs + g.maxTs + 1).UTC() }
