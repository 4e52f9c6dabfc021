package migrator

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// sections splits a goose SQL migration into the lines of its Up and Down
// sections, without the "-- +goose" annotation lines. It follows goose's
// rule for annotations: a line starting with "--" that contains "+goose".
func sections(text []byte) (up, down []string, err error) {
	const (
		before = iota
		inUp
		inDown
	)
	state := before
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "--") && strings.Contains(trimmed, "+goose") {
			cmd := strings.TrimSpace(strings.Replace(strings.ReplaceAll(trimmed, "--", ""), "+goose", "", 1))
			switch {
			case strings.EqualFold(cmd, "Up"):
				state = inUp
			case strings.EqualFold(cmd, "Down"):
				state = inDown
			}
			continue
		}
		switch state {
		case inUp:
			up = append(up, line)
		case inDown:
			down = append(down, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, err
	}
	if state == before {
		return nil, nil, fmt.Errorf(`no "-- +goose Up" annotation`)
	}
	return up, down, nil
}

// readSections reads the migration file path (relative to dir, as goose
// lists it) and returns its sections.
func readSections(dir, path string) (up, down []string, err error) {
	text, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(path)))
	if err != nil {
		return nil, nil, err
	}
	return sections(text)
}

// hasStatements reports whether lines hold anything but blank lines and
// "--" comments.
func hasStatements(lines []string) bool {
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "--") {
			return true
		}
	}
	return false
}

// hasDownStatements reports whether the migration's Down section has at
// least one statement.
func hasDownStatements(dir, path string) (bool, error) {
	_, down, err := readSections(dir, path)
	if err != nil {
		return false, err
	}
	return hasStatements(down), nil
}

// upSQL is the migration's Up section as written, trimmed of leading and
// trailing blank lines.
func upSQL(dir, path string) (string, error) {
	up, _, err := readSections(dir, path)
	if err != nil {
		return "", err
	}
	return strings.Trim(strings.Join(up, "\n"), "\n\r\t "), nil
}
