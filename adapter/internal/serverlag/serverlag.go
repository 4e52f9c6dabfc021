// Package serverlag holds what the adapters share to read replication lag from
// their servers.
package serverlag

import (
	"math"
	"time"
)

// FromSeconds turns a lag the server reports in seconds into a Duration:
// 0 for a negative or NaN report (a replica ahead of a clock, or no
// measure), and the largest Duration for one too large to hold.
func FromSeconds(s float64) time.Duration {
	switch {
	case s <= 0 || math.IsNaN(s):
		return 0
	case s >= math.MaxInt64/float64(time.Second):
		return math.MaxInt64
	}
	return time.Duration(s * float64(time.Second))
}
