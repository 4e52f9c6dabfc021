package resolver

import (
	"net/url"
	"strings"
)

// redactedPassword replaces passwords wherever grant prints a DSN.
const redactedPassword = "xxxxx"

// RedactDSN returns dsn with its password replaced by "xxxxx". It understands
// the forms our drivers take: URLs (postgres://user:pw@host/db), key=value
// (host=h password=pw), and the MySQL driver's user:pw@tcp(host)/db. Text it
// does not recognise is returned unchanged only when it holds no '@' or
// "password"; otherwise it is replaced wholesale, because an unreadable DSN
// that may hold a secret must not be printed.
func RedactDSN(dsn string) string {
	if pw := PasswordOf(dsn); pw != "" {
		return strings.ReplaceAll(dsn, pw, redactedPassword)
	}
	if strings.Contains(strings.ToLower(dsn), "password") {
		return "<dsn redacted>"
	}
	return dsn
}

// PasswordOf extracts the password from dsn in any form RedactDSN knows, or "".
func PasswordOf(dsn string) string {
	if i := strings.Index(dsn, "://"); i > 0 {
		if u, err := url.Parse(dsn); err == nil {
			if pw, ok := u.User.Password(); ok {
				return pw
			}
			if pw := u.Query().Get("password"); pw != "" {
				return pw
			}
			return ""
		}
	}
	if pw := keyValuePassword(dsn); pw != "" {
		return pw
	}
	// MySQL: user:password@protocol(address)/dbname
	if at := strings.LastIndex(dsn, "@"); at > 0 {
		cred := dsn[:at]
		if c := strings.Index(cred, ":"); c >= 0 && !strings.ContainsAny(cred, " =") {
			return cred[c+1:]
		}
	}
	if q := strings.Index(dsn, "?"); q >= 0 {
		if v, err := url.ParseQuery(dsn[q+1:]); err == nil {
			return v.Get("password")
		}
	}
	return ""
}

// keyValuePassword finds password=... in libpq's key=value form, quoted or not.
func keyValuePassword(dsn string) string {
	for _, field := range splitKeyValue(dsn) {
		k, v, ok := strings.Cut(field, "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "password") {
			return strings.Trim(strings.TrimSpace(v), "'")
		}
	}
	return ""
}

// splitKeyValue splits on spaces outside single quotes.
func splitKeyValue(s string) []string {
	var fields []string
	var quoted bool
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\'':
			quoted = !quoted
		case ' ':
			if !quoted {
				if i > start {
					fields = append(fields, s[start:i])
				}
				start = i + 1
			}
		}
	}
	if start < len(s) {
		fields = append(fields, s[start:])
	}
	return fields
}
