package callbacks

import "strings"

// The lexer below is shared by Classify and TableOf: it yields words,
// quoted runs and punctuation, skipping comments, without allocating.

type tokKind uint8

const (
	tEOF    tokKind = iota
	tWord           // unquoted identifier, keyword, number or $n placeholder
	tQuoted         // string literal, quoted identifier or dollar-quoted body, quotes included
	tPunct          // any other single byte
)

type token struct {
	kind   tokKind
	text   string
	dotted bool // right after '.': a column or field (t.delete), not a keyword
}

func (t token) is(c byte) bool { return t.kind == tPunct && t.text[0] == c }
func (t token) end() bool      { return t.kind == tEOF || t.is(';') }

type lexer struct {
	s    string
	pos  int
	lead bool // before a statement's first token, where # and --x can only be comments
	bad  bool // unterminated literal or comment: the server sees something else
}

// stmt classifies one statement and consumes it through its ';', except after
// a write, where Classify stops reading anyway.

func (l *lexer) next() token {
	l.skipSpace()
	s, i := l.s, l.pos
	if i >= len(s) {
		return token{}
	}
	t := token{kind: tQuoted, dotted: i > 0 && s[i-1] == '.'}
	switch c := s[i]; {
	case c == '\'' || c == '"':
		l.pos = l.quoted(i, c, true)
	case c == '`':
		l.pos = l.quoted(i, c, false)
	case c == '$' && l.dollar(i):
	case isIdent(c):
		for l.pos = i + 1; l.pos < len(s) && isIdent(s[l.pos]); l.pos++ {
		}
		t.kind = tWord
	default:
		l.pos, t.kind = i+1, tPunct
	}
	t.text = s[i:l.pos]
	l.lead = t.is(';')
	return t
}

// quoted returns the end of the literal opening at i with quote q, which a
// doubled q escapes, and so does a backslash if backslash is set.
func (l *lexer) quoted(i int, q byte, backslash bool) int {
	for j := i + 1; j < len(l.s); j++ {
		if c := l.s[j]; c == '\\' && backslash {
			j++
		} else if c == q {
			if j+1 >= len(l.s) || l.s[j+1] != q {
				return j + 1
			}
			j++
		}
	}
	l.bad = true
	return len(l.s)
}

// dollar consumes a PostgreSQL $tag$...$tag$ string opening at i; it reports
// false, consuming nothing, for $1 placeholders and identifiers with '$'.
func (l *lexer) dollar(i int) bool {
	s, j := l.s, i+1
	for j < len(s) && s[j] != '$' && isIdent(s[j]) && !(j == i+1 && s[j] >= '0' && s[j] <= '9') {
		j++
	}
	if j >= len(s) || s[j] != '$' {
		return false
	}
	if end := strings.Index(s[j+1:], s[i:j+1]); end >= 0 {
		l.pos = j + 1 + end + j + 1 - i // past the closing tag, as long as the opening one
	} else {
		l.pos, l.bad = len(s), true
	}
	return true
}

func (l *lexer) skipSpace() {
	for s := l.s; l.pos < len(s); {
		switch i, c := l.pos, s[l.pos]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			l.pos++
		case c == '#' && l.lead, c == '-' && strings.HasPrefix(s[i:], "--") && (l.lead || i+2 == len(s) || s[i+2] <= ' '):
			l.pos = len(s)
			if j := strings.IndexByte(s[i:], '\n'); j >= 0 {
				l.pos = i + j + 1
			}
		case c == '/' && (strings.HasPrefix(s[i:], "/*!") || strings.HasPrefix(s[i:], "/*M!")):
			// MySQL executable comment: the server runs its body, so scan it.
			for l.pos = i + 3; l.pos < len(s) && (s[l.pos] == '!' || s[l.pos] >= '0' && s[l.pos] <= '9'); l.pos++ {
			}
		case c == '/' && strings.HasPrefix(s[i:], "/*"):
			if j := strings.Index(s[i+2:], "*/"); j >= 0 {
				l.pos = i + j + 4
			} else {
				l.pos, l.bad = len(s), true
			}
		default:
			return
		}
	}
}

func isIdent(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '$' || c >= 0x80
}

// eq compares a word with an upper-case ASCII keyword without allocating.
func eq(w, upper string) bool {
	if len(w) != len(upper) {
		return false
	}
	for i := 0; i < len(w); i++ {
		if c := w[i]; c != upper[i] && !(c >= 'a' && c <= 'z' && c-('a'-'A') == upper[i]) {
			return false
		}
	}
	return true
}

func oneOf(w string, uppers ...string) bool {
	for _, u := range uppers {
		if eq(w, u) {
			return true
		}
	}
	return false
}

func hasPrefixFold(w, upper string) bool { return len(w) >= len(upper) && eq(w[:len(upper)], upper) }
