package grant

import (
	"sync"
	"sync/atomic"

	"gorm.io/gorm"

	"github.com/grant-go/grant/callbacks"
)

// Scopes are shared: grant.Role(name), Shard(name), UseDatabase(name) and
// Connect(c) return the same function for the same argument, so that
// db.Scopes(grant.Role(grant.Writing)) allocates nothing per statement
// (making a scope allocates its closure and clause; applying a shared one
// does not). The two standard roles are package values; other names are
// looked up by string, which hashes faster than a whole Connection.

var (
	writingScope = callbacks.ScopeFunc(Connection{Role: Writing})
	readingScope = callbacks.ScopeFunc(Connection{Role: Reading})

	byConnection scopeCache[Connection]
	byRole       scopeCache[string]
	byShard      scopeCache[string]
	byDatabase   scopeCache[string]
)

// maxSharedScopes bounds each cache: names may come from requests, and a
// cache must not grow with them. Beyond it each call makes its own scope.
const maxSharedScopes = 4096

// scopeCache maps a key to its shared scope. It is safe for concurrent use.
type scopeCache[K comparable] struct {
	shared sync.Map // K → func(*gorm.DB) *gorm.DB
	count  atomic.Int64
}

// get returns key's shared scope, made by makeScope the first time.
func (c *scopeCache[K]) get(key K, makeScope func() func(*gorm.DB) *gorm.DB) func(*gorm.DB) *gorm.DB {
	if scope, ok := c.shared.Load(key); ok {
		return scope.(func(*gorm.DB) *gorm.DB)
	}
	scope := makeScope()
	if c.count.Add(1) <= maxSharedScopes {
		shared, _ := c.shared.LoadOrStore(key, scope)
		scope = shared.(func(*gorm.DB) *gorm.DB)
	}
	return scope
}
