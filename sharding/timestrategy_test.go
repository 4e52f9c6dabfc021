package sharding

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func utc(y int, m time.Month, d, h int) time.Time { return time.Date(y, m, d, h, 0, 0, 0, time.UTC) }

func TestTimeIntervalMap(t *testing.T) {
	eight := fuzzShards(7)
	cases := []struct {
		name string
		cfg  TimeIntervalConfig
		at   time.Time
		want string // "" = ErrNoShardForKey
	}{
		{"monthly start", TimeIntervalConfig{Start: t2024, Every: Monthly}, t2024, "s0"},
		{"monthly last ns of jan", TimeIntervalConfig{Start: t2024, Every: Monthly}, utc(2024, 2, 1, 0).Add(-1), "s0"},
		{"monthly feb", TimeIntervalConfig{Start: t2024, Every: Monthly}, utc(2024, 2, 1, 0), "s1"},
		{"monthly aug", TimeIntervalConfig{Start: t2024, Every: Monthly}, utc(2024, 8, 20, 0), "s7"},
		{"monthly past end", TimeIntervalConfig{Start: t2024, Every: Monthly}, utc(2024, 9, 1, 0), ""},
		{"monthly wrap", TimeIntervalConfig{Start: t2024, Every: Monthly, Wrap: true}, utc(2024, 9, 1, 0), "s0"},
		{"monthly wrap next year", TimeIntervalConfig{Start: t2024, Every: Monthly, Wrap: true}, utc(2025, 2, 3, 0), "s5"},
		{"before start", TimeIntervalConfig{Start: t2024, Every: Monthly, Wrap: true}, t2024.Add(-1), ""},
		{"monthly mid-month start", TimeIntervalConfig{Start: utc(2024, 1, 15, 12), Every: Monthly}, utc(2024, 2, 15, 11), "s0"},
		{"monthly mid-month start next", TimeIntervalConfig{Start: utc(2024, 1, 15, 12), Every: Monthly}, utc(2024, 2, 15, 12), "s1"},
		{"monthly start day 28 in feb", TimeIntervalConfig{Start: utc(2024, 1, 28, 0), Every: Monthly}, utc(2024, 2, 29, 0), "s1"},
		{"zone of key ignored", TimeIntervalConfig{Start: t2024, Every: Monthly}, time.Date(2024, 2, 1, 0, 30, 0, 0, time.FixedZone("CET", 3600)), "s0"},
		{"zone of start ignored", TimeIntervalConfig{Start: time.Date(2024, 1, 1, 1, 0, 0, 0, time.FixedZone("CET", 3600)), Every: Monthly}, t2024, "s0"},
		{"daily", TimeIntervalConfig{Start: t2024, Every: Daily}, utc(2024, 1, 3, 23), "s2"},
		{"daily leap day", TimeIntervalConfig{Start: utc(2024, 2, 28, 0), Every: Daily}, utc(2024, 3, 1, 0), "s2"},
		{"weekly", TimeIntervalConfig{Start: t2024, Every: Weekly}, utc(2024, 1, 15, 0), "s2"},
		{"weekly just before", TimeIntervalConfig{Start: t2024, Every: Weekly}, utc(2024, 1, 15, 0).Add(-1), "s1"},
		{"yearly", TimeIntervalConfig{Start: t2024, Every: Yearly}, utc(2027, 12, 31, 23), "s3"},
		{"yearly mid-year start", TimeIntervalConfig{Start: utc(2024, 7, 1, 0), Every: Yearly}, utc(2025, 6, 30, 0), "s0"},
		{"every 6h", TimeIntervalConfig{Start: t2024, Every: Every(6 * time.Hour)}, utc(2024, 1, 2, 13), "s6"},
		{"every 6h wrap", TimeIntervalConfig{Start: t2024, Every: Every(6 * time.Hour), Wrap: true}, utc(2024, 1, 3, 1), "s0"},
		{"explicit shards", TimeIntervalConfig{Start: t2024, Every: Yearly, Shards: []string{"s7", "s3", "s3"}}, utc(2026, 5, 1, 0), "s3"},
		{"explicit shards past end", TimeIntervalConfig{Start: t2024, Every: Yearly, Shards: []string{"s7", "s3"}}, utc(2026, 5, 1, 0), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := TimeInterval(c.cfg)
			assert.Equal(t, "time", st.Name())
			require.NoError(t, st.Validate(eight))
			got, err := st.Map(context.Background(), eight, []Key{TimeKey(c.at)})
			if c.want == "" {
				require.ErrorIs(t, err, ErrNoShardForKey)
				var ke *KeyError
				require.ErrorAs(t, err, &ke)
				assert.Equal(t, "time", ke.Strategy)
				assert.Equal(t, TimeKey(c.at).String(), ke.Key)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, []string{c.want}, got)
		})
	}
}

// Keys more than 292 years from Start (beyond time.Duration) still get the
// exact interval.
func TestTimeIntervalFarFromStart(t *testing.T) {
	eight := fuzzShards(7)
	st := TimeInterval(TimeIntervalConfig{Start: t2024, Every: Every(time.Hour), Wrap: true})
	for _, at := range []time.Time{utc(9999, 1, 1, 0), utc(2316, 5, 6, 7), utc(123456, 1, 1, 5).Add(30 * time.Minute)} {
		hours := (at.Unix() - t2024.Unix()) / 3600
		got, err := st.Map(context.Background(), eight, []Key{TimeKey(at)})
		require.NoError(t, err)
		assert.Equal(t, eight[hours%8], got[0], "%v", at)
	}
	for _, at := range []time.Time{utc(1, 1, 1, 0), time.Unix(math.MinInt64, 0), utc(1700, 1, 1, 0)} {
		_, err := st.Map(context.Background(), eight, []Key{TimeKey(at)})
		require.ErrorIs(t, err, ErrNoShardForKey, "%v", at)
	}
	for _, iv := range []Interval{Daily, Monthly, Yearly, Every(1)} {
		st := TimeInterval(TimeIntervalConfig{Start: t2024, Every: iv, Wrap: true})
		for _, sec := range []int64{math.MaxInt64, math.MinInt64, math.MaxInt64 / 2, 1 << 40, -1 << 40} {
			out, err := st.Map(context.Background(), eight, []Key{TimeKey(time.Unix(sec, 999999999))})
			if err == nil {
				assert.Contains(t, eight, out[0])
			} else {
				assert.ErrorIs(t, err, ErrNoShardForKey)
			}
		}
	}
}

func TestTimeIntervalErrors(t *testing.T) {
	st := TimeInterval(TimeIntervalConfig{Start: t2024, Every: Monthly})
	for _, k := range []Key{IntKey(1), StringKey("2024-01-01")} {
		_, err := st.Map(context.Background(), fourShards, []Key{k})
		require.ErrorIs(t, err, ErrKeyType)
		assert.Contains(t, err.Error(), "time needs time keys")
	}
	_, err := st.Map(context.Background(), fourShards, []Key{{}})
	require.ErrorIs(t, err, ErrNullKey)
	_, err = st.Map(context.Background(), fourShards, []Key{TimeKey(utc(2023, 12, 31, 23))})
	assert.ErrorContains(t, err, "before Start 2024-01-01T00:00:00Z")
	_, err = st.Map(context.Background(), fourShards, []Key{TimeKey(utc(2024, 5, 1, 0))})
	assert.ErrorContains(t, err, "monthly interval 4 from Start 2024-01-01T00:00:00Z but only 4 shards are configured")

	cases := []struct {
		name string
		cfg  TimeIntervalConfig
		msg  string
	}{
		{"no start", TimeIntervalConfig{Every: Daily}, "Start is not set"},
		{"no interval", TimeIntervalConfig{Start: t2024}, "Every is not set"},
		{"negative every", TimeIntervalConfig{Start: t2024, Every: Every(-time.Hour)}, "Every is not set"},
		{"bogus interval", TimeIntervalConfig{Start: t2024, Every: Interval(-42)}, "Every is not set"},
		{"monthly on 29th", TimeIntervalConfig{Start: utc(2024, 1, 29, 0), Every: Monthly}, "day 1 to 28"},
		{"yearly on feb 29", TimeIntervalConfig{Start: utc(2024, 2, 29, 0), Every: Yearly}, "February 29"},
		{"unknown shard", TimeIntervalConfig{Start: t2024, Every: Daily, Shards: []string{"s0", "x"}}, `unknown shard "x"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := TimeInterval(c.cfg).Validate(fourShards)
			require.ErrorIs(t, err, ErrInvalidStrategy)
			assert.Contains(t, err.Error(), "invalid time strategy: ")
			assert.Contains(t, err.Error(), c.msg)
		})
	}
	// explicit shards that the cluster passed to Map lacks
	_, err = TimeInterval(TimeIntervalConfig{Start: t2024, Every: Daily, Shards: []string{"x"}}).Map(context.Background(), fourShards, []Key{TimeKey(t2024)})
	require.ErrorIs(t, err, ErrNoShardForKey)
}

func TestIntervalString(t *testing.T) {
	for iv, s := range map[Interval]string{Daily: "daily", Weekly: "weekly", Monthly: "monthly", Yearly: "yearly", Every(90 * time.Minute): "every 1h30m0s", 0: "invalid", Every(0): "invalid"} {
		assert.Equal(t, s, iv.String())
	}
}

// TimeInterval copies Shards.
func TestTimeIntervalIsImmutable(t *testing.T) {
	shards := []string{"s1", "s2"}
	st := TimeInterval(TimeIntervalConfig{Start: t2024, Every: Daily, Shards: shards})
	shards[0] = "s3"
	got, err := st.Map(context.Background(), fourShards, []Key{TimeKey(t2024)})
	require.NoError(t, err)
	assert.Equal(t, []string{"s1"}, got)
}

func FuzzTimeInterval(f *testing.F) {
	for _, s := range []struct {
		i int64
		s string
		n uint8
	}{{0, "", 0}, {1704067200, "x", 1}, {-1, "", 7}, {math.MaxInt64, "", 63}, {math.MinInt64, "", 255}, {1706745600, "", 12}} {
		f.Add(s.i, s.s, s.n)
	}
	f.Fuzz(func(t *testing.T, sec int64, s string, n uint8) {
		shards := fuzzShards(n)
		at := TimeKey(time.Unix(sec, int64(len(s))*1e6))
		for _, iv := range []Interval{Daily, Weekly, Monthly, Yearly, Every(time.Duration(n)*time.Minute + 1)} {
			for _, wrap := range []bool{false, true} {
				st := TimeInterval(TimeIntervalConfig{Start: t2024, Every: iv, Wrap: wrap})
				require.NoError(t, st.Validate(shards))
				a, errA := st.Map(context.Background(), shards, []Key{at})
				b, errB := st.Map(context.Background(), shards, []Key{at})
				require.Equal(t, errA, errB)
				require.Equal(t, a, b)
				if errA != nil {
					require.ErrorIs(t, errA, ErrNoShardForKey)
					far := (iv == Monthly || iv == Yearly) && at.i >= 1<<62
					require.True(t, !wrap || far || at.Compare(TimeKey(t2024)) < 0, "wrap fails only before Start: %v", errA)
					continue
				}
				require.Contains(t, shards, a[0])
				require.GreaterOrEqual(t, at.Compare(TimeKey(t2024)), 0)
			}
		}
	})
}
