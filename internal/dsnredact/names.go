package dsnredact

import (
	"strconv"
	"unicode/utf8"
)

// IsPlainName is true for names made of [A-Za-z0-9_-] (and for ""): the
// rule for database, shard, role and node names.
func IsPlainName(v string) bool {
	for _, r := range v {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// Name is Redact for anything but a plain name: a table called
// "passwords" stays readable, a DSN pasted where a name belongs loses its
// password.
func Name(v string) string {
	if IsPlainName(v) {
		return v
	}
	return Redact(v)
}

// Quote quotes a value for an error message: redacted as Name, and
// shortened to 60 characters.
func Quote(v string) string {
	v = Name(v)
	if utf8.RuneCountInString(v) > 60 {
		v = string([]rune(v)[:57]) + "..."
	}
	return strconv.Quote(v)
}

// JoinKey appends a key to a key path ("databases" + "primary"); the key
// is redacted as Name, since a path is printed in errors.
func JoinKey(path, key string) string {
	if path == "" {
		return Name(key)
	}
	return path + "." + Name(key)
}
