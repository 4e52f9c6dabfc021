package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"

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
	// The refused delete is never sent to any shard: no routed line (one
	// that starts with a route tag) has it; only the refused marker does.
	sent := regexp.MustCompile(`(?m)^\s*\[[^\]]+\] .*$`).FindAllString(out, -1)
	if len(sent) < 18 { // the tour sends 18
		t.Errorf("only %d routed statements in the output, want every statement of the tour", len(sent))
	}
	for _, line := range sent {
		if strings.Contains(line, "DELETE FROM `orders`") {
			t.Errorf("the delete without a shard key reached a shard: %q", line)
		}
		if strings.Contains(line, "mallory") {
			t.Errorf("the write under PreventWrites was sent: %q", line)
		}
	}
	// Each refused statement has a line of its own that says so, with its
	// SQL and grant's error, so that the SELECTs logged around it (which
	// did run) cannot be taken for it.
	for _, want := range []string{
		"✗ refused, never sent: INSERT INTO `users` (`name`) VALUES (\"mallory\") RETURNING `id` — " + grant.ErrReadOnly.Error(),
		"✗ refused, never sent: DELETE FROM `orders` WHERE item = \"x\" — " + grant.ErrShardKeyMissing.Error(),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks the refused marker %q", want)
		}
	}
	// A tour, not a log: no GORM Info lines, no caller file:line, timing or
	// row count before each statement.
	for _, noise := range []*regexp.Regexp{
		regexp.MustCompile(`replacing callback`),
		regexp.MustCompile(`\.go:\d+`),
		regexp.MustCompile(`\[\d+(\.\d+)?ms\]`),
		regexp.MustCompile(`\[rows:`),
	} {
		if m := noise.FindString(out); m != "" {
			t.Errorf("demo output has GORM log noise %q (pattern %s)", m, noise)
		}
	}
	// Short step headings, numbered 1 to the end.
	headings := regexp.MustCompile(`(?m)^ ?(\d+)\. (.*)$`).FindAllStringSubmatch(out, -1)
	if len(headings) < 11 {
		t.Errorf("%d step headings, want at least 11", len(headings))
	}
	for i, h := range headings {
		if h[1] != strconv.Itoa(i+1) {
			t.Errorf("heading %q is step %s, want %d", h[0], h[1], i+1)
		}
		if len(h[2]) > 55 {
			t.Errorf("heading %q is %d characters long: keep headings short (55 at most)", h[2], len(h[2]))
		}
	}
	if t.Failed() {
		t.Logf("demo output:\n%s", out)
	}
}

// The demo's logger prints a statement's SQL, indented, and nothing else:
// GORM's Info and Warn lines (such as "replacing callback ..." when a
// callback is replaced) stay out of the tour.
func TestDemoLoggerPrintsOnlyStatements(t *testing.T) {
	var out bytes.Buffer
	l := newDemoLogger(&out)
	ctx := context.Background()
	l.LogMode(logger.Info).Info(ctx, "replacing callback `%s` from %s\n", "gorm:query", "/x/callbacks.go:164")
	l.Warn(ctx, "removing callback `%s`", "gorm:row")
	l.Trace(ctx, time.Now(), func() (string, int64) { return "[primary/writing] SELECT 1", 1 }, nil)
	l.Trace(ctx, time.Now(), func() (string, int64) { return "", 0 }, nil) // nothing built, nothing sent
	l.Trace(ctx, time.Now(), func() (string, int64) { return "[primary/reading#1] SELECT * FROM `users`", 0 }, gorm.ErrRecordNotFound)
	want := sqlIndent + "[primary/writing] SELECT 1\n" + sqlIndent + "[primary/reading#1] SELECT * FROM `users`\n"
	if out.String() != want {
		t.Errorf("demo logger printed %q, want %q", out.String(), want)
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
