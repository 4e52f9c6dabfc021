package config

import (
	"fmt"
	"strings"
)

// The environment side of the topology file: ${VAR} expansion in values
// and the GRANT_<NAME>_DSN override names.

// expand replaces ${NAME} by the environment variable NAME (which must be
// set), ${NAME:-default} by NAME's value or, when NAME is unset or empty, by
// default, and $$ by $. Any other $ is kept. Values taken from the
// environment are not expanded again. The problem it returns never quotes
// the value, which may hold a password.
func expand(s string, env func(string) (string, bool)) (string, string) {
	if !strings.Contains(s, "$") {
		return s, ""
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		switch {
		case s[i] != '$':
			b.WriteByte(s[i])
			i++
		case i+1 < len(s) && s[i+1] == '$':
			b.WriteByte('$')
			i += 2
		case i+1 >= len(s) || s[i+1] != '{':
			b.WriteByte('$')
			i++
		default:
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", fmt.Sprintf("unterminated ${ at character %d (write $$ for a literal $)", i+1)
			}
			name, def, hasDefault := strings.Cut(s[i+2:i+2+end], ":-")
			if !validEnvName(name) {
				return "", fmt.Sprintf("bad variable reference at character %d: expected ${NAME} or ${NAME:-default}, NAME made of letters, digits and '_' (write $$ for a literal $)", i+1)
			}
			v, ok := env(name)
			switch {
			case hasDefault && v == "":
				v = def
			case !ok:
				return "", fmt.Sprintf("environment variable %s is not set (write ${%s:-default} to give a default)", name, name)
			}
			b.WriteString(v)
			i += 2 + end + 1
		}
	}
	return b.String(), ""
}

func validEnvName(name string) bool {
	if name == "" || name[0] >= '0' && name[0] <= '9' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// overrideVar is the environment variable that replaces the writer DSN of
// a database (overrideVar("primary") is "GRANT_PRIMARY_DSN") or of a shard
// (overrideVar("orders", "shard1") is "GRANT_ORDERS_SHARD1_DSN"): names
// upper-cased, every character outside [A-Z0-9] turned into '_'.
func overrideVar(names ...string) string {
	var b strings.Builder
	b.WriteString("GRANT_")
	for _, name := range names {
		for i := 0; i < len(name); i++ {
			switch c := name[i]; {
			case c >= 'a' && c <= 'z':
				b.WriteByte(c - 'a' + 'A')
			case c >= 'A' && c <= 'Z' || c >= '0' && c <= '9':
				b.WriteByte(c)
			default:
				b.WriteByte('_')
			}
		}
		b.WriteByte('_')
	}
	b.WriteString("DSN")
	return b.String()
}
