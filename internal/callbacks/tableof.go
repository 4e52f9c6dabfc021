package callbacks

import (
	"strings"

	"github.com/grant-go/grant/sharding/scatter/sqlexpr"
)

// TableOf is TableOfIn for a caller that does not know the server: the first
// name PostgreSQL's, MySQL's or SQLite's lexing finds, in that order.
func TableOf(sql string) string {
	for _, d := range [...]sqlexpr.Dialect{sqlexpr.Postgres, sqlexpr.MySQL, sqlexpr.SQLite} {
		if name := TableOfIn(d, sql); name != "" {
			return name
		}
	}
	return ""
}

// TableOfIn returns the first table the statement reads or writes on a server
// of dialect d (TableOf for any other d), lexed as ClassifyIn lexes it in the
// session's default settings: the name after FROM, UPDATE, INTO or TABLE,
// with the dialect's identifier quotes ("", backticks, []) stripped from each
// part and a schema prefix kept as "schema.table"; "" if there is none. FROM
// inside a function call (EXTRACT(YEAR FROM ts)) or after IS DISTINCT, and
// UPDATE after FOR, KEY or DO do not name tables. The result is a substring of
// sql, so it does not allocate, unless the name is quoted in more than one
// part or contains escaped quotes.
func TableOfIn(d sqlexpr.Dialect, sql string) string {
	if d != sqlexpr.Postgres && d != sqlexpr.MySQL && d != sqlexpr.SQLite {
		return TableOf(sql)
	}
	l := lexer{s: sql, d: d}
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
		case t.kind == tQuoted && !l.bad && closer(t.text[0]) != 0:
			if _, ok := l.identifier(t.text); !ok {
				l.pos = save
				return ""
			}
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

// identifier returns the name inside quoted identifier q (without undoubling
// quotes), "" for a PostgreSQL U&"..." whose escapes may spell anything, and
// false for a literal.
func (l *lexer) identifier(q string) (string, bool) {
	switch c := q[0]; {
	case len(q) < 2:
		return "", false // unterminated: a write anyway
	case c == '"' && (l.d != sqlexpr.MySQL || l.mode == myModeAnsi), c == '`', c == '[':
		return q[1 : len(q)-1], true
	case (c == 'U' || c == 'u') && len(q) > 2 && q[2] == '"':
		return "", true
	}
	return "", false
}
