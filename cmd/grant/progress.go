package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/grant-go/grant/migrator"
)

// progress shows migration events: on a terminal, one line per database or
// shard, redrawn in place as its migrations run; otherwise (a pipe, a CI
// log) one plain line per event, so the log reads top to bottom.
type progress struct {
	mu    sync.Mutex
	out   io.Writer
	live  bool
	order []string          // targets in the order they started
	lines map[string]string // target → its current line
	drawn int               // lines on screen from the last redraw
}

func newProgress(out io.Writer) *progress {
	live := false
	if f, ok := out.(*os.File); ok {
		live = isatty.IsTerminal(f.Fd()) && os.Getenv("TERM") != "dumb"
	}
	return &progress{out: out, live: live, lines: map[string]string{}}
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
	for _, t := range p.order {
		fmt.Fprintf(p.out, "\x1b[2K%-*s  %s\n", width, t, p.lines[t])
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
