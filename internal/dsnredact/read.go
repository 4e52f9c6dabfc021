package dsnredact

import (
	"net/url"
	"strings"
)

// secret is one secret in a DSN: its text as written, dsn[start:end], and
// the values drivers decode that text to (values[0] is its reading's own).
type secret struct {
	start, end int
	values     []string
	login      bool // the login password, not an sslpassword
}

// reading is what one DSN form makes of a text.
type reading struct {
	claims    bool // the text parses in this form
	ambiguous bool // it parses, with an '@' where a stranded password would leave it
	secrets   []secret
}

// password is the login password the reading's driver would use: the last
// one given, as in pgx and libpq.
func (r reading) password() string {
	pw := ""
	for _, s := range r.secrets {
		if s.login {
			pw = s.values[0]
		}
	}
	return pw
}

// readAll reads s in every form, in the order Password prefers them: the
// built-in forms, then those of the readers added by adapters.
func readAll(s string) []reading {
	out := []reading{readPostgresURL(s), readURL(s), readKeyValue(s), readSemicolon(s)}
	for _, read := range added() {
		out = append(out, read(s).reading(s))
	}
	return append(out, readQuery(s))
}

// readPostgresURL reads a postgres:// or postgresql:// URL the way pgx's
// parseURLSettings (after libpq) splits it: the userinfo ends at the first
// '@' before any '/', hosts and ports end at "/?,", the query follows the
// database's '?'.
func readPostgresURL(s string) (r reading) {
	p, ok := strings.CutPrefix(s, "postgresql://")
	if !ok {
		if p, ok = strings.CutPrefix(s, "postgres://"); !ok {
			return r
		}
	}
	if i := strings.IndexAny(p, "@/"); i >= 0 && p[i] == '@' {
		if _, pw, has := strings.Cut(p[:i], ":"); has && pw != "" {
			start := len(s) - len(p) + i - len(pw)
			r.secrets = append(r.secrets, newSecret(start, pw, pgDecode, true))
		}
		p = p[i+1:]
	}
	r.ambiguous = strings.Contains(p, "@")
	for {
		if strings.HasPrefix(p, "[") {
			end := strings.IndexByte(p, ']')
			if end < 2 {
				return r // pgx rejects a missing ']' and an empty IPv6 address
			}
			p = p[end+1:]
			if c := peek(p); c != 0 && c != ':' && c != '/' && c != '?' && c != ',' {
				return r
			}
		} else {
			p = p[indexAnyOrLen(p, ":/?,"):]
		}
		if peek(p) == ':' {
			p = p[1:]
			p = p[indexAnyOrLen(p, "/?,"):]
		}
		if peek(p) != ',' {
			break
		}
		p = p[1:]
	}
	if peek(p) == '/' {
		p = p[indexAnyOrLen(p, "?"):]
	}
	r.claims = !strings.Contains(s, "\x00")
	if peek(p) == '?' {
		r.secrets = append(r.secrets, querySecrets(p[1:], len(s)-len(p)+1, pgDecode)...)
	}
	return r
}

// readURL reads scheme://user:password@host/path?query as net/url does.
func readURL(s string) (r reading) {
	i := strings.Index(s, "://")
	if i <= 0 || !isScheme(s[:i]) {
		return r
	}
	u, err := url.Parse(s)
	if err != nil {
		return r
	}
	r.claims = true
	base, _, _ := strings.Cut(s, "#")
	rest, query, hasQuery := strings.Cut(base, "?")
	authStart, authEnd := i+3, len(rest)
	if j := strings.IndexByte(rest[authStart:], '/'); j >= 0 {
		authEnd = authStart + j
	}
	auth := s[authStart:authEnd]
	if pw, ok := u.User.Password(); ok && pw != "" {
		// userinfo is auth up to its last '@'; the password follows its first ':'.
		c, at := strings.IndexByte(auth, ':'), strings.LastIndexByte(auth, '@')
		r.secrets = append(r.secrets, secret{start: authStart + c + 1, end: authStart + at, values: []string{pw}, login: true})
	}
	r.ambiguous = strings.Contains(s[authEnd:], "@")
	if hasQuery {
		r.secrets = append(r.secrets, querySecrets(query, len(rest)+1, queryDecode)...)
	}
	return r
}

// readQuery reads the key=value pairs after the first '?' of any text. It
// never claims the text: it only finds secrets.
func readQuery(s string) (r reading) {
	if q := strings.IndexByte(s, '?'); q >= 0 {
		r.secrets = querySecrets(s[q+1:], q+1, queryDecode)
	}
	return r
}

// QuerySecrets returns the secrets among the '&'-separated key=value pairs
// of query (password, passwd, pwd, pass, sslpassword, _auth_pass, in any
// letter case), which starts at offset in the DSN, each value decoded as a
// URL query decodes it. Adapters whose DSNs end in URL-style parameters use
// it in their Reader.
func QuerySecrets(query string, offset int) []Secret {
	var out []Secret
	for _, s := range querySecrets(query, offset, queryDecode) {
		out = append(out, Secret{Start: s.start, End: s.end, Value: s.values[0], Login: s.login})
	}
	return out
}

// querySecrets returns the secrets among the '&'-separated key=value pairs
// of query, which starts at offset in the DSN; decode is the reading's own
// decoding of a value.
func querySecrets(query string, offset int, decode func(string) string) []secret {
	var out []secret
	for {
		pair, rest, more := strings.Cut(query, "&")
		if key, value, ok := strings.Cut(pair, "="); ok && value != "" {
			name := strings.ToLower(queryDecode(key))
			if !isSecretKey(name) {
				name = strings.ToLower(pgDecode(key))
			}
			if isSecretKey(name) {
				out = append(out, newSecret(offset+len(key)+1, value, decode, !strings.HasPrefix(name, "ssl")))
			}
		}
		if !more {
			return out
		}
		offset += len(pair) + 1
		query = rest
	}
}

// newSecret is the secret written raw at start, decoded by decode first and
// by the other URL decodings after.
func newSecret(start int, raw string, decode func(string) string, login bool) secret {
	values := []string{decode(raw)}
	for _, v := range []string{pgDecode(raw), queryDecode(raw)} {
		if v != values[0] {
			values = append(values, v)
		}
	}
	return secret{start: start, end: start + len(raw), values: values, login: login}
}

// queryDecode is net/url's decoding of a query value ('+' is a space), or
// raw when it is not valid.
func queryDecode(raw string) string {
	if v, err := url.QueryUnescape(raw); err == nil {
		return v
	}
	return raw
}

// pgDecode is pgx's (and libpq's) decoding of a URL component: spaces
// around it dropped, each valid %XX decoded, '+' kept.
func pgDecode(raw string) string {
	raw = strings.Trim(raw, " ")
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		if raw[i] == '%' && i+2 < len(raw) && isHex(raw[i+1]) && isHex(raw[i+2]) {
			b.WriteByte(unhex(raw[i+1])<<4 | unhex(raw[i+2]))
			i += 2
			continue
		}
		b.WriteByte(raw[i])
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// isScheme reports whether s is a URL scheme: a letter, then letters,
// digits, '+', '-' and '.'.
func isScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !letter && (i == 0 || !('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return s != ""
}

func peek(s string) byte {
	if s == "" {
		return 0
	}
	return s[0]
}

func indexAnyOrLen(s, chars string) int {
	if i := strings.IndexAny(s, chars); i >= 0 {
		return i
	}
	return len(s)
}
