package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

func TestPlural(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{{0, "0 clusters"}, {1, "1 cluster"}, {2, "2 clusters"}, {11, "11 clusters"}} {
		if got := plural(tc.n, "cluster", "clusters"); got != tc.want {
			t.Errorf("plural(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
	if got := plural(int64(1), "event", "events"); got != "1 event" {
		t.Errorf("plural(int64(1)) = %q", got)
	}
}

// The counts "grant status" prints read right in the singular and the
// plural. SQLite files: no server needed.
func TestStatusFooterCounts(t *testing.T) {
	for _, tc := range []struct {
		name, yml, want string
	}{
		{"one of each", `databases:
  primary:
    adapter: sqlite
    dsn: "%[1]s/primary.db"
clusters:
  orders:
    adapter: sqlite
    shards:
      - name: shard1
        dsn: "%[1]s/shard1.db"
`, "grant status: 1 database, 1 cluster (1 shard), 2 nodes\n"},
		{"several", `databases:
  primary:
    adapter: sqlite
    dsn: "%[1]s/primary.db"
    replicas:
      - name: replica1
        dsn: "%[1]s/replica1.db"
  analytics:
    adapter: sqlite
    dsn: "%[1]s/analytics.db"
`, "grant status: 2 databases, 0 clusters (0 shards), 3 nodes\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			config := filepath.Join(dir, "grant.yml")
			writeFile(t, config, fmt.Sprintf(tc.yml, dir))
			out, err := execute(t, "status", "--config", config)
			if err != nil {
				t.Fatalf("grant status: %v\n%s", err, out)
			}
			if !strings.HasSuffix(out, tc.want) {
				t.Errorf("grant status ends with %q, want %q; output:\n%s", lastLine(out), tc.want, out)
			}
		})
	}
}

// The unreachable count names its total in the right number.
func TestStatusUnreachableCount(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "grant.yml")
	// The replica's directory does not exist: SQLite cannot open its file.
	writeFile(t, config, fmt.Sprintf(`databases:
  primary:
    adapter: sqlite
    dsn: "%[1]s/primary.db"
    replicas:
      - name: replica1
        dsn: "%[1]s/missing/replica1.db"
`, dir))
	out, err := execute(t, "status", "--config", config)
	if err == nil {
		t.Fatalf("grant status with a missing replica file: want an error; output:\n%s", out)
	}
	if want := "1 of 2 nodes unreachable"; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1] + "\n"
}
