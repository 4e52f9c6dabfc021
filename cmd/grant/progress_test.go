package main

import (
	"bytes"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/grant-go/grant/migrator"
)

func TestCutLine(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    string
		width int
		want  string
	}{
		{"fits", "orders/shard1  done", 40, "orders/shard1  done"},
		{"fills all but the last column", "abcd", 5, "abcd"},
		{"one too long", "abcde", 5, "abc…"},
		{"long", "orders/shard1  [####....] 2/4 00002_add_column.sql (3ms)", 20, "orders/shard1  [##…"}, // 18 + …
		{"unknown width", strings.Repeat("x", 300), 0, strings.Repeat("x", 300)},
		{"width 1", "abc", 1, "…"},
		{"width 2", "abc", 2, "…"},
		// Two-byte é and ö, a three-byte ✓ and a four-byte 🚀 near the cut:
		// the cut falls between runes, never inside one.
		{"multi-byte kept whole", "héllo wörld", 8, "héllo …"},
		{"multi-byte at the cut", "ab✓✓✓✓", 5, "ab✓…"},
		{"four-byte at the cut", "🚀🚀🚀🚀🚀", 4, "🚀🚀…"},
		{"multi-byte that fits", "wörld ✓", 8, "wörld ✓"},
		{"line breaks flattened", "FAILED: pq: error\nDETAIL:\tx", 0, "FAILED: pq: error DETAIL: x"},
		{"line breaks flattened, then cut", "FAILED: a\r\nb", 10, "FAILED: …"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := cutLine(tc.in, tc.width)
			if got != tc.want {
				t.Errorf("cutLine(%q, %d) = %q, want %q", tc.in, tc.width, got, tc.want)
			}
			if !utf8.ValidString(got) {
				t.Errorf("cutLine(%q, %d) = %q: not valid UTF-8, a character was split", tc.in, tc.width, got)
			}
			if n := utf8.RuneCountInString(got); tc.width > 1 && n > tc.width-1 {
				t.Errorf("cutLine(%q, %d) has %d runes: more than width-1", tc.in, tc.width, n)
			}
		})
	}
}

// Every redrawn line fits the terminal, whatever the length of its target,
// file name or error, so that moving up one row per line lands on the first.
func TestProgressLiveLinesFitTheTerminal(t *testing.T) {
	const columns = 32
	var out bytes.Buffer
	p := &progress{out: &out, live: true, width: func() int { return columns }, lines: map[string]string{}}
	p.event(migrator.Event{Target: "orders/shard1", Kind: migrator.Started, Total: 2})
	p.event(migrator.Event{Target: "orders/shard2_with_a_long_name", Kind: migrator.Started, Total: 2})
	p.event(migrator.Event{Target: "orders/shard1", Kind: migrator.Applied, Done: 1, Total: 2, Source: "00001_créer_les_commandes.sql"})
	p.event(migrator.Event{Target: "orders/shard2_with_a_long_name", Kind: migrator.Failed, Done: 0, Total: 2,
		Err: errors.New("ERROR: column « note » already exists\nDETAIL: ✗")})

	escape := regexp.MustCompile(`\x1b\[[0-9]*[A-Za-z]`)
	rows := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(rows) != 1+2+2+2 {
		t.Errorf("%d rows written, want 7 (1, 2, 2, 2 per redraw):\n%s", len(rows), out.String())
	}
	for _, row := range rows {
		text := escape.ReplaceAllString(row, "")
		if n := utf8.RuneCountInString(text); n > columns-1 {
			t.Errorf("row %q has %d characters, more than %d", text, n, columns-1)
		}
		if !utf8.ValidString(text) {
			t.Errorf("row %q is not valid UTF-8: a character was split", text)
		}
	}
	if last := escape.ReplaceAllString(rows[len(rows)-1], ""); !strings.HasSuffix(last, "…") {
		t.Errorf("the failed shard's long line should end in …: %q", last)
	}
}

// A log (not a terminal) gets every line whole.
func TestProgressPlainLinesAreNotCut(t *testing.T) {
	var out bytes.Buffer
	p := newProgress(&out)
	long := "00001_" + strings.Repeat("x", 200) + ".sql"
	p.event(migrator.Event{Target: "primary", Kind: migrator.Applied, Done: 1, Total: 1, Source: long})
	if !strings.Contains(out.String(), long) {
		t.Errorf("a plain line was cut: %q", out.String())
	}
}

// Without a terminal to ask, $COLUMNS gives the width.
func TestTerminalWidthFallsBackToColumns(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "not-a-terminal")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	t.Setenv("COLUMNS", "57")
	if got := terminalWidth(f.Fd()); got != 57 {
		t.Errorf("terminalWidth(a file) with COLUMNS=57 = %d, want 57", got)
	}
	t.Setenv("COLUMNS", "")
	if got := terminalWidth(f.Fd()); got != 0 {
		t.Errorf("terminalWidth(a file) without COLUMNS = %d, want 0 (unknown: no cut)", got)
	}
}
