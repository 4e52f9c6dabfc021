package callbacks

import (
	"strconv"
	"strings"

	"github.com/grant-go/grant/sharding/scatter/sqlexpr"
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

// worse returns whichever of a and b must go to the writer rather: a write,
// then session control, then a read, then no statement.
func worse(a, b SQLKind) SQLKind {
	if kindRank(b) > kindRank(a) {
		return b
	}
	return a
}

func kindRank(k SQLKind) int {
	if ranks := [...]int{SQLWrite: 3, SQLRead: 1, SQLSessionControl: 2}; int(k) < len(ranks) {
		return ranks[k]
	}
	return 0 // no statement
}

// Classify reports what sql does when the caller does not know the server:
// the conservative union of ClassifyIn over PostgreSQL, MySQL and SQLite. It
// is a write if any of them would write, else session control if any would
// control the session, so a text that only one dialect's lexing turns into a
// write ('\' ends a PostgreSQL string, # starts a MySQL comment, /*! */ runs)
// is a write. Callers that know the dialect use ClassifyIn, which sends fewer
// reads to the writer. It never panics and does not allocate.
func Classify(sql string) SQLKind {
	kind := noStatement
	for _, d := range [...]sqlexpr.Dialect{sqlexpr.MySQL, sqlexpr.Postgres, sqlexpr.SQLite} {
		if kind = worse(kind, ClassifyIn(d, sql)); kind == SQLWrite {
			break
		}
	}
	return kind
}

// ClassifyIn reports what sql does on a server of dialect d (Classify for
// any other d). It never panics and does not allocate.
//
// It errs towards SQLWrite, because a write sent to a replica fails or, worse,
// a locking read there locks nothing: empty or unknown text, an unterminated
// literal or comment, a NUL byte, and a statement list holding any write are
// SQLWrite. Otherwise a list holding a session-control statement is
// SQLSessionControl. A read is a write if a word outside literals and comments
// is INSERT, UPDATE, DELETE, MERGE, INTO, LOCK or SHARE (FOR UPDATE, FOR
// SHARE, LOCK IN SHARE MODE, SELECT INTO, data-modifying CTEs), or if it calls
// a function with side effects or writer-session state (nextval, setval,
// currval, lastval, last_insert_id, get_lock, release_lock, pg_advisory_*,
// pg_notify, lo_*...; also quoted, schema-qualified, or with comments before
// the parenthesis) or reads NEXT VALUE FOR. An unquoted column so named makes
// a read a write too: a false positive costs only a replica hit. EXPLAIN and
// its MySQL synonyms DESCRIBE and DESC are reads unless ANALYZE makes the
// server run the statement, which is then classified instead. SET PASSWORD,
// SET GLOBAL/PERSIST, SET DEFAULT ROLE, RESET MASTER/REPLICA/SLAVE/PERSIST/
// BINARY LOGS and any START but START TRANSACTION administer the server, not
// the session, and are writes. On MySQL, BEGIN is session control only as
// BEGIN [WORK] (MariaDB's BEGIN NOT ATOMIC, and BEGIN under sql_mode=ORACLE,
// run a compound statement), and SET STATEMENT ... FOR s is classified as s.
//
// Lexing follows the server's own rules, and every session setting that moves
// where a literal ends; the text is a write if it writes under any of them.
// PostgreSQL: standard_conforming_strings on ('\' is a string) and off;
// E'...' takes backslash escapes; U&'...', B'...', X'...'; a string continued
// after a newline keeps its kind; $tag$ quotes; /* */ nests; "--" ends at a
// newline or carriage return. MySQL and MariaDB: backslash escapes in '...'
// and "..." unless NO_BACKSLASH_ESCAPES; "..." an identifier under
// ANSI_QUOTES; '#' and "-- " (a space or control character after the dashes)
// comment to a newline, so 5--1 subtracts; /* */ does not nest; a /*! or
// /*M! comment either runs its body as SQL (past a version number) or is a
// comment, and every combination over up to four such comments is
// classified (more are a write); a SET of sql_mode or the character set
// followed by another statement, and a non-ASCII byte before a backslash or
// backtick (a multi-byte client character set such as gbk or sjis may read
// the pair as one character), are writes. PostgreSQL's converted client
// encodings share the backslash rule. SQLite: '...' without escapes, "...",
// `...` and [...] identifiers, $name(...) Tcl variables.
//
// Functions are opaque: a user-defined function that writes is a read.
func ClassifyIn(d sqlexpr.Dialect, sql string) SQLKind {
	modes := modeCount(d)
	switch {
	case d != sqlexpr.Postgres && d != sqlexpr.MySQL && d != sqlexpr.SQLite:
		return Classify(sql)
	case strings.IndexByte(sql, 0) >= 0, multiByteHazard(d, sql):
		return SQLWrite
	case strings.IndexByte(sql, '\\') < 0:
		modes = 1 // the settings only differ on backslashes
	}
	kind := noStatement
	for mode := range modes {
		for mask, masks := 0, 1; mask < masks; mask++ {
			l := lexer{s: sql, d: d, mode: mode, mask: mask}
			k := l.pass(mode == modeDefault && mask == 0)
			if k == SQLWrite || l.conds > maxConds {
				return SQLWrite
			}
			masks = max(masks, pow(condKinds, l.conds)) // every choice for the comments met
			kind = worse(kind, k)
		}
	}
	return kind
}

func pow(b, n int) int {
	p := 1
	for range n {
		p *= b
	}
	return p
}

// pass classifies the whole text under the lexer's setting. A strict pass
// keeps ClassifyIn's promises: an unterminated literal or no statement is a
// write. The others classify what a server in that setting would run, which
// stops at a literal it cannot end: PostgreSQL then runs nothing, MySQL and
// SQLite the statements before it.
func (l *lexer) pass(strict bool) SQLKind {
	kind, modeSet := noStatement, false
	for l.pos < len(l.s) {
		k := l.stmt(strict)
		switch {
		case l.bad && strict:
			return SQLWrite
		case l.bad && l.d == sqlexpr.Postgres:
			return noStatement
		case l.bad:
			return kind
		case k == noStatement:
			continue
		case k == SQLWrite, modeSet:
			// After SET sql_mode or SET NAMES, MySQL lexes the next statements
			// by rules no pass has followed.
			return SQLWrite
		}
		kind, modeSet = worse(kind, k), l.modeSet
	}
	if strict && (kind == noStatement || l.bad) {
		return SQLWrite
	}
	return kind
}

// stmt classifies one statement and consumes it through its ';', so that an
// unterminated literal in it is seen, unless it is a write and strict, which
// makes the text a write anyway.
func (l *lexer) stmt(strict bool) SQLKind {
	t := l.next()
	if t.end() {
		return noStatement
	}
	k := l.statement(t)
	for !l.ended && !(strict && k == SQLWrite) {
		l.next()
	}
	return k
}

// statement classifies the statement whose first token is t.
func (l *lexer) statement(t token) SQLKind {
	for { // loops again on the statement EXPLAIN ANALYZE or SET STATEMENT runs
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
			return l.rest(l.next(), scanWrites, SQLRead) // SHOW ... WHERE may call get_lock()
		case oneOf(w, "EXPLAIN", "DESCRIBE", "DESC"):
			analyze, inner := l.explain()
			if inner.end() {
				return SQLWrite // nothing to explain: unparsable
			}
			if !analyze {
				return SQLRead
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
			if l.d != sqlexpr.MySQL || t.kind != tWord || !eq(t.text, "STATEMENT") {
				return l.rest(t, scanAdmin, SQLSessionControl)
			}
			// MariaDB SET STATEMENT var=value... FOR statement: that statement.
			for t = l.next(); !(t.kind == tWord && eq(t.text, "FOR")); t = l.next() {
				if t.end() || t.kind != tPunct && l.writes(t, true) {
					return SQLWrite
				}
			}
			t = l.next()
		case eq(w, "BEGIN") && l.d == sqlexpr.MySQL:
			// BEGIN [WORK]; MariaDB's BEGIN NOT ATOMIC, and BEGIN under
			// sql_mode=ORACLE, run a compound statement.
			if t = l.next(); t.kind == tWord && eq(t.text, "WORK") {
				t = l.next()
			}
			if !t.end() {
				return SQLWrite
			}
			return SQLSessionControl
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
	scanWrites scanMode = iota // stop at a write word or side-effect call
	scanAdmin                  // also stop at server-administration words
)

// rest reads the statement from t and returns SQLWrite if it meets a word
// that mode counts as a write (stopping there), else clean.
func (l *lexer) rest(t token, mode scanMode, clean SQLKind) SQLKind {
	for ; !t.end(); t = l.next() {
		if t.kind != tPunct && l.writes(t, mode == scanAdmin) {
			return SQLWrite
		}
	}
	return clean
}

// writes reports whether word or quoted identifier t makes its statement a
// write. Side-effect functions count only when called, so that a column of
// the same name does not, but even when quoted, schema-qualified
// (pg_catalog.nextval) or with a comment before the parenthesis.
func (l *lexer) writes(t token, admin bool) bool {
	w := t.text
	if t.kind == tQuoted {
		name, ok := l.identifier(w)
		return ok && (name == "" || classOf(name) == callWord) && l.calls() // U&"..." may spell any name
	}
	if admin && l.d == sqlexpr.MySQL && oneOf(w, "SQL_MODE", "NAMES", "CHARSET", "CHARACTER", "CHARACTER_SET_CLIENT") {
		l.modeSet = true
	}
	switch class := classOf(w); {
	case class == callWord:
		return l.calls()
	case t.dotted:
		return false
	case class == writeWord, admin && oneOf(w, "PASSWORD", "GLOBAL", "PERSIST", "PERSIST_ONLY", "MASTER", "SLAVE", "REPLICA", "LOGS"):
		return true
	case oneOf(w, "NEXT", "PREVIOUS"): // MariaDB NEXT VALUE FOR seq
		next := l.peek()
		return next.kind == tWord && eq(next.text, "VALUE")
	}
	return false
}

const (
	plainWord = iota
	writeWord // INSERT, UPDATE, DELETE, MERGE, INTO, LOCK, SHARE
	callWord  // a function with side effects or writer-session state
)

// classOf says whether w makes a statement a write, or does when called.
func classOf(w string) int {
	if len(w) < 4 {
		return plainWord
	}
	var writes, calls bool
	switch w[0] | 0x20 {
	case 'i':
		writes = eq(w, "INSERT") || eq(w, "INTO")
	case 'u':
		writes = eq(w, "UPDATE")
	case 'd':
		writes, calls = eq(w, "DELETE"), eq(w, "DBLINK_EXEC")
	case 'm':
		writes = eq(w, "MERGE")
	case 'l':
		writes, calls = eq(w, "LOCK"), oneOf(w, "LASTVAL", "LAST_INSERT_ID") || hasPrefixFold(w, "LO_")
	case 's':
		writes, calls = eq(w, "SHARE"), eq(w, "SETVAL")
	case 'n':
		calls = eq(w, "NEXTVAL")
	case 'c':
		calls = eq(w, "CURRVAL")
	case 'g':
		calls = eq(w, "GET_LOCK")
	case 'r':
		calls = oneOf(w, "RELEASE_LOCK", "RELEASE_ALL_LOCKS")
	case 't':
		calls = eq(w, "TXID_CURRENT")
	case 'p':
		calls = oneOf(w, "PG_NOTIFY", "PG_CURRENT_XACT_ID", "PG_LOGICAL_EMIT_MESSAGE") ||
			hasPrefixFold(w, "PG_ADVISORY_") || hasPrefixFold(w, "PG_TRY_ADVISORY_")
	}
	if writes {
		return writeWord
	}
	if calls {
		return callWord
	}
	return plainWord
}

// calls reports whether the next token is '('.
func (l *lexer) calls() bool { return l.peek().is('(') }

// peek returns the next token without consuming it.
func (l *lexer) peek() token {
	saved := *l
	t := l.next()
	*l = saved
	return t
}
