package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mutation is a broken copy of a valid file, and whether its error, if
// any, must name a key (false for YAML syntax and whole-file problems).
type mutation struct {
	name    string
	data    []byte
	wantKey bool
}

// mutationBases are the valid files mutated: the full example of every
// key, the documentation's example and a few small ones.
func mutationBases(t *testing.T) map[string]string {
	t.Helper()
	example, err := os.ReadFile(filepath.Join("..", "docs", "grant.example.yml"))
	require.NoError(t, err)
	return map[string]string{
		"full":    fullFile,
		"example": string(example),
		"small":   "databases: {primary: {adapter: postgres, dsn: host=a, replicas: [{dsn: host=b}]}}\n",
		"shards":  "clusters:\n  orders:\n    adapter: postgres\n    shard_keys:\n      orders: {column: customer_id, strategy: jump_hash}\n    shards:\n      - {name: s1, dsn: host=s1}\n      - {name: s2, writer: {dsn: host=s2}, replicas: [{dsn: host=s2r}]}\n",
		"merge":   "databases:\n  primary: &base\n    adapter: postgres\n    dsn: host=a\n    pool: {max_open_conns: 3, conn_max_lifetime: 1m}\n  other:\n    <<: *base\n    dsn: host=b\n",
	}
}

// mutations derives broken files from a valid one, line by line: a
// character deleted, a NUL byte or an invalid UTF-8 byte inserted, the
// file truncated, a key duplicated, an unknown key added, a value turned
// into a list or a mapping, a mapping turned into a number, a duration
// without its unit, negative or unreadable.
func mutations(base string) []mutation {
	lines := strings.SplitAfter(base, "\n")
	var out []mutation
	with := func(i int, repl ...string) []byte {
		var b strings.Builder
		for j, l := range lines {
			if j == i {
				for _, r := range repl {
					b.WriteString(r)
				}
				continue
			}
			b.WriteString(l)
		}
		return []byte(b.String())
	}
	for i, line := range lines {
		body := strings.TrimRight(line, "\n")
		trimmed := strings.TrimLeft(body, " -")
		indent := body[:len(body)-len(trimmed)]
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		key, value, isKV := strings.Cut(trimmed, ":")
		if i := strings.Index(value, " #"); i >= 0 {
			value = value[:i]
		}
		value = strings.TrimSpace(value)
		simple := isKV && !strings.ContainsAny(key, "{[ ") && value != "" && !strings.ContainsAny(value, "{[&*")
		tag := fmt.Sprintf("line %d ", i+1)

		// Text that is not text: inside the value when there is one.
		at := len(indent) + len(trimmed)/2
		if simple {
			at = len(body) - len(strings.TrimLeft(body[strings.Index(body, ":")+1:], " ")) + 1
			at = min(at, len(body))
		}
		out = append(out,
			mutation{tag + "NUL byte", with(i, body[:at], "\x00", body[at:], "\n"), simple},
			mutation{tag + "invalid UTF-8", with(i, body[:at], "\xff\xfe", body[at:], "\n"), simple},
			mutation{tag + "first character deleted", with(i, indent, trimmed[1:], "\n"), false},
			mutation{tag + "truncated", []byte(strings.Join(lines[:i], "") + body[:len(body)/2]), false},
		)
		if isKV {
			out = append(out, mutation{tag + "colon deleted", with(i, indent, key, strings.TrimPrefix(trimmed, key+":"), "\n"), false})
		}
		if !isKV || strings.ContainsAny(key, "{[\"' ") {
			continue
		}
		// A key written in block style on a line of its own gets a
		// sibling before it; the first key of a list item, after it.
		blockIndent := strings.ReplaceAll(indent, "-", " ")
		sibling := func(text string) []byte { return with(i, blockIndent, text, "\n", line) }
		if strings.Contains(indent, "-") {
			if !simple {
				continue
			}
			sibling = func(text string) []byte { return with(i, line, blockIndent, text, "\n") }
		}
		if key != "<<" {
			out = append(out, mutation{tag + "duplicate key", sibling(trimmed), true})
		}
		out = append(out, mutation{tag + "unknown key", sibling("bogus_key: 1"), true})
		switch {
		case simple && looksLikeDuration(value):
			out = append(out,
				mutation{tag + "duration without unit", with(i, indent, key, ": 30\n"), true},
				mutation{tag + "negative duration", with(i, indent, key, ": -5s\n"), true},
				mutation{tag + "unreadable duration", with(i, indent, key, ": soon\n"), true},
			)
		case simple:
			out = append(out,
				mutation{tag + "value as a list", with(i, indent, key, ": [", value, "]\n"), true},
				mutation{tag + "value as a mapping", with(i, indent, key, ": {a: ", value, "}\n"), true},
				mutation{tag + "negative value", with(i, indent, key, ": -1\n"), true},
			)
		case value == "" && key != "<<":
			// The mapping's lines, more indented than its key, go too.
			end := i + 1
			for end < len(lines) && (strings.TrimSpace(lines[end]) == "" || len(lines[end])-len(strings.TrimLeft(lines[end], " ")) > len(indent)) {
				end++
			}
			number := strings.Join(lines[:i], "") + indent + key + ": 5\n" + strings.Join(lines[end:], "")
			out = append(out, mutation{tag + "mapping as a number", []byte(number), true})
		}
	}
	return out
}

func looksLikeDuration(v string) bool {
	return v != "" && v[0] >= '0' && v[0] <= '9' && strings.ContainsAny(v[len(v)-1:], "smh")
}

// TestMutatedFilesNameFileLineAndKey: whatever breaks a valid file, its
// error says where: a line always, a key where the problem belongs to one.
func TestMutatedFilesNameFileLineAndKey(t *testing.T) {
	env := envOf(map[string]string{"DB_HOST": "db1"})
	var files, failed, located, keyed, wantKey int
	for base, text := range mutationBases(t) {
		_, err := Parse("grant.yml", []byte(text), env)
		require.NoError(t, err, "base %s must be valid", base)
		for _, m := range mutations(text) {
			files++
			_, err := Parse("grant.yml", m.data, env)
			if err == nil {
				continue
			}
			failed++
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Errorf("%s, %s: %T is not a *FileError: %v", base, m.name, err, err)
				continue
			}
			assert.Equal(t, "grant.yml", fe.File)
			if assert.Positive(t, fe.Line, "%s, %s: %v", base, m.name, err) {
				located++
			}
			assert.True(t, strings.HasPrefix(err.Error(), fmt.Sprintf("grant.yml:%d: ", fe.Line)), "%s, %s: %v", base, m.name, err)
			if m.wantKey {
				wantKey++
				if assert.NotEmpty(t, fe.Key, "%s, %s: %v", base, m.name, err) {
					keyed++
				}
			}
			assert.NotContains(t, err.Error(), "000000000", "%s, %s: a duration printed in nanoseconds: %v", base, m.name, err)
		}
	}
	t.Logf("%d mutated files, %d refused: %d with file:line, %d of %d with the key they should name", files, failed, located, keyed, wantKey)
	assert.Greater(t, files, 500)
	assert.Greater(t, failed, files/2)
}
