package grant

import (
	"sync"
	"sync/atomic"

	"gorm.io/gorm"

	"github.com/grant-go/grant/internal/callbacks"
)

// Scopes are shared: grant.Role(name), Shard(name), UseDatabase(name) and
// Connect(c) return the same function for the same Connection, so that
// db.Scopes(grant.Role(grant.Writing)) allocates nothing per statement
// (making a scope allocates its closure and clause; applying a shared one
// does not). The two standard roles are package values; every other scope
// is kept by its Connection.

var (
	writingScope = callbacks.ScopeFunc(Connection{Role: Writing})
	readingScope = callbacks.ScopeFunc(Connection{Role: Reading})

	sharedScopes scopeCache
)

// maxSharedScopes bounds the cache: names may come from requests, and a
// cache must not grow with them. Beyond it each call makes its own scope.
const maxSharedScopes = 4096

// scopeCache maps a Connection to its shared scope. It is safe for
// concurrent use.
type scopeCache struct {
	shared sync.Map // Connection → func(*gorm.DB) *gorm.DB
	count  atomic.Int64
}

// get returns c's shared scope, made the first time.
func (s *scopeCache) get(c Connection) func(*gorm.DB) *gorm.DB {
	if scope, ok := s.shared.Load(c); ok {
		return scope.(func(*gorm.DB) *gorm.DB)
	}
	scope := callbacks.ScopeFunc(c)
	if s.count.Add(1) <= maxSharedScopes {
		shared, _ := s.shared.LoadOrStore(c, scope)
		scope = shared.(func(*gorm.DB) *gorm.DB)
	}
	return scope
}
