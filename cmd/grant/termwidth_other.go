//go:build !(aix || darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris || zos)

package main

// ttyColumns is unknown here: terminalWidth falls back to $COLUMNS.
func ttyColumns(uintptr) int { return 0 }
