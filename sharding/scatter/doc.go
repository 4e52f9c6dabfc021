// Package scatter runs one SQL statement on several shards in parallel and
// merges their answers into one, so that the caller sees the rows one
// database holding every shard's rows would have returned.
//
// GORM runs a statement on a gorm.ConnPool and scans the *sql.Rows it
// returns; *sql.Rows can only come from a database/sql driver, so scatter is
// a driver: Open returns a *sql.DB whose connections fan each query out to
// the Targets' pools, read every shard's rows, merge them by a Plan and hand
// the merged rows back — with the first shard's column types, so GORM scans
// them exactly as it would scan one database's rows.
//
//	db := scatter.Open(targets, scatter.Plan{
//		OrderBy: []scatter.OrderColumn{{Name: "created_at", Desc: true}, {Name: "id"}},
//		Limit:   20, Offset: 40,
//	})
//	defer db.Close() // does not close the targets' pools
//	rows, err := db.QueryContext(ctx,
//		"SELECT * FROM orders ORDER BY created_at DESC, id LIMIT 60") // Limit+Offset, no OFFSET
//
// # What the caller (the GORM glue) must do
//
// The SQL is sent to every shard as given; scatter does not parse it. The
// caller rewrites it and describes it in the Plan:
//
//   - LIMIT l OFFSET o becomes LIMIT l+o with no OFFSET on the shards, and
//     Plan{Limit: l, Offset: o}. Without a LIMIT, an OFFSET is removed
//     from the SQL and kept in Plan.Offset. LIMIT 0 is sent as LIMIT 0
//     with a zero Plan.Limit: no shard returns a row, nor does the merge.
//   - ORDER BY terms become Plan.OrderBy by result column name, so every
//     ORDER BY expression must be a selected column or alias — or be
//     appended to the shards' SELECT and named in Plan.Drop, which removes
//     it from the merged rows (e.g. Pluck("name") ordered by id). Add the
//     primary key as a last term if the order may tie, or pages may differ
//     from one database's (ties keep shard order). Set Plan.NullsFirst from
//     the dialect (true for MySQL/MariaDB/SQLite, false for PostgreSQL).
//   - Aggregates: COUNT and SUM columns are Sum, MIN is Min, MAX is Max;
//     GROUP BY columns go to GroupBy and must be selected. AVG, COUNT
//     DISTINCT, HAVING, window functions and other aggregates cannot be
//     merged from per-shard results and must be refused (or rewritten: AVG
//     as SUM and COUNT). DISTINCT is GroupBy over every column.
//   - With grouping, LIMIT may be pushed to the shards (as l+o) only when
//     the ORDER BY terms are exactly the GROUP BY columns (in any order and
//     direction); otherwise a shard's top groups are not the global top
//     groups, so send no LIMIT/OFFSET and let the Plan cut.
//   - Exec (UPDATE/DELETE over all shards) sums RowsAffected; there is no
//     transaction (BeginTx fails with ErrNoTransaction), so GORM's default
//     write transaction must be skipped for such statements, and
//     LastInsertId fails (no scattered INSERT).
//
// Ordering of values, NULLs, and how aggregates add are described on Plan
// and Aggregate; errors on ShardError and Open.
package scatter
