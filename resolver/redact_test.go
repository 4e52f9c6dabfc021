package resolver

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRedactDSN(t *testing.T) {
	cases := map[string]string{
		"postgres://alice:s3cret@db.example:5432/app?sslmode=disable":     "postgres://alice:xxxxx@db.example:5432/app?sslmode=disable",
		"postgresql://alice@db/app?password=s3cret":                       "postgresql://alice@db/app?password=xxxxx",
		"host=db user=alice password=s3cret dbname=app":                   "host=db user=alice password=xxxxx dbname=app",
		"host=db user=alice password='s3 cret' dbname=app":                "host=db user=alice password='xxxxx' dbname=app",
		"alice:s3cret@tcp(127.0.0.1:3306)/app?parseTime=true":             "alice:xxxxx@tcp(127.0.0.1:3306)/app?parseTime=true",
		"root@tcp(127.0.0.1:3306)/test":                                   "root@tcp(127.0.0.1:3306)/test",
		"file:/tmp/x.db?_pragma=busy_timeout(5000)":                       "file:/tmp/x.db?_pragma=busy_timeout(5000)",
		"sqlserver://sa:s3cret@localhost:1433?database=app":               "sqlserver://sa:xxxxx@localhost:1433?database=app",
		"host=db PASSWORD=s3cret":                                         "host=db PASSWORD=xxxxx",
		"weird thing with password but no structure we know: password:s3": "<dsn redacted>",
	}
	for in, want := range cases {
		got := RedactDSN(in)
		assert.Equal(t, want, got, in)
		assert.NotContains(t, got, "s3cret")
	}
}
