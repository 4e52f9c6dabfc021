package scatter

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"sync"

	"golang.org/x/sync/errgroup"
)

// source is one shard's answer to a query: a stream of rows, or, when the
// statement bounds its concurrency, the rows read up front.
type source struct {
	name  string
	index int
	rows  *sql.Rows // nil when buffered (or done)
	buf   [][]any
	pos   int
	cols  []string
	types []*sql.ColumnType
	cur   []any // the current row
	n     int   // rows read
	err   error // the shard failed (under AllowPartial, recorded instead)

	// keep: every row read is kept (buffered merges), so each gets its own
	// slice; otherwise two slices alternate, the previous row staying valid
	// while the next is read (the k-way merge hands one on as it refills).
	keep  bool
	spare []any
	ptrs  []any
}

// next reads the shard's next row into s.cur; false at the end or on
// failure (s.err).
func (s *source) next() bool {
	if s.rows == nil {
		if s.pos >= len(s.buf) {
			return false
		}
		s.cur = s.buf[s.pos]
		s.pos++
		s.n++
		return true
	}
	if !s.rows.Next() {
		s.err = s.rows.Err()
		s.close()
		return false
	}
	row := s.spare
	if s.keep || row == nil {
		row = make([]any, len(s.cols))
	}
	if s.ptrs == nil {
		s.ptrs = make([]any, len(row))
	}
	for i := range row {
		s.ptrs[i] = &row[i]
	}
	if err := s.rows.Scan(s.ptrs...); err != nil {
		s.err = err
		s.close()
		return false
	}
	s.spare, s.cur = s.cur, row
	s.n++
	return true
}

func (s *source) close() {
	if s.rows != nil {
		if err := s.rows.Close(); err != nil && s.err == nil {
			s.err = err
		}
		s.rows = nil
	}
}

// readAll drains the source into its buffer.
func (s *source) readAll() error {
	if s.rows == nil {
		return nil
	}
	s.keep = true
	for s.next() {
		s.buf = append(s.buf, s.cur)
	}
	s.pos, s.n = 0, 0
	return s.err
}

// runQuery starts query on every target and returns the merged rows.
func runQuery(ctx context.Context, st *Statement, query string, args []any) (driver.Rows, error) {
	if len(st.Targets) == 0 {
		st.Result.set(nil, nil)
		return nil, ErrNoTargets
	}
	if st.Program == nil {
		return nil, errors.New("scatter: a query needs a Program (see PlanQuery)")
	}
	qctx, cancel := context.WithCancel(ctx)
	sources, err := open(qctx, cancel, st, query, args)
	if err != nil {
		cancel()
		if ctx.Err() != nil { // the caller gave up: say so, not which shard noticed first
			return nil, ctx.Err()
		}
		return nil, err
	}
	m := &merge{st: st, prog: st.Program, sources: sources, cancel: cancel, ctx: qctx}
	rows, err := m.start()
	if err != nil {
		m.finish()
		return nil, err
	}
	return rows, nil
}

// open runs the query on every target, in parallel (bounded by
// st.Concurrency, in which case each shard's rows are read before its slot
// is freed). A failure cancels ctx (through cancel) unless AllowPartial. It
// returns every source, failed ones with their error, in target order.
func open(ctx context.Context, cancel context.CancelFunc, st *Statement, query string, args []any) ([]*source, error) {
	all := make([]*source, len(st.Targets))
	bounded := st.Concurrency > 0 && st.Concurrency < len(st.Targets)
	var g errgroup.Group // not WithContext: its context ends with Wait, and the rows stream after
	if bounded {
		g.SetLimit(st.Concurrency)
	}
	var mu sync.Mutex
	var first error // the first failure in time: the others may only be its cancellation
	for i, t := range st.Targets {
		s := &source{name: t.Name, index: i}
		all[i] = s
		run := func() error {
			if err := s.start(ctx, t, query, args, bounded); err != nil {
				s.err = &ShardError{Shard: t.Name, Err: err}
				if !st.AllowPartial {
					mu.Lock()
					if first == nil {
						first = s.err
					}
					mu.Unlock()
					cancel()
					return s.err
				}
			}
			return nil
		}
		if i == len(st.Targets)-1 && !bounded {
			_ = run() // the last shard runs here: one goroutine fewer
			continue
		}
		g.Go(run)
	}
	_ = g.Wait()
	var ok []*source
	failures := map[string]error{}
	for _, s := range all {
		if s.err != nil {
			failures[s.name] = s.err
			continue
		}
		ok = append(ok, s)
	}
	if first != nil || len(ok) == 0 {
		for _, s := range ok {
			s.close()
		}
		st.Result.set(failures, map[string]int{})
		if first == nil {
			first = fmt.Errorf("scatter: every shard failed: %w", firstError(all))
		}
		return nil, first
	}
	head := ok[0]
	for _, s := range ok[1:] {
		if !slices.Equal(s.cols, head.cols) {
			for _, o := range ok {
				o.close()
			}
			err := &ShardError{Shard: s.name, Err: fmt.Errorf("returns columns %q where other shards return %q", s.cols, head.cols)}
			st.Result.set(failures, map[string]int{})
			return nil, err
		}
	}
	return all, nil
}

// start runs the query on one target and reads its columns (and, when
// buffered, its rows).
func (s *source) start(ctx context.Context, t Target, query string, args []any, buffered bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rows, err := t.Pool.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	s.rows = rows
	s.cols, err = rows.Columns() // column types are read from the first shard only, by the merge
	if err == nil && buffered {
		s.types, err = rows.ColumnTypes()
	}
	if err == nil && buffered {
		err = s.readAll()
	}
	if err != nil {
		s.close()
	}
	return err
}

func firstError(all []*source) error {
	for _, s := range all {
		if s.err != nil {
			return s.err
		}
	}
	return nil
}

// execAll runs query on every target; a failure does not cancel the others.
func execAll(ctx context.Context, st *Statement, query string, args []any) (execResult, error) {
	targets := st.Targets
	if len(targets) == 0 {
		st.Result.set(nil, nil)
		return execResult{}, ErrNoTargets
	}
	affected := make([]int64, len(targets))
	errs := make([]error, len(targets))
	var g errgroup.Group
	if st.Concurrency > 0 {
		g.SetLimit(st.Concurrency)
	}
	for i, t := range targets {
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				errs[i] = &ShardError{Shard: t.Name, Err: err}
				return nil
			}
			res, err := t.Pool.ExecContext(ctx, query, args...)
			if err == nil {
				affected[i], err = res.RowsAffected()
			}
			if err != nil {
				errs[i] = &ShardError{Shard: t.Name, Err: err}
			}
			return nil
		})
	}
	_ = g.Wait()

	failed, counts := map[string]error{}, map[string]int{}
	var sum int64
	var all []error
	for i, t := range targets {
		if errs[i] != nil {
			failed[t.Name] = errs[i]
			all = append(all, errs[i])
			continue
		}
		counts[t.Name] = int(affected[i])
		sum += affected[i]
	}
	st.Result.set(failed, counts)
	switch {
	case len(all) == 0:
		return execResult{affected: sum}, nil
	case ctx.Err() != nil:
		return execResult{}, fmt.Errorf("%w (shards that had finished applied the statement; see Result)", ctx.Err())
	case st.AllowPartial && len(all) < len(targets):
		return execResult{affected: sum}, nil
	case len(all) == 1:
		return execResult{}, all[0]
	}
	return execResult{}, errors.Join(all...)
}
