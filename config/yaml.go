package config

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/grant-go/grant/internal/dsnredact"
	"io"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// This file turns bytes into one YAML document and locates what the YAML
// library reports without a usable position: bytes that are not text, and
// syntax errors.

// parse returns the root node of the file's one YAML document and the
// index of its key paths.
func parse(file string, data []byte) (*yaml.Node, *index, error) {
	if err := checkText(file, data); err != nil {
		return nil, nil, err
	}
	root, extra, err := parseYAML(data)
	if err != nil {
		return nil, nil, syntaxError(file, data, err)
	}
	if extra != nil {
		return nil, nil, &FileError{File: file, Line: max(extra.Line, 1), Problem: "a second YAML document: the file must hold exactly one"}
	}
	if root == nil || isNull(root) {
		line := 1
		if root != nil {
			line = max(root.Line, 1)
		}
		return nil, nil, &FileError{File: file, Line: line, Problem: "empty file: expected a mapping with databases and clusters (write {} for a topology of only the *gorm.DB grant is installed on)"}
	}
	return root, newIndex(root), nil
}

// parseYAML parses data into nodes: the first document's content (nil for
// an empty stream) and, if the stream holds a second document that is not
// empty, that document.
func parseYAML(data []byte) (root, extra *yaml.Node, err error) {
	defer func() {
		// yaml.v3 recovers its own panics; any other panic in it is a
		// library bug, which must not take the program down.
		if r := recover(); r != nil {
			root, extra, err = nil, nil, fmt.Errorf("the YAML parser failed on this input: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil, nil
		}
		return nil, nil, err
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, nil, err
	case len(next.Content) > 0 && !isNull(next.Content[0]):
		extra = &next
	}
	if len(doc.Content) == 0 {
		return nil, nil, nil
	}
	return doc.Content[0], extra, nil
}

// checkText refuses what is not UTF-8 text, naming the line, the column and
// the key it is under. The YAML library rejects these bytes too, but
// without a position.
func checkText(file string, data []byte) error {
	if bytes.HasPrefix(data, []byte{0xFE, 0xFF}) || bytes.HasPrefix(data, []byte{0xFF, 0xFE}) {
		return &FileError{File: file, Line: 1, Problem: "the file is UTF-16 (it starts with a UTF-16 byte order mark): save it as UTF-8"}
	}
	bad, problem := -1, ""
	if i := bytes.IndexByte(data, 0); i >= 0 {
		bad, problem = i, "a NUL byte"
	}
	if !utf8.Valid(data) {
		for i := 0; i < len(data) && (bad < 0 || i < bad); {
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				bad, problem = i, fmt.Sprintf("invalid UTF-8 (byte 0x%02x)", data[i])
				break
			}
			i += size
		}
	}
	if bad < 0 {
		return nil
	}
	line := bytes.Count(data[:bad], []byte("\n")) + 1
	start := bytes.LastIndexByte(data[:bad], '\n') + 1
	column := utf8.RuneCount(data[start:bad]) + 1
	return &FileError{File: file, Line: line, Key: keyAt(data, line, column),
		Problem: fmt.Sprintf("%s at column %d: the file must be UTF-8 text", problem, column)}
}

// keyAt is the key path of the value written at line and column, found by
// parsing data with every byte that is not text replaced; "" when that
// does not parse or no key is written on that line before column.
func keyAt(data []byte, line, column int) string {
	clean := bytes.ToValidUTF8(data, []byte("x"))
	clean = bytes.ReplaceAll(clean, []byte{0}, []byte("x"))
	root, _, err := parseYAML(clean)
	if err != nil || root == nil {
		return ""
	}
	return newIndex(root).keyOn(line, column)
}

// syntaxError locates an error of the YAML parser. yaml.v3 reports it as
// text only: "yaml: line N: problem", where N is sometimes the line of the
// problem and sometimes, 0-based, the line where the enclosing mapping or
// list begins, and some problems carry no line at all. So the line is
// found structurally instead: the first line such that the file cut after
// it fails with the very same error (same text) as the whole file, that
// is, the line by which the parser had read enough to fail. It is found by
// bisection, in O(log lines) parses. Only the documented "yaml: " and
// "line N: " prefixes are taken off the message, for display.
func syntaxError(file string, data []byte, err error) *FileError {
	want := err.Error()
	fails := func(lines int) bool {
		_, _, e := parseYAML(prefixLines(data, lines))
		return e != nil && e.Error() == want
	}
	// Invariant: the first lo lines do not reproduce the error, the first
	// hi lines do (all of them: the whole file).
	lo, hi := 0, bytes.Count(data, []byte("\n"))+1
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if fails(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	line := hi
	msg := strings.TrimPrefix(want, "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.Index(rest, ": "); i > 0 && strings.Trim(rest[:i], "0123456789") == "" {
			msg = rest[i+2:]
		}
	}
	return &FileError{File: file, Line: line, Problem: "invalid YAML: " + msg + flowHint(data, line)}
}

// prefixLines is the first n lines of data, each with its line break.
func prefixLines(data []byte, n int) []byte {
	end := 0
	for ; n > 0; n-- {
		i := bytes.IndexByte(data[end:], '\n')
		if i < 0 {
			return data
		}
		end += i + 1
	}
	return data[:end]
}

// flowHint explains the usual cause of an error on a line where an
// unquoted ${...} follows a '{' or '[': YAML reads its '}' as the end of
// the collection.
func flowHint(data []byte, line int) string {
	text := string(prefixLines(data, line)[len(prefixLines(data, line-1)):])
	i := strings.Index(text, "${")
	if i < 0 || !strings.ContainsAny(text[:i], "{[") {
		return ""
	}
	if before := strings.TrimRight(text[:i], " "); strings.HasSuffix(before, `"`) || strings.HasSuffix(before, "'") {
		return ""
	}
	return ` (inside {...} or [...], quote values holding ${...}: "${NAME}")`
}

// index maps the key paths written in the file ("databases.primary.dsn",
// "databases.primary.replicas[0]") to where they are written. It follows
// neither aliases nor merge keys, so a key reached only through one is
// located at the nearest key path above it that is written. It is built
// on first use: a file that loads without an error seldom needs it.
type index struct {
	root *yaml.Node
	at   map[string]entry
	all  []string // paths in file order
}

type entry struct {
	line, column int        // of the key, or of the list item
	value        *yaml.Node // the value as written (possibly an alias)
}

func newIndex(root *yaml.Node) *index { return &index{root: root} }

// paths builds the index once.
func (x *index) paths() map[string]entry {
	if x.at == nil {
		x.at = map[string]entry{"": {line: x.root.Line, column: x.root.Column, value: x.root}}
		x.walk("", x.root)
	}
	return x.at
}

func (x *index) add(path string, line, column int, value *yaml.Node) {
	if _, ok := x.at[path]; !ok {
		x.at[path] = entry{line: line, column: column, value: value}
		x.all = append(x.all, path)
	}
}

func (x *index) walk(path string, n *yaml.Node) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := resolve(n.Content[i]), n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				continue
			}
			if isMerge(k) {
				// The keys of a merge source written in place are this
				// mapping's; an aliased one is indexed where it is written.
				sources := []*yaml.Node{v}
				if v.Kind == yaml.SequenceNode {
					sources = v.Content
				}
				for _, s := range sources {
					if s.Kind == yaml.MappingNode {
						x.walk(path, s)
					}
				}
				continue
			}
			p := dsnredact.JoinKey(path, k.Value)
			x.add(p, n.Content[i].Line, n.Content[i].Column, v)
			x.walk(p, v)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			p := listItem(path, i)
			x.add(p, item.Line, item.Column, item)
			x.walk(p, item)
		}
	}
}

// lookup returns the entry of path or, if path is not written, of the
// nearest path above it that is. A writer given in the short form
// ("databases.primary.writer", which Validate names) is where its dsn is.
func (x *index) lookup(path string) (e entry, exact bool) {
	at := x.paths()
	for exact = true; ; exact = false {
		if e, ok := at[path]; ok {
			return e, exact
		}
		if section, ok := strings.CutSuffix(path, ".writer"); ok {
			if e, ok := at[section+".dsn"]; ok {
				return e, false
			}
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return at[""], false
		}
		path = path[:i]
	}
}

// keyLine is the line of the key path (of the list item), or of the
// nearest written path above it.
func (x *index) keyLine(path string) int {
	e, _ := x.lookup(path)
	return max(e.line, 1)
}

// nodeLine is where the value at path begins (the line of its first key,
// for a mapping written on lines of its own); the key's line when the
// value is null or an alias; keyLine when path is not written.
func (x *index) nodeLine(path string) int {
	e, exact := x.lookup(path)
	if v := e.value; exact && v != nil && v.Kind != yaml.AliasNode && !isNull(v) && v.Line > 0 {
		return v.Line
	}
	return max(e.line, 1)
}

// written reports whether the key path is written in the file (even with
// a null value).
func (x *index) written(path string) bool {
	_, ok := x.paths()[path]
	return ok
}

// line is the line of a key path written in the file, and whether it is.
func (x *index) line(path string) (int, bool) {
	e, ok := x.paths()[path]
	return e.line, ok
}

// keyOn is the path of the last key written on line at or before column.
func (x *index) keyOn(line, column int) string {
	at := x.paths()
	best, bestColumn := "", 0
	for _, p := range x.all {
		if e := at[p]; e.line == line && e.column <= column && e.column >= bestColumn {
			best, bestColumn = p, e.column
		}
	}
	return best
}

// resolve follows an alias to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	if n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

// isNull is true for an absent value (the zero Node), "~", "null" and an
// empty value.
func isNull(n *yaml.Node) bool {
	n = resolve(n)
	return n == nil || n.Kind == 0 || n.Kind == yaml.AliasNode ||
		n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// isMerge is the YAML library's test for a merge key ("<<").
func isMerge(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" && k.ShortTag() == "!!merge"
}

// mergeSources are the mappings a merge key's value names: itself, or the
// items of a list, aliases resolved. Whatever is not a mapping is returned
// as it is, for the caller to refuse.
func mergeSources(v *yaml.Node) []*yaml.Node {
	v = resolve(v)
	if v != nil && v.Kind == yaml.SequenceNode {
		out := make([]*yaml.Node, len(v.Content))
		for i, s := range v.Content {
			out[i] = resolve(s)
		}
		return out
	}
	return []*yaml.Node{v}
}
