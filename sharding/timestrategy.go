package sharding

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"time"
)

// Interval is the length of one time interval of a TimeInterval strategy:
// one of the calendar constants or Every(d).
type Interval int64

// Calendar intervals, in UTC. Daily and Weekly are 24 h and 7×24 h from
// Start (UTC has no daylight saving time); Monthly and Yearly step the
// calendar month or year of Start, keeping its day and time of day.
const (
	Daily   Interval = -1 - iota // 24 h
	Weekly                       // 7 × 24 h
	Monthly                      // calendar month; Start's day must be 1..28
	Yearly                       // calendar year; Start must not be February 29
)

// Every returns a fixed-length interval of d. d must be positive; Every(d)
// for d <= 0 returns the invalid zero Interval, which Validate rejects.
func Every(d time.Duration) Interval {
	if d <= 0 {
		return 0
	}
	return Interval(d)
}

// String returns "daily", "weekly", "monthly", "yearly", "every <d>" or "invalid".
func (iv Interval) String() string {
	switch {
	case iv == Daily:
		return "daily"
	case iv == Weekly:
		return "weekly"
	case iv == Monthly:
		return "monthly"
	case iv == Yearly:
		return "yearly"
	case iv > 0:
		return "every " + time.Duration(iv).String()
	}
	return "invalid"
}

// duration returns the fixed length of Daily, Weekly and Every intervals.
func (iv Interval) duration() time.Duration {
	switch {
	case iv == Daily:
		return 24 * time.Hour
	case iv == Weekly:
		return 7 * 24 * time.Hour
	case iv > 0:
		return time.Duration(iv)
	}
	return 0
}

// TimeIntervalConfig configures TimeInterval.
type TimeIntervalConfig struct {
	Start  time.Time // start of interval 0 (used in UTC); required
	Every  Interval  // interval length; required
	Shards []string  // shard of interval n is Shards[n]; default: the cluster's shards in order. Names may repeat.
	Wrap   bool      // intervals past the last shard start over at Shards[0] (n mod len)
}

// TimeInterval places a Time key in interval n = the number of whole
// intervals between Start and the key, on Shards[n]. Keys before Start, and
// (unless Wrap) keys at or after the end of the last interval, fail with
// ErrNoShardForKey; keys of other kinds fail with ErrKeyType. Validate
// rejects a zero Start, an invalid Interval, a Monthly Start after day 28, a
// Yearly Start on February 29, and Shards naming unknown shards. The returned
// value is immutable and safe for concurrent use.
func TimeInterval(cfg TimeIntervalConfig) Strategy {
	cfg.Start = cfg.Start.UTC()
	cfg.Shards = append([]string(nil), cfg.Shards...)
	return timeStrategy{cfg: cfg, start: TimeKey(cfg.Start)}
}

type timeStrategy struct {
	cfg   TimeIntervalConfig
	start Key
}

func (timeStrategy) Name() string { return "time" }

func (t timeStrategy) problem() string {
	c := t.cfg
	switch {
	case c.Start.IsZero():
		return "Start is not set"
	case c.Start.Unix() <= -1<<62 || c.Start.Unix() >= 1<<62:
		return "Start is out of range"
	case c.Every != Daily && c.Every != Weekly && c.Every != Monthly && c.Every != Yearly && c.Every <= 0:
		return "Every is not set (use Daily, Weekly, Monthly, Yearly or Every(d) with d > 0)"
	case c.Every == Monthly && c.Start.Day() > 28:
		return fmt.Sprintf("monthly intervals need a Start on day 1 to 28 of a month (every month must have that day), got %s", c.Start.Format(time.RFC3339))
	case c.Every == Yearly && c.Start.Month() == time.February && c.Start.Day() == 29:
		return "yearly intervals cannot start on February 29"
	}
	return ""
}

func (t timeStrategy) Validate(shards []string) error {
	if p := t.problem(); p != "" {
		return &StrategyError{Strategy: "time", Problem: p}
	}
	if err := validateShards("time", shards); err != nil {
		return err
	}
	for _, s := range t.cfg.Shards {
		if shardIndex(shards, s) < 0 {
			return unknownShard("time", s, shards)
		}
	}
	return nil
}

func (t timeStrategy) Map(_ context.Context, shards []string, keys []Key) ([]string, error) {
	if p := t.problem(); p != "" {
		return nil, &StrategyError{Strategy: "time", Problem: p}
	}
	if len(shards) == 0 {
		return nil, noShards("time")
	}
	targets := t.cfg.Shards
	if len(targets) == 0 {
		targets = shards
	}
	out := make([]string, len(keys))
	for i, k := range keys {
		if k.kind != KindTime {
			return nil, wrongKind("time", k, "time")
		}
		n, mod := t.index(k, len(targets))
		switch {
		case n < 0:
			return nil, keyError("time", k, fmt.Errorf("%w: the key is before Start %s", ErrNoShardForKey, t.cfg.Start.Format(time.RFC3339Nano)))
		case n >= int64(len(targets)) && !t.cfg.Wrap:
			return nil, keyError("time", k, fmt.Errorf("%w: the key is in %s interval %d from Start %s but only %d shards are configured",
				ErrNoShardForKey, t.cfg.Every, n, t.cfg.Start.Format(time.RFC3339Nano), len(targets)))
		}
		if mod < 0 {
			return nil, keyError("time", k, fmt.Errorf("%w: the key is too far from Start for %s intervals", ErrNoShardForKey, t.cfg.Every))
		}
		s := targets[mod]
		if len(t.cfg.Shards) > 0 && shardIndex(shards, s) < 0 {
			return nil, keyError("time", k, fmt.Errorf("%w: interval %d names shard %s, which the cluster lacks", ErrNoShardForKey, n, quote(s)))
		}
		out[i] = s
	}
	return out, nil
}

// index returns the interval index n of k (saturated to the int64 range) and
// n mod l (meaningful when n >= 0; -1 when unknown, for calendar intervals
// more than 146 billion years after Start).
func (t timeStrategy) index(k Key, l int) (n int64, mod int) {
	switch t.cfg.Every {
	case Monthly, Yearly:
		// Calendar arithmetic is exact for |Unix seconds| < 2^62 (±146
		// billion years); beyond, only the side of Start is known.
		const far = 1 << 62
		if k.i <= -far || k.i >= far {
			if k.i < 0 {
				return -1, 0
			}
			return math.MaxInt64, -1
		}
		kt, s := k.Time(), t.cfg.Start
		var step func(n int) time.Time
		var m int64
		if t.cfg.Every == Monthly {
			m = int64(kt.Year()-s.Year())*12 + int64(kt.Month()-s.Month())
			step = func(n int) time.Time { return s.AddDate(0, n, 0) }
		} else {
			m = int64(kt.Year() - s.Year())
			step = func(n int) time.Time { return s.AddDate(n, 0, 0) }
		}
		if kt.Before(step(int(m))) {
			m--
		}
		return m, int(((m % int64(l)) + int64(l)) % int64(l))
	}
	d := int64(t.cfg.Every.duration())
	ds, dn := k.i-t.start.i, int64(k.nsec)-int64(t.start.nsec)
	overflow := (k.i >= 0) != (t.start.i >= 0) && (ds >= 0) != (k.i >= 0)
	const lim = 9e9 // |ds| below this: ds*1e9 + dn fits in an int64
	if !overflow && ds > -lim && ds < lim {
		diff := ds*1e9 + dn
		q := diff / d
		if diff%d != 0 && diff < 0 {
			q-- // floor, not truncation
		}
		return q, int(((q % int64(l)) + int64(l)) % int64(l))
	}
	// Far from Start: exact arithmetic.
	diff := new(big.Int).Sub(big.NewInt(k.i), big.NewInt(t.start.i))
	diff.Mul(diff, big.NewInt(1e9))
	diff.Add(diff, big.NewInt(dn))
	q := new(big.Int).Div(diff, big.NewInt(d)) // Euclidean division: floor for d > 0
	mod = int(new(big.Int).Mod(q, big.NewInt(int64(l))).Int64())
	if !q.IsInt64() {
		if q.Sign() < 0 {
			return -1, mod
		}
		return 1<<63 - 1, mod
	}
	return q.Int64(), mod
}
