// Package postgres is grant's PostgreSQL adapter: importing it registers
// the adapter names "postgres" and "postgresql" with grant, through pgx
// (github.com/jackc/pgx/v5) and GORM's postgres dialector
// (gorm.io/driver/postgres).
//
//	import _ "github.com/grant-go/grant/adapter/postgres"
//
// grant itself links no database driver, so that a program using only
// PostgreSQL does not carry the MySQL driver, and the other way round.
// Import this package once, anywhere in the program (package main is a
// good place), when:
//
//   - a node names the adapter by DSN (NodeConfig.Adapter "postgres" or
//     "postgresql", or adapter: postgres in grant.yml): without it, Use
//     fails with "unknown adapter" and names this import;
//   - or the *gorm.DB grant is installed on, or a node given by
//     NodeConfig.Dialector, is PostgreSQL and uses what only the adapter
//     knows: credentials per connection (password_file, Credentials),
//     strict write prevention (read-only sessions through
//     default_transaction_read_only), health checks (replica lag measured
//     by WAL positions, and which pgx errors mean a lost connection, for
//     read failover) or causal consistency (WAL positions). Without it
//     those fail at Use, naming this import, rather than quietly doing
//     less.
//
// A PostgreSQL topology given entirely by Dialectors, without those
// features, routes without this package.
//
// The adapter opens GORM's postgres dialector from the DSN (a URL,
// postgres://user@host/db, or libpq's key=value form) without connecting:
// pools open on first use. Credentials go through pgx's
// stdlib.OptionBeforeConnect; a login the server refuses (SQLSTATE 28P01
// or 28000) is retried with fresh credentials. To register the adapter
// under another name too (an alias of your own), call
// topology.RegisterAdapter("name", postgres.Adapter{}).
package postgres
