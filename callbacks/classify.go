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
