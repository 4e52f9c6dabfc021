package reshard

import (
	"context"
	"fmt"
	"strings"
)

// placements is a direction: auth is authoritative (the application
// writes there), mirror is kept equal to it for the rows whose shard
// differs between the two.
type placements struct {
	auth, mirror []string
}

func (w *Workflow) direction(r *record) (placements, bool) {
	switch r.Direction {
	case forward:
		return placements{auth: r.From, mirror: r.To}, true
	case reverse:
		return placements{auth: r.To, mirror: r.From}, true
	}
	return placements{}, false
}

// Which side of a direction a row found on a shard is on.
const (
	unrelated     = iota
	authoritative // the row of a moving key, where the authoritative placement keeps it
	copied        // its copy, where the mirror placement puts it
)

// side says which side of dir row, found on shard, is on, and the shard
// the mirror placement puts its key on: the one classification copying,
// applying, verifying and cleaning up share.
func (w *Workflow) side(ctx context.Context, t *table, dir placements, shard string, row []any) (string, int, error) {
	mirror, auth, err := w.homes(ctx, t, dir, row)
	switch {
	case err != nil:
		return "", unrelated, err
	case auth == shard && mirror != shard:
		return mirror, authoritative, nil
	case mirror == shard && auth != shard:
		return mirror, copied, nil
	}
	return mirror, unrelated, nil
}

// homes maps a row's key under both placements of dir.
func (w *Workflow) homes(ctx context.Context, t *table, dir placements, row []any) (mirror, auth string, err error) {
	key, err := t.key(row)
	if err != nil {
		return "", "", fmt.Errorf("%s (%s): %w", t.Name, strings.Join(t.pkText(row), ", "), err)
	}
	if auth, err = w.home(ctx, t, dir.auth, key); err != nil {
		return "", "", err
	}
	if mirror, err = w.home(ctx, t, dir.mirror, key); err != nil {
		return "", "", err
	}
	return mirror, auth, nil
}

// reconcile makes the mirror agree with the authoritative placement for
// the rows of t with these primary keys. It reads each key on every shard
// of both placements and writes only where they differ, so it is
// idempotent, order-free and safe to repeat: the change streams only say
// which rows to look at.
//
// A row is authoritative on shard X when the authoritative placement maps
// its key to X; it belongs, mirrored, on the shard the mirror placement
// maps it to when that is another shard. A row on shard Y is a mirror copy
// when the mirror placement maps its key to Y and the authoritative one
// does not; a mirror copy with no authoritative row behind it is deleted.
// Rows that are neither are left alone: they are not the workflow's.
func (w *Workflow) reconcile(ctx context.Context, t *table, dir placements, pks [][]string) (written int, err error) {
	if len(pks) == 0 {
		return 0, nil
	}
	shards := union(dir.auth, dir.mirror)
	type found struct {
		row  []any
		hash uint64
	}
	// on[shard][pk] is the row with that primary key on that shard.
	on := make(map[string]map[string]found, len(shards))
	for _, name := range shards {
		rows, err := rowsByPK(ctx, w.shards[name].db, w.d, t, pks, "")
		if err != nil {
			return 0, fmt.Errorf("reading %s on shard %q: %w", t.Name, name, err)
		}
		m := make(map[string]found, len(rows))
		for _, row := range rows {
			m[pkString(t.pkText(row))] = found{row: row, hash: rowHash(row)}
		}
		on[name] = m
	}
	upserts := map[string][][]any{}
	deletes := map[string][][]any{}
	// Every primary key seen on any shard, whatever text form the
	// capture gave it in.
	seen := map[string]bool{}
	for _, name := range shards {
		for pk := range on[name] {
			seen[pk] = true
		}
	}
	for pk := range seen {
		want := map[string]found{} // shard → the copy it must hold
		var copies []string        // shards holding a mirror copy of pk
		for _, x := range shards {
			f, ok := on[x][pk]
			if !ok {
				continue
			}
			mirror, side, err := w.side(ctx, t, dir, x, f.row)
			if err != nil {
				return 0, err
			}
			switch side {
			case authoritative:
				want[mirror] = f
			case copied:
				copies = append(copies, x)
			}
		}
		for _, y := range copies {
			if _, wanted := want[y]; !wanted {
				deletes[y] = append(deletes[y], t.pkValues(on[y][pk].row))
			}
		}
		for y, f := range want {
			if have, ok := on[y][pk]; ok && have.hash == f.hash {
				continue
			}
			upserts[y] = append(upserts[y], f.row)
		}
	}
	for y, rows := range upserts {
		if err := upsertRows(ctx, w.shards[y].db, w.d, t, rows); err != nil {
			return written, fmt.Errorf("writing %s to shard %q: %w", t.Name, y, err)
		}
		written += len(rows)
	}
	for y, keys := range deletes {
		n, err := deleteRows(ctx, w.shards[y].db, w.d, t, keys)
		if err != nil {
			return written, fmt.Errorf("deleting %s from shard %q: %w", t.Name, y, err)
		}
		written += int(n)
	}
	return written, nil
}
