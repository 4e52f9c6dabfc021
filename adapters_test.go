package grant_test

// The tests open nodes by DSN with the "postgres" and "mysql" adapters and
// run statements on every shard: grant links no driver and no
// scatter-gather engine itself, so the test binary imports them, as an
// application does.
import (
	_ "github.com/grant-go/grant/adapter/mysql"
	_ "github.com/grant-go/grant/adapter/postgres"
	_ "github.com/grant-go/grant/sharding/scatter/engine"
)
