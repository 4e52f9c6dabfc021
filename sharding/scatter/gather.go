package scatter

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"golang.org/x/sync/errgroup"
	"gorm.io/gorm"
)

// answer is what one shard returned.
type answer struct {
	cols  []string
	types []*sql.ColumnType
	rows  [][]any
	err   error // a *ShardError
}

// gather runs query on every target (bounded by plan.Concurrency), then
// merges the answers by plan.
func gather(ctx context.Context, targets []Target, plan *Plan, query string, args []any) (*rows, error) {
	if len(targets) == 0 {
		plan.Result.set(nil, nil)
		return nil, ErrNoTargets
	}
	answers := make([]answer, len(targets))
	g, gctx := errgroup.WithContext(ctx)
	if plan.Concurrency > 0 {
		g.SetLimit(plan.Concurrency)
	}
	for i, t := range targets {
		g.Go(func() error {
			a := &answers[i]
			if err := gctx.Err(); err != nil { // cancelled while waiting for a slot
				a.err = &ShardError{Shard: t.Name, Err: err}
			} else if err := a.fetch(gctx, t.Pool, query, args); err != nil {
				a.err = &ShardError{Shard: t.Name, Err: err}
			}
			if a.err != nil && !plan.AllowPartial {
				return a.err
			}
			return nil
		})
	}
	first := g.Wait()

	failed, counts := map[string]error{}, map[string]int{}
	var ok []*answer
	for i := range answers {
		if a := &answers[i]; a.err != nil {
			failed[targets[i].Name] = a.err
		} else {
			counts[targets[i].Name] = len(a.rows)
			ok = append(ok, a)
		}
	}
	plan.Result.set(failed, counts)
	switch {
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case first != nil:
		return nil, first
	case len(ok) == 0: // AllowPartial, and every shard failed
		return nil, fmt.Errorf("scatter: every shard failed: %w", firstError(targets, answers))
	}

	head := ok[0]
	for i, a := range answers {
		if a.err == nil && !slices.Equal(a.cols, head.cols) {
			return nil, &ShardError{Shard: targets[i].Name, Err: fmt.Errorf(
				"returns columns %q where other shards return %q", a.cols, head.cols)}
		}
	}
	numeric := make([]bool, len(head.cols))
	for i, ct := range head.types {
		numeric[i] = numericType(ct.DatabaseTypeName())
	}
	shards := make([][][]any, 0, len(ok))
	for _, a := range ok {
		shards = append(shards, a.rows)
	}
	merged, err := merge(plan, head.cols, numeric, shards)
	if err != nil {
		return nil, err
	}
	return project(plan.Drop, &rows{cols: head.cols, types: head.types, data: merged})
}

// project removes the columns named in drop.
func project(drop []string, r *rows) (*rows, error) {
	if len(drop) == 0 {
		return r, nil
	}
	gone := make([]bool, len(r.cols))
	for _, name := range drop {
		i, err := column(r.cols, name)
		if err != nil {
			return nil, err
		}
		gone[i] = true
	}
	keep := make([]int, 0, len(r.cols))
	for i := range r.cols {
		if !gone[i] {
			keep = append(keep, i)
		}
	}
	out := &rows{cols: make([]string, len(keep)), data: r.data}
	if r.types != nil {
		out.types = make([]*sql.ColumnType, len(keep))
	}
	for j, i := range keep {
		out.cols[j] = r.cols[i]
		if r.types != nil {
			out.types[j] = r.types[i]
		}
	}
	for n, row := range r.data {
		short := make([]any, len(keep))
		for j, i := range keep {
			short[j] = row[i]
		}
		out.data[n] = short
	}
	return out, nil
}

func firstError(targets []Target, answers []answer) error {
	for i := range targets {
		if answers[i].err != nil {
			return answers[i].err
		}
	}
	return nil
}

// fetch runs the query on one pool and reads every row into memory.
func (a *answer) fetch(ctx context.Context, pool gorm.ConnPool, query string, args []any) error {
	rs, err := pool.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rs.Close()
	if a.cols, err = rs.Columns(); err != nil {
		return err
	}
	// Column types before the first row, as GORM would read them.
	if a.types, err = rs.ColumnTypes(); err != nil {
		return err
	}
	ptrs := make([]any, len(a.cols))
	for rs.Next() {
		row := make([]any, len(a.cols))
		for i := range row {
			ptrs[i] = &row[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			return err
		}
		a.rows = append(a.rows, row)
	}
	if err := rs.Err(); err != nil {
		return err
	}
	return rs.Close()
}

// execAll runs query on every target; a failure does not cancel the others.
func execAll(ctx context.Context, targets []Target, plan *Plan, query string, args []any) (execResult, error) {
	if len(targets) == 0 {
		plan.Result.set(nil, nil)
		return execResult{}, ErrNoTargets
	}
	affected := make([]int64, len(targets))
	errs := make([]error, len(targets))
	var g errgroup.Group
	if plan.Concurrency > 0 {
		g.SetLimit(plan.Concurrency)
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
	plan.Result.set(failed, counts)
	switch {
	case len(all) == 0:
		return execResult{affected: sum}, nil
	case ctx.Err() != nil:
		return execResult{}, fmt.Errorf("%w (shards that had finished applied the statement; see Result)", ctx.Err())
	case plan.AllowPartial && len(all) < len(targets):
		return execResult{affected: sum}, nil
	case len(all) == 1:
		return execResult{}, all[0]
	}
	return execResult{}, errors.Join(all...)
}
