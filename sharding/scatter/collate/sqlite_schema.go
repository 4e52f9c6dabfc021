package collate

import (
	"fmt"
	"strings"
)

// sqliteToken is one token of SQLite SQL: quoted says whether it was a
// quoted identifier or string (and text is then unquoted), so that a
// quoted "collate" is not taken for the keyword.
type sqliteToken struct {
	text   string
	quoted bool
}

// sqliteTokens splits SQLite SQL into tokens, dropping whitespace and
// comments. Identifiers and numbers are one token each, quoted names and
// strings one token with their quotes removed, anything else one byte.
func sqliteTokens(sql string) ([]sqliteToken, error) {
	var toks []sqliteToken
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case strings.HasPrefix(sql[i:], "--"):
			j := strings.IndexByte(sql[i:], '\n')
			if j < 0 {
				return toks, nil
			}
			i += j + 1
		case strings.HasPrefix(sql[i:], "/*"):
			j := strings.Index(sql[i+2:], "*/")
			if j < 0 {
				return toks, nil
			}
			i += j + 4
		case c == '"' || c == '\'' || c == '`' || c == '[':
			end := c
			if c == '[' {
				end = ']'
			}
			var b strings.Builder
			j := i + 1
			for {
				if j >= len(sql) {
					return nil, fmt.Errorf("unterminated %c in %q", c, sql)
				}
				if sql[j] == end {
					// A doubled quote stands for itself; brackets do not double.
					if end != ']' && j+1 < len(sql) && sql[j+1] == end {
						b.WriteByte(end)
						j += 2
						continue
					}
					break
				}
				b.WriteByte(sql[j])
				j++
			}
			toks = append(toks, sqliteToken{text: b.String(), quoted: true})
			i = j + 1
		case isIdentByte(c):
			j := i
			for j < len(sql) && isIdentByte(sql[j]) {
				j++
			}
			toks = append(toks, sqliteToken{text: sql[i:j]})
			i = j
		default:
			toks = append(toks, sqliteToken{text: sql[i : i+1]})
			i++
		}
	}
	return toks, nil
}

// isIdentByte: SQLite identifiers are letters, digits, '_', '$' and every
// byte of a non-ASCII character.
func isIdentByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '$' || c >= 0x80
}

func (t sqliteToken) is(keyword string) bool {
	return !t.quoted && strings.EqualFold(t.text, keyword)
}

// sqliteColumnCollations reads a CREATE TABLE statement and returns, for
// each column defined in it, by name with ASCII letters folded to lower
// case, the collation of
// its last COLLATE clause ("" when it has none). Table constraints and
// parenthesized expressions (CHECK, DEFAULT (…), AS (…)) are skipped, as a
// COLLATE inside them is not the column's.
func sqliteColumnCollations(createSQL string) (map[string]string, error) {
	toks, err := sqliteTokens(createSQL)
	if err != nil {
		return nil, err
	}
	open := -1
	for i, t := range toks {
		if t.text == "(" && !t.quoted {
			open = i
			break
		}
	}
	if open < 0 {
		return nil, fmt.Errorf("no column list in %q", createSQL)
	}
	out := map[string]string{}
	var item []sqliteToken
	depth := 0
	for _, t := range toks[open+1:] {
		if !t.quoted {
			switch t.text {
			case "(":
				depth++
			case ")":
				if depth == 0 {
					sqliteColumnItem(item, out)
					return out, nil
				}
				depth--
			case ",":
				if depth == 0 {
					sqliteColumnItem(item, out)
					item = item[:0]
					continue
				}
			}
		}
		if depth == 0 && !(t.text == ")" && !t.quoted) {
			item = append(item, t)
		}
	}
	return nil, fmt.Errorf("unbalanced parentheses in %q", createSQL)
}

// sqliteColumnItem records the collation of one item of a column list,
// given its tokens outside parentheses, unless it is a table constraint.
func sqliteColumnItem(item []sqliteToken, out map[string]string) {
	if len(item) == 0 {
		return
	}
	for _, kw := range []string{"CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"} {
		if item[0].is(kw) {
			return
		}
	}
	coll := ""
	for i := 1; i+1 < len(item); i++ {
		if item[i].is("COLLATE") {
			coll = item[i+1].text
		}
	}
	out[toLowerASCII(item[0].text)] = coll
}

// sqliteTextAffinity applies SQLite's affinity rules to a declared type:
// a type containing "INT" is an integer; else one containing "CHAR",
// "CLOB" or "TEXT" has TEXT affinity.
func sqliteTextAffinity(declared string) bool {
	u := strings.ToUpper(declared)
	if strings.Contains(u, "INT") {
		return false
	}
	return strings.Contains(u, "CHAR") || strings.Contains(u, "CLOB") || strings.Contains(u, "TEXT")
}
