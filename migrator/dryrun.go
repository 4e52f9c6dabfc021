package migrator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/pressly/goose/v3"
)

// DryRun writes to w, for each writer of target (resolved as for Up, in the
// same order), a header naming the writer and then what Up would run there:
// each pending migration's name followed by its "-- +goose Up" section as
// written in the file, or, for a Go migration, a line saying it is Go code.
// It runs nothing but reads of the version tables: it takes no lock and does
// not create a missing version table (which it reads as nothing applied).
// The writers are visited one after another.
//
// A writer whose version table or files cannot be read gets an error line
// in the output and the walk goes on; the error returned is then
// errors.Join of those errors, each naming its target. An error writing to
// w ends the walk and is returned.
func (m *Migrator) DryRun(ctx context.Context, target string, w io.Writer) error {
	groups, err := m.resolve(target)
	if err != nil {
		return err
	}
	var errs []error
	for _, g := range groups {
		for _, t := range g.targets {
			text, err := m.dryRun(ctx, t)
			if err != nil {
				errs = append(errs, err)
				text += fmt.Sprintf("-- ERROR: %v\n", err)
			}
			if _, werr := io.WriteString(w, text); werr != nil {
				return werr
			}
		}
	}
	return errors.Join(errs...)
}

// dryRun returns one writer's section of the output.
func (m *Migrator) dryRun(ctx context.Context, t *target) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "-- ==== %s (writer, version table %s) ====\n", t.name, t.table())
	wr, err := m.open(ctx, t, nil)
	if err != nil {
		return b.String(), err
	}
	defer wr.close()
	applied, _, err := wr.applied(ctx)
	if err != nil {
		return b.String(), wr.targetError(err, 0)
	}
	pending := wr.pending(applied)
	if len(pending) == 0 {
		b.WriteString("-- nothing pending\n\n")
		return b.String(), nil
	}
	fmt.Fprintf(&b, "-- %d pending\n", len(pending))
	for _, v := range pending {
		src := wr.sources[v]
		name := sourceName(src.Path, v)
		if src.Type == goose.TypeGo {
			fmt.Fprintf(&b, "\n-- %s (version %d): Go migration; its Go code runs here, no SQL to show\n", name, v)
			continue
		}
		sql, err := upSQL(t.config.Dir, src.Path)
		if err != nil {
			return b.String(), &TargetError{Target: t.name, Version: v, Source: name, Err: err}
		}
		fmt.Fprintf(&b, "\n-- %s (version %d)\n%s\n", name, v, sql)
	}
	b.WriteString("\n")
	return b.String(), nil
}
