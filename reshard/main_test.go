package reshard

import (
	"os"
	"testing"

	"github.com/grant-go/grant/internal/testdb"
)

// The throw-away server databases are dropped behind the tests, and the
// tests that call t.Parallel run up to testdb.DefaultParallel at once
// (see testdb.MainParallel).
func TestMain(m *testing.M) { os.Exit(testdb.MainParallel(m, testdb.DefaultParallel)) }
