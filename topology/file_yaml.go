package topology

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// This file holds the YAML side of the topology file loader: walking
// yaml.Node trees with key paths and line numbers, merge keys and scalar
// types (expanded by file_env.go). file.go maps the walked values onto Config.

// parser walks one topology file. Every error it returns is a *FileError.
type parser struct {
	file     string
	env      func(string) (string, bool)
	adapters map[string]bool // adapter names used by nodes, for validation
	// work counts mapping keys and list items read; aliases can make a
	// small file expand to a huge topology, which is refused beyond maxWork.
	work int
}

// maxWork bounds the values read from one file, aliases expanded: a
// thousand shards with ten nodes each read about a hundred thousand. A
// variable for tests.
var maxWork = 1_000_000

func (p *parser) spend(n *yaml.Node, count int) error {
	p.work += count
	if p.work > maxWork {
		return p.fail(lineOf(n), "", "the file expands to more than %d values through aliases", maxWork)
	}
	return nil
}

// entry is one key of a mapping, after merge keys and aliases are resolved.
type entry struct {
	key   string
	line  int        // the key's line
	value *yaml.Node // never an alias
}

func (p *parser) fail(line int, key, format string, args ...any) *FileError {
	return &FileError{File: p.file, Line: line, Key: key, Problem: fmt.Sprintf(format, args...)}
}

// resolve follows aliases to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func lineOf(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	return n.Line
}

// isNull is true for an absent value, "~", "null" and an empty value.
func isNull(n *yaml.Node) bool {
	n = resolve(n)
	return n == nil || n.Kind == 0 || n.Kind == yaml.AliasNode ||
		n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names what a node is, for "expected X, got Y" messages. Scalars
// are quoted through quoteValue, so a DSN written in the wrong place is
// printed without its password.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return quoteValue(n.Value)
	}
	return "nothing"
}

func (p *parser) wrongType(path string, n *yaml.Node, want string) *FileError {
	return p.fail(lineOf(n), path, "expected %s, got %s", want, describe(n))
}

// quoteValue quotes a value for an error message: passwords redacted,
// shortened to 60 characters.
func quoteValue(v string) string {
	v = redact(v)
	if utf8.RuneCountInString(v) > 60 {
		v = string([]rune(v)[:57]) + "..."
	}
	return strconv.Quote(v)
}

// redact is RedactDSN for anything but a plain name: a table called
// "passwords" stays readable, a DSN pasted as a key loses its password.
func redact(v string) string {
	if isPlainName(v) {
		return v
	}
	return RedactDSN(v)
}

func isPlainName(v string) bool {
	for _, r := range v {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// join appends a mapping key to a key path; the key is redacted, since a
// path is printed in errors.
func join(path, key string) string {
	if path == "" {
		return redact(key)
	}
	return path + "." + redact(key)
}

// mapping returns the keys of the mapping n in file order, merge keys ("<<")
// applied: a mapping's own keys win over merged ones, earlier merge sources
// over later ones. allowed lists the keys the schema knows; nil allows any
// key (names of databases, roles, tables). A null value is an empty mapping.
func (p *parser) mapping(path string, n *yaml.Node, allowed []string) ([]entry, error) {
	n = resolve(n)
	if isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		want := "a mapping"
		if allowed != nil {
			want += " (" + strings.Join(allowed, ", ") + ")"
		}
		return nil, p.wrongType(path, n, want)
	}
	var out []entry
	visited := map[*yaml.Node]bool{n: true}
	if err := p.collectKeys(path, n, allowed, &out, map[string]bool{}, visited); err != nil {
		return nil, err
	}
	return out, nil
}

// collectKeys appends m's keys not in seen to out, then those of the
// mappings m merges. visited stops merge cycles and repeated merges (which
// add nothing).
func (p *parser) collectKeys(path string, m *yaml.Node, allowed []string, out *[]entry, seen map[string]bool, visited map[*yaml.Node]bool) error {
	var merges []*yaml.Node
	local := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := resolve(m.Content[i]), m.Content[i+1]
		if k == nil || k.Kind != yaml.ScalarNode {
			return p.fail(lineOf(m.Content[i]), path, "keys must be plain strings, got %s", describeKey(k))
		}
		if k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if first, dup := local[k.Value]; dup {
			return p.fail(k.Line, join(path, k.Value), "duplicate key %s (first at line %d)", quoteValue(k.Value), first)
		}
		local[k.Value] = k.Line
		if allowed != nil && !slices.Contains(allowed, k.Value) {
			return p.fail(k.Line, join(path, k.Value), "%s", unknownKey(k.Value, allowed))
		}
		if seen[k.Value] {
			continue
		}
		seen[k.Value] = true
		if err := p.spend(k, 1); err != nil {
			return err
		}
		*out = append(*out, entry{key: k.Value, line: k.Line, value: resolve(v)})
	}
	for _, merge := range merges {
		merge = resolve(merge)
		var sources []*yaml.Node
		switch {
		case merge != nil && merge.Kind == yaml.MappingNode:
			sources = []*yaml.Node{merge}
		case merge != nil && merge.Kind == yaml.SequenceNode:
			for _, s := range merge.Content {
				sources = append(sources, resolve(s))
			}
		default:
			sources = []*yaml.Node{merge}
		}
		for _, s := range sources {
			if s == nil || s.Kind != yaml.MappingNode {
				line := lineOf(s)
				if line == 0 {
					line = lineOf(merge)
				}
				return p.fail(line, join(path, "<<"), "a merge key takes a mapping or a list of mappings, got %s", describeKey(s))
			}
			if visited[s] {
				continue
			}
			visited[s] = true
			if err := p.collectKeys(path, s, allowed, out, seen, visited); err != nil {
				return err
			}
		}
	}
	return nil
}

func describeKey(n *yaml.Node) string {
	if n == nil {
		return "nothing"
	}
	return describe(n)
}

// unknownKey names the key, suggests the nearest allowed one and lists them.
func unknownKey(key string, allowed []string) string {
	msg := "unknown key " + quoteValue(key)
	best, bestDist := "", 3
	for _, a := range allowed {
		if d := editDistance(strings.ToLower(key), a); d < bestDist {
			best, bestDist = a, d
		}
	}
	if best != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", best)
	}
	return msg + "; allowed keys: " + strings.Join(allowed, ", ")
}

// editDistance is the Levenshtein distance, for "did you mean".
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// list returns the items of the sequence n; a null value is an empty list.
func (p *parser) list(path string, n *yaml.Node, want string) ([]*yaml.Node, error) {
	n = resolve(n)
	if isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, p.wrongType(path, n, "a list of "+want)
	}
	if err := p.spend(n, len(n.Content)); err != nil {
		return nil, err
	}
	items := make([]*yaml.Node, len(n.Content))
	for i, item := range n.Content {
		items[i] = resolve(item)
	}
	return items, nil
}

// scalar returns n's value with ${VAR} references expanded; null is "".
func (p *parser) scalar(path string, n *yaml.Node, want string) (string, error) {
	n = resolve(n)
	if isNull(n) {
		return "", nil
	}
	if n.Kind != yaml.ScalarNode {
		return "", p.wrongType(path, n, want)
	}
	v, problem := expand(n.Value, p.env)
	if problem != "" {
		return "", p.fail(n.Line, path, "%s", problem)
	}
	return v, nil
}

func (p *parser) str(path string, n *yaml.Node) (string, error) {
	return p.scalar(path, n, "a string")
}

func (p *parser) integer(path string, n *yaml.Node) (int, error) {
	v, err := p.scalar(path, n, "an integer")
	if err != nil || v == "" {
		return 0, err
	}
	i, convErr := strconv.Atoi(strings.TrimSpace(v))
	if convErr != nil {
		return 0, p.fail(lineOf(resolve(n)), path, "expected an integer, got %s", quoteValue(v))
	}
	return i, nil
}

// boolean returns the value and whether one was given (null is not).
func (p *parser) boolean(path string, n *yaml.Node) (value, given bool, err error) {
	v, err := p.scalar(path, n, "true or false")
	if err != nil || v == "" {
		return false, false, err
	}
	switch v {
	case "true", "True", "TRUE":
		return true, true, nil
	case "false", "False", "FALSE":
		return false, true, nil
	}
	return false, false, p.fail(lineOf(resolve(n)), path, "expected true or false, got %s", quoteValue(v))
}

func (p *parser) duration(path string, n *yaml.Node) (time.Duration, error) {
	v, err := p.scalar(path, n, "a duration")
	if err != nil || v == "" {
		return 0, err
	}
	d, parseErr := time.ParseDuration(strings.TrimSpace(v))
	if parseErr != nil {
		return 0, p.fail(lineOf(resolve(n)), path, `expected a duration such as "30s", "5m" or "1h30m", got %s`, quoteValue(v))
	}
	return d, nil
}
