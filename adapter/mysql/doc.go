// Package mysql is grant's MySQL and MariaDB adapter: importing it
// registers the adapter names "mysql" and "mariadb" with grant, through
// go-sql-driver/mysql and GORM's mysql dialector (gorm.io/driver/mysql).
//
//	import _ "github.com/grant-go/grant/adapter/mysql"
//
// grant itself links no database driver, so that a program using only
// MySQL or MariaDB does not carry pgx, and the other way round. Import
// this package once, anywhere in the program (package main is a good
// place), when:
//
//   - a node names the adapter by DSN (NodeConfig.Adapter "mysql" or
//     "mariadb", or adapter: mysql in grant.yml): without it, Use fails
//     with "unknown adapter" and names this import;
//   - or the *gorm.DB grant is installed on, or a node given by
//     NodeConfig.Dialector, is MySQL or MariaDB and uses what only the
//     adapter knows: credentials per connection (password_file,
//     Credentials), strict write prevention (read-only sessions through
//     tx_read_only on MariaDB, transaction_read_only on MySQL), health
//     checks (SHOW SLAVE STATUS / SHOW REPLICA STATUS and MariaDB's GTID
//     position, and which driver errors mean a lost connection, for read
//     failover) or causal consistency (MariaDB GTIDs and
//     MASTER_GTID_WAIT). Without it those fail at Use, naming this import,
//     rather than quietly doing less.
//
// A MySQL topology given entirely by Dialectors, without those features,
// routes without this package.
//
// The adapter opens GORM's mysql dialector from the DSN
// (user:password@tcp(host:3306)/db?parseTime=true) with
// SkipInitializeWithVersion, so that opening a pool asks the server
// nothing: pools open on first use. Credentials go through go-sql-driver's
// BeforeConnect; a login the server refuses (error 1045) is retried with
// fresh credentials. The package also teaches grant's DSN redaction the
// driver's DSN form, so that errors and the status page show
// user:xxxxx@tcp(host)/db; without it such DSNs are hidden whole.
package mysql
