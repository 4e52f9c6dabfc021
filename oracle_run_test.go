package grant_test

import (
	"cmp"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/grant-go/grant"
	"github.com/grant-go/grant/sharding/scatter"
)

// oracleOut receives a query with a select list: the model's columns and
// every alias the grammar writes.
type oracleOut struct {
	ID, CustomerID, Grp, Score, Qty *int64
	Price                           *float64
	Name, NameX, NameY, Tag         *string
	CreatedAt                       *time.Time `gorm:"autoCreateTime:false"`
	I1, I2, I3, I4, I5, I6          *int64
	F1, F2, F3, F4                  *float64
	S1, S2, S3, S4, Bucket          *string
	T1, T2                          *time.Time
}

func applySteps(db, base *gorm.DB, steps []oStep, unlimited bool) *gorm.DB {
	for _, s := range steps {
		args := make([]any, len(s.args))
		for i, a := range s.args {
			args[i] = a
			if sub, ok := a.(oSub); ok { // built on this side's handle, as an application would
				m := any(&oracleItem{})
				if sub.payments {
					m = &oraclePayment{}
				}
				args[i] = applySteps(base.Session(&gorm.Session{NewDB: true}).Model(m), base, sub.steps, false)
			}
		}
		switch s.method {
		case "Select":
			db = db.Select(args[0], args[1:]...)
		case "Distinct":
			db = db.Distinct(args...)
		case "Where":
			db = db.Where(args[0], args[1:]...)
		case "Or":
			db = db.Or(args[0], args[1:]...)
		case "Not":
			db = db.Not(args[0], args[1:]...)
		case "Group":
			db = db.Group(args[0].(string))
		case "GroupRaw":
			db = db.Clauses(clause.GroupBy{Columns: []clause.Column{{Name: args[0].(string), Raw: true}}})
		case "Having":
			db = db.Having(args[0], args[1:]...)
		case "Order":
			db = db.Order(args[0])
		case "Limit":
			if !unlimited {
				db = db.Limit(args[0].(int))
			}
		case "Offset":
			if !unlimited {
				db = db.Offset(args[0].(int))
			}
		default:
			panic("unknown step " + s.method)
		}
	}
	return db
}

// runQuery runs q on db (a session of the union database, or grant's
// handle with its scope) and reads the result the finisher's way. base
// builds subqueries. unlimited drops Limit and Offset, and reads every row
// where the finisher reads one (the superset of a cut run).
func runQuery(db, base *gorm.DB, q *oQuery, unlimited bool) (t oTable, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	db = applySteps(db.Model(&oracleItem{}), base, q.steps, unlimited)
	fin := q.fin
	if unlimited {
		// A huge LIMIT where there was one: GORM binds LIMIT and OFFSET, and
		// on MariaDB a statement with arguments runs as a prepared statement
		// whose binary protocol returns other Go types (int64 for BIT_OR's
		// uint64) and more float digits (VARIANCE) than the text protocol.
		if fin == "First" || fin == "Take" || fin == "Last" ||
			slices.ContainsFunc(q.steps, func(s oStep) bool { return s.method == "Limit" || s.method == "Offset" }) {
			db = db.Limit(1 << 40)
		}
		switch fin {
		case "First", "Take", "Last":
			fin = "FindStruct"
		case "Row":
			fin = "Rows"
		}
	}
	structs := func(find bool) (oTable, error) {
		var dest any = &[]oracleOut{}
		if q.noSelect() {
			dest = &[]oracleItem{}
		}
		if find {
			err = db.Find(dest).Error
		} else {
			err = db.Scan(dest).Error
		}
		return structTable(dest), err
	}
	switch fin {
	case "Find":
		var ms []map[string]any
		err = db.Find(&ms).Error
		return mapsTable(ms), err
	case "FindStruct":
		return structs(true)
	case "Scan":
		return structs(false)
	case "Rows":
		rows, err := db.Rows()
		if err != nil {
			return t, err
		}
		t, err = rowsTable(rows)
		if q.fin == "Row" {
			t.cols = q.colNames()
		}
		return t, err
	case "Row":
		row := db.Row()
		if row == nil { // GORM's Row returns nil when a callback failed (a refusal); the error is on the chain
			return t, cmp.Or(db.Error, errors.New("Row() returned nil"))
		}
		vals, ptrs := make([]any, len(q.cols)), make([]any, len(q.cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		t.cols = q.colNames()
		if err = row.Scan(ptrs...); errors.Is(err, sql.ErrNoRows) {
			return t, nil // no row: as an empty result
		}
		t.rows = [][]any{vals}
		return t, err
	case "Count":
		var n int64
		err = db.Count(&n).Error
		return oTable{cols: []string{"count"}, rows: [][]any{{n}}}, err
	case "Pluck":
		var dest any
		switch oracleColumn(q.pluck).kind {
		case kInt:
			dest = &[]sql.NullInt64{}
		case kNum:
			dest = &[]sql.NullFloat64{}
		case kText:
			dest = &[]sql.NullString{}
		default:
			dest = &[]sql.NullTime{}
		}
		err = db.Pluck(q.pluck, dest).Error
		return pluckTable(q.pluck, dest), err
	default: // First, Take, Last
		var dest any = &oracleOut{}
		if q.noSelect() {
			dest = &oracleItem{}
		}
		switch fin {
		case "First":
			err = db.First(dest).Error
		case "Take":
			err = db.Take(dest).Error
		default:
			err = db.Last(dest).Error
		}
		t = structTable(dest)
		if errors.Is(err, gorm.ErrRecordNotFound) {
			t.rows, err = nil, nil // no row: as an empty result
		}
		return t, err
	}
}

func (q *oQuery) colNames() []string {
	names := make([]string, len(q.cols))
	for i, c := range q.cols {
		names[i] = c.name()
	}
	return names
}

// pluckTable reads a Pluck into sql.Null* values: their Value, or nil.
func pluckTable(col string, dest any) oTable {
	t := oTable{cols: []string{col}}
	add := func(v any) { t.rows = append(t.rows, []any{v}) }
	switch d := dest.(type) {
	case *[]sql.NullInt64:
		for _, v := range *d {
			add(nullValue(v.Valid, v.Int64))
		}
	case *[]sql.NullFloat64:
		for _, v := range *d {
			add(nullValue(v.Valid, v.Float64))
		}
	case *[]sql.NullString:
		for _, v := range *d {
			add(nullValue(v.Valid, v.String))
		}
	case *[]sql.NullTime:
		for _, v := range *d {
			add(nullValue(v.Valid, v.Time))
		}
	}
	return t
}

func nullValue[T any](valid bool, v T) any {
	if !valid {
		return nil
	}
	return v
}

// oOutcome is how one query came out.
type oOutcome struct {
	kind   string // matched, refused, both-failed, wrong
	reason string // refused: the Refusal's Reason; wrong: the category
	detail string
	union  oTable
	grant  oTable

	unionTime, grantTime time.Duration
}

// check runs q on the union database and through grant, and classifies.
func (c *oracleCluster) check(q *oQuery) oOutcome {
	start := time.Now()
	u, uErr := runQuery(c.union.Session(&gorm.Session{NewDB: true}), c.union, q, false)
	unionTime := time.Since(start)
	gdb := c.db.Session(&gorm.Session{NewDB: true})
	base := c.db
	if c.selfCheck != nil {
		gdb, base = c.selfCheck.Session(&gorm.Session{NewDB: true}), c.selfCheck
	} else if q.routed == nil {
		gdb = gdb.Scopes(grant.AllShards())
	}
	c.counter.reset()
	start = time.Now()
	g, gErr := runQuery(gdb, base, q, false)
	contacted, last := c.counter.reset()
	out := oOutcome{union: u, grant: g, unionTime: unionTime, grantTime: time.Since(start)}
	wrong := func(reason, detail string) oOutcome {
		out.kind, out.reason, out.detail = "wrong", reason, detail
		return out
	}
	if gErr != nil {
		out.grant = oTable{}
	}
	// A query routed by a customer_id IN list that grant cannot read the
	// key from (an OR at the top) is refused as ErrShardKeyMissing.
	keyMissing := q.routed != nil && errors.Is(gErr, grant.ErrShardKeyMissing)
	if errors.Is(gErr, grant.ErrSpansShards) || keyMissing {
		out.kind, out.reason = "refused", "(no *scatter.Refusal)"
		var ref *scatter.Refusal
		if errors.As(gErr, &ref) {
			out.reason = string(ref.Reason)
		} else if keyMissing {
			out.reason = "shard key missing (routed by IN)"
		}
		if contacted > 0 && (ref == nil || ref.Reason != scatter.ReasonMemory) {
			return wrong("refused after contacting shards", fmt.Sprintf("%v; %d statements reached shards, the last: %q", gErr, contacted, last))
		}
		if uErr != nil {
			out.kind, out.reason = "both-failed", oracleShortErr(uErr)
		}
		out.detail = gErr.Error()
		return out
	}
	if ref := (*scatter.Refusal)(nil); errors.As(gErr, &ref) {
		return wrong("refusal not matching ErrSpansShards", fmt.Sprintf("%v (%d statements had reached shards)", gErr, contacted))
	}
	switch {
	case uErr != nil && strings.HasPrefix(uErr.Error(), "panic: "):
		return wrong("harness: the union query panicked", uErr.Error())
	case uErr != nil && gErr != nil:
		out.kind, out.reason, out.detail = "both-failed", oracleShortErr(uErr), fmt.Sprintf("union: %v; grant: %v", uErr, gErr)
		return out
	case uErr != nil:
		return wrong("grant succeeded where the union failed", "union: "+uErr.Error())
	case gErr != nil:
		if strings.HasPrefix(gErr.Error(), "panic: ") {
			return wrong("grant panicked", gErr.Error())
		}
		return wrong("grant failed where the union succeeded", gErr.Error())
	}
	cmp := &oCmp{q: q, classes: c.classes}
	superset := func() (oTable, error) {
		return runQuery(c.union.Session(&gorm.Session{NewDB: true}), c.union, q, true)
	}
	if diff := cmp.compare(u, g, q.fin == "Rows" || q.fin == "Row", superset); diff != "" {
		category, _, _ := strings.Cut(diff, ":")
		return wrong(category, diff)
	}
	out.kind = "matched"
	return out
}

// oracleShortErr is the start of an error, to count both-failed queries by.
func oracleShortErr(err error) string {
	s := err.Error()
	if i := strings.Index(s, "): "); i >= 0 && i < 20 { // MariaDB's "Error 1064 (42000): "
		s = s[i+3:]
	}
	s = strings.TrimPrefix(s, "ERROR: ")
	return oracleClip(s, 40)
}
