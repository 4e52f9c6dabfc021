package callbacks

import (
	"strings"
)

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
