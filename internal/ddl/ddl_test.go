package ddl_test

import (
	"context"
	"database/sql"
	"sync"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant/internal/ddl"
	"github.com/grant-go/grant/internal/testdb"
)

// Processes that create the same tables at once all succeed. Plain
// CREATE TABLE IF NOT EXISTS on PostgreSQL fails some of them
// (pg_type_typname_nsp_index), which is how a CLI status polling beside
// start failed.
func TestCreateTablesConcurrently(t *testing.T) {
	for _, b := range []*testdb.Backend{testdb.Postgres(t), testdb.MariaDB(t)} {
		t.Run(b.Name, func(t *testing.T) {
			for round := range 20 {
				d := b.CreateDatabase(t, "ddl")
				driver, dialect := "pgx", "postgres"
				if b.Name == testdb.NameMariaDB {
					driver, dialect = "mysql", "mysql"
				}
				db, err := sql.Open(driver, d.DirectDSN)
				require.NoError(t, err)
				var wg sync.WaitGroup
				errs := make([]error, 8)
				for i := range errs {
					wg.Go(func() {
						errs[i] = ddl.CreateTables(context.Background(), db, dialect,
							"CREATE TABLE IF NOT EXISTS a (id INT PRIMARY KEY)", "CREATE TABLE IF NOT EXISTS b (id INT PRIMARY KEY)")
					})
				}
				wg.Wait()
				for _, err := range errs {
					assert.NoError(t, err, "round %d", round)
				}
				_ = db.Close()
			}
		})
	}
}
