package callbacks

import (
	"strconv"
	"strings"
)

// SQLKind says what a raw SQL text does, for routing and write prevention.
type SQLKind uint8

const (
	// SQLWrite changes data or schema, takes row locks, or is unknown. It goes
	// to the writer and is refused under prevent-writes. It is the zero value
	// so that a forgotten classification fails safe.
	SQLWrite SQLKind = iota
	// SQLRead only reads (SELECT without locking or INTO, SHOW, EXPLAIN without
	// ANALYZE, DESCRIBE, VALUES, TABLE). It may go to a replica.
	SQLRead
	// SQLSessionControl controls the transaction or session (BEGIN, START
	// TRANSACTION, COMMIT, END, ROLLBACK, ABORT, SAVEPOINT, RELEASE, SET, RESET,
	// DISCARD). It goes to the writer, where the transaction lives, but is
	// allowed under prevent-writes.
	SQLSessionControl

	noStatement SQLKind = 255 // internal: only comments or ";" between two ";"
)

var kindNames = [...]string{"write", "read", "session-control"}

// String returns "write", "read" or "session-control".
func (k SQLKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "SQLKind(" + strconv.Itoa(int(k)) + ")"
}

// Classify reports what sql does. It never panics and does not allocate.
//
// It errs towards SQLWrite, because a write sent to a replica fails or, worse,
// a locking read there locks nothing: empty or unknown text, an unterminated
// literal or comment, and a statement list holding any write are SQLWrite.
// Otherwise a list holding a session-control statement is SQLSessionControl.
// A read is a write if a word outside literals and comments is INSERT, UPDATE,
// DELETE, MERGE, INTO, LOCK or SHARE (FOR UPDATE, FOR SHARE, LOCK IN SHARE
// MODE, SELECT INTO, data-modifying CTEs), or if it calls a function with side
// effects or writer-session state (nextval, setval, currval, lastval,
// last_insert_id, get_lock, release_lock, pg_advisory_*). An unquoted column
// so named makes a read a write too: a false positive costs only a replica hit.
// EXPLAIN and its MySQL synonyms DESCRIBE and DESC are reads unless ANALYZE
// makes the server run the statement, which is then classified instead. SET
// PASSWORD, SET GLOBAL/PERSIST, SET DEFAULT ROLE, RESET MASTER/REPLICA/SLAVE/
// PERSIST/BINARY LOGS and any START but START TRANSACTION administer the
// server, not the session, and are writes.
//
// Lexing unites MySQL and PostgreSQL, choosing whichever sees more words:
// backslash escapes in '...' and "..." (so PostgreSQL's '\' usually ends up
// unterminated: a write); # and --x are comments only before a statement's
// first word, since later they are operators (jsonb #>, MySQL 5--1) while
// "-- " always is one; /* */ does not nest; MySQL /*! */ bodies are SQL.
func Classify(sql string) SQLKind {
	l := lexer{s: sql, lead: true}
	kind := noStatement
	for l.pos < len(l.s) {
		k := l.stmt()
		if k == SQLWrite {
			return SQLWrite
		}
		if k != noStatement && kind != SQLSessionControl {
			kind = k
		}
	}
	if kind == noStatement || l.bad {
		return SQLWrite
	}
	return kind
}

// TableOf returns the first table the statement reads or writes: the name
// after FROM, UPDATE, INTO or TABLE, with quotes ("", backticks, []) stripped
// from each part and a schema prefix kept as "schema.table"; "" if there is
// none. FROM inside a function call (EXTRACT(YEAR FROM ts)) or after IS
// DISTINCT, and UPDATE after FOR, KEY or DO do not name tables. The result is
// a substring of sql, so it does not allocate, unless the name is quoted in
// more than one part or contains escaped quotes.
func TableOf(sql string) string {
	l := lexer{s: sql, lead: true}
	var query uint64 = 1 // bit d: parenthesis depth d holds a query, not a call or a list
	depth := 0
	var prev token
	for t := l.next(); t.kind != tEOF; prev, t = t, l.next() {
		if t.kind == tWord && prev.is('(') && depth < 64 && oneOf(t.text, "SELECT", "WITH", "VALUES", "TABLE") {
			query |= 1 << depth
		}
		switch {
		case t.is('('):
			if depth++; depth < 64 {
				query &^= 1 << depth
			}
		case t.is(')'):
			depth = max(depth-1, 0)
		case t.kind != tWord || t.dotted || depth < 64 && query&(1<<depth) == 0:
		case eq(t.text, "FROM") && !(prev.kind == tWord && eq(prev.text, "DISTINCT")),
			eq(t.text, "UPDATE") && !(prev.kind == tWord && oneOf(prev.text, "FOR", "KEY", "DO")),
			oneOf(t.text, "INTO", "TABLE"):
			if name := l.name(); name != "" {
				return name
			}
		}
	}
	return ""
}

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
func (l *lexer) stmt() SQLKind {
	t := l.next()
	if t.end() {
		return noStatement
	}
	for { // loops again on the statement EXPLAIN ANALYZE runs
		for t.is('(') {
			t = l.next()
		}
		if t.kind != tWord {
			return SQLWrite
		}
		switch w := t.text; {
		case oneOf(w, "SELECT", "WITH", "VALUES", "TABLE"):
			return l.rest(l.next(), scanWrites, SQLRead)
		case eq(w, "SHOW"):
			return l.rest(l.next(), scanNone, SQLRead)
		case oneOf(w, "EXPLAIN", "DESCRIBE", "DESC"):
			analyze, inner := l.explain()
			if inner.end() {
				return SQLWrite // nothing to explain: unparsable
			}
			if !analyze {
				return l.rest(inner, scanNone, SQLRead)
			}
			t = inner
		case eq(w, "START"):
			if t = l.next(); t.kind != tWord || !eq(t.text, "TRANSACTION") {
				return SQLWrite // START REPLICA, START GROUP_REPLICATION...
			}
			return l.rest(l.next(), scanAdmin, SQLSessionControl)
		case eq(w, "SET"):
			if t = l.next(); t.kind == tWord && eq(t.text, "DEFAULT") {
				return SQLWrite // MySQL SET DEFAULT ROLE persists a grant
			}
			return l.rest(t, scanAdmin, SQLSessionControl)
		case oneOf(w, "BEGIN", "COMMIT", "END", "ROLLBACK", "ABORT", "SAVEPOINT", "RELEASE", "RESET", "DISCARD"):
			return l.rest(l.next(), scanAdmin, SQLSessionControl)
		default:
			return SQLWrite
		}
	}
}

// explain consumes EXPLAIN options, old style (ANALYZE VERBOSE, FORMAT=JSON)
// or parenthesized (ANALYZE false, BUFFERS), and reports whether they make the
// server execute the statement, whose first token it returns.
func (l *lexer) explain() (analyze bool, inner token) {
	t := l.next()
	if t.is('(') {
		depth, name, pending := 1, true, false
		for depth > 0 {
			if t = l.next(); t.end() {
				return true, t
			}
			if pending && !(t.kind == tWord && oneOf(t.text, "FALSE", "OFF", "0")) {
				analyze = true // any value but an explicit false, or none, runs it
			}
			pending = false
			switch {
			case t.is('('):
				depth++
			case t.is(')'):
				depth--
			case t.is(','):
				name = depth == 1
			case name && t.kind == tWord:
				name, pending = false, oneOf(t.text, "ANALYZE", "ANALYSE")
			}
		}
		return analyze, l.next()
	}
	for ; t.kind == tWord; t = l.next() {
		switch {
		case oneOf(t.text, "ANALYZE", "ANALYSE"):
			analyze = true
		case oneOf(t.text, "VERBOSE", "EXTENDED", "PARTITIONS"):
		case eq(t.text, "FORMAT"):
			if t = l.next(); t.is('=') {
				t = l.next()
			}
		default:
			return analyze, t
		}
	}
	return analyze, t
}

type scanMode uint8

const (
	scanNone   scanMode = iota // consume only
	scanWrites                 // stop at a write word or side-effect call
	scanAdmin                  // also stop at server-administration words
)

// rest consumes the statement from t through its ';' and returns SQLWrite if
// it meets a word that mode counts as a write (stopping there), else clean.
func (l *lexer) rest(t token, mode scanMode, clean SQLKind) SQLKind {
	for ; !t.end(); t = l.next() {
		if mode != scanNone && t.kind == tWord && l.writes(t, mode == scanAdmin) {
			return SQLWrite
		}
	}
	return clean
}

// writes reports whether word t makes its statement a write. Side-effect
// functions count only when called, so that a column of the same name does
// not, but even when schema-qualified (pg_catalog.nextval).
func (l *lexer) writes(t token, admin bool) bool {
	w := t.text
	switch {
	case t.dotted:
	case oneOf(w, "INSERT", "UPDATE", "DELETE", "MERGE", "INTO", "LOCK", "SHARE"),
		admin && oneOf(w, "PASSWORD", "GLOBAL", "PERSIST", "PERSIST_ONLY", "MASTER", "SLAVE", "REPLICA", "LOGS"):
		return true
	}
	return (oneOf(w, "NEXTVAL", "SETVAL", "CURRVAL", "LASTVAL", "LAST_INSERT_ID", "GET_LOCK", "RELEASE_LOCK", "RELEASE_ALL_LOCKS") ||
		hasPrefixFold(w, "PG_ADVISORY_") || hasPrefixFold(w, "PG_TRY_ADVISORY_")) &&
		strings.HasPrefix(strings.TrimLeft(l.s[l.pos:], " \t\r\n"), "(")
}

// name reads a table name at the current position, skipping modifiers (ONLY,
// IF NOT EXISTS...). On failure it rewinds, so the caller can scan into a
// subquery instead.
func (l *lexer) name() string {
	save := l.pos
	t := l.next()
	for t.kind == tWord && oneOf(t.text, "ONLY", "LATERAL", "LOW_PRIORITY", "IGNORE", "TEMP", "TEMPORARY",
		"UNLOGGED", "TABLE", "IF", "NOT", "EXISTS", "OUTFILE", "DUMPFILE") {
		t = l.next()
	}
	begin, plain := l.pos-len(t.text), true
	for {
		switch {
		case t.kind == tWord:
		case t.kind == tQuoted && (t.text[0] == '"' || t.text[0] == '`') && !l.bad:
			plain = false
		case t.is('[') && strings.IndexByte(l.s[l.pos:], ']') >= 0:
			l.pos += strings.IndexByte(l.s[l.pos:], ']') + 1
			plain = false
		default:
			l.pos = save
			return ""
		}
		if l.pos >= len(l.s) || l.s[l.pos] != '.' {
			break
		}
		l.pos++
		t = l.next()
	}
	if plain {
		return l.s[begin:l.pos]
	}
	return unquote(l.s[begin:l.pos])
}

// unquote strips identifier quotes from each dot-separated part of raw, which
// name has checked is well formed.
func unquote(raw string) string {
	if q := closer(raw[0]); q != 0 && len(raw) >= 2 && raw[len(raw)-1] == q && strings.IndexByte(raw[1:len(raw)-1], q) < 0 {
		return raw[1 : len(raw)-1] // one part, no escapes: no need to copy
	}
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		q := closer(raw[i])
		if q == 0 {
			b.WriteByte(raw[i])
			continue
		}
		for i++; i < len(raw) && (raw[i] != q || i+1 < len(raw) && raw[i+1] == q); i++ {
			if raw[i] == q {
				i++ // doubled quote
			}
			b.WriteByte(raw[i])
		}
	}
	return b.String()
}

func closer(c byte) byte {
	switch c {
	case '"', '`':
		return c
	case '[':
		return ']'
	}
	return 0
}

// next returns the next token, skipping whitespace and comments; its text is
// a substring of s.
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
