package testdb_test

// testdb's messages redact DSNs through grant's redaction, which reads the
// MySQL driver's DSN form once adapter/mysql is registered: the test
// binary imports the adapters, as the packages using testdb do.
import (
	_ "github.com/grant-go/grant/adapter/mysql"
	_ "github.com/grant-go/grant/adapter/postgres"
)
