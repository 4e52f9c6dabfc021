package sharding

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Test helpers are closures, not package-level names, so they cannot collide
// with the rest of the package.

func TestIDLayoutValidation(t *testing.T) {
	def := DefaultIDLayout()
	assert.Equal(t, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), def.Epoch)
	assert.Equal(t, [4]uint8{41, 6, 8, 8}, [4]uint8{def.TimestampBits, def.WorkerBits, def.SequenceBits, def.ShardBits})

	recent := time.Now().Add(-time.Minute)
	with := func(epoch time.Time, ts, shard, seq uint8) IDLayout {
		return IDLayout{Epoch: epoch, TimestampBits: ts, ShardBits: shard, SequenceBits: seq}
	}
	tests := []struct {
		name   string
		layout IDLayout
		want   string // substring of the error; "" means valid
	}{
		{"default", def, ""},
		{"epoch now", with(time.Now(), 41, 10, 12), ""},
		{"small fields", with(recent, 21, 40, 2), ""},
		{"sum 62", with(def.Epoch, 40, 10, 12), "sum to 62"},
		{"sum 64", with(def.Epoch, 42, 10, 12), "sum to 64"},
		{"uint8 sum wraps to 63", with(def.Epoch, 200, 100, 19), "sum to 319"},
		{"zero timestamp bits", with(def.Epoch, 0, 51, 12), "at least one bit"},
		{"zero shard bits", with(def.Epoch, 41, 0, 22), "at least one bit"},
		{"zero sequence bits", with(def.Epoch, 41, 22, 0), "at least one bit"},
		{"all zero", IDLayout{}, "at least one bit"},
		{"future epoch", with(time.Now().Add(time.Hour), 41, 10, 12), "in the future"},
		{"zero epoch: field already exhausted", with(time.Time{}, 41, 10, 12), "timestamp field ended"},
		{"old epoch, few timestamp bits", with(def.Epoch, 21, 30, 12), "timestamp field ended"},
		{"worker bits count in the sum", IDLayout{Epoch: def.Epoch, TimestampBits: 41, WorkerBits: 1, ShardBits: 10, SequenceBits: 12}, "sum to 64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := NewIDGenerator(tt.layout, 0)
			if tt.want == "" {
				require.NoError(t, err)
				assert.Equal(t, tt.layout, g.Layout())
				return
			}
			require.ErrorIs(t, err, ErrInvalidIDLayout)
			assert.Nil(t, g)
			assert.True(t, strings.HasPrefix(err.Error(), "grant: invalid ID layout: "), err.Error())
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// TestIDFormat pins the bit layout: stored IDs depend on it, so a change here
// is a data migration, not a refactoring.
func TestIDFormat(t *testing.T) {
	g, err := NewIDGenerator(DefaultIDLayout(), 3)
	require.NoError(t, err)
	now := DefaultIDLayout().Epoch.Add(1000 * time.Millisecond)
	g.now = func() time.Time { return now }

	// timestamp << 22 | worker << 16 | sequence << 8 | shard
	id, err := g.Next(5)
	require.NoError(t, err)
	assert.Equal(t, int64(1000<<22|3<<16|0<<8|5), id)
	id, err = g.Next(7) // same millisecond: sequence 1
	require.NoError(t, err)
	assert.Equal(t, int64(1000<<22|3<<16|1<<8|7), id)
	w, ok := g.Worker(id)
	assert.True(t, ok)
	assert.Equal(t, 3, w)
	s, _ := g.Shard(id)
	assert.Equal(t, 7, s)
	assert.Equal(t, now.UTC(), g.Time(id))
}

// TestIDWorkersNeverCollide: two processes (generators with different
// workers) issuing IDs for the same shard in the same milliseconds.
func TestIDWorkersNeverCollide(t *testing.T) {
	layout := DefaultIDLayout()
	now := layout.Epoch.Add(time.Hour)
	seen := map[int64]int{}
	for _, worker := range []int{0, 1, 63} {
		g, err := NewIDGenerator(layout, worker)
		require.NoError(t, err)
		g.now = func() time.Time { return now } // every generator on the same millisecond
		for range 256 {                         // a whole sequence
			id, err := g.Next(9)
			require.NoError(t, err)
			prev, dup := seen[id]
			require.False(t, dup, "worker %d issued worker %d's ID %d", worker, prev, id)
			seen[id] = worker
			w, _ := g.Worker(id)
			require.Equal(t, worker, w)
		}
	}

	for _, worker := range []int{-1, 64} {
		g, err := NewIDGenerator(layout, worker)
		require.ErrorIs(t, err, ErrInvalidWorker)
		assert.Nil(t, g)
		assert.Contains(t, err.Error(), "64 workers (0..63)")
	}
	single := layout
	single.WorkerBits, single.SequenceBits = 0, 14
	_, err := NewIDGenerator(single, 1)
	require.ErrorIs(t, err, ErrInvalidWorker, "no worker bits: only worker 0")
	g, err := NewIDGenerator(single, 0)
	require.NoError(t, err)
	id, err := g.Next(1)
	require.NoError(t, err)
	w, ok := g.Worker(id)
	assert.Equal(t, 0, w)
	assert.True(t, ok)
}

func TestIDGeneratorConcurrent(t *testing.T) {
	const (
		total      = 1_000_000
		goroutines = 8
		per        = total / goroutines
	)
	g, err := NewIDGenerator(DefaultIDLayout(), 0)
	require.NoError(t, err)
	shards := 1 << g.Layout().ShardBits // every index, 0 and the largest included

	ids := make([]int64, total) // goroutine w owns ids[w*per:(w+1)*per]
	errs := make([]error, goroutines)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range goroutines {
		wg.Go(func() {
			mine := ids[w*per : (w+1)*per]
			for i := range mine {
				if mine[i], errs[w] = g.Next((w + i) % shards); errs[w] != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	t.Logf("%d IDs from %d goroutines in %v", total, goroutines, elapsed)
	for _, err := range errs {
		require.NoError(t, err)
	}

	// Plain loops, failing on the first bad ID: a million testify calls would
	// dominate the test's run time.
	lo, hi := start.Truncate(time.Millisecond), time.Now()
	for w := range goroutines {
		mine := ids[w*per : (w+1)*per]
		for i, id := range mine {
			if s, ok := g.Shard(id); !ok || s != (w+i)%shards {
				t.Fatalf("goroutine %d, ID %d (%d): Shard = %d, %v; want %d", w, i, id, s, ok, (w+i)%shards)
			}
			if i > 0 && id <= mine[i-1] {
				t.Fatalf("goroutine %d: ID %d (%d) not above the previous one (%d)", w, i, id, mine[i-1])
			}
			if tm := g.Time(id); tm.Before(lo) || tm.After(hi) {
				t.Fatalf("goroutine %d, ID %d: Time = %v, outside [%v, %v]", w, i, tm, lo, hi)
			}
		}
	}
	slices.Sort(ids)
	for i := 1; i < len(ids); i++ {
		if ids[i] == ids[i-1] {
			t.Fatalf("duplicate ID %d", ids[i])
		}
	}
}

func TestIDGeneratorClockBackwards(t *testing.T) {
	layout := DefaultIDLayout()
	layout.WorkerBits, layout.ShardBits, layout.SequenceBits = 0, 20, 2 // 4 IDs per millisecond
	g, err := NewIDGenerator(layout, 0)
	require.NoError(t, err)
	base := layout.Epoch.UnixMilli() + 1000
	var ms, tick, polls atomic.Int64 // each clock read returns ms, then adds tick to it
	ms.Store(base)
	g.now = func() time.Time { polls.Add(1); return time.UnixMilli(ms.Add(tick.Load()) - tick.Load()) }

	var prev int64
	next := func(shard int) int64 {
		t.Helper()
		id, err := g.Next(shard)
		require.NoError(t, err)
		require.Greater(t, id, prev)
		s, _ := g.Shard(id)
		require.Equal(t, shard, s)
		prev = id
		return id
	}

	next(9)
	ms.Store(base - 3) // clock jumps back 3ms: the last timestamp is kept
	for shard := 3; shard > 0; shard-- {
		assert.Equal(t, time.UnixMilli(base).UTC(), g.Time(next(shard)))
	}

	// The sequence of millisecond base is used up and the clock is still 3ms
	// behind: Next must wait for it to pass base rather than reuse or go back.
	polls.Store(0)
	tick.Store(1) // the clock advances 1ms per read: base-3, base-2, ..., base+1
	id := next(0)
	assert.Equal(t, time.UnixMilli(base+1).UTC(), g.Time(id))
	assert.Equal(t, int64(5), polls.Load())
}

func TestIDGeneratorSequenceExhaustion(t *testing.T) {
	layout := DefaultIDLayout()
	layout.WorkerBits, layout.ShardBits, layout.SequenceBits = 0, 20, 2 // 4 IDs per millisecond
	g, err := NewIDGenerator(layout, 0)
	require.NoError(t, err)
	base := layout.Epoch.UnixMilli() + 1000
	var ms, polls atomic.Int64
	ms.Store(base)
	g.now = func() time.Time { polls.Add(1); return time.UnixMilli(ms.Load()) }

	var prev int64
	for i := range 4 {
		id, err := g.Next(i)
		require.NoError(t, err)
		require.Greater(t, id, prev)
		require.Equal(t, time.UnixMilli(base).UTC(), g.Time(id))
		prev = id
	}

	type result struct {
		id  int64
		err error
	}
	done := make(chan result, 1)
	polls.Store(0)
	go func() {
		id, err := g.Next(4)
		done <- result{id, err}
	}()
	select {
	case r := <-done:
		t.Fatalf("Next returned %v, %v within the exhausted millisecond", r.id, r.err)
	case <-time.After(50 * time.Millisecond):
	}
	require.Greater(t, polls.Load(), int64(1), "Next should poll the clock while it waits")

	ms.Store(base + 1)
	select {
	case r := <-done:
		require.NoError(t, r.err)
		assert.Greater(t, r.id, prev)
		assert.Equal(t, time.UnixMilli(base+1).UTC(), g.Time(r.id))
		assert.Equal(t, int64(0), r.id>>layout.ShardBits&3, "sequence restarts at 0")
		s, _ := g.Shard(r.id)
		assert.Equal(t, 4, s)
	case <-time.After(5 * time.Second):
		t.Fatal("Next still waiting after the clock moved on")
	}
}

func TestIDGeneratorOverflow(t *testing.T) {
	// 20 timestamp bits: the ID space ends 2^20 ms (~17.5 min) after Epoch.
	layout := IDLayout{Epoch: time.Now().Add(-time.Minute), TimestampBits: 20, ShardBits: 40, SequenceBits: 3}
	g, err := NewIDGenerator(layout, 0)
	require.NoError(t, err)
	end := layout.Epoch.UnixMilli() + 1<<20
	var ms, tick atomic.Int64
	ms.Store(end - 1) // the last millisecond the field holds
	g.now = func() time.Time { return time.UnixMilli(ms.Add(tick.Load()) - tick.Load()) }

	var id int64
	for range 8 { // the whole sequence of that millisecond still works
		id, err = g.Next(1<<40 - 1)
		require.NoError(t, err)
	}
	assert.Equal(t, int64(math.MaxInt64), id, "largest ID keeps the sign bit clear")
	assert.Equal(t, time.UnixMilli(end-1).UTC(), g.Time(id))

	tick.Store(1) // the 9th waits for the next millisecond, which does not fit
	_, err = g.Next(0)
	require.ErrorIs(t, err, ErrIDSpaceExhausted)
	assert.True(t, strings.HasPrefix(err.Error(), "grant: "), err.Error())

	tick.Store(0)
	ms.Store(end + 1000)
	_, err = g.Next(0)
	require.ErrorIs(t, err, ErrIDSpaceExhausted)
}

func TestIDGeneratorTimeRoundTrip(t *testing.T) {
	g, err := NewIDGenerator(DefaultIDLayout(), 0)
	require.NoError(t, err)

	before := time.Now()
	id, err := g.Next(3)
	require.NoError(t, err)
	after := time.Now()
	got := g.Time(id)
	assert.False(t, got.Before(before.Truncate(time.Millisecond)), "%v before %v", got, before)
	assert.False(t, got.After(after), "%v after %v", got, after)

	at := time.Date(2031, 5, 17, 8, 30, 12, 345_678_901, time.UTC)
	g.now = func() time.Time { return at }
	id, err = g.Next(3)
	require.NoError(t, err)
	assert.Equal(t, at.Truncate(time.Millisecond), g.Time(id))
	assert.Less(t, at.Sub(g.Time(id)), time.Millisecond)

	for _, bad := range []int64{0, -1, math.MinInt64} {
		assert.True(t, g.Time(bad).IsZero(), "Time(%d)", bad)
		_, ok := g.Shard(bad)
		assert.False(t, ok, "Shard(%d)", bad)
	}
}

func TestIDGeneratorShardOutOfRange(t *testing.T) {
	g, err := NewIDGenerator(DefaultIDLayout(), 0)
	require.NoError(t, err)

	for _, shard := range []int{0, 255} {
		id, err := g.Next(shard)
		require.NoError(t, err)
		s, ok := g.Shard(id)
		assert.True(t, ok)
		assert.Equal(t, shard, s)
	}
	for _, shard := range []int{-1, 256, math.MaxInt, math.MinInt} {
		id, err := g.Next(shard)
		assert.Zero(t, id)
		require.ErrorIs(t, err, ErrInvalidShardIndex)
		var idErr *IDError
		require.True(t, errors.As(err, &idErr))
		assert.Equal(t, shard, idErr.Shard)
		assert.Equal(t, 256, idErr.MaxShards)
		assert.True(t, strings.HasPrefix(err.Error(), "grant: shard index out of range"), err.Error())
		assert.Contains(t, err.Error(), "shard "+strconv.Itoa(shard))
		assert.Contains(t, err.Error(), "256 shards")
	}
}

// BenchmarkIDNext measures one goroutine. With the default layout it is
// bound by the 256 IDs per millisecond cap (≥ 3.9µs/ID); 18 sequence bits
// lift the cap to show the generator's own cost.
func BenchmarkIDNext(b *testing.B) {
	for _, l := range []struct {
		name               string
		shardBits, seqBits uint8
	}{{"layout=41-6-8-8", 8, 8}, {"layout=41-0-18-4", 4, 18}} {
		b.Run(l.name, func(b *testing.B) {
			layout := DefaultIDLayout()
			layout.ShardBits, layout.SequenceBits = l.shardBits, l.seqBits
			layout.WorkerBits = 63 - layout.TimestampBits - l.shardBits - l.seqBits
			g, err := NewIDGenerator(layout, 0)
			require.NoError(b, err)
			mask := 1<<l.shardBits - 1
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := g.Next(i & mask); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkIDNextParallel measures contention on the one atomic word.
func BenchmarkIDNextParallel(b *testing.B) {
	for _, l := range []struct {
		name               string
		shardBits, seqBits uint8
	}{{"layout=41-6-8-8", 8, 8}, {"layout=41-0-18-4", 4, 18}} {
		b.Run(l.name, func(b *testing.B) {
			layout := DefaultIDLayout()
			layout.ShardBits, layout.SequenceBits = l.shardBits, l.seqBits
			layout.WorkerBits = 63 - layout.TimestampBits - l.shardBits - l.seqBits
			g, err := NewIDGenerator(layout, 0)
			require.NoError(b, err)
			mask := 1<<l.shardBits - 1
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if _, err := g.Next(i & mask); err != nil {
						b.Error(err)
						return
					}
					i++
				}
			})
		})
	}
}
