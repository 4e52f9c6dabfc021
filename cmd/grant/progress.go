package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/mattn/go-isatty"

	"github.com/grant-go/grant/migrator"
)

// progress shows migration events: on a terminal, one line per database or
// shard, redrawn in place as its migrations run; otherwise (a pipe, a CI
// log) one plain line per event, so the log reads top to bottom.
//
// A live line is cut to the terminal's width: a line that wrapped would take
// two rows, and the redraw, which moves the cursor up one row per line,
// would then overwrite the wrong ones.
type progress struct {
	mu    sync.Mutex
	out   io.Writer
	live  bool
	width func() int        // the terminal's columns, asked at each redraw (it may be resized); 0: unknown
	order []string          // targets in the order they started
	lines map[string]string // target → its current line
	drawn int               // lines on screen from the last redraw
}

func newProgress(out io.Writer) *progress {
	p := &progress{out: out, lines: map[string]string{}}
	if f, ok := out.(*os.File); ok && isatty.IsTerminal(f.Fd()) && os.Getenv("TERM") != "dumb" {
		p.live = true
		p.width = func() int { return terminalWidth(f.Fd()) }
	}
	return p
}

// terminalWidth is the number of columns of the terminal on fd, or of
// $COLUMNS when the terminal does not say; 0 when neither knows.
func terminalWidth(fd uintptr) int {
	if w := ttyColumns(fd); w > 0 {
		return w
	}
	if w, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && w > 0 {
		return w
	}
	return 0
}

// cutLine makes s one row of a terminal width columns wide. Line breaks and
// tabs (a multi-line error, say) become spaces; a line longer than width-1
// keeps its first width-2 characters and ends in "…", leaving the last
// column free so that no terminal wraps at the line's end. It counts runes
// and never splits a multi-byte character; it takes every rune for one
// column (a double-width one takes two, so such a line is cut a little
// late). width <= 0, unknown, only makes s one line.
func cutLine(s string, width int) string {
	s = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ", "\t", " ").Replace(s)
	if width <= 0 {
		return s
	}
	room := max(width-1, 1)
	if utf8.RuneCountInString(s) <= room {
		return s
	}
	n := 0
	for i := range s { // i steps from rune to rune
		if n == room-1 {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

// event is a migrator.Option's callback; the migrator calls it from several
// goroutines at once.
func (p *progress) event(e migrator.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	line := describe(e)
	if !p.live {
		fmt.Fprintf(p.out, "%s: %s\n", e.Target, line)
		return
	}
	if _, ok := p.lines[e.Target]; !ok {
		p.order = append(p.order, e.Target)
	}
	p.lines[e.Target] = line
	if p.drawn > 0 {
		fmt.Fprintf(p.out, "\x1b[%dA", p.drawn) // back to the first line
	}
	width := 0
	for _, t := range p.order {
		width = max(width, len(t))
	}
	columns := 0
	if p.width != nil {
		columns = p.width()
	}
	for _, t := range p.order {
		fmt.Fprintf(p.out, "\x1b[2K%s\n", cutLine(fmt.Sprintf("%-*s  %s", width, t, p.lines[t]), columns))
	}
	p.drawn = len(p.order)
}

// describe turns an event into a status line, with a bar when the number of
// migrations is known.
func describe(e migrator.Event) string {
	bar := ""
	if e.Total > 0 {
		const width = 20
		done := width * e.Done / e.Total
		bar = fmt.Sprintf("[%s%s] %d/%d ", strings.Repeat("#", done), strings.Repeat(".", width-done), e.Done, e.Total)
	}
	switch e.Kind {
	case migrator.Started:
		if e.Total == 0 {
			return "up to date"
		}
		return bar + "starting"
	case migrator.Applied:
		return fmt.Sprintf("%s%s (%s)", bar, e.Source, e.Duration.Round(time.Millisecond))
	case migrator.Finished:
		return fmt.Sprintf("%sdone in %s", bar, e.Duration.Round(time.Millisecond))
	case migrator.Failed:
		return fmt.Sprintf("%sFAILED: %v", bar, e.Err)
	case migrator.Skipped:
		return "skipped: another shard failed"
	}
	return bar
}
