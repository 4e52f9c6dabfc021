package dsnredact

import (
	"strings"
	"sync"
	"sync/atomic"
)

// Secret is one secret an adapter's Reader found in a DSN: dsn[Start:End]
// is the secret as written (quotes and escapes included), Value what the
// driver decodes it to.
type Secret struct {
	Start, End int
	Value      string
	// Login marks the login password (what Password returns), as opposed
	// to another secret such as a key file's passphrase.
	Login bool
}

// Reading is what one DSN form, read by an adapter's Reader, makes of a
// text.
type Reading struct {
	// Parses reports that the text is a DSN of this form: Redact then
	// trusts the reading's secrets. A text no form parses is kept only
	// when it holds neither an '@' nor "passw".
	Parses bool
	// Unsure reports that the text parses but a secret cannot be placed
	// with certainty (the driver reads a password elsewhere than where it
	// is written): Redact then hides the whole DSN.
	Unsure  bool
	Secrets []Secret
}

// Reader reads DSNs of one driver's own form (the MySQL driver's
// user:password@tcp(host)/db): the adapter of that driver supplies it, so
// that this package links no driver. A Reader must not panic and must
// return spans within the text.
type Reader func(dsn string) Reading

var (
	readersMu sync.Mutex
	readers   atomic.Pointer[[]Reader]
)

// AddReader adds a DSN form to those Redact and Password try on every DSN.
// Adapters add theirs when they are registered; it is safe for concurrent
// use.
func AddReader(r Reader) {
	readersMu.Lock()
	defer readersMu.Unlock()
	var next []Reader
	if cur := readers.Load(); cur != nil {
		next = append(next, *cur...)
	}
	next = append(next, r)
	readers.Store(&next)
}

// added returns the readers adapters added.
func added() []Reader {
	if r := readers.Load(); r != nil {
		return *r
	}
	return nil
}

// reading turns an adapter's Reading of s into the package's own form,
// each secret with the other decodings of its text as well. A span outside
// s makes the reading unsure.
func (r Reading) reading(s string) reading {
	out := reading{claims: r.Parses, ambiguous: r.Unsure}
	for _, sec := range r.Secrets {
		if sec.Start < 0 || sec.End < sec.Start || sec.End > len(s) {
			return reading{ambiguous: true}
		}
		raw := s[sec.Start:sec.End]
		values := []string{sec.Value}
		for _, v := range []string{raw, pgDecode(raw), queryDecode(raw)} {
			if v != values[0] {
				values = append(values, v)
			}
		}
		out.secrets = append(out.secrets, secret{start: sec.Start, end: sec.End, values: values, login: sec.Login})
	}
	return out
}

// readSemicolon reads the key=value;key=value form of ADO.NET and ODBC
// connection strings (SQL Server, Oracle's and others' drivers): keys may
// hold spaces ("User ID"), a value may be quoted with '"' or '\” (a
// doubled quote stands for one) or, as in ODBC, with braces (a doubled '}'
// stands for one). A secret's span is its whole value, quotes included.
// The text is claimed only when it holds a ';' and every segment is a
// key=value pair.
func readSemicolon(s string) (r reading) {
	if !strings.Contains(s, ";") || strings.Contains(s, "\x00") {
		return r
	}
	var secrets []secret
	for pos := 0; pos < len(s); {
		eq := strings.IndexByte(s[pos:], '=')
		semi := strings.IndexByte(s[pos:], ';')
		if semi >= 0 && (eq < 0 || semi < eq) { // a segment without '='
			if strings.TrimSpace(s[pos:pos+semi]) != "" {
				return r
			}
			pos += semi + 1
			continue
		}
		if eq < 0 {
			if strings.TrimSpace(s[pos:]) != "" {
				return r
			}
			break
		}
		key := strings.ToLower(strings.TrimSpace(s[pos : pos+eq]))
		if key == "" {
			return r
		}
		pos += eq + 1
		for pos < len(s) && s[pos] == ' ' {
			pos++
		}
		start := pos
		var value string
		if pos < len(s) && (s[pos] == '"' || s[pos] == '\'' || s[pos] == '{') {
			closing := s[pos]
			if closing == '{' {
				closing = '}'
			}
			var b strings.Builder
			for pos++; ; pos++ {
				if pos >= len(s) {
					return reading{ambiguous: true} // unterminated: the value's end is a guess
				}
				if s[pos] == closing {
					if pos+1 < len(s) && s[pos+1] == closing {
						b.WriteByte(closing)
						pos++
						continue
					}
					pos++
					break
				}
				b.WriteByte(s[pos])
			}
			value = b.String()
			end := pos
			for pos < len(s) && s[pos] == ' ' {
				pos++
			}
			if pos < len(s) && s[pos] != ';' {
				return reading{ambiguous: true}
			}
			if isSecretKey(key) && value != "" {
				secrets = append(secrets, secret{start: start, end: end, values: []string{value}, login: !strings.HasPrefix(key, "ssl")})
			}
		} else {
			end := pos + indexAnyOrLen(s[pos:], ";")
			value = strings.TrimRight(s[start:end], " ")
			if isSecretKey(key) && value != "" {
				secrets = append(secrets, secret{start: start, end: start + len(value), values: []string{value}, login: !strings.HasPrefix(key, "ssl")})
			}
			pos = end
		}
		if pos < len(s) {
			pos++ // the ';'
		}
	}
	r.claims, r.secrets = true, secrets
	return r
}

// secretKeys are the parameter names whose value is a secret, in every
// form: a key=value, a URL query, a semicolon-separated string.
var secretKeys = []string{"password", "passwd", "pwd", "pass", "sslpassword", "_auth_pass"}

// isSecretKey reports whether a lower-case parameter name holds a secret.
func isSecretKey(name string) bool {
	for _, k := range secretKeys {
		if name == k {
			return true
		}
	}
	return false
}

// exposesSecretKey is the last check of a redaction: it reports whether
// out still shows a secret's key (password, pwd, …, as a whole word, in
// any letter case) followed by '=' or ':' and a value that is neither
// empty nor the mask. A DSN of a form no reading knows, from an adapter
// that is not registered, is thus hidden whole rather than printed with
// its password.
func exposesSecretKey(out string) bool {
	lower := strings.ToLower(out)
	for _, key := range secretKeys {
		for from := 0; ; {
			i := strings.Index(lower[from:], key)
			if i < 0 {
				break
			}
			at := from + i
			from = at + len(key)
			if at > 0 && isWordByte(lower[at-1]) {
				continue
			}
			rest := strings.TrimLeft(lower[from:], " \t")
			if rest == "" || rest[0] != '=' && rest[0] != ':' {
				continue
			}
			value := strings.TrimLeft(rest[1:], " \t")
			if value == "" || strings.HasPrefix(value, Mask) || strings.HasPrefix(value, "''") || strings.HasPrefix(value, `""`) || strings.HasPrefix(value, "{}") {
				continue
			}
			switch value[0] {
			case ' ', '\t', ';', '&', ')', ',', '@':
				continue // an empty value
			case '\'', '"', '{':
				if strings.HasPrefix(value[1:], Mask) {
					continue
				}
			}
			return true
		}
	}
	return false
}

func isWordByte(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_'
}
