package topology

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
	"gorm.io/plugin/dbresolver"
)

func testNodes(weights ...int) []gorm.ConnPool {
	pools := make([]gorm.ConnPool, len(weights))
	for i, w := range weights {
		pools[i] = &Node{key: string(rune('a' + i)), weight: max(w, 1)}
	}
	return pools
}

func count(t *testing.T, p Policy, pools []gorm.ConnPool, n int) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for i := 0; i < n; i++ {
		seen[p.Resolve(pools).(*Node).key]++
	}
	return seen
}

func TestRoundRobinVisitsEveryNodeEqually(t *testing.T) {
	assert.Equal(t, map[string]int{"a": 100, "b": 100, "c": 100}, count(t, RoundRobinPolicy(), testNodes(1, 1, 1), 300))
}

func TestWeightedSharesMatchWeights(t *testing.T) {
	assert.Equal(t, map[string]int{"a": 100, "b": 300, "c": 600}, count(t, WeightedPolicy(), testNodes(1, 3, 6), 1000))
}

func TestRandomReachesEveryNode(t *testing.T) {
	seen := count(t, RandomPolicy(), testNodes(1, 1, 1), 3000)
	for _, k := range []string{"a", "b", "c"} {
		assert.Greater(t, seen[k], 700, k)
	}
}

func TestLeastInUseSpreadsWhenIdle(t *testing.T) {
	// No pool is open, so every node has zero connections in use: the tie
	// rotates instead of always choosing the first.
	assert.Equal(t, map[string]int{"a": 10, "b": 10}, count(t, LeastInUsePolicy(), testNodes(1, 1), 20))
}

// dbresolver.RoundRobinPolicy mutates a plain int; grant serializes calls to
// policies it did not write, so this is race-free under -race.
func TestForeignPoliciesAreRaceFree(t *testing.T) {
	for name, p := range map[string]Policy{
		"dbresolver.RoundRobinPolicy":       dbresolver.RoundRobinPolicy(),
		"dbresolver.StrictRoundRobinPolicy": dbresolver.StrictRoundRobinPolicy(),
		"dbresolver.RandomPolicy":           dbresolver.RandomPolicy{},
		"grant.RoundRobinPolicy":            RoundRobinPolicy(),
		"grant.WeightedPolicy":              WeightedPolicy(),
		"grant.LeastInUsePolicy":            LeastInUsePolicy(),
	} {
		t.Run(name, func(t *testing.T) {
			guarded := guardPolicy(p)
			pools := testNodes(1, 2, 3)
			var wg sync.WaitGroup
			for g := 0; g < 8; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 1000; i++ {
						require.NotNil(t, guarded.Resolve(pools))
					}
				}()
			}
			wg.Wait()
		})
	}
	_, serialized := guardPolicy(dbresolver.RoundRobinPolicy()).(*serialPolicy)
	assert.True(t, serialized, "a foreign PolicyFunc must be serialized")
	_, serialized = guardPolicy(RoundRobinPolicy()).(*serialPolicy)
	assert.False(t, serialized, "grant's own policies run lock-free")
}
