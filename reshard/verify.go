package reshard

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"
)

// VerifyReport is what Verify found, per table and shard of the mirror
// placement.
type VerifyReport struct {
	Workflow string
	// Direction is "forward" (the target placement checked against the
	// source) or "reverse" (the source against the target).
	Direction string
	Tables    []TableCheck
	Diffs     []Diff // every differing row, in table, shard and key order
	Took      time.Duration
}

// TableCheck compares one table's rows on one shard: the rows the mirror
// placement puts there that the authoritative placement keeps elsewhere.
// Count and checksum are over that key range on each side.
type TableCheck struct {
	Table, Shard                    string
	ExpectedRows, FoundRows         int
	ExpectedChecksum, FoundChecksum uint64
}

// OK reports whether the placements agree.
func (v *VerifyReport) OK() bool { return len(v.Diffs) == 0 }

// Err is nil when the placements agree, else a *DivergedError.
func (v *VerifyReport) Err() error {
	if v.OK() {
		return nil
	}
	return &DivergedError{Workflow: v.Workflow, Diffs: v.Diffs[:min(len(v.Diffs), 200)], Total: len(v.Diffs)}
}

// Verify compares, like Vitess's VDiff, every moved row between the
// authoritative placement and its mirror: per table and mirror shard, row
// counts and checksums, and the primary keys of the rows that differ. It
// runs while the application writes: rows that differ are checked again
// after the change streams drain past them (three times), and only rows
// that still differ are reported. It changes nothing.
func (w *Workflow) Verify(ctx context.Context) (*VerifyReport, error) {
	r, err := w.load(ctx)
	if err != nil {
		return nil, err
	}
	dir, ok := w.direction(r)
	if !ok || r.State == StateCopying {
		return nil, fmt.Errorf("%w: workflow %q is %s; verify compares placements once the copy is done", ErrState, r.Workflow, r.State)
	}
	report, err := w.compare(ctx, r, dir)
	if err != nil {
		return nil, err
	}
	for attempt := 0; attempt < 3 && !report.OK(); attempt++ {
		if err := w.recheck(ctx, dir, report); err != nil {
			return nil, err
		}
	}
	return report, nil
}

// compare scans every shard of both placements once per table.
func (w *Workflow) compare(ctx context.Context, r *record, dir placements) (*VerifyReport, error) {
	start := time.Now()
	report := &VerifyReport{Workflow: r.Workflow, Direction: r.Direction}
	for _, t := range w.tables {
		expected := map[string]map[string]uint64{} // mirror shard → pk → row hash
		found := map[string]map[string]uint64{}
		shards := union(dir.auth, dir.mirror)
		for _, name := range shards {
			expected[name], found[name] = map[string]uint64{}, map[string]uint64{}
		}
		for _, name := range shards {
			err := scan(ctx, w.shards[name].db, w.d, t, nil, 5000, func(rows [][]any) error {
				for _, row := range rows {
					mirror, side, err := w.side(ctx, t, dir, name, row)
					if err != nil {
						return err
					}
					switch pk := pkString(t.pkText(row)); side {
					case authoritative:
						expected[mirror][pk] = rowHash(row)
					case copied:
						found[name][pk] = rowHash(row)
					}
				}
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("verifying %s on shard %q: %w", t.Name, name, err)
			}
		}
		for _, name := range dir.mirror {
			check := TableCheck{Table: t.Name, Shard: name, ExpectedRows: len(expected[name]), FoundRows: len(found[name])}
			for pk, h := range expected[name] {
				check.ExpectedChecksum += h
				switch got, ok := found[name][pk]; {
				case !ok:
					report.Diffs = append(report.Diffs, Diff{Table: t.Name, Shard: name, PK: strings.Split(pk, "\x1f"), Kind: "missing"})
				case got != h:
					report.Diffs = append(report.Diffs, Diff{Table: t.Name, Shard: name, PK: strings.Split(pk, "\x1f"), Kind: "different"})
				}
			}
			for pk, h := range found[name] {
				check.FoundChecksum += h
				if _, ok := expected[name][pk]; !ok {
					report.Diffs = append(report.Diffs, Diff{Table: t.Name, Shard: name, PK: strings.Split(pk, "\x1f"), Kind: "extra"})
				}
			}
			if check.ExpectedRows+check.FoundRows > 0 {
				report.Tables = append(report.Tables, check)
			}
		}
	}
	sortDiffs(report.Diffs)
	report.Took = time.Since(start)
	return report, nil
}

// recheck looks again at the rows report found different, each exactly:
// it locks the row where the authoritative placement keeps it (FOR SHARE,
// so the application cannot change it meanwhile), drains the streams past
// every change committed before the lock, and compares the row with its
// mirror copy. Only rows that still differ stay in the report. A row that
// was deleted cannot be locked; a mirror copy of it must be gone.
func (w *Workflow) recheck(ctx context.Context, dir placements, report *VerifyReport) error {
	var still []Diff
	for _, t := range w.tables {
		var pks [][]string
		for _, d := range report.Diffs {
			if d.Table == t.Name {
				pks = append(pks, d.PK)
			}
		}
		if len(pks) == 0 {
			continue
		}
		diffs, err := w.recheckTable(ctx, t, dir, pks)
		if err != nil {
			return err
		}
		still = append(still, diffs...)
	}
	sortDiffs(still)
	report.Diffs = still
	return nil
}

func (w *Workflow) recheckTable(ctx context.Context, t *table, dir placements, pks [][]string) ([]Diff, error) {
	// Where does each row live now? Its key says, wherever it is found.
	homes := map[string][][]string{} // authoritative shard → primary keys
	nt := t.narrow()
	for _, name := range union(dir.auth, dir.mirror) {
		rows, err := rowsByPK(ctx, w.shards[name].db, w.d, nt, pks, "")
		if err != nil {
			return nil, err
		}
		for _, row := range rows {
			_, auth, err := w.homes(ctx, nt, dir, row)
			if err != nil {
				return nil, err
			}
			if auth == name {
				homes[auth] = append(homes[auth], nt.pkText(row))
			}
		}
	}
	locks := map[string]*sql.Tx{}
	defer func() {
		for _, tx := range locks {
			_ = tx.Rollback()
		}
	}()
	share := " FOR SHARE"
	if !w.d.postgres() {
		share = " LOCK IN SHARE MODE"
	}
	for name, keys := range homes {
		// Read committed: MariaDB then locks the rows alone, not the gaps
		// between them, so that neither the application's inserts nor the
		// drain's writes to this shard's mirror rows wait on the lock.
		tx, err := w.shards[name].db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
		if err != nil {
			return nil, err
		}
		locks[name] = tx
		if _, err := rowsByPK(ctx, tx, w.d, nt, keys, share); err != nil {
			return nil, fmt.Errorf("locking %s rows on shard %q to compare them: %w", t.Name, name, err)
		}
	}
	if err := w.state.locked(ctx, w.opts.Workflow, func(_ *sql.Tx, rec *record) error {
		return w.drain(ctx, rec, time.Now().Add(w.opts.SettleTimeout))
	}); err != nil {
		return nil, err
	}
	expected := map[string]uint64{} // mirror shard + pk → row hash
	found := map[string]uint64{}
	for _, name := range union(dir.auth, dir.mirror) {
		var q querier = w.shards[name].db
		if tx, ok := locks[name]; ok {
			q = tx
		}
		rows, err := rowsByPK(ctx, q, w.d, t, pks, "")
		if err != nil {
			return nil, err
		}
		for _, row := range rows {
			mirror, side, err := w.side(ctx, t, dir, name, row)
			if err != nil {
				return nil, err
			}
			switch pk := pkString(t.pkText(row)); side {
			case authoritative:
				expected[mirror+"\x00"+pk] = rowHash(row)
			case copied:
				found[name+"\x00"+pk] = rowHash(row)
			}
		}
	}
	var still []Diff
	for at, h := range expected {
		shard, pk, _ := strings.Cut(at, "\x00")
		if got, ok := found[at]; !ok {
			still = append(still, Diff{Table: t.Name, Shard: shard, PK: strings.Split(pk, "\x1f"), Kind: "missing"})
		} else if got != h {
			still = append(still, Diff{Table: t.Name, Shard: shard, PK: strings.Split(pk, "\x1f"), Kind: "different"})
		}
	}
	for at := range found {
		if _, ok := expected[at]; !ok {
			shard, pk, _ := strings.Cut(at, "\x00")
			still = append(still, Diff{Table: t.Name, Shard: shard, PK: strings.Split(pk, "\x1f"), Kind: "extra"})
		}
	}
	return still, nil
}

func sortDiffs(diffs []Diff) {
	slices.SortFunc(diffs, func(a, b Diff) int {
		if c := strings.Compare(a.Table, b.Table); c != 0 {
			return c
		}
		if c := strings.Compare(a.Shard, b.Shard); c != 0 {
			return c
		}
		return strings.Compare(pkString(a.PK), pkString(b.PK))
	})
}
