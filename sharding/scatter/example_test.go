package scatter_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"

	_ "github.com/glebarez/go-sqlite" // database/sql driver "sqlite"

	"github.com/grant-go/grant/sharding/scatter"
	"github.com/grant-go/grant/sharding/scatter/collate"
	"github.com/grant-go/grant/sharding/scatter/value"
)

// tableCatalog answers the planner's questions from what collate.LoadTable
// read of a table.
func tableCatalog(table *collate.Table, db collate.Querier, dialect string) scatter.TableCatalog {
	return scatter.TableCatalog{Table: table, Dialect: dialect, Named: func(name string) (collate.Collation, error) {
		return collate.Lookup(context.Background(), db, dialect, name)
	}}
}

// Two SQLite shards answer one page, "ORDER BY amount DESC LIMIT 2 OFFSET
// 1", as one database would: PlanQuery writes what each shard runs (the
// first LIMIT+OFFSET rows, no OFFSET) and the merge that cuts the page.
func ExamplePlanQuery() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "scatter")
	defer os.RemoveAll(dir)
	var targets []scatter.Target
	for i, amounts := range [][]int{{50, 20, 90}, {70, 10, 80}} {
		db, _ := sql.Open("sqlite", filepath.Join(dir, fmt.Sprintf("shard%d.db", i)))
		defer db.Close()
		db.Exec("CREATE TABLE orders (id INTEGER PRIMARY KEY, amount INTEGER)")
		for _, a := range amounts {
			db.Exec("INSERT INTO orders (amount) VALUES (?)", a)
		}
		targets = append(targets, scatter.Target{Name: fmt.Sprintf("orders/shard%d", i), Pool: db})
	}
	table, err := collate.LoadTable(ctx, targets[0].Pool, "sqlite", "orders")
	if err != nil {
		fmt.Println(err)
		return
	}
	catalog := tableCatalog(table, targets[0].Pool, "sqlite")
	questionMarks := func(int) string { return "?" }

	planned, err := scatter.PlanQuery(scatter.Query{
		Env:     value.NewEnv(value.SQLite),
		Catalog: catalog,
		Select:  scatter.SQL{Text: "amount"},
		OrderBy: scatter.SQL{Text: "amount DESC"},
		Limit:   2, Offset: 1,
	})
	if err != nil {
		fmt.Println(err) // a *scatter.Refusal: nothing was sent to a shard
		return
	}
	fmt.Println("each shard runs at most", planned.Shard.Limit, "rows")
	shardSQL := planned.Shard.Statement(scatter.SQL{Text: "FROM orders"}).Bind(questionMarks)

	res := &scatter.Result{}
	db := scatter.Open(&scatter.Statement{Targets: targets, Program: planned.Program, Result: res})
	defer db.Close() // the shards' pools stay open
	rows, err := db.QueryContext(ctx, shardSQL)
	if err != nil {
		fmt.Println(err)
		return
	}
	for rows.Next() {
		var a int
		rows.Scan(&a)
		fmt.Println(a)
	}
	rows.Close() // fills the Result
	// The merge streams: it stopped reading once the page was full, one row
	// short of the six the shards sent.
	fmt.Println("rows read:", res.TotalRows(), "partial:", res.Partial())

	// A sum adds the shards' sums; the filter's value is bound as usual.
	planned, _ = scatter.PlanQuery(scatter.Query{Env: value.NewEnv(value.SQLite), Catalog: catalog,
		Select: scatter.SQL{Text: "SUM(amount) AS total"}, Limit: -1})
	sum := scatter.Open(&scatter.Statement{Targets: targets, Program: planned.Program})
	defer sum.Close()
	tail := scatter.SQL{Text: "FROM orders WHERE amount > \x00", Vars: []any{15}}
	stmt := planned.Shard.Statement(tail)
	var total int
	sum.QueryRowContext(ctx, stmt.Bind(questionMarks), stmt.Vars...).Scan(&total)
	fmt.Println("total:", total)
	// Output:
	// each shard runs at most 3 rows
	// 80
	// 70
	// rows read: 5 partial: false
	// total: 310
}
