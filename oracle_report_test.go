package grant_test

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm/clause"
)

// String renders the chain as Go, for reproductions.
func (q *oQuery) String() string {
	var b strings.Builder
	b.WriteString("db")
	if q.routed == nil {
		b.WriteString(".Scopes(grant.AllShards())")
	}
	b.WriteString(".Model(&oracleItem{})")
	writeSteps(&b, q.steps)
	switch q.fin {
	case "Find":
		b.WriteString(".Find(&[]map[string]any{})")
	case "FindStruct", "Scan":
		fmt.Fprintf(&b, ".%s(&[]%s{})", strings.TrimSuffix(q.fin, "Struct"), q.structName())
	case "Rows":
		b.WriteString(".Rows() // read column by column")
	case "Row":
		fmt.Fprintf(&b, ".Row().Scan(/* %d columns */)", len(q.cols))
	case "Count":
		b.WriteString(".Count(&n)")
	case "Pluck":
		fmt.Fprintf(&b, ".Pluck(%q, &values)", q.pluck)
	default:
		fmt.Fprintf(&b, ".%s(&%s{})", q.fin, q.structName())
	}
	return b.String()
}

func (q *oQuery) structName() string {
	if q.noSelect() {
		return "oracleItem"
	}
	return "oracleOut"
}

func (q *oQuery) noSelect() bool {
	return !slices.ContainsFunc(q.steps, func(s oStep) bool { return s.method == "Select" || s.method == "Distinct" && len(s.args) > 0 })
}

func writeSteps(b *strings.Builder, steps []oStep) {
	for _, s := range steps {
		method, args := s.method, make([]string, len(s.args))
		for i, a := range s.args {
			switch v := a.(type) {
			case string:
				args[i] = strconv.Quote(v)
			case oSub:
				var sb strings.Builder
				sb.WriteString("db.Model(&oracleItem{})")
				if v.payments {
					sb.Reset()
					sb.WriteString("db.Model(&oraclePayment{})")
				}
				writeSteps(&sb, v.steps)
				args[i] = sb.String()
			case clause.OrderByColumn:
				args[i] = fmt.Sprintf("clause.OrderByColumn{Column: clause.Column{Name: %q}, Desc: %v}", v.Column.Name, v.Desc)
			case time.Time:
				args[i] = fmt.Sprintf("time.Date(%d, %d, %d, %d, %d, 0, 0, time.UTC)", v.Year(), v.Month(), v.Day(), v.Hour(), v.Minute())
			default:
				args[i] = fmt.Sprintf("%#v", v)
			}
		}
		if method == "GroupRaw" {
			method, args = "Clauses", []string{fmt.Sprintf("clause.GroupBy{Columns: []clause.Column{{Name: %s, Raw: true}}}", args[0])}
		}
		fmt.Fprintf(b, ".%s(%s)", method, strings.Join(args, ", "))
	}
}

// oracleTally counts outcomes, overall and by grammar production.
type oracleTally struct {
	n       int
	kinds   map[string]int
	refused map[string]int
	failed  map[string]int
	wrong   map[string]int
	labels  map[string]*[4]int
	repros  []string

	unionTime, grantTime time.Duration
}

var oracleKinds = []string{"matched", "refused", "both-failed", "wrong"}

func newOracleTally() *oracleTally {
	return &oracleTally{kinds: map[string]int{}, refused: map[string]int{}, failed: map[string]int{}, wrong: map[string]int{}, labels: map[string]*[4]int{}}
}

func (t *oracleTally) add(q *oQuery, o oOutcome) {
	t.n++
	t.kinds[o.kind]++
	t.unionTime += o.unionTime
	t.grantTime += o.grantTime
	switch o.kind {
	case "refused":
		t.refused[o.reason]++
	case "wrong":
		t.wrong[o.reason]++
	case "both-failed":
		t.failed[o.reason]++
	}
	seen := map[string]bool{}
	for _, l := range q.labels {
		if seen[l] {
			continue
		}
		seen[l] = true
		if t.labels[l] == nil {
			t.labels[l] = &[4]int{}
		}
		t.labels[l][slices.Index(oracleKinds, o.kind)]++
	}
}

func (t *oracleTally) summary() string {
	counts := func(m map[string]int) string {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b string) int { return cmp.Or(cmp.Compare(m[b], m[a]), cmp.Compare(a, b)) })
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s %d", k, m[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprintf("%d queries: matched %d, refused %d %s, both-failed %d %s, wrong %d %s", t.n, t.kinds["matched"],
		t.kinds["refused"], counts(t.refused), t.kinds["both-failed"], counts(t.failed), t.kinds["wrong"], counts(t.wrong))
}

func (t *oracleTally) byLabel() string {
	keys := make([]string, 0, len(t.labels))
	for k := range t.labels {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return cmp.Or(cmp.Compare(t.labels[b][3], t.labels[a][3]), cmp.Compare(a, b)) })
	var b strings.Builder
	for i, k := range keys {
		c := t.labels[k]
		fmt.Fprintf(&b, "  %-24s %4d: %d/%d/%d/%d", k, c[0]+c[1]+c[2]+c[3], c[0], c[1], c[2], c[3])
		if i%3 == 2 || i == len(keys)-1 {
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func showRow(cols []string, row []any) string {
	parts := make([]string, len(row))
	for i, v := range row {
		name := "?"
		if i < len(cols) {
			name = cols[i]
		}
		parts[i] = name + "=" + showValue(v)
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// deref reads through a pointer: GORM scans a model's nullable columns
// into a map as *T. Types compare before it.
func deref(v any) any {
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return nil
		}
		return rv.Elem().Interface()
	}
	return v
}

func showValue(v any) string {
	if reflect.ValueOf(v).Kind() == reflect.Pointer {
		return "&" + showValue(deref(v))
	}
	switch x := v.(type) {
	case nil:
		return "NULL"
	case string:
		return fmt.Sprintf("%q(string)", x)
	case []byte:
		return fmt.Sprintf("[]byte(%q)", x)
	case time.Time:
		return x.Format(time.RFC3339Nano) + "(" + x.Location().String() + ")"
	}
	return fmt.Sprintf("%v(%T)", v, v)
}

func showTable(t oTable, most int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d rows", len(t.rows))
	for i, r := range t.rows {
		if i == most {
			b.WriteString(" …")
			break
		}
		b.WriteString(" " + showRow(t.cols, r))
	}
	return b.String()
}
