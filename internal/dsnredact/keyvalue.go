package dsnredact

import "strings"

// readKeyValue reads libpq's key=value form as pgx's
// parseKeywordValueSettings does: keys and values separated by '=' with
// optional spaces, a value single-quoted or not, a backslash taking the next
// byte literally. A secret's span is its whole value, quotes included, so
// "password='a b'" becomes "password=xxxxx".
//
// The text is claimed only when it parses and every key looks like a
// keyword ([A-Za-z0-9_.-]): pgx takes any key as a run-time parameter, so a
// URL or a MySQL DSN would otherwise parse as one odd key.
func readKeyValue(s string) (r reading) {
	if strings.Contains(s, "\x00") {
		return r
	}
	claims := true
	pos := 0
	skip := func() {
		for pos < len(s) && isSpace(s[pos]) {
			pos++
		}
	}
	for skip(); pos < len(s); skip() {
		eq := strings.IndexByte(s[pos:], '=')
		if eq < 0 {
			return r
		}
		key := strings.Trim(s[pos:pos+eq], " \t\n\r\v\f")
		if key == "" || strings.ContainsAny(key, " \t\n\r\v\f") {
			return r
		}
		claims = claims && isKeyword(key)
		pos += eq + 1
		skip()
		start := pos
		var raw string
		if pos < len(s) && s[pos] == '\'' {
			for pos++; pos < len(s) && s[pos] != '\''; pos++ {
				if s[pos] == '\\' {
					pos++
				}
			}
			if pos >= len(s) {
				return r // unterminated quote
			}
			raw = s[start+1 : pos]
			pos++
		} else {
			for ; pos < len(s) && !isSpace(s[pos]); pos++ {
				if s[pos] == '\\' {
					pos++
				}
			}
			pos = min(pos, len(s))
			raw = s[start:pos]
		}
		name := strings.ToLower(key)
		if v := unescapeValue(raw); v != "" && isSecretKey(name) {
			r.secrets = append(r.secrets, secret{start: start, end: pos, values: []string{v}, login: !strings.HasPrefix(name, "ssl")})
		}
	}
	r.claims = claims
	return r
}

// unescapeValue drops each backslash and keeps the byte after it.
func unescapeValue(raw string) string {
	if !strings.Contains(raw, `\`) {
		return raw
	}
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		if raw[i] == '\\' {
			i++
			if i == len(raw) {
				break
			}
		}
		b.WriteByte(raw[i])
	}
	return b.String()
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// isKeyword reports whether key could be a libpq keyword or a run-time
// parameter name.
func isKeyword(key string) bool {
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}
