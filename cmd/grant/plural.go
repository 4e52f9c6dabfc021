package main

import "fmt"

// plural writes a count with its noun in the right number: plural(1,
// "cluster", "clusters") is "1 cluster", plural(0, ...) is "0 clusters".
// Every count the CLI prints goes through it.
func plural[N ~int | ~int64](n N, one, many string) string {
	if n == 1 || n == -1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
