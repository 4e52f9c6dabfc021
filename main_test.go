package grant_test

import (
	"os"
	"testing"

	"github.com/grant-go/grant/internal/testdb"
)

// Most of this package's server tests spend their time waiting on the
// servers: the self-contained ones call t.Parallel, and up to
// testdb.DefaultParallel of them run at once (-parallel overrides it).
// Tests that measure something process-wide (allocations, goroutines, the
// heap), set the environment or a global (otel's meter provider), use a
// replica set (replay is paused server-wide) or time health checks
// tightly stay serial.
func TestMain(m *testing.M) { os.Exit(testdb.MainParallel(m, testdb.DefaultParallel)) }
