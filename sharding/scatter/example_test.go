package scatter_test

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"

	"github.com/grant-go/grant/sharding/scatter"
)

// Two SQLite shards; the page "ORDER BY amount DESC LIMIT 2 OFFSET 1" over
// both is asked of each shard as LIMIT 3 and cut after the merge.
func ExampleOpen() {
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

	res := &scatter.Result{}
	db := scatter.Open(targets, scatter.Plan{
		OrderBy: []scatter.OrderColumn{{Name: "amount", Desc: true}},
		Limit:   2, Offset: 1,
		Result: res,
	})
	defer db.Close() // the shards' pools stay open
	rows, err := db.Query("SELECT amount FROM orders ORDER BY amount DESC LIMIT 3")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var a int
		rows.Scan(&a)
		fmt.Println(a)
	}
	fmt.Println("rows read:", res.TotalRows(), "partial:", res.Partial())

	var total int
	sum := scatter.Open(targets, scatter.Plan{Aggregates: map[string]scatter.Aggregate{"total": scatter.Sum}})
	defer sum.Close()
	sum.QueryRow("SELECT SUM(amount) AS total FROM orders").Scan(&total)
	fmt.Println("total:", total)
	// Output:
	// 80
	// 70
	// rows read: 6 partial: false
	// total: 320
}
