// Package dsnredact hides the secrets in data source names before they are
// printed: in error messages, logs and the status page. It finds a password
// by parsing the DSN the way its driver would, not by searching for the
// password's text, so a percent-encoded, quoted or escaped password is found
// where it is written and replaced there, and the rest of the DSN is kept
// for debugging.
//
// It links no driver. It reads the generic forms itself, and tries each of
// them on every DSN, because a DSN does not say which driver it is for:
//
//   - PostgreSQL URLs (postgres:// and postgresql://), split the way pgx
//     splits them: the userinfo password and the password and sslpassword
//     query parameters;
//   - other URLs (scheme://user:password@host/…?password=…), split by net/url;
//   - libpq key=value strings, with pgx's quoting and backslash escapes
//     (password and sslpassword, and the keys below in any letter case);
//   - ADO.NET and ODBC key=value;key=value strings (Password=…; PWD={…});
//   - query parameters named password, passwd, pwd, pass, sslpassword or
//     _auth_pass (case-insensitive) after a '?' in any text.
//
// A driver's own form (the MySQL driver's user:password@net(address)/db)
// is read by a Reader its grant adapter adds (AddReader) when it is
// registered. What one reading calls a secret is replaced whatever the
// others say. Text that no reading accepts is returned unchanged only when
// it holds neither an '@' nor "passw"; otherwise it is replaced wholesale
// by [Unparsable]. So is a DSN whose URL has an '@' outside its userinfo (a
// password with an unescaped '/', '?' or '@' spills there), any result
// that would still show a password, and any result in which a secret's key
// (password=, pwd=, …) is still followed by a value other than the mask: a
// DSN of a driver whose adapter is not registered is hidden, not printed.
package dsnredact

import (
	"net/url"
	"sort"
	"strings"
)

// Mask replaces each password (and each other secret) in a redacted DSN.
const Mask = "xxxxx"

// Unparsable replaces a whole DSN that may hold a secret Redact cannot place.
const Unparsable = "<unparsable DSN redacted>"

// Redact returns dsn with every password and other secret replaced by Mask
// and the rest unchanged, or Unparsable when the secrets cannot be placed
// with certainty (see the package documentation). The result never shows
// a password found in dsn, as written, decoded or percent-encoded, more
// often than dsn shows that text outside the password (user "postgres"
// with password "postgres" keeps its user).
func Redact(dsn string) string {
	if out, ok := redact(dsn); ok {
		return out
	}
	return Unparsable
}

// Password returns the login password in dsn, decoded as its driver decodes
// it, or "" when it has none. When readings disagree, a PostgreSQL URL wins
// over another URL, then key=value, then the forms adapters added.
func Password(dsn string) string {
	for _, r := range readAll(dsn) {
		if pw := r.password(); pw != "" {
			return pw
		}
	}
	return ""
}

// redact is Redact with false instead of Unparsable.
func redact(dsn string) (string, bool) {
	claimed := false
	var secrets []secret
	for _, r := range readAll(dsn) {
		if r.ambiguous {
			return "", false
		}
		claimed = claimed || r.claims
		for _, s := range r.secrets {
			if dsn[s.start:s.end] != Mask { // already redacted
				secrets = append(secrets, s)
			}
		}
	}
	if !claimed && mayHoldSecret(dsn) {
		return "", false
	}
	if len(secrets) == 0 {
		return dsn, !exposesSecretKey(dsn)
	}
	out, kept := splice(dsn, secrets)
	for _, s := range secrets {
		if leaks(out, kept, dsn[s.start:s.end], s.values) {
			return "", false
		}
	}
	// Read the result again: a reading that changed shape or sees a secret
	// that is not the mask means the replacement did not settle.
	for _, r := range readAll(out) {
		if r.ambiguous {
			return "", false
		}
		for _, s := range r.secrets {
			if v := s.values[0]; v != "" && v != Mask {
				return "", false
			}
		}
	}
	return out, !exposesSecretKey(out)
}

// mayHoldSecret reports whether text no reading accepts might still hold a
// password.
func mayHoldSecret(s string) bool {
	return strings.Contains(s, "@") || strings.Contains(strings.ToLower(s), "passw")
}

// splice replaces the secrets' spans, merged where they overlap or touch,
// by Mask. kept is the text left between the spans.
func splice(s string, secrets []secret) (out string, kept []string) {
	sort.Slice(secrets, func(i, j int) bool { return secrets[i].start < secrets[j].start })
	var b strings.Builder
	pos := 0
	for i := 0; i < len(secrets); {
		start, end := secrets[i].start, secrets[i].end
		for i++; i < len(secrets) && secrets[i].start <= end; i++ {
			end = max(end, secrets[i].end)
		}
		kept = append(kept, s[pos:start])
		b.WriteString(s[pos:start])
		b.WriteString(Mask)
		pos = end
	}
	kept = append(kept, s[pos:])
	b.WriteString(s[pos:])
	return b.String(), kept
}

// leaks reports whether out shows the secret written raw in the DSN, with
// decoded values. A spelling found within raw (raw itself, or a quoted
// value's content) may appear in out only as often as in the kept text:
// "postgres" stays as the user when it is also the password. Any other
// spelling (decoded, percent-encoded) may not appear at all.
func leaks(out string, kept []string, raw string, values []string) bool {
	forms := []string{raw}
	for _, v := range values {
		if v != "" {
			forms = append(forms, v, url.QueryEscape(v), url.PathEscape(v), userinfoEscape(v))
		}
	}
	for _, form := range forms {
		if !strings.Contains(raw, form) {
			if strings.Contains(out, form) {
				return true
			}
			continue
		}
		inKept := 0
		for _, k := range kept {
			inKept += strings.Count(k, form)
		}
		if strings.Count(out, form) > inKept {
			return true
		}
	}
	return false
}

// userinfoEscape is v percent-encoded as net/url writes a userinfo password.
func userinfoEscape(v string) string {
	return strings.TrimPrefix(url.UserPassword("", v).String(), ":")
}
