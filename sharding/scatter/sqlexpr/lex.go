// Package sqlexpr reads the SQL fragments a GORM statement is made of — a
// select list, GROUP BY and ORDER BY terms, a HAVING predicate — into a
// small syntax tree, with the lexical rules of the dialect that will run
// them. The scatter-gather planner uses the tree to decide, by grammar and
// never by text patterns, whether a query that spans shards can be merged
// exactly.
//
// The grammar is deliberately narrower than any server's: what it does not
// cover is an error, and the planner refuses the query. Every node keeps
// its byte span in the fragment, so a planner can send a subexpression to
// the shards exactly as the user wrote it.
package sqlexpr

import (
	"fmt"
	"strings"

	"github.com/grant-go/grant/sharding/scatter/value"
)

// Dialect selects the lexical and operator rules of one SQL server family;
// it is the value package's, so that a planner speaks of one dialect.
type Dialect = value.Dialect

// Dialects, by gorm's Dialector.Name(): "postgres", "mysql" (MySQL and
// MariaDB) and "sqlite".
const (
	Postgres = value.Postgres
	MySQL    = value.MySQL
	SQLite   = value.SQLite
)

// DialectOf maps a gorm Dialector name to its Dialect.
func DialectOf(name string) (Dialect, bool) { return value.DialectOf(name) }

// tokKind classifies tokens.
type tokKind uint8

const (
	tEOF    tokKind = iota
	tWord           // unquoted identifier or keyword
	tIdent          // quoted identifier; text is the name, unescaped
	tString         // string literal; text is the value, unescaped
	tNumber         // numeric literal, as written
	tParam          // bound parameter; param is its index in the fragment's vars
	tOp             // operator or punctuation
)

type token struct {
	kind       tokKind
	text       string
	start, end int // byte span in the source
	param      int
	// introduced: a string literal with a prefix that changes its meaning
	// (E'', N'', X'', B'', _charset''); only the shards may read it.
	introduced bool
}

// lexer turns one fragment into tokens under one dialect's rules.
type lexer struct {
	d      Dialect
	src    string
	pos    int
	params []ParamRef // every parameter lexed, in order, even in skipped regions
	qmarks int        // '?' placeholders seen
}

// ParamRef is one parameter in a fragment: where it is, and the index of
// its bound value.
type ParamRef struct {
	Span
	Index int
}

// SyntaxError is a fragment the grammar does not cover, with the byte
// offset where reading stopped.
type SyntaxError struct {
	Offset int
	Msg    string
}

// Error reads "at byte <offset>: <message>".
func (e *SyntaxError) Error() string { return fmt.Sprintf("at byte %d: %s", e.Offset, e.Msg) }

func (l *lexer) fail(at int, format string, args ...any) error {
	return &SyntaxError{Offset: at, Msg: fmt.Sprintf(format, args...)}
}

// next returns the next token, skipping whitespace and comments.
func (l *lexer) next() (token, error) {
	if err := l.skip(); err != nil {
		return token{}, err
	}
	s, i := l.src, l.pos
	if i >= len(s) {
		return token{kind: tEOF, start: i, end: i}, nil
	}
	c := s[i]
	switch {
	case c == '\'':
		return l.str(i, i, false)
	case c == '"' && l.d == MySQL:
		return l.str(i, i, false) // a string unless ANSI_QUOTES, which grant does not assume
	case c == '"', c == '`' && l.d != Postgres, c == '[' && l.d == SQLite:
		return l.quotedIdent(i)
	case c == '?' && l.d != Postgres: // gorm writes $n for PostgreSQL, where ? is an operator
		l.pos = i + 1
		if l.d == SQLite && l.pos < len(s) && isDigit(s[l.pos]) {
			return token{}, l.fail(i, "numbered parameter ?NNN")
		}
		l.qmarks++
		l.params = append(l.params, ParamRef{Span{i, l.pos}, l.qmarks - 1})
		return token{kind: tParam, text: "?", start: i, end: l.pos, param: l.qmarks - 1}, nil
	case c == '$' && l.d == Postgres && i+1 < len(s) && isDigit(s[i+1]):
		j := i + 1
		n := 0
		for j < len(s) && isDigit(s[j]) {
			n = n*10 + int(s[j]-'0')
			if n > 1<<20 {
				return token{}, l.fail(i, "parameter number too large")
			}
			j++
		}
		l.pos = j
		if n == 0 {
			return token{}, l.fail(i, "parameter $0")
		}
		l.params = append(l.params, ParamRef{Span{i, j}, n - 1})
		return token{kind: tParam, text: s[i:j], start: i, end: j, param: n - 1}, nil
	case c == '$' && l.d == Postgres:
		return l.dollar(i)
	case isDigit(c) || c == '.' && i+1 < len(s) && isDigit(s[i+1]):
		return l.number(i)
	case isIdentStart(c):
		j := i + 1
		for j < len(s) && isIdentPart(s[j]) {
			j++
		}
		word := s[i:j]
		// String prefixes: E'..' (escapes), N'..', X'..', B'..', U&'..',
		// and MySQL charset introducers _utf8mb4'..'.
		if j < len(s) && s[j] == '\'' && (len(word) == 1 && strings.ContainsAny(word, "eEnNxXbB") ||
			l.d == MySQL && word[0] == '_') {
			escapes := l.d == Postgres && (word == "e" || word == "E")
			t, err := l.str(i, j, escapes)
			t.introduced = true
			return t, err
		}
		if l.d == Postgres && (word == "U" || word == "u") && strings.HasPrefix(s[j:], "&") {
			return token{}, l.fail(i, "Unicode escape string U&")
		}
		l.pos = j
		return token{kind: tWord, text: word, start: i, end: j}, nil
	}
	return l.operator(i)
}

// str reads a string literal whose opening quote is at q (the token starts
// at start, before any prefix). MySQL strings, and PostgreSQL E” strings,
// take backslash escapes; everywhere a doubled quote is one quote.
func (l *lexer) str(start, q int, pgEscapes bool) (token, error) {
	s := l.src
	quote := s[q]
	backslash := l.d == MySQL || pgEscapes
	var b strings.Builder
	for j := q + 1; j < len(s); j++ {
		c := s[j]
		switch {
		case c == '\\' && backslash:
			if j+1 >= len(s) {
				return token{}, l.fail(start, "unterminated string")
			}
			j++
			b.WriteByte(unescape(s[j]))
		case c == quote:
			if j+1 < len(s) && s[j+1] == quote {
				b.WriteByte(quote)
				j++
				continue
			}
			l.pos = j + 1
			if l.d == Postgres && followsNewline(s, l.pos) {
				// 'a'\n'b' is one string in PostgreSQL; grant does not read it.
				return token{}, l.fail(start, "string continued on the next line")
			}
			return token{kind: tString, text: b.String(), start: start, end: j + 1}, nil
		default:
			b.WriteByte(c)
		}
	}
	return token{}, l.fail(start, "unterminated string")
}

// followsNewline reports whether whitespace with a newline, then a quote,
// follows position i: PostgreSQL's string continuation.
func followsNewline(s string, i int) bool {
	newline := false
	for ; i < len(s); i++ {
		switch s[i] {
		case '\n', '\r':
			newline = true
		case ' ', '\t', '\f':
		case '\'':
			return newline
		default:
			return false
		}
	}
	return false
}

func unescape(c byte) byte {
	switch c {
	case 'n':
		return '\n'
	case 't':
		return '\t'
	case 'r':
		return '\r'
	case '0':
		return 0
	case 'b':
		return '\b'
	case 'Z':
		return 26
	}
	return c
}

func (l *lexer) quotedIdent(i int) (token, error) {
	s := l.src
	closeQuote := s[i]
	if closeQuote == '[' {
		closeQuote = ']'
	}
	var b strings.Builder
	for j := i + 1; j < len(s); j++ {
		if s[j] == closeQuote {
			if closeQuote != ']' && j+1 < len(s) && s[j+1] == closeQuote {
				b.WriteByte(closeQuote)
				j++
				continue
			}
			l.pos = j + 1
			if b.Len() == 0 {
				return token{}, l.fail(i, "empty quoted identifier")
			}
			return token{kind: tIdent, text: b.String(), start: i, end: j + 1}, nil
		}
		b.WriteByte(s[j])
	}
	return token{}, l.fail(i, "unterminated quoted identifier")
}

// dollar reads a PostgreSQL $tag$…$tag$ string.
func (l *lexer) dollar(i int) (token, error) {
	s := l.src
	j := i + 1
	for j < len(s) && s[j] != '$' && isIdentPart(s[j]) && s[j] != '$' {
		j++
	}
	if j >= len(s) || s[j] != '$' {
		return token{}, l.fail(i, "stray '$'")
	}
	tag := s[i : j+1]
	end := strings.Index(s[j+1:], tag)
	if end < 0 {
		return token{}, l.fail(i, "unterminated dollar-quoted string")
	}
	body := s[j+1 : j+1+end]
	l.pos = j + 1 + end + len(tag)
	return token{kind: tString, text: body, start: i, end: l.pos}, nil
}

func (l *lexer) number(i int) (token, error) {
	s := l.src
	j := i
	if s[j] == '0' && j+1 < len(s) && (s[j+1] == 'x' || s[j+1] == 'X') {
		return token{}, l.fail(i, "hexadecimal number")
	}
	for j < len(s) && isDigit(s[j]) {
		j++
	}
	if j < len(s) && s[j] == '.' {
		j++
		for j < len(s) && isDigit(s[j]) {
			j++
		}
	}
	if j < len(s) && (s[j] == 'e' || s[j] == 'E') {
		k := j + 1
		if k < len(s) && (s[k] == '+' || s[k] == '-') {
			k++
		}
		if k < len(s) && isDigit(s[k]) {
			for k < len(s) && isDigit(s[k]) {
				k++
			}
			j = k
		}
	}
	if j < len(s) && (isIdentPart(s[j]) || s[j] == '.') {
		// 1abc is an identifier in MySQL, 1.2.3 nothing: not this grammar.
		return token{}, l.fail(i, "number followed by %q", s[j])
	}
	l.pos = j
	return token{kind: tNumber, text: s[i:j], start: i, end: j}, nil
}

// operator reads punctuation and operators. PostgreSQL reads the longest
// run of operator characters as one operator (minus a trailing + or - that
// the rest of the run cannot own); the others know a fixed set.
func (l *lexer) operator(i int) (token, error) {
	s := l.src
	c := s[i]
	switch c {
	case '(', ')', ',', '.', ';', '[', ']':
		l.pos = i + 1
		return token{kind: tOp, text: s[i : i+1], start: i, end: i + 1}, nil
	}
	if l.d == Postgres {
		if c == ':' {
			if strings.HasPrefix(s[i:], "::") {
				l.pos = i + 2
				return token{kind: tOp, text: "::", start: i, end: i + 2}, nil
			}
			return token{}, l.fail(i, "unexpected ':'")
		}
		j := i
		for j < len(s) && strings.IndexByte("+-*/<>=~!@#%^&|`?", s[j]) >= 0 {
			if j > i && (strings.HasPrefix(s[j:], "--") || strings.HasPrefix(s[j:], "/*")) {
				break
			}
			j++
		}
		if j == i {
			return token{}, l.fail(i, "unexpected %q", c)
		}
		op := s[i:j]
		if len(op) > 1 && !strings.ContainsAny(op, "~!@#%^&|`?") {
			for len(op) > 1 && (op[len(op)-1] == '+' || op[len(op)-1] == '-') {
				op = op[:len(op)-1]
			}
		}
		l.pos = i + len(op)
		return token{kind: tOp, text: op, start: i, end: l.pos}, nil
	}
	for _, op := range []string{"<=>", "<>", "<=", ">=", "!=", "==", "||", "&&", "<<", ">>", ":="} {
		if strings.HasPrefix(s[i:], op) {
			l.pos = i + len(op)
			return token{kind: tOp, text: op, start: i, end: l.pos}, nil
		}
	}
	if strings.IndexByte("+-*/%<>=~!&|^", c) >= 0 {
		l.pos = i + 1
		return token{kind: tOp, text: s[i : i+1], start: i, end: i + 1}, nil
	}
	return token{}, l.fail(i, "unexpected %q", c)
}

// skip passes whitespace and comments. PostgreSQL's block comments nest;
// MySQL's "-- " needs the space and '#' starts a comment; MySQL's
// executable comments (/*! … */) run their body, which grant does not read.
func (l *lexer) skip() error {
	s := l.src
	for l.pos < len(s) {
		i, c := l.pos, s[l.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			l.pos++
		case c == 0:
			return l.fail(i, "NUL byte")
		case c == '-' && strings.HasPrefix(s[i:], "--") &&
			(l.d != MySQL || i+2 == len(s) || s[i+2] <= ' '):
			l.lineComment(i)
		case c == '#' && l.d == MySQL:
			l.lineComment(i)
		case c == '/' && strings.HasPrefix(s[i:], "/*"):
			if l.d == MySQL && (strings.HasPrefix(s[i:], "/*!") || strings.HasPrefix(s[i:], "/*M!")) {
				return l.fail(i, "MySQL executable comment")
			}
			if err := l.blockComment(i); err != nil {
				return err
			}
		default:
			return nil
		}
	}
	return nil
}

func (l *lexer) lineComment(i int) {
	if j := strings.IndexAny(l.src[i:], "\r\n"); j >= 0 {
		l.pos = i + j + 1
	} else {
		l.pos = len(l.src)
	}
}

func (l *lexer) blockComment(i int) error {
	s := l.src
	depth := 0
	for j := i; j+1 < len(s); j++ {
		switch {
		case s[j] == '/' && s[j+1] == '*':
			if depth > 0 && l.d != Postgres {
				j++
				continue // only PostgreSQL nests
			}
			depth++
			j++
		case s[j] == '*' && s[j+1] == '/':
			depth--
			j++
			if depth == 0 {
				l.pos = j + 1
				return nil
			}
		}
	}
	return l.fail(i, "unterminated comment")
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c >= 0x80
}
func isIdentPart(c byte) bool { return isIdentStart(c) || isDigit(c) || c == '$' }
