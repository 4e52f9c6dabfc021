package value_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant/internal/testdb"
	"github.com/grant-go/grant/sharding/scatter/value"
)

// backend is one database the differential tests ask.
type backend struct {
	name string
	env  value.Env
	db   *sql.DB
	data *testdb.Database
}

func openBackend(t *testing.T, b *testdb.Backend) *backend {
	t.Helper()
	d := b.CreateDatabase(t, "value")
	g := d.Open(t)
	db, err := g.DB()
	require.NoError(t, err)
	dialect, ok := value.DialectOf(g.Dialector.Name())
	require.True(t, ok, g.Dialector.Name())
	db.SetMaxOpenConns(4)
	return &backend{name: b.Name, env: value.NewEnv(dialect), db: db, data: d}
}

// expr is SQL text in which each "{}" is a placeholder bound to the next
// of args.
type expr struct {
	sql  string
	args []any
}

func lit(s string) expr { return expr{sql: s} }

// render appends e's arguments to args and returns its SQL with the
// dialect's placeholders.
func (b *backend) render(e expr, args *[]any) string {
	var out strings.Builder
	rest, i := e.sql, 0
	for {
		j := strings.Index(rest, "{}")
		if j < 0 {
			out.WriteString(rest)
			return out.String()
		}
		out.WriteString(rest[:j])
		*args = append(*args, e.args[i])
		out.WriteString(b.placeholder(len(*args)))
		rest, i = rest[j+2:], i+1
	}
}

// placeholder is the dialect's n-th placeholder.
func (b *backend) placeholder(n int) string {
	if b.env.Dialect == value.Postgres {
		return "$" + strconv.Itoa(n)
	}
	return "?"
}

// cell is one value the server returned, with its column's type.
type cell struct {
	v   any
	typ value.Type
	err error
}

// selectRow runs SELECT of es and returns its single row's cells.
func (b *backend) selectRow(es []expr) ([]cell, error) {
	var args []any
	cols := make([]string, len(es))
	for i, e := range es {
		cols[i] = b.render(e, &args)
	}
	got, err := b.query("SELECT "+strings.Join(cols, ", "), args...)
	if err != nil {
		return nil, err
	}
	if len(got) != 1 {
		return nil, fmt.Errorf("%d rows", len(got))
	}
	return got[0], nil
}

// query returns the cells of every row of q.
func (b *backend) query(q string, args ...any) ([][]cell, error) {
	rows, err := b.db.QueryContext(context.Background(), q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cts, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	var out [][]cell
	for rows.Next() {
		dest := make([]any, len(cts))
		ptrs := make([]any, len(cts))
		for i := range dest {
			ptrs[i] = &dest[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make([]cell, len(cts))
		for i, ct := range cts {
			row[i] = cell{v: dest[i], typ: typeOfColumn(b.env, ct)}
		}
		out = append(out, row)
	}
	return out, rows.Err()
}

func typeOfColumn(env value.Env, ct *sql.ColumnType) value.Type {
	p, s, ok := ct.DecimalSize()
	return value.TypeOf(env, ct.DatabaseTypeName(), p, s, ok)
}

// probe is one server computation and the model's account of it: the
// model reads the operands the server returned for cols and predicts what
// it returns for expr.
type probe struct {
	group string // what the tally counts it under, e.g. "int4 + numeric"
	cols  []expr
	expr  expr
	model func(ops []value.Value) (value.Value, error)

	ops     []value.Value
	want    value.Value
	wantErr error
	got     cell
}

// tally counts outcomes and keeps reproductions of mismatches.
type tally struct {
	mu          sync.Mutex
	ok, errs    map[string]int
	unsupported map[string]int
	serverBugs  map[string]int
	failures    []string
}

func newTally() *tally {
	return &tally{ok: map[string]int{}, errs: map[string]int{}, unsupported: map[string]int{}, serverBugs: map[string]int{}}
}

func (t *tally) fail(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failures = append(t.failures, fmt.Sprintf(format, args...))
}

func (t *tally) count(m map[string]int, group string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m[group]++
}

// report logs the counts and fails the test with the reproductions.
func (t *tally) report(tb testing.TB, what string) {
	tb.Helper()
	total := func(m map[string]int) (n int) {
		for _, c := range m {
			n += c
		}
		return n
	}
	tb.Logf("%s: %d agreed, %d errors agreed, %d unsupported, %d mismatches", what, total(t.ok), total(t.errs), total(t.unsupported), len(t.failures))
	var groups []string
	for g := range t.unsupported {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	for _, g := range groups {
		tb.Logf("  unsupported %-40s %d (of %d)", g, t.unsupported[g], t.unsupported[g]+t.ok[g]+t.errs[g])
	}
	for g, n := range t.serverBugs {
		tb.Logf("  server typed INT a result beyond INT (Driver refuses): %s %d", g, n)
	}
	for i, f := range t.failures {
		if i == 30 {
			tb.Errorf("... and %d more mismatches", len(t.failures)-30)
			break
		}
		tb.Errorf("mismatch: %s", f)
	}
}

// run asks the server for every probe and checks the model's answers,
// batching many probes into one SELECT.
func (b *backend) run(t *testing.T, probes []*probe, tl *tally) {
	t.Helper()
	const batch = 40
	var wg sync.WaitGroup
	sem := make(chan struct{}, 3)
	for start := 0; start < len(probes); start += batch {
		part := probes[start:min(start+batch, len(probes))]
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			b.runBatch(part, tl)
		}()
	}
	wg.Wait()
}

func (b *backend) runBatch(probes []*probe, tl *tally) {
	// The operands first: the model computes from what the server holds.
	var cols []expr
	for _, p := range probes {
		cols = append(cols, p.cols...)
	}
	var cells []cell
	if len(cols) > 0 {
		var err error
		if cells, err = b.selectRow(cols); err != nil {
			tl.fail("%s: operands of %q...: %v", b.name, probes[0].expr.sql, err)
			return
		}
	}
	var batched []*probe
	for _, p := range probes {
		p.ops = nil
		for range p.cols {
			c := cells[0]
			cells = cells[1:]
			v, err := value.FromDriver(c.typ, c.v)
			if err != nil {
				tl.fail("%s: FromDriver(%+v, %#v): %v", b.name, c.typ, c.v, err)
				return
			}
			p.ops = append(p.ops, v)
		}
		p.want, p.wantErr = p.model(p.ops)
		if errors.Is(p.wantErr, value.ErrUnsupported) {
			tl.count(tl.unsupported, p.group)
			continue
		}
		if p.wantErr == nil {
			batched = append(batched, p)
		} else {
			b.runOne(p)
			b.check(p, tl)
		}
	}
	if len(batched) == 0 {
		return
	}
	exprs := make([]expr, len(batched))
	for i, p := range batched {
		exprs[i] = p.expr
	}
	got, err := b.selectRow(exprs)
	for i, p := range batched {
		if err != nil {
			b.runOne(p)
		} else {
			p.got = got[i]
		}
		b.check(p, tl)
	}
}

func (b *backend) runOne(p *probe) {
	got, err := b.selectRow([]expr{p.expr})
	if err != nil {
		p.got = cell{err: err}
		return
	}
	p.got = got[0]
}

func (b *backend) check(p *probe, tl *tally) {
	repro := func() string {
		var args []any
		q := "SELECT " + b.render(p.expr, &args)
		return fmt.Sprintf("%s [%s] %s args %v (operands %v)", b.name, p.group, q, args, p.ops)
	}
	switch {
	case p.wantErr != nil && p.got.err != nil:
		if !strings.Contains(p.got.err.Error(), p.wantErr.Error()) || !errors.Is(p.wantErr, value.ErrArithmetic) {
			tl.fail("%s: server error %q, model error %q", repro(), p.got.err, p.wantErr)
			return
		}
		tl.count(tl.errs, p.group)
	case p.wantErr != nil:
		tl.fail("%s: server returned %#v (%s), model error %v", repro(), p.got.v, p.got.typ.Name, p.wantErr)
	case p.got.err != nil:
		tl.fail("%s: server error %v, model %v", repro(), p.got.err, p.want)
	default:
		out, err := p.want.Driver(p.got.typ)
		if errors.Is(err, value.ErrUnsupported) {
			tl.count(tl.unsupported, p.group)
			return
		}
		if err != nil && beyondInt(p) {
			// MariaDB types some DIV results INT while they exceed it, and
			// sends them whole or cut to 32 bits (the binary protocol has
			// four bytes for an INT); Driver refuses the true quotient for
			// an INT column, so the merge fails rather than guess.
			tl.count(tl.serverBugs, p.group)
			return
		}
		if err != nil {
			tl.fail("%s: server %#v (%+v), model %v: Driver: %v", repro(), p.got.v, p.got.typ, p.want, err)
			return
		}
		if !sameDriverValue(out, p.got.v) {
			tl.fail("%s: server %#v (%T, %s), model %#v (%T, %+v)", repro(), show(p.got.v), p.got.v, p.got.typ.Name, show(out), out, p.want.Type())
			return
		}
		if k := p.want.Type().Kind; !p.want.IsNull() && b.env.Dialect != value.SQLite && k != p.got.typ.Kind {
			tl.fail("%s: server type %+v, model type %+v", repro(), p.got.typ, p.want.Type())
			return
		}
		tl.count(tl.ok, p.group)
	}
}

// beyondInt reports whether the server returned the model's integer,
// whole or cut to 32 bits, in an INT column it does not fit.
func beyondInt(p *probe) bool {
	got, ok := p.got.v.(int64)
	want, err := p.want.Driver(value.Type{Kind: value.KindInt, Bits: 64, Dialect: p.got.typ.Dialect})
	w, ok2 := want.(int64)
	return ok && ok2 && err == nil && p.got.typ.Bits == 32 && w != int64(int32(w)) && (got == w || got == int64(int32(w)))
}

// sameDriverValue reports whether two driver values are the same Go type
// and value (floats bit for bit, so -0 differs from 0; NaN equals NaN).
func sameDriverValue(a, b any) bool {
	if reflect.TypeOf(a) != reflect.TypeOf(b) {
		return false
	}
	switch x := a.(type) {
	case []byte:
		return bytes.Equal(x, b.([]byte))
	case float64:
		y := b.(float64)
		return math.Float64bits(x) == math.Float64bits(y) || (math.IsNaN(x) && math.IsNaN(y))
	case float32:
		y := b.(float32)
		return math.Float32bits(x) == math.Float32bits(y) || (x != x && y != y)
	}
	return reflect.DeepEqual(a, b)
}

func show(v any) any {
	if b, ok := v.([]byte); ok {
		return "[]byte(" + strconv.Quote(string(b)) + ")"
	}
	return v
}
