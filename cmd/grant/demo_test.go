package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grant-go/grant"
)

// execute runs the grant command tree in-process with args.
func execute(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&out)
	err := root.Execute()
	return out.String(), err
}

func TestDemoShowsEveryRoute(t *testing.T) {
	out, err := execute(t, "demo")
	if err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out)
	}
	for _, want := range []string{
		"[primary/writing] INSERT INTO `users`",
		"[primary/reading#1] SELECT * FROM `users`",
		"[primary/writing] SELECT * FROM `users`",
		"[analytics/writing] INSERT INTO `events`",
		"[analytics/writing tx] INSERT INTO `events`",
		"stand-in, since SQLite has no replication",
		grant.ErrReadOnly.Error(),
		"errors.Is(err, grant.ErrReadOnly) = true",
		"users on the writer: 1 before, 1 after",
		"primary/reading/1",
		`created table "orders" on the writer of each shard`,
		"[orders/shard2/writing] INSERT INTO `orders` (`customer_id`,`item`) VALUES (1,",
		"[orders/shard1/writing] INSERT INTO `orders` (`customer_id`,`item`) VALUES (2,",
		"[orders/shard2/writing] INSERT INTO `orders` (`customer_id`,`item`) VALUES (3,",
		"[orders/shard1/writing] INSERT INTO `orders` (`customer_id`,`item`) VALUES (4,",
		`grant.Shard("shard1") holds ["lamp" "pen"] (even customers), grant.Shard("shard2") holds ["book" "mug"] (odd customers)`,
		"[orders/shard2/writing] SELECT * FROM `orders` WHERE customer_id = 3",
		`customer 3 ordered ["mug"]`,
		"[orders/*/reading] SELECT *, +(customer_id) AS grant_o1 FROM `orders` ORDER BY customer_id",
		`merged from both shards, ordered by customer_id: ["book" "lamp" "mug" "pen"]`,
		grant.ErrShardKeyMissing.Error(),
		"errors.Is(err, grant.ErrShardKeyMissing) = true",
		"orders on all shards afterwards: 4",
		"orders/shard1/writing/writer",
		"orders/shard2/writing/writer",
		"demo finished",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	// The refused delete is never sent to any shard.
	if strings.Contains(out, "DELETE FROM `orders`") {
		t.Error("the delete without a shard key reached a shard")
	}
	if t.Failed() {
		t.Logf("demo output:\n%s", out)
	}
}

func TestDemoKeepsFilesInDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "kept")
	if out, err := execute(t, "demo", "--dir", dir); err != nil {
		t.Fatalf("demo --dir failed: %v\n%s", err, out)
	}
	for _, name := range []string{"primary.db", "primary_replica.db", "analytics.db", "orders_shard1.db", "orders_shard2.db"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("--dir should keep %s: %v", name, err)
		}
	}
	// A second run must not mix its rows into the kept files.
	out, err := execute(t, "demo", "--dir", dir)
	if err == nil || !strings.Contains(out, "already exists") {
		t.Errorf("second demo in the same --dir: err = %v, want an \"already exists\" error; output:\n%s", err, out)
	}
}

func TestHelp(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, []string{"Usage:", "grant [command]", "demo", "Watch grant route statements"}},
		{[]string{"demo", "--help"}, []string{"Usage:", "grant demo [flags]", "--dir DIR", "stand-in", "orders_shard2.db"}},
		{[]string{"help", "demo"}, []string{"grant demo [flags]"}},
	} {
		out, err := execute(t, tc.args...)
		if err != nil {
			t.Errorf("grant %s: %v", strings.Join(tc.args, " "), err)
			continue
		}
		for _, want := range tc.want {
			if !strings.Contains(out, want) {
				t.Errorf("grant %s: output lacks %q:\n%s", strings.Join(tc.args, " "), want, out)
			}
		}
	}
}

func TestUnknownCommandFails(t *testing.T) {
	if _, err := execute(t, "nope"); err == nil {
		t.Error("grant nope: want an error")
	}
	if _, err := execute(t, "demo", "extra"); err == nil {
		t.Error("grant demo extra: want an error (demo takes no arguments)")
	}
}
