package callbacks

import (
	"strings"

	"github.com/grant-go/grant/sharding/scatter/sqlexpr"
)

// The lexer below is shared by ClassifyIn and TableOfIn. It reads a text
// with one dialect's rules — where that server ends each literal, quoted
// identifier and comment, and which MySQL comments it executes — and yields
// words, quoted runs and punctuation, without allocating.

type tokKind uint8

const (
	tEOF    tokKind = iota
	tWord           // unquoted identifier, keyword, number, parameter or SQLite variable
	tQuoted         // literal, quoted identifier or dollar-quoted body: prefix and quotes included
	tPunct          // any other single byte
)

type token struct {
	kind   tokKind
	text   string
	dotted bool // right after '.': a column or field (t.delete), not a keyword
}

func (t token) is(c byte) bool { return t.kind == tPunct && t.text[0] == c }
func (t token) end() bool      { return t.kind == tEOF || t.is(';') }

// Session settings that move where literals end, numbered per dialect: a
// text is lexed once per setting a session may be in (modeCount).
const (
	modeDefault    = 0 // PostgreSQL standard_conforming_strings=on; MySQL's default sql_mode
	pgModeEscapes  = 1 // PostgreSQL standard_conforming_strings=off: '...' takes backslash escapes
	myModeAnsi     = 1 // MySQL ANSI_QUOTES: "..." is an identifier, without escapes
	myModeNoEscape = 2 // MySQL NO_BACKSLASH_ESCAPES: no backslash escapes anywhere
)

func modeCount(d sqlexpr.Dialect) int {
	switch d {
	case sqlexpr.Postgres:
		return 2
	case sqlexpr.MySQL:
		return 3
	}
	return 1
}

// What a MySQL server does with a conditional comment (/*!, /*M!), chosen
// per comment by the lexer's mask, since it depends on the server and its
// version.
const (
	condExec  = iota // runs the body as SQL
	condSkip         // a later version's: a comment, which may hold one /* */
	condPlain        // MySQL reading MariaDB's /*M!: a plain comment
	condKinds
	maxConds = 4 // more conditional comments than this make a text a write
)

type lexer struct {
	s       string
	pos     int
	d       sqlexpr.Dialect
	mode    int  // session setting, see modeDefault
	mask    int  // condExec... for each conditional comment, base condKinds, the first lowest
	conds   int  // conditional comments met
	inExec  bool // inside the body of a conditional comment the server runs
	ended   bool // the last token was ';' or the end
	bad     bool // unterminated literal or comment: the server reads no statement here
	modeSet bool // MySQL: a SET of sql_mode or the client character set was read
}

// next returns the next token, skipping whitespace and comments; its text is
// a substring of s.
func (l *lexer) next() token {
	l.skip()
	s, i := l.s, l.pos
	if i >= len(s) {
		l.ended, l.bad = true, l.bad || l.inExec
		return token{}
	}
	t := token{kind: tQuoted, dotted: i > 0 && s[i-1] == '.'}
	switch c := s[i]; {
	case c == '\'':
		l.pos = l.literal(i, false, false)
	case c == '"' && l.d == sqlexpr.MySQL:
		l.pos = l.quoted(i, l.mode == modeDefault, true)
	case c == '"', c == '`' && l.d != sqlexpr.Postgres:
		l.pos = l.quoted(i, false, true)
	case c == '[' && l.d == sqlexpr.SQLite:
		l.pos = l.until(i+1, "]")
	case c == '$' && l.d == sqlexpr.Postgres:
		t.kind = l.dollar(i)
	case l.d == sqlexpr.SQLite && strings.IndexByte("$@:#", c) >= 0:
		t.kind = l.variable(i)
	case isIdent(c):
		t.kind = l.word(i)
	default:
		l.pos, t.kind = i+1, tPunct
	}
	t.text = s[i:l.pos]
	if l.ended = t.is(';'); l.ended {
		l.inExec = false // MySQL lexes each statement afresh
	}
	return t
}

// literal returns the end of the '...' string opening at i; escapes says an
// E prefix came before it, bits a B or X prefix.
func (l *lexer) literal(i int, escapes, bits bool) int {
	if l.d != sqlexpr.Postgres {
		if bits {
			return l.until(i+1, "'") // a hex or bit string ends at its first quote
		}
		return l.quoted(i, l.d == sqlexpr.MySQL && l.mode != myModeNoEscape, true)
	}
	// Each part of a string continued on the next line ('a'\n'b') is read
	// like the first.
	escapes = escapes || l.mode == pgModeEscapes && !bits
	for {
		end := l.quoted(i, escapes, !bits)
		if i = continuation(l.s, end); i < 0 {
			return end
		}
	}
}

// quoted returns the end of the run opening at i with quote s[i]. A
// backslash escapes the next byte if escapes is set; a doubled quote is one
// quote if doubled is.
func (l *lexer) quoted(i int, escapes, doubled bool) int {
	s, q := l.s, l.s[i]
	for j := i + 1; j < len(s); j++ {
		if c := s[j]; c == '\\' && escapes {
			j++
		} else if c == q {
			if !doubled || j+1 >= len(s) || s[j+1] != q {
				return j + 1
			}
			j++
		}
	}
	l.bad = true
	return len(s)
}

// until returns the end of the first delim at or after from.
func (l *lexer) until(from int, delim string) int {
	if j := strings.Index(l.s[from:], delim); j >= 0 {
		return from + j + len(delim)
	}
	l.bad = true
	return len(l.s)
}

// continuation returns where a PostgreSQL string continues after its closing
// quote at end-1 — whitespace holding a newline (and "--" comments), then a
// quote — or -1.
func continuation(s string, end int) int {
	j, newline := end, false
	for j < len(s) {
		switch c := s[j]; {
		case c == '\n' || c == '\r':
			j, newline = j+1, true
		case c == ' ' || c == '\t' || c == '\f' || c == '\v':
			j++
		case c == '-' && strings.HasPrefix(s[j:], "--"):
			k := strings.IndexAny(s[j:], "\n\r")
			if k < 0 {
				return -1 // a comment continues a string only up to a newline
			}
			j += k
		case c == '\'' && newline:
			return j
		default:
			return -1
		}
	}
	return -1
}

// word reads an identifier, keyword or number at i, or a one-letter string
// prefix and its string.
func (l *lexer) word(i int) tokKind {
	s := l.s
	number := isDigit(s[i]) && l.d == sqlexpr.Postgres // a PostgreSQL number ends before '$'
	j := i + 1
	for j < len(s) && isIdent(s[j]) && !(number && s[j] == '$') {
		j++
	}
	l.pos = j
	if j-i > 1 || j >= len(s) {
		return tWord
	}
	pg := l.d == sqlexpr.Postgres
	switch p := s[i] | 0x20; {
	case s[j] != '\'':
		if p == 'u' && pg && strings.HasPrefix(s[j:], "&'") {
			l.pos = l.literal(j+1, false, false) // U&'...': refused if standard_conforming_strings=off
		} else if p == 'u' && pg && strings.HasPrefix(s[j:], `&"`) {
			l.pos = l.quoted(j+1, false, true)
		} else {
			return tWord
		}
	case p == 'e' && pg:
		l.pos = l.literal(j, true, false)
	case p == 'x' || p == 'b' && l.d != sqlexpr.SQLite:
		l.pos = l.literal(j, false, true)
	default:
		return tWord // N'...', or an ordinary word before a string
	}
	return tQuoted
}

// dollar reads a PostgreSQL token opening with '$' at i: a $n parameter, a
// $tag$...$tag$ string, or '$' alone.
func (l *lexer) dollar(i int) tokKind {
	s, j := l.s, i+1
	if j < len(s) && isDigit(s[j]) {
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		l.pos = j
		return tWord
	}
	for j < len(s) && s[j] != '$' && isIdent(s[j]) {
		j++
	}
	if j >= len(s) || s[j] != '$' {
		l.pos = i + 1
		return tPunct
	}
	l.pos = l.until(j+1, s[i:j+1])
	return tQuoted
}

// variable reads an SQLite $name, @name, :name or #name parameter at i,
// including Tcl's $name(any text without spaces) and $a::b; a sigil with no
// name is punctuation.
func (l *lexer) variable(i int) tokKind {
	s, j, named := l.s, i+1, false
scan:
	for j < len(s) {
		switch c := s[j]; {
		case isIdent(c):
			j, named = j+1, true
		case c == '(' && named:
			for j++; j < len(s) && !isSpace(s[j]) && s[j] != ')'; j++ {
			}
			if j < len(s) && s[j] == ')' {
				j++
			}
			break scan
		case c == ':' && strings.HasPrefix(s[j:], "::"):
			j += 2
		default:
			break scan
		}
	}
	if !named {
		l.pos = i + 1
		return tPunct
	}
	l.pos = j
	return tWord
}

// skip passes whitespace and comments: "--" comments (MySQL: only before a
// space or control character), MySQL's '#' comments, /* */ comments, which
// nest in PostgreSQL, and the end of an executed MySQL comment body.
func (l *lexer) skip() {
	s, my := l.s, l.d == sqlexpr.MySQL
	for l.pos < len(s) {
		switch i, c := l.pos, s[l.pos]; {
		case isSpace(c):
			l.pos++
		case c == '-' && strings.HasPrefix(s[i:], "--") && (!my || i+2 == len(s) || s[i+2] <= ' ' || s[i+2] == 0x7f),
			c == '#' && my:
			newlines := "\n"
			if l.d == sqlexpr.Postgres {
				newlines = "\n\r"
			}
			if j := strings.IndexAny(s[i:], newlines); j >= 0 {
				l.pos = i + j + 1
			} else {
				l.pos = len(s)
			}
		case c == '*' && l.inExec && strings.HasPrefix(s[i:], "*/"):
			l.pos, l.inExec = i+2, false
		case c == '/' && my && (strings.HasPrefix(s[i:], "/*!") || strings.HasPrefix(s[i:], "/*M!")):
			l.conditional(i)
		case c == '/' && strings.HasPrefix(s[i:], "/*"):
			if l.d != sqlexpr.Postgres {
				l.pos = l.until(i+2, "*/")
				continue
			}
			depth, j := 0, i
			for l.pos = len(s); j+1 < len(s); j++ {
				if s[j] == '/' && s[j+1] == '*' {
					depth, j = depth+1, j+1
				} else if s[j] == '*' && s[j+1] == '/' {
					if depth, j = depth-1, j+1; depth == 0 {
						l.pos = j + 1
						break
					}
				}
			}
			l.bad = l.bad || depth > 0
		default:
			return
		}
	}
}

// conditional reads a MySQL /*! or MariaDB /*M! comment at i as the mask
// chooses: running its body (after a version of five or more digits), or as
// a later version's comment, or (/*M! on MySQL) as a plain one.
func (l *lexer) conditional(i int) {
	s, body := l.s, i+3
	mariadb := s[i+2] == 'M'
	if mariadb {
		body++
	}
	digits := body
	for digits < len(s) && isDigit(s[digits]) {
		digits++
	}
	versioned := digits-body >= 5
	choice := condExec
	if l.conds < maxConds {
		choice = l.mask
		for range l.conds {
			choice /= condKinds
		}
		choice %= condKinds
	}
	l.conds++
	switch {
	case choice == condSkip && versioned:
		for j := body - 1; j+1 < len(s); j++ { // one /* */ may nest
			if s[j] == '/' && s[j+1] == '*' {
				j = l.until(j+2, "*/") - 1
			} else if s[j] == '*' && s[j+1] == '/' {
				l.pos = j + 2
				return
			}
		}
		l.pos, l.bad = len(s), true
	case choice == condPlain && mariadb:
		l.pos = l.until(i+2, "*/")
	default:
		if l.pos, l.inExec = body, true; versioned {
			l.pos = digits // grant skips every digit: the server may take 5 or 6
		}
	}
}

// multiByteHazard reports a non-ASCII byte right before a backslash (or a
// MySQL backtick): a client character set whose second bytes include them
// reads the pair as one character, where UTF-8 sees an escape or a quote.
func multiByteHazard(d sqlexpr.Dialect, sql string) bool {
	if d == sqlexpr.SQLite {
		return false
	}
	for i := 1; i < len(sql); i++ {
		if c := sql[i]; sql[i-1] >= 0x80 && (c == '\\' || c == '`' && d == sqlexpr.MySQL) {
			return true
		}
	}
	return false
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isIdent(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || isDigit(c) || c == '_' || c == '$' || c >= 0x80
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
