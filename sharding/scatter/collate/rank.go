package collate

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Querier is what ranking needs: *sql.DB, *sql.Conn, *sql.Tx and every
// gorm.ConnPool have it.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// ErrNotRanked is wrapped by Rank's errors for values the database could
// not rank exactly (invalid UTF-8, a character the collation's character set
// lacks, a NUL on PostgreSQL), as opposed to errors of the database itself.
var ErrNotRanked = errors.New("values cannot be ranked exactly")

// Rank asks the database for the order of values under c: ranks[i] is the
// dense rank of values[i] (equal under the collation ⇔ equal rank; smaller
// rank sorts first; ranks start at 1). It sends one statement for any
// number of values (MariaDB needs a second one when a value's sort key
// exceeds @@max_sort_length). c must come from this package (LoadTable,
// Lookup or Resolve) and q must be a database of c's dialect with the same
// collations. No values means no query. Rank is safe for concurrent use as
// far as q is.
func Rank(ctx context.Context, q Querier, c Collation, values []string) ([]int64, error) {
	cc, ok := c.(*collation)
	if !ok {
		return nil, fmt.Errorf("collate: Rank: %v is not a collation of package collate", c)
	}
	if len(values) == 0 {
		return []int64{}, nil
	}
	for _, v := range values {
		if !utf8.ValidString(v) {
			return nil, fmt.Errorf("collate: Rank under %s: %s is not valid UTF-8: %w", cc, quoteShort(v), ErrNotRanked)
		}
		if cc.dialect == Postgres && strings.IndexByte(v, 0) >= 0 {
			return nil, fmt.Errorf("collate: Rank under %s: %s holds a NUL, which PostgreSQL text cannot: %w", cc, quoteShort(v), ErrNotRanked)
		}
	}
	arg, err := json.Marshal(values)
	if err != nil {
		return nil, fmt.Errorf("collate: Rank under %s: %w", cc, err)
	}
	switch cc.dialect {
	case Postgres:
		return rankRows(ctx, q, cc, values, pgRankSQL(cc.spec), string(arg))
	case MySQL:
		return mysqlRank(ctx, q, cc, values, string(arg))
	default:
		return rankRows(ctx, q, cc, values, sqliteRankSQL(cc.spec), string(arg))
	}
}

// pgRankSQL ranks the elements of a JSON array of strings, cast to the
// collation's type, under the collation named as a quoted identifier.
func pgRankSQL(s Spec) string {
	var typ string
	switch s.Type {
	case "text", "bpchar", "name":
		typ = "pg_catalog." + s.Type
	default:
		parts := strings.Split(s.Type, ".")
		for i, p := range parts {
			parts[i] = quoteIdent(p)
		}
		typ = strings.Join(parts, ".")
	}
	coll := quoteIdent(s.Name)
	if s.Schema != "" {
		coll = quoteIdent(s.Schema) + "." + coll
	}
	// The value comes back as cast, so that a cast that changes it (name
	// truncates to 63 bytes) is caught rather than ranked.
	return `SELECT j.o, j.v::` + typ + `, dense_rank() OVER (ORDER BY j.v::` + typ + ` COLLATE ` + coll + `)
		FROM json_array_elements_text($1::json) WITH ORDINALITY AS j(v, o)`
}

// sqliteRankSQL is pgRankSQL for SQLite, whose json_each numbers elements
// from 0.
func sqliteRankSQL(s Spec) string {
	return `SELECT key + 1, value, dense_rank() OVER (ORDER BY value COLLATE ` + quoteIdent(s.Name) + `)
		FROM json_each(?)`
}

// mysqlDefaultSortLength is MariaDB's default @@max_sort_length: sort keys
// longer than this many bytes are cut, and so are ties between long values.
const mysqlDefaultSortLength = 1024

// mysqlMaxSortLength bounds the sort key Rank asks MariaDB to build (the
// server's own limit is 8 MiB, and the sort buffer must hold several).
const mysqlMaxSortLength = 1 << 20

// mysqlRank ranks on MariaDB. ORDER BY compares only the first
// @@max_sort_length bytes of each sort key, so the statement also returns
// the length of every weight string: when one is longer than the limit the
// ranks may be wrong, and the statement runs again with a limit that
// covers them all.
func mysqlRank(ctx context.Context, q Querier, cc *collation, values []string, arg string) ([]int64, error) {
	limit := mysqlDefaultSortLength
	for attempt := 0; ; attempt++ {
		ranks, longest, err := mysqlRankOnce(ctx, q, cc, values, arg, limit)
		if err != nil {
			return nil, err
		}
		if longest <= limit {
			return ranks, nil
		}
		if longest > mysqlMaxSortLength || attempt > 0 {
			return nil, fmt.Errorf("collate: Rank under %s: a sort key of %d bytes exceeds %d: %w", cc, longest, mysqlMaxSortLength, ErrNotRanked)
		}
		limit = longest
	}
}

func mysqlRankOnce(ctx context.Context, q Querier, cc *collation, values []string, arg string, limit int) ([]int64, int, error) {
	col := "LONGTEXT CHARACTER SET " + cc.spec.Charset + " COLLATE " + cc.spec.Name
	if strings.EqualFold(cc.spec.Charset, "binary") {
		col = "LONGBLOB"
	}
	settings := fmt.Sprintf("max_sort_length=%d", limit)
	if limit > mysqlDefaultSortLength {
		// Filesort wants room for several keys of the longest length.
		settings += fmt.Sprintf(", sort_buffer_size=%d", 64*(limit+1024))
	}
	query := `SET STATEMENT ` + settings + ` FOR
		SELECT j.o, CONVERT(j.v USING utf8mb4), LENGTH(WEIGHT_STRING(j.v)), DENSE_RANK() OVER (ORDER BY j.v)
		FROM JSON_TABLE(?, '$[*]' COLUMNS (o FOR ORDINALITY, v ` + col + ` PATH '$')) AS j`
	return scanRanks(ctx, q, cc, values, query, arg, true)
}

func rankRows(ctx context.Context, q Querier, cc *collation, values []string, query, arg string) ([]int64, error) {
	ranks, _, err := scanRanks(ctx, q, cc, values, query, arg, false)
	return ranks, err
}

// scanRanks runs a ranking query whose rows are (1-based position, value
// as the database saw it, [length of its weight string,] rank) and checks
// that every value came back unchanged, so that a lossy conversion cannot
// pass for a rank. It returns the longest weight string's length.
func scanRanks(ctx context.Context, q Querier, cc *collation, values []string, query, arg string, withLength bool) ([]int64, int, error) {
	fail := func(err error) ([]int64, int, error) {
		return nil, 0, fmt.Errorf("collate: Rank under %s: %w", cc, err)
	}
	rows, err := q.QueryContext(ctx, query, arg)
	if err != nil {
		return fail(err)
	}
	defer rows.Close()
	ranks := make([]int64, len(values))
	seen, longest := 0, 0
	for rows.Next() {
		var pos int
		var rank int64
		var got sql.NullString
		var length sql.NullInt64
		dest := []any{&pos, &got, &rank}
		if withLength {
			dest = []any{&pos, &got, &length, &rank}
		}
		if err := rows.Scan(dest...); err != nil {
			return fail(err)
		}
		if pos < 1 || pos > len(values) || ranks[pos-1] != 0 {
			return fail(fmt.Errorf("the database returned position %d for %d values", pos, len(values)))
		}
		if !got.Valid || got.String != values[pos-1] {
			return fail(fmt.Errorf("%s came back as %s: %w", quoteShort(values[pos-1]), quoteShort(got.String), ErrNotRanked))
		}
		if withLength && !length.Valid {
			return fail(fmt.Errorf("no weight string for %s: %w", quoteShort(values[pos-1]), ErrNotRanked))
		}
		longest = max(longest, int(length.Int64))
		ranks[pos-1] = rank
		seen++
	}
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	if seen != len(values) {
		return fail(fmt.Errorf("the database ranked %d of %d values", seen, len(values)))
	}
	return ranks, longest, nil
}

// quoteIdent quotes an identifier for PostgreSQL and SQLite.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// quoteShort quotes a value for an error message, cutting long ones.
func quoteShort(v string) string {
	if len(v) <= 64 {
		return strconv.Quote(v)
	}
	return fmt.Sprintf("%q… (%d bytes)", v[:48], len(v))
}
