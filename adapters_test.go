package grant_test

// The tests open nodes by DSN with the "postgres" and "mysql" adapters:
// grant links no driver itself, so the test binary imports them, as an
// application does.
import (
	_ "github.com/grant-go/grant/adapter/mysql"
	_ "github.com/grant-go/grant/adapter/postgres"
)
