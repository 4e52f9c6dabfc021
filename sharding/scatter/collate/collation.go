package collate

import (
	"errors"
	"fmt"
	"strings"
)

// Dialects, as gorm's Dialector.Name() spells them.
const (
	Postgres = "postgres"
	MySQL    = "mysql"
	SQLite   = "sqlite"
)

// ErrUnknownCollation is wrapped by the errors of Lookup and Resolve for a
// collation the database or the dialect does not have.
var ErrUnknownCollation = errors.New("unknown collation")

// Collation compares text as one database does under one collation.
//
// Implementations in this package are immutable and safe for concurrent
// use.
type Collation interface {
	// Name is the collation as the database names it, e.g.
	// "utf8mb4_general_ci", "en-x-icu", "C.UTF-8", "BINARY".
	Name() string
	// Native reports whether Compare and Key are implemented in Go. A
	// collation that is not native must be ranked through the database (see
	// Rank).
	Native() bool
	// Compare orders a and b as the database does (-1, 0, +1); only for
	// Native collations (it panics on the others).
	Compare(a, b string) int
	// Key appends to dst an equality key: Key(a) == Key(b) exactly when
	// Compare(a, b) == 0. Keys are not self-delimiting: to combine the keys
	// of several values, prefix each with its length. Only for Native
	// collations (it panics on the others).
	Key(dst []byte, s string) []byte
}

// Spec describes a collation as a catalog does. LoadTable and Lookup fill
// it in; Resolve turns it into a Collation without asking the database.
type Spec struct {
	// Name is the collation's name in the catalog: pg_collation.collname
	// ("default", "C", "en-x-icu"), MariaDB's COLLATION_NAME
	// ("utf8mb4_general_ci", "binary"), or SQLite's ("NOCASE").
	Name string
	// Schema is the PostgreSQL schema of the collation; empty means it is
	// found through the search path.
	Schema string
	// Provider is PostgreSQL's collation provider: "c" (libc), "i" (ICU)
	// or "b" (builtin). For "default" it is the database's provider.
	Provider string
	// Locale is PostgreSQL's locale: collcollate for libc, the ICU or
	// builtin locale otherwise. For "default" it is the database's.
	Locale string
	// Nondeterministic is set for PostgreSQL collations whose equality is
	// not byte equality (CREATE COLLATION … deterministic = false).
	Nondeterministic bool
	// Charset is MariaDB's character set of the collation; empty means the
	// part of Name before the first '_'.
	Charset string
	// Type is the SQL type of the compared values. It matters on
	// PostgreSQL, where char(n) ("bpchar", "character") ignores trailing
	// spaces and types like citext have comparisons of their own; empty
	// means text. Length modifiers ("varchar(20)") are ignored. A type
	// outside pg_catalog is schema-qualified ("public.citext").
	Type string
}

// order is how a native collation compares.
type order uint8

const (
	orderRank         order = iota // not native: rank through the database
	orderBytes                     // byte order, then length
	orderTrim                      // trailing U+0020 removed, then byte order
	orderPad                       // PAD SPACE over code points (MariaDB *_bin)
	orderGeneral                   // MariaDB general_ci weights, PAD SPACE
	orderGeneralNoPad              // MariaDB general_ci weights, NO PAD
	orderNoCase                    // SQLite NOCASE
)

// collation is this package's Collation. It knows its dialect and SQL
// type so that Rank can name it to the database.
type collation struct {
	dialect string
	spec    Spec
	order   order
}

// Resolve returns the collation a Spec describes on a dialect, without
// contacting the database: it decides whether the collation is native from
// the Spec alone. It fails for an unknown dialect, an empty name, or names
// and types that Rank could not put into SQL safely. Resolve is safe for
// concurrent use.
func Resolve(dialect string, s Spec) (Collation, error) {
	if s.Name == "" {
		return nil, fmt.Errorf("collate: %s: empty collation name: %w", dialect, ErrUnknownCollation)
	}
	c := &collation{dialect: dialect, spec: s}
	switch dialect {
	case Postgres:
		t, err := pgType(s.Type)
		if err != nil {
			return nil, err
		}
		c.spec.Type = t
		c.order = pgOrder(c.spec)
	case MySQL:
		if c.spec.Charset == "" {
			c.spec.Charset, _, _ = strings.Cut(s.Name, "_")
		}
		if !isWord(c.spec.Name) || !isWord(c.spec.Charset) {
			return nil, fmt.Errorf("collate: mysql: collation %q of character set %q is not a plain name: %w", s.Name, c.spec.Charset, ErrUnknownCollation)
		}
		c.order = mysqlOrder(c.spec.Name)
	case SQLite:
		c.spec.Name, c.order = sqliteOrder(s.Name)
	default:
		return nil, fmt.Errorf("collate: unknown dialect %q", dialect)
	}
	return c, nil
}

// WithType returns c applied to values of another SQL type, as for
// "CAST(x AS char(5)) COLLATE …" on PostgreSQL, where char(n) compares
// without trailing spaces; on the other dialects, and for collations not
// from this package, it returns c unchanged. Errors are those of Resolve.
func WithType(c Collation, sqlType string) (Collation, error) {
	cc, ok := c.(*collation)
	if !ok || cc.dialect != Postgres {
		return c, nil
	}
	s := cc.spec
	s.Type = sqlType
	return Resolve(cc.dialect, s)
}

func (c *collation) Name() string {
	if c.dialect == Postgres && c.spec.Name == "default" && c.spec.Locale != "" {
		return c.spec.Locale
	}
	return c.spec.Name
}

func (c *collation) Native() bool { return c.order != orderRank }

func (c *collation) String() string { return c.dialect + " collation " + c.Name() }

// pgType normalizes a PostgreSQL type name to what comparisons depend on:
// "text", "bpchar", "name", or another type's (possibly qualified) name.
func pgType(t string) (string, error) {
	t = strings.TrimSpace(t)
	if i := strings.IndexByte(t, '('); i >= 0 {
		t = strings.TrimSpace(t[:i])
	}
	switch strings.ToLower(t) {
	case "", "text", "varchar", "character varying", "pg_catalog.text", "pg_catalog.varchar":
		return "text", nil
	case "bpchar", "char", "character", "pg_catalog.bpchar":
		return "bpchar", nil
	case "name", "pg_catalog.name":
		return "name", nil
	}
	for _, part := range strings.Split(t, ".") {
		if !isWord(part) {
			return "", fmt.Errorf("collate: postgres: type %q is not a plain, possibly schema-qualified name", t)
		}
	}
	return t, nil
}

// pgOrder decides whether a PostgreSQL collation is native: byte order
// for the C locales on the types whose comparison is the collation's, if
// deterministic (PostgreSQL breaks ties of strcoll by bytes, so equality
// is byte equality).
func pgOrder(s Spec) order {
	if s.Nondeterministic {
		return orderRank
	}
	bytewise := false
	switch s.Provider {
	case "c", "b", "":
		bytewise = s.Locale == "C" || s.Locale == "POSIX" || isCUTF8(s.Locale)
	}
	// A Spec written by hand may name only the collation.
	if s.Locale == "" && s.Provider == "" {
		bytewise = s.Name == "C" || s.Name == "POSIX" || s.Name == "ucs_basic" || s.Name == "pg_c_utf8" || isCUTF8(s.Name)
	}
	if !bytewise {
		return orderRank
	}
	switch s.Type {
	case "text", "name":
		return orderBytes
	case "bpchar":
		return orderTrim
	}
	return orderRank
}

// isCUTF8 reports whether a locale is C.UTF-8 in one of the spellings
// glibc and PostgreSQL accept ("C.UTF-8", "C.utf8").
func isCUTF8(locale string) bool {
	l := strings.ToLower(strings.ReplaceAll(locale, "-", ""))
	return l == "c.utf8"
}

// mysqlOrder decides whether a MariaDB collation is native.
func mysqlOrder(name string) order {
	switch strings.ToLower(name) {
	case "binary", "utf8mb4_nopad_bin", "utf8mb3_nopad_bin", "utf8_nopad_bin":
		return orderBytes
	case "utf8mb4_bin", "utf8mb3_bin", "utf8_bin":
		return orderPad
	case "utf8mb4_general_ci", "utf8mb3_general_ci", "utf8_general_ci":
		return orderGeneral
	case "utf8mb4_general_nopad_ci", "utf8mb3_general_nopad_ci", "utf8_general_nopad_ci":
		return orderGeneralNoPad
	}
	return orderRank
}

// sqliteOrder returns the canonical name of a SQLite collation (built-in
// names are case-insensitive) and how it compares.
func sqliteOrder(name string) (string, order) {
	switch strings.ToUpper(name) {
	case "BINARY":
		return "BINARY", orderBytes
	case "NOCASE":
		return "NOCASE", orderNoCase
	case "RTRIM":
		return "RTRIM", orderTrim
	}
	return name, orderRank
}

// isWord reports whether s is a non-empty run of ASCII letters, digits and
// underscores: safe to put into SQL unquoted.
func isWord(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
