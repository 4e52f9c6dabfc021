//go:build aix || darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris || zos

package main

import "golang.org/x/sys/unix"

// ttyColumns asks the terminal on fd how many columns it has (TIOCGWINSZ,
// as golang.org/x/term does); 0 when fd is no terminal.
func ttyColumns(fd uintptr) int {
	ws, err := unix.IoctlGetWinsize(int(fd), unix.TIOCGWINSZ)
	if err != nil {
		return 0
	}
	return int(ws.Col)
}
