package reshard

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// dialect writes the little SQL the workflow needs in each server's words.
// Only PostgreSQL and MySQL/MariaDB have a change stream grant can read.
type dialect struct {
	name string // "postgres" or "mysql"
}

func dialectOf(name string) (dialect, error) {
	switch name {
	case "postgres", "mysql":
		return dialect{name: name}, nil
	}
	return dialect{}, fmt.Errorf("%w: dialect %q has no change stream grant can read (PostgreSQL and MySQL/MariaDB do)", ErrUnsupported, name)
}

func (d dialect) postgres() bool { return d.name == "postgres" }

func (d dialect) quote(ident string) string {
	if d.postgres() {
		return pgx.Identifier{ident}.Sanitize()
	}
	return quoteIdent(ident)
}

func (d dialect) quoteAll(idents []string) string {
	q := make([]string, len(idents))
	for i, s := range idents {
		q[i] = d.quote(s)
	}
	return strings.Join(q, ", ")
}

// placeholder is the n-th (1-based) parameter marker.
func (d dialect) placeholder(n int) string {
	if d.postgres() {
		return "$" + strconv.Itoa(n)
	}
	return "?"
}

// tuple is "(p1, p2, ...)" for width parameters starting after n already
// used; it returns the new count.
func (d dialect) tuple(width, n int) (string, int) {
	var b strings.Builder
	b.WriteByte('(')
	for i := range width {
		if i > 0 {
			b.WriteString(", ")
		}
		n++
		b.WriteString(d.placeholder(n))
	}
	b.WriteByte(')')
	return b.String(), n
}

// keyTuple is the primary key as a row value: "(a, b)" or "a".
func (d dialect) keyTuple(pk []string) string {
	if len(pk) == 1 {
		return d.quote(pk[0])
	}
	return "(" + d.quoteAll(pk) + ")"
}

// inList is "pk IN ((?, ?), ...)" for rows primary keys.
func (d dialect) inList(pk []string, rows int) string {
	var b strings.Builder
	b.WriteString(d.keyTuple(pk))
	b.WriteString(" IN (")
	n := 0
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		if len(pk) == 1 {
			n++
			b.WriteString(d.placeholder(n))
			continue
		}
		var t string
		t, n = d.tuple(len(pk), n)
		b.WriteString(t)
	}
	b.WriteByte(')')
	return b.String()
}

// upsert inserts rows or, where the primary key exists, overwrites every
// other column: copies converge on the source's values however often a
// batch is replayed.
func (d dialect) upsert(t *table, rows int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "INSERT INTO %s (%s) VALUES ", d.quote(t.Name), d.quoteAll(t.Columns))
	n := 0
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		var tuple string
		tuple, n = d.tuple(len(t.Columns), n)
		b.WriteString(tuple)
	}
	var sets []string
	for _, c := range t.Columns {
		if t.isPK(c) {
			continue
		}
		if d.postgres() {
			sets = append(sets, d.quote(c)+" = EXCLUDED."+d.quote(c))
		} else {
			sets = append(sets, d.quote(c)+" = VALUES("+d.quote(c)+")")
		}
	}
	switch {
	case d.postgres() && len(sets) == 0:
		fmt.Fprintf(&b, " ON CONFLICT (%s) DO NOTHING", d.quoteAll(t.PK))
	case d.postgres():
		fmt.Fprintf(&b, " ON CONFLICT (%s) DO UPDATE SET %s", d.quoteAll(t.PK), strings.Join(sets, ", "))
	case len(sets) == 0:
		first := d.quote(t.PK[0])
		fmt.Fprintf(&b, " ON DUPLICATE KEY UPDATE %s = %s", first, first)
	default:
		fmt.Fprintf(&b, " ON DUPLICATE KEY UPDATE %s", strings.Join(sets, ", "))
	}
	return b.String()
}

func (t *table) isPK(column string) bool { return slices.Contains(t.PK, column) }
