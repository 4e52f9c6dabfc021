// Package reshard grows or shrinks a sharded cluster while the application
// keeps running: it copies the rows whose shard changes, keeps the copies
// current from each shard's own change stream (PostgreSQL logical
// decoding, a trigger-fed changelog on MariaDB), verifies them row by row,
// and switches reads and then writes to the new placement across every
// application instance, with a way back until the workflow completes.
// See docs/resharding.md.
package reshard
