package scatter_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant/sharding/scatter"
)

// bigShards is 4 SQLite shards of perShard rows each: shard i holds the
// ids i, i+4, i+8, …
func bigShards(t *testing.T, perShard int) []scatter.Target {
	var ts []scatter.Target
	for i := range 4 {
		db := openSQLite(t, fmt.Sprintf("big%d", i), "CREATE TABLE big (id INTEGER PRIMARY KEY, v INTEGER)",
			fmt.Sprintf(`INSERT INTO big (id, v) WITH RECURSIVE n(x) AS (SELECT 0 UNION ALL SELECT x+1 FROM n WHERE x < %d)
				SELECT x*4+%d, (x*7919) %% 1000 FROM n`, perShard-1, i))
		ts = append(ts, scatter.Target{Name: fmt.Sprintf("big/shard%d", i), Pool: db})
	}
	return ts
}

// TestStreamsInOrder: Rows() over 4 shards × 20,000 rows ordered by id
// returns every row in order, reading each shard's rows only as the merge
// needs them: after half the rows, each shard has been read about halfway
// (one row ahead at most), not to its end.
func TestStreamsInOrder(t *testing.T) {
	const perShard = 20_000
	ts := bigShards(t, perShard)
	cat := columnCatalog{"id": nil, "v": nil}
	p, err := planIn(sqliteEnv, query{Select: "id, v", From: "big", OrderBy: "id"}, cat)
	require.NoError(t, err)
	require.True(t, p.Program.Streamable)
	res := &scatter.Result{}
	db := scatter.Open(&scatter.Statement{Targets: ts, Program: p.Program, Result: res})
	defer db.Close()

	rows, err := db.Query(p.sql)
	require.NoError(t, err)
	cols, err := rows.Columns()
	require.NoError(t, err)
	assert.Equal(t, []string{"id", "v"}, cols)
	next := int64(0)
	for rows.Next() {
		var id, v int64
		require.NoError(t, rows.Scan(&id, &v))
		if id != next {
			require.Equal(t, next, id, "rows out of order")
		}
		next++
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	assert.Equal(t, int64(4*perShard), next)
	assert.Equal(t, 4*perShard, res.TotalRows())
	for _, n := range res.RowCounts() {
		assert.Equal(t, perShard, n)
	}

	// Half the rows, then Close: the Result counts what each shard was read.
	rows, err = db.Query(p.sql)
	require.NoError(t, err)
	const half = 2 * perShard
	for range half {
		require.True(t, rows.Next())
	}
	require.NoError(t, rows.Close())
	counts := res.RowCounts()
	require.Len(t, counts, 4)
	for name, n := range counts {
		assert.LessOrEqual(t, n, perShard/2+1, "%s was read past what the merge needed", name)
	}
	assert.LessOrEqual(t, res.TotalRows(), half+4, "the merge holds one row per shard")
}
