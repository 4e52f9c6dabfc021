// Package web holds grant's net/http pieces: SessionMiddleware, which gives
// every request a read-your-writes grant.Session kept in a signed cookie
// (the counterpart of Rails' DatabaseSelector); ShardSelector, which picks a
// request's shard (Rails' ShardSelector); and StatusHandler, a status page
// and JSON endpoint showing a plugin's databases, shards, nodes, health and
// pools.
//
// It is a package of its own so that applications without an HTTP server
// do not link it.
package web
