package main

import (
	"os"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// On a real terminal (a pseudo-terminal whose size the test sets), the width
// comes from the terminal itself, ahead of $COLUMNS.
func TestTerminalWidthAsksTheTerminal(t *testing.T) {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal to test with: %v", err)
	}
	defer master.Close()
	mfd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil { // unlockpt
		t.Skipf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(mfd, unix.TIOCGPTN) // ptsname
	if err != nil {
		t.Skipf("ptsname: %v", err)
	}
	tty, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("opening the terminal side: %v", err)
	}
	defer tty.Close()
	if err := unix.IoctlSetWinsize(mfd, unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 73}); err != nil {
		t.Fatal(err)
	}

	t.Setenv("COLUMNS", "57") // the terminal's own answer wins
	if got := terminalWidth(tty.Fd()); got != 73 {
		t.Errorf("terminalWidth(a 73-column terminal) = %d, want 73", got)
	}
	t.Setenv("TERM", "xterm")
	p := newProgress(tty)
	if !p.live || p.width == nil {
		t.Fatalf("newProgress on a terminal: live = %t, want live lines with a width", p.live)
	}
	if got := p.width(); got != 73 {
		t.Errorf("progress width = %d, want 73", got)
	}
	// Resized while migrations run: the next redraw sees it.
	if err := unix.IoctlSetWinsize(mfd, unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 41}); err != nil {
		t.Fatal(err)
	}
	if got := p.width(); got != 41 {
		t.Errorf("progress width after a resize = %d, want 41", got)
	}
}
