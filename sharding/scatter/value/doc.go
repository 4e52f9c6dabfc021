// Package value holds SQL values as the scatter-gather merge computes with
// them, and each dialect's rules for computing with them.
//
// The merge folds shards' partial aggregates and then evaluates, in Go,
// expressions over the merged values (SUM(x) / COUNT(x), HAVING
// predicates, AVG from SUM and COUNT). What it computes must be exactly
// what one database holding every row would have returned: the same
// value, of the same SQL type, handed over as the same Go type by the
// same driver, and the same errors. So every value carries its SQL type,
// and every operation applies the rules of one Dialect:
//
//   - PostgreSQL 15 through pgx's database/sql driver,
//   - MariaDB 10.11 (and MySQL) through go-sql-driver/mysql,
//   - SQLite through the pure-Go glebarez/sqlite driver.
//
// MariaDB's decimals hold more digits than they show: a quotient (and
// AVG) keeps whole 9-digit words of fractional digits, later arithmetic
// computes with all of them, and the server rounds them half up to the
// declared scale only when it sends the value or compares it with an
// operator. A Value does the same (see Compare and CompareExact):
// AVG(x) * 2 is 24.6667 when AVG(x) shows 12.3333, and (2/3)*3 = 2 is
// true.
//
// Where this package does not reproduce a server's semantics for some
// combination of types, it returns an error wrapping ErrUnsupported and
// never a guess: the caller refuses the query instead of answering it
// wrongly. Errors the server would raise (integer out of range, division
// by zero) wrap ErrArithmetic and read like the server's message.
//
// The rules are tested against the real servers by differential tests that
// run thousands of random operations on each and compare value and Go type.
package value
